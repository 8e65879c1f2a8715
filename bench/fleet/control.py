"""The harness's side of the control plane: signed commands to agents
through the broker, and their signed answers, each wait bounded."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Consumer, Producer

from bench.errors import RunFailed
from bench.fleet import clock, protocol
from bench.fleet.signing import Refused, Verifier, sign
from bench.harness import signals

ANSWER_TIMEOUT_S = 10.0  # an agent that says nothing for this long is gone
PROBES = 15  # clock round trips per agent


class AgentLost(RunFailed):
    """An agent that did not answer in time, or said it was stopping
    (`said`: its own words)."""

    def __init__(self, name: str, what: str, said: str | None = None) -> None:
        super().__init__(f"agent {name} {said}" if said else f"agent {name} did not answer {what}")
        self.name = name


class AgentRefused(RunFailed):
    """An agent that refused or failed a command; the text is its one line."""


@dataclass(frozen=True)
class AgentInfo:
    name: str  # the agent's --name
    hostname: str  # its machine's name
    cores: float  # cores its workers may use
    cpus: tuple[int, ...] | None  # the CPUs it pins workers to
    apps: tuple[str, ...]  # the apps it allows
    versions: dict  # package -> version
    busy: str | None  # the run it is serving, if any


class Control:
    """One connection to the broker, one private reply queue, and signed
    request/answer with the agents. A context manager: the reply queue is
    removed at the end."""

    def __init__(self, broker_url: str, secret: bytes, clock_s: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.wall = clock_s
        self.verifier = Verifier(secret)
        self.conn = Connection(broker_url, heartbeat=0, connect_timeout=5)
        self.reply = protocol.reply_queue(secrets.token_hex(8))
        self.producer: Producer | None = None
        self.consumer: Consumer | None = None
        self._inbox: list[object] = []
        self._by_nonce: dict = {}  # verified answers not yet asked for: command nonce -> {agent: body}
        self.gone: dict[str, str] = {}  # agents that said they are stopping -> their words

    def __enter__(self):
        self.conn.ensure_connection(max_retries=2, interval_start=0, interval_step=0.5, timeout=10)
        channel = self.conn.default_channel
        self.producer = Producer(channel, exchange=protocol.EXCHANGE, serializer="json")
        self.consumer = Consumer(channel, [self.reply], callbacks=[self._arrived], accept=["json"])
        self.consumer.consume()
        return self

    def __exit__(self, *exc):
        try:
            if self.consumer is not None:
                self.consumer.cancel()
            self.reply.bind(self.conn.default_channel).delete()
        except Exception:  # tidy-up only: the broker may be gone
            pass
        self.conn.release()

    def _arrived(self, payload, message):
        message.ack()
        self._inbox.append(payload)

    def send(self, to: str, op: str, **args: Any) -> str:
        """Publish one signed command; its nonce (to match the answers)."""
        message = sign(self.secret, {"op": op, "to": to, "reply_to": self.reply.name, **args}, self.wall())
        return self.publish(to, message)

    def publish(self, to: str, message: dict[str, Any]) -> str:
        """Put one message, as it is, on agent `to`'s queue ("*": every
        agent's); its nonce."""
        assert self.producer is not None  # made by __enter__
        if to == "*":
            everyone = protocol.EVERY_AGENT
            self.producer.publish(message, exchange=everyone, routing_key="", declare=[everyone])
        else:
            self.producer.publish(message, routing_key=protocol.AGENT_PREFIX + to, declare=[protocol.EXCHANGE])
        return message["body"]["nonce"]

    def answers(
        self, nonce: str | None, until: float, want: int | None = None, watch: Collection[str] = ()
    ) -> dict[str, dict[str, Any]]:
        """Verified answers to command `nonce` until `until` (monotonic s),
        until `want` of them came, or until an agent of `watch` said it is
        stopping (see `gone`); {agent name: answer body}."""
        found: dict[str, dict] = {}
        while want is None or len(found) < want:
            for payload in self._take():
                try:
                    body = self.verifier.verify(payload, self.wall())
                except Refused:
                    continue  # an answer nobody signed with our secret is ignored
                if isinstance(body.get("gone"), str):
                    self.gone[str(body.get("from"))] = body["gone"]
                    continue
                if len(self._by_nonce) > 10_000:  # lease renewals' answers, never asked for
                    self._by_nonce.clear()
                self._by_nonce.setdefault(body.get("re"), {})[body.get("from")] = body
            found.update(self._by_nonce.pop(nonce, {}))
            if want is not None and len(found) >= want:
                break
            if any(name in self.gone and name not in found for name in watch):
                break
            left = until - time.monotonic()
            if left <= 0:
                break
            signals.raise_if_stopping()
            try:
                self.conn.drain_events(timeout=min(left, 0.2))
            except TimeoutError:
                pass
            except self.conn.connection_errors as exc:
                raise RunFailed(f"lost the broker while waiting for the agents: {exc}") from None
        return found

    def _take(self) -> list[object]:
        taken, self._inbox = self._inbox, []
        return taken

    def ask(self, name: str, op: str, timeout_s: float = ANSWER_TIMEOUT_S, **args: Any) -> dict[str, Any]:
        """The answer of agent `name` to one command; AgentLost when none
        came in `timeout_s`, AgentRefused with its one line when it refused."""
        nonce = self.send(name, op, **args)
        got = self.answers(nonce, time.monotonic() + timeout_s, want=1, watch=(name,)).get(name)
        if got is None:
            raise AgentLost(name, f"{op!r} within {timeout_s:g} s", said=self.gone.get(name))
        if "refused" in got or "failed" in got:
            raise AgentRefused(got.get("refused") or got.get("failed"))
        return got

    def discover(self, wait_s: float = 2.0) -> dict[str, AgentInfo]:
        """Every agent that answers a hello within `wait_s`: AgentInfo by name."""
        nonce = self.send("*", "hello")
        found = self.answers(nonce, time.monotonic() + wait_s)
        return {name: _info(name, body) for name, body in sorted(found.items()) if "refused" not in body}

    def offset(self, name: str, probes: int = PROBES, timeout_s: float = ANSWER_TIMEOUT_S) -> clock.Offset:
        """The clock offset of agent `name` from round trips (clock.py)."""
        found = []
        for _ in range(probes):
            sent = time.monotonic()
            answer = self.ask(name, "probe", timeout_s=timeout_s)
            received = time.monotonic()
            found.append(clock.Probe(sent=sent, agent=float(answer["clock"]), received=received))
        return clock.estimate(found)


def _info(name, body):
    cpus = body.get("cpus")
    return AgentInfo(
        name=name,
        hostname=body.get("hostname", "?"),
        cores=float(body.get("cores") or 0),
        cpus=tuple(cpus) if cpus else None,
        apps=tuple(body.get("apps") or ()),
        versions=dict(body.get("versions") or {}),
        busy=body.get("busy"),
    )

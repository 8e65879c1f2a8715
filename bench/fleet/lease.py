"""The agents of one run, seen from the harness: their leases renewed, their
counts asked for until the batch is done, and their goodbyes heard."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from bench.errors import Interrupted, RunFailed
from bench.fleet import protocol
from bench.fleet.control import ANSWER_TIMEOUT_S, AgentLost, Control
from bench.harness import signals

WATCH_EVERY_S = 0.25  # how often the agents are asked for their counts, s


class Fleet:
    """The agents of one run, seen from the harness."""

    def __init__(self, ctl: Control, run_id: str, names: Sequence[str]) -> None:
        self.ctl, self.run_id, self.names = ctl, run_id, names
        self.started: list[str] = []
        self.last_renewal = 0.0

    def renew(self) -> None:
        """Renew every lease (no answer awaited) if it is time."""
        if time.monotonic() - self.last_renewal >= protocol.RENEW_EVERY_S:
            for name in self.started:
                self.ctl.send(name, "lease", run=self.run_id, lease_s=protocol.LEASE_S)
            self.last_renewal = time.monotonic()

    def counts(self, prefix: str, timeout_s: float) -> dict[str, dict[str, Any]]:
        """{host: answer} to a progress query; AgentLost naming the first
        host that did not answer within `timeout_s`."""
        nonces = {n: self.ctl.send(n, "progress", run=self.run_id, prefix=prefix) for n in self.names}
        until = time.monotonic() + timeout_s
        answers = {}
        for name, nonce in nonces.items():
            got = self.ctl.answers(nonce, until, want=1, watch=(name,)).get(name)
            if got is None:
                raise AgentLost(name, f"within {timeout_s:g} s (lost mid-run)", said=self.ctl.gone.get(name))
            if "refused" in got:
                raise RunFailed(got["refused"])
            answers[name] = got
        self.last_renewal = time.monotonic()
        return answers

    def wait_for(
        self,
        prefix: str,
        total: int,
        stall_s: float,
        timeout_s: float,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[str, str, str | None]:
        """Ask for counts until `total` records with `prefix` came in
        across hosts. (outcome, detail, lost host or None)."""
        start = last_news = time.monotonic()
        best = -1
        try:
            while True:
                try:
                    answers = self.counts(prefix, min(stall_s, ANSWER_TIMEOUT_S))
                except AgentLost as exc:
                    return "agent lost", str(exc), exc.name
                done = sum(a["done"] for a in answers.values())
                dead = [(n, a) for n, a in answers.items() if not a.get("alive", True)]
                if done >= total:
                    return "complete", "", None
                if dead:
                    return "worker exited", f"on {dead[0][0]}: {dead[0][1].get('error', '')}", None
                now = time.monotonic()
                if done > best:
                    best, last_news = done, now
                    if progress:
                        progress(done, total)
                elif now - last_news > stall_s:
                    return "stalled", f"no task finished in the last {stall_s:.0f} s", None
                if now - start > timeout_s:
                    return "timed out", f"the batch took over {timeout_s:.0f} s", None
                signals.raise_if_stopping()
                time.sleep(WATCH_EVERY_S)
        except (KeyboardInterrupt, Interrupted):
            return "interrupted", "interrupted by a signal", None


def said_goodbye(ctl: Control, names: Collection[str], wait_s: float = 0.05) -> None:
    """AgentLost with its own words when an agent of `names` said it is
    stopping (its workers stop with it): the run fails naming it at once."""
    ctl.answers(None, time.monotonic() + wait_s, watch=names)
    for name in names:
        if name in ctl.gone:
            raise AgentLost(name, "", said=ctl.gone[name])

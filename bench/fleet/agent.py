"""`python -m bench agent`: waits on the broker for signed commands from a
harness, and runs the workers of its points on this host.

Commands (op): hello (who and what am I), probe (my clock), start (workers
for a run, of an allowed app only), progress (records so far; renews the
lease), lease (renews it), sample (start sampling the workers' CPU and
memory), records (the run's records, compressed, and the samples), stop.
Anything unsigned, stale, replayed or not allowed is refused: logged here
and answered as one line. The workers stop when the lease lapses (the
harness is gone), when told, and when the agent stops (Ctrl-C, SIGTERM).

Just over the ~400 lines a module aims for, on purpose: the commands, the
checks of what a harness may ask in them, and the loop that serves them
are one unit (each check stands beside the command it guards)."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import platform
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import celery
import kombu
from kombu import Connection, Consumer, Producer
from kombu.message import Message

from bench import __version__
from bench.errors import Interrupted, RunFailed
from bench.fleet import protocol
from bench.fleet.options import NAME, AgentConfig
from bench.fleet.signing import Refused, Verifier, sign
from bench.harness import broker as broker_mod
from bench.harness import scratch, signals, worker
from bench.harness.machine import usable_cores
from bench.harness.urls import redact
from bench.measure.config import LOGLEVELS, REMAP_SIGTERM, RESULT_BACKENDS
from bench.measure.observe import RecordReader, ResourceSampler
from bench.measure.settings import OPTIMIZATIONS
from bench.workloads import POOLS

DRAIN_S = 0.25  # how often the loop looks at the lease, s
MAX_WORKERS = 64
SAFE_NAME = NAME


@dataclass
class Run:
    """The workers of one run of the harness on this agent."""

    run_id: str
    stack: contextlib.ExitStack  # closing it stops the workers and removes their files
    workers: list  # worker.Worker
    reader: RecordReader
    lease_until: float  # monotonic s
    cores: float = 1.0  # cores its workers may use (for the CPU share)
    records: list = field(default_factory=list)  # every record read so far (dicts)
    sampler: ResourceSampler | None = None  # the workers' CPU and memory, from `sample` to `records`
    reply_to: str | None = None  # the harness's reply queue: where a goodbye goes

    def read(self) -> list[dict[str, Any]]:
        self.records.extend(self.reader.read_new())
        return self.records

    def stop_sampling(self) -> dict[str, Any] | None:
        """The workers' resources since `sample` (JSON-ready); None if not sampled."""
        if self.sampler is None:
            return None
        sampler, self.sampler = self.sampler, None
        # The agent's own CPU is not the harness's: the harness adds its own.
        return dataclasses.asdict(dataclasses.replace(sampler.stop(), harness_cpu_s=None))


def log(cfg: AgentConfig, text: str) -> None:
    print(f"agent {cfg.name}: {text}", file=sys.stderr, flush=True)


class Agent:
    def __init__(self, cfg: AgentConfig, broker: broker_mod.Broker, clock: Callable[[], float] = time.time):
        self.cfg = cfg
        self.broker = broker  # harness.broker.Broker: the one its workers use too
        self.verifier = Verifier(cfg.secret)
        self.clock = clock  # wall clock for the signatures' timestamps
        self.run: Run | None = None

    # --- the commands ---------------------------------------------------

    def hello(self, _body: dict[str, Any]) -> dict[str, Any]:
        cores = float(len(self.cfg.cpus)) if self.cfg.cpus else usable_cores()
        return {
            "hostname": socket.gethostname(),
            "cores": cores,
            "cpus": list(self.cfg.cpus) if self.cfg.cpus else None,
            "apps": list(self.cfg.allow_apps),
            "busy": self.run.run_id if self.run else None,
            "versions": {
                "celery-bench": __version__,
                "celery": celery.__version__,
                "kombu": kombu.__version__,
                "python": platform.python_version(),
            },
        }

    def probe(self, _body: dict[str, Any]) -> dict[str, Any]:
        return {"clock": protocol.agent_clock()}

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        spec = body.get("spec") or {}
        app = spec.get("app", "proj")
        if app not in self.cfg.allow_apps:
            raise Refused(f"app {app!r} is not allowed here (allowed: {', '.join(self.cfg.allow_apps)})")
        if app != "proj" and "app" not in {f.name for f in dataclasses.fields(worker.WorkerSpec)}:
            raise Refused(f"app {app!r}: this agent's version runs only proj")
        if self.run is not None:
            raise Refused(f"busy with run {self.run.run_id}")
        run_id = _checked_name(body.get("run"), "run")
        nodenames = [_checked_name(n, "nodename", at=True) for n in spec.get("nodenames", [])]
        if not 1 <= len(nodenames) <= MAX_WORKERS:
            raise Refused(f"1 to {MAX_WORKERS} workers per agent, asked for {len(nodenames)}")
        specs = [self._spec(spec, app, n) for n in nodenames]
        stack = contextlib.ExitStack()
        try:
            workdir = scratch.make("agent")
            stack.callback(scratch.remove, workdir)
            record_dir = workdir / "records"
            record_dir.mkdir()
            workers = [
                stack.enter_context(
                    worker.running(s, self.broker, record_dir, workdir / f"worker-{i}.log", workdir / "tmp")
                )
                for i, s in enumerate(specs)
            ]
        except BaseException:
            stack.close()
            raise
        lease_s = min(float(body.get("lease_s", protocol.LEASE_S)), 600.0)
        cores = float(len(self.cfg.cpus)) if self.cfg.cpus else usable_cores()
        self.run = Run(run_id, stack, workers, RecordReader(record_dir), time.monotonic() + lease_s, cores)
        reply_to = body.get("reply_to")
        if isinstance(reply_to, str) and reply_to.startswith(protocol.REPLY_PREFIX):
            self.run.reply_to = reply_to
        log(self.cfg, f"started {len(workers)} worker(s) for run {run_id} (lease {lease_s:g} s)")
        return {"started": nodenames, "pids": [w.pid for w in workers]}

    def _spec(self, spec, app, nodename):
        pool = spec.get("pool")
        if pool not in POOLS:
            raise Refused(f"unknown pool {pool!r}")
        if spec.get("loglevel") not in LOGLEVELS or spec.get("result_backend") not in RESULT_BACKENDS:
            raise Refused("bad loglevel or result backend")
        concurrency, prefetch = spec.get("concurrency"), spec.get("prefetch_multiplier")
        if not isinstance(concurrency, int) or not 1 <= concurrency <= 10_000:
            raise Refused(f"bad concurrency {concurrency!r}")
        if not isinstance(prefetch, int) or prefetch < 0:
            raise Refused(f"bad prefetch multiplier {prefetch!r}")
        # Absent from an older harness's spec: Celery's defaults, as before.
        acks_late, per_child = spec.get("acks_late", False), spec.get("max_tasks_per_child", 0)
        if not isinstance(acks_late, bool):
            raise Refused(f"bad acks_late {acks_late!r}")
        if not isinstance(per_child, int) or isinstance(per_child, bool) or per_child < 0:
            raise Refused(f"bad max_tasks_per_child {per_child!r}")
        per_child_kib = spec.get("max_memory_per_child_kib", 0)
        if not isinstance(per_child_kib, int) or isinstance(per_child_kib, bool) or per_child_kib < 0:
            raise Refused(f"bad max_memory_per_child_kib {per_child_kib!r}")
        reject = spec.get("reject_on_worker_lost", False)
        if not isinstance(reject, bool):
            raise Refused(f"bad reject_on_worker_lost {reject!r}")
        optimization, no_prefetch = spec.get("optimization"), spec.get("disable_prefetch", False)
        if optimization is not None and optimization not in OPTIMIZATIONS:
            raise Refused(f"bad optimization {optimization!r}")
        if not isinstance(no_prefetch, bool):
            raise Refused(f"bad disable_prefetch {no_prefetch!r}")
        eta = spec.get("eta_task_limit")
        if eta is not None and (not isinstance(eta, int) or isinstance(eta, bool) or eta < 1):
            raise Refused(f"bad eta_task_limit {eta!r}")
        soft = _seconds(spec, "soft_shutdown_timeout", zero_allowed=True)
        visibility = _seconds(spec, "visibility_timeout", zero_allowed=False)
        extra = {"app": app} if "app" in {f.name for f in dataclasses.fields(worker.WorkerSpec)} else {}
        return worker.WorkerSpec(
            pool=pool,
            concurrency=concurrency,
            queue=_checked_name(spec.get("queue"), "queue"),
            nodename=nodename,
            prefetch_multiplier=prefetch,
            loglevel=spec["loglevel"],
            result_backend=spec["result_backend"],
            cpus=self.cfg.cpus,
            acks_late=acks_late,
            max_tasks_per_child=per_child,
            max_memory_per_child_kib=per_child_kib,
            reject_on_worker_lost=reject,
            soft_shutdown_timeout=soft,
            visibility_timeout=visibility,
            remap_sigterm=REMAP_SIGTERM if soft else None,  # as the harness's own workers (RunConfig.remap_sigterm)
            optimization=optimization,
            disable_prefetch=no_prefetch,
            eta_task_limit=eta,
            **extra,
        )

    def _run_of(self, body):
        if self.run is None or body.get("run") != self.run.run_id:
            raise Refused(f"no run {body.get('run')!r} here")
        return self.run

    def lease(self, body: dict[str, Any]) -> dict[str, Any]:
        run = self._run_of(body)
        run.lease_until = time.monotonic() + min(float(body.get("lease_s", protocol.LEASE_S)), 600.0)
        return {"lease_s": run.lease_until - time.monotonic()}

    def progress(self, body: dict[str, Any]) -> dict[str, Any]:
        """How many of the run's records have ids starting with `prefix`;
        whether every worker still runs (the lease is renewed)."""
        run = self._run_of(body)
        self.lease(body)
        prefix = str(body.get("prefix", ""))
        done = sum(1 for r in run.read() if str(r.get("id", "")).startswith(prefix))
        dead = [w for w in run.workers if w.exited()]
        answer: dict[str, object] = {"done": done, "alive": not dead}
        if dead:
            answer["error"] = f"worker exited with code {dead[0].popen.returncode}: {dead[0].last_error()}"
        return answer

    def records(self, body: dict[str, Any]) -> dict[str, Any]:
        """The run's records with ids starting with `prefix`, compressed,
        their times on this agent's clock."""
        run = self._run_of(body)
        prefix = str(body.get("prefix", ""))
        shift = protocol.test_clock_offset_s()
        picked = [
            {**r, "started": r["started"] + shift, "finished": r["finished"] + shift}
            for r in run.read()
            if str(r.get("id", "")).startswith(prefix)
        ]
        return {"records": protocol.pack_records(picked), "count": len(picked), "resources": run.stop_sampling()}

    def sample(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start sampling the workers' process trees (CPU, memory), as a
        local run does over its measured window; `records` ends it."""
        run = self._run_of(body)
        if run.sampler is None:
            run.sampler = ResourceSampler([w.pid for w in run.workers], None, run.cores).start()
        return {"sampling": True}

    def stop(self, body: dict[str, Any]) -> dict[str, Any]:
        self._run_of(body)
        self.stop_workers("the harness asked")
        return {"stopped": True}

    def stop_workers(self, why: str) -> None:
        if self.run is not None:
            run, self.run = self.run, None
            run.stop_sampling()
            run.stack.close()
            log(self.cfg, f"stopped the workers of run {run.run_id} ({why})")

    OPS = ("hello", "probe", "start", "lease", "progress", "sample", "records", "stop")

    # --- the loop ---------------------------------------------------------

    def handle(self, message: object) -> tuple[str | None, dict[str, Any] | None]:
        """The signed answer to one message, or None when it cannot be
        answered (no usable reply queue). Refusals are logged."""
        body = message.get("body") if isinstance(message, dict) else None
        reply_to = body.get("reply_to") if isinstance(body, dict) else None
        re_nonce = body.get("nonce") if isinstance(body, dict) else None
        try:
            body = self.verifier.verify(message, self.clock())
            op = body.get("op")
            if body.get("to") not in (self.cfg.name, "*"):
                raise Refused(f"addressed to {body.get('to')!r}, not to {self.cfg.name}")
            if op not in self.OPS:
                raise Refused(f"unknown command {op!r}")
            answer = getattr(self, op)(body)
        except Refused as exc:
            log(self.cfg, f"refused {_op_of(message)}: {exc}")
            answer = {"refused": f"agent {self.cfg.name} refused {_op_of(message)}: {exc}"}
        except RunFailed as exc:
            log(self.cfg, f"failed {_op_of(message)}: {exc}")
            answer = {"failed": f"agent {self.cfg.name}: {exc}"}
        if not (isinstance(reply_to, str) and reply_to.startswith(protocol.REPLY_PREFIX)):
            return None, None
        return reply_to, sign(self.cfg.secret, {"re": re_nonce, "from": self.cfg.name, **answer}, self.clock())

    def check_lease(self) -> None:
        if self.run is not None and time.monotonic() > self.run.lease_until:
            self.stop_workers("lease lapsed: the harness is gone")

    def serve(self, conn: Connection) -> NoReturn:
        """Answer commands until a stop signal (Interrupted)."""
        producer = Producer(conn.default_channel, exchange=protocol.EXCHANGE, serializer="json")

        def on_message(payload: object, message: Message) -> None:
            message.ack()
            reply_to, answer = self.handle(payload)
            if reply_to:
                producer.publish(
                    answer,
                    routing_key=reply_to,
                    declare=[protocol.EXCHANGE],
                    retry=True,
                    retry_policy={"max_retries": 3, "interval_start": 0, "interval_step": 0.5},
                )

        queues = [protocol.agent_queue(self.cfg.name), protocol.broadcast_queue(self.cfg.name)]
        with Consumer(conn, queues, callbacks=[on_message], accept=["json"]):
            try:
                while True:
                    signals.raise_if_stopping()
                    try:
                        conn.drain_events(timeout=DRAIN_S)
                    except TimeoutError:
                        pass
                    except conn.connection_errors as exc:
                        raise RunFailed(f"agent {self.cfg.name} lost the broker: {exc}") from None
                    self.check_lease()
            except (Interrupted, KeyboardInterrupt):
                self.goodbye(producer)
                raise

    def goodbye(self, producer: Producer) -> None:
        """Tell the harness of the run being served that this agent is
        stopping, so the run fails now, naming it, rather than after the
        answer timeout. Best effort: the broker may be gone too."""
        if self.run is None or self.run.reply_to is None:
            return
        said = f"stopped (a signal on its host) during run {self.run.run_id}; its workers stop with it"
        message = sign(self.cfg.secret, {"re": None, "from": self.cfg.name, "gone": said}, self.clock())
        with contextlib.suppress(Exception):
            producer.publish(message, routing_key=self.run.reply_to, declare=[protocol.EXCHANGE], retry=False)


def _op_of(message):
    body = message.get("body") if isinstance(message, dict) else None
    op = body.get("op") if isinstance(body, dict) else None
    return repr(op) if isinstance(op, str) and len(op) < 40 else "a command"


def _checked_name(value, what, at=False):
    text = value if isinstance(value, str) else ""
    ok = SAFE_NAME.match(text.replace("@", "", 1) if at else text)
    if not ok:
        raise Refused(f"bad {what} {value!r}")
    return text


def _seconds(spec, key, zero_allowed):
    """A spec's setting in seconds (None: absent, as from an older harness, or not set)."""
    value = spec.get(key)
    if value is None:
        return None
    least = 0 if zero_allowed else math.ulp(0.0)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not least <= value < math.inf:
        raise Refused(f"bad {key} {value!r}")
    return float(value)


def serve(cfg: AgentConfig) -> NoReturn:
    """Run the agent until a stop signal (Interrupted); its workers stop with it. With
    `cfg.wait` (a harness's own broker) it waits for the broker, and again
    each time it goes (the run that started it ended)."""
    pinned = f", workers pinned to CPUs {','.join(map(str, cfg.cpus))}" if cfg.cpus else ""
    agent = None
    announced = False
    while True:
        try:
            broker = broker_mod.connect(cfg.broker_url)
        except RunFailed:
            if not cfg.wait:
                raise
            if not announced:
                print(
                    f"agent {cfg.name} waiting for the harness's broker at {redact(cfg.broker_url)}: apps "
                    f"{','.join(cfg.allow_apps)}{pinned}; pid {os.getpid()}; Ctrl-C stops it and its workers",
                    file=sys.stderr,
                    flush=True,
                )
                announced = True
            _pause(WAIT_FOR_BROKER_S)
            continue
        if agent is None:
            agent = Agent(cfg, broker)
        agent.broker = broker
        if not announced:
            print(
                f"agent {cfg.name} on {broker.redacted_url} ({broker.server}): apps {','.join(cfg.allow_apps)}"
                f"{pinned}; pid {os.getpid()}; Ctrl-C stops it and its workers",
                file=sys.stderr,
                flush=True,
            )
            announced = True
        else:
            log(cfg, f"connected to {broker.redacted_url} ({broker.server})")
        try:
            with Connection(cfg.broker_url, heartbeat=0) as conn:
                try:
                    agent.serve(conn)
                finally:
                    agent.stop_workers("the agent is stopping" if not cfg.wait else "the broker is gone")
                    with contextlib.suppress(Exception):
                        protocol.agent_queue(cfg.name).bind(conn.default_channel).delete()
        except RunFailed as exc:
            if not cfg.wait:
                raise
            log(cfg, f"{str(exc).removeprefix(f'agent {cfg.name} ')}; waiting for the harness's broker again")


WAIT_FOR_BROKER_S = 0.5  # how often a waiting agent tries the harness's broker, s


def _pause(seconds):
    """Sleep, but stop at once on a signal."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        signals.raise_if_stopping()
        time.sleep(0.05)

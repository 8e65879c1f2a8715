"""The reference: the same configuration measured the way a user's
deployment runs it, to check the harness against (`run --reference`).
Two passes, each with a fresh plain `celery -A APP worker` on a queue of
its own (bench/harness/plain.py):

1. Without task events, counted by the queue's depth: the batch published
   -> a thread polling the queue's ready-message count (bench/measure/
   queue_depth.py) -> the plain worker, without -E, started -> until the
   queue is empty, or a stall, a timeout, the worker's exit -> the worker
   stopped. Nothing of ours is in the worker and it sends nothing: the
   rate of a user's worker as deployed, the primary reference rate. Only a
   rate: the slope of the depth in steady state.
2. With Celery's task events (-E), counted by them: the batch published ->
   Celery's event receiver subscribed (a thread) -> the worker started ->
   its task events counted until every task has reported, or a stall, a
   timeout, the worker's exit -> the worker stopped. Every task accounted
   for, tasks run twice, the misbehaviour found; its rate is shown too, but
   -E costs the worker CPU (three events per task), so where the worker's
   own CPU is the limit it runs slower than pass 1.

Then the broker tidied -> statistics -> the reference document (both
passes), written at once.

Nothing of the harness is inside either worker: each batch waits in a
queue the worker consumes from its start (no add_consumer, no wake-up task,
no warm-up). In pass 2 every figure comes from Celery's own task events,
on the worker's clock: task-started (threads, gevent, eventlet, solo: in
the task's own thread or greenlet just before it runs; prefork: in the main
process, when it learns that a child accepted the task) and
task-succeeded/task-failed (once the result is known; prefork: in the main
process). Throughput and the steady state are computed as `run` computes
them, from one record per execution.
"""

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from celery import Celery
from celery.events import EventReceiver

from bench.analysis import stats
from bench.analysis.health import LogEvidence, diagnose, log_evidence
from bench.analysis.stats import TaskRecord
from bench.errors import Interrupted, RunFailed
from bench.harness import machine, plain, scratch, signals
from bench.harness.broker import Broker
from bench.harness.process import tree, watcher
from bench.harness.urls import redact
from bench.harness.worker import READY_TIMEOUT_S, last_error_line
from bench.harness.worker import stop as stop_worker
from bench.measure import load
from bench.measure.config import RunConfig
from bench.measure.crew import read_log
from bench.measure.queue_depth import DepthPass, depth_json, depth_pass, prefetch_count
from bench.measure.result import health_context
from bench.measure.runner import call_args, new_run_id, result_path, settings_of, time_limits
from bench.results.io import write_atomic
from bench.results.schema import SCHEMA_VERSION, Health, TaskCounts, utc_now

REFERENCE = "reference"  # the document's `kind`
TERMINAL = {"task-succeeded": "SUCCESS", "task-failed": "FAILURE"}
PROBE_EVENT = "celery-bench-probe"  # sent to our own receiver: it is subscribed once it sees one
SUBSCRIBE_TIMEOUT_S = 10.0
POLL_S = 0.02
EVENT_TYPES = ("task-started", *TERMINAL)


# --- From events to records (pure) ------------------------------------------


@dataclass(frozen=True)
class Executions:
    """The task events of one batch, as one record per execution."""

    records: tuple[TaskRecord, ...]  # one per task-succeeded/failed, in event order
    started_more_than_once: int  # task ids with two or more task-started events (run twice)
    never_finished: int  # task ids started but with no terminal event
    lag_s: tuple[float, ...]  # local receive time - event timestamp, per terminal event, s


def executions(events: Sequence[Mapping], published: Mapping[str, float]) -> Executions:
    """Records from Celery task events (dicts with type, uuid, timestamp,
    and pid, runtime, exception where the event has them), for the task
    ids of `published` (id -> publish time, on the events' clock). A
    record starts at the latest task-started of its id before its end
    (else its end minus Celery's own runtime) and ends at its terminal
    event; a terminal event for a task already finished is a duplicate."""
    starts: dict[str, list] = {}
    records = []
    lag = []
    finished_ids = set()
    for event in sorted(events, key=lambda e: e["timestamp"]):
        task_id = event.get("uuid")
        if not isinstance(task_id, str) or task_id not in published:
            continue
        kind = event["type"]
        if kind == "task-started":
            starts.setdefault(task_id, []).append(event)
            continue
        if kind not in TERMINAL:
            continue
        ended = event["timestamp"]
        before = [s for s in starts.get(task_id, ()) if s["timestamp"] <= ended]
        begun = before[-1] if before else None
        started = begun["timestamp"] if begun else ended - float(event.get("runtime") or 0.0)
        records.append(
            TaskRecord(
                id=task_id,
                published=published[task_id],
                started=started,
                finished=ended,
                state=TERMINAL[kind],
                pid=int((begun or {}).get("pid") or event.get("pid") or 0),
                error=event.get("exception") if kind == "task-failed" else None,
            )
        )
        finished_ids.add(task_id)
        if event.get("local_received") is not None:
            lag.append(event["local_received"] - ended)
    twice = sum(1 for s in starts.values() if len(s) > 1)
    never = sum(1 for task_id in starts if task_id not in finished_ids)
    return Executions(tuple(records), twice, never, tuple(lag))


# --- The summary ------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceSummary:
    """What the reference measured, by Celery's task events."""

    throughput_per_s: float | None  # succeeded / (last success - first start), tasks/s; None: none done
    steady_throughput_per_s: float | None  # tasks/s between 10% and 90% of completions
    window_s: float | None  # s, first start to last end
    tasks: TaskCounts  # published = succeeded + failed + missing; duplicates: finished more than once
    started_more_than_once: int  # task ids started twice or more (a task run twice)
    max_concurrency: int | None  # tasks running at the same instant, most
    mean_concurrency: float | None  # tasks in flight on average over the window
    processes_used: int | None  # distinct pids in the events
    event_lag_p50_s: float | None  # s, local receive time - event timestamp, median
    event_lag_max_s: float | None  # s, most
    worker_cpu_s: float | None = None  # CPU s of the worker tree, first task event to the last (complete runs)
    worker_cpu_per_task_s: float | None = None  # worker_cpu_s / tasks succeeded, s (its task events included)


def summarize(execs: Executions, published: Mapping[str, float]) -> ReferenceSummary:
    """The figures `run` reports, over the first report of each task."""
    counts = stats.account(published, execs.records)
    first = _first_reports(execs.records)
    done = [r for r in first if r.state == "SUCCESS"]
    conc = stats.concurrency(done) if done else None
    lag = sorted(execs.lag_s)
    return ReferenceSummary(
        throughput_per_s=_throughput(first),
        steady_throughput_per_s=stats.steady_throughput(done),
        window_s=(lambda w: w[1] - w[0])(stats.window(first)) if first else None,
        tasks=counts,
        started_more_than_once=execs.started_more_than_once,
        max_concurrency=conc.max if conc else None,
        mean_concurrency=conc.mean if conc else None,
        processes_used=len({r.pid for r in first if r.pid}) or None,
        event_lag_p50_s=stats.percentile(lag, 50),
        event_lag_max_s=lag[-1] if lag else None,
    )


def _first_reports(records):
    seen, out = set(), []
    for r in records:
        if r.id not in seen:
            seen.add(r.id)
            out.append(r)
    return out


def _throughput(first):
    """Tasks succeeded over the first start to the last success."""
    done = [r for r in first if r.state == "SUCCESS"]
    if not done:
        return None
    begin = min(r.started for r in first)
    end = max(r.finished for r in done)
    return len(done) / (end - begin) if end > begin else None


# --- The events, received on a thread ----------------------------------------


class EventWatch:
    """Celery's event receiver on a thread, collecting task events; its
    queue is named with the run's prefix, so `load.tidy` removes its
    traces. Subscribed (proved by a probe event of our own) before
    `start` returns."""

    def __init__(self, app: Celery, queue_prefix: str):
        self.app = app
        self.queue_prefix = queue_prefix.rstrip(".")
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.online = threading.Event()
        self.failure: Exception | None = None
        self._stop = False
        self._thread: threading.Thread | None = None
        self._node = f"probe-{time.monotonic_ns()}"

    def _on_event(self, event):
        kind = event.get("type")
        if kind == PROBE_EVENT:
            if event.get("node") == self._node:
                self.subscribed.set()
        elif kind == "worker-online":
            self.online.set()
        elif kind in EVENT_TYPES:
            with self.lock:
                self.events.append(event)

    def _run(self):
        try:
            with self.app.connection_for_read() as conn:
                receiver = EventReceiver(
                    conn, handlers={"*": self._on_event}, app=self.app, queue_prefix=self.queue_prefix
                )
                receiver.should_stop = False
                self.receiver = receiver
                receiver.should_stop = self._stop
                for _ in receiver.consume(limit=None, timeout=None, safety_interval=0.1, wakeup=False):
                    pass
        except Exception as exc:  # reported by the main thread
            self.failure = exc

    def start(self) -> "EventWatch":
        self._thread = threading.Thread(target=self._run, name="celery-bench-events", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT_S
        with self.app.connection_for_write() as conn:
            dispatcher = self.app.events.Dispatcher(conn, enabled=True)
            while not self.subscribed.wait(0.1):
                if self.failure is not None:
                    raise RunFailed(f"the event receiver failed: {self.failure}")
                if time.monotonic() > deadline:
                    raise RunFailed(f"the event receiver did not subscribe within {SUBSCRIBE_TIMEOUT_S:.0f} s")
                signals.raise_if_stopping()
                dispatcher.send(PROBE_EVENT, node=self._node)
            dispatcher.close()
        return self

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events)

    def stop(self) -> None:
        self._stop = True
        receiver = getattr(self, "receiver", None)
        if receiver is not None:
            receiver.should_stop = True
        if self._thread is not None:
            self._thread.join(timeout=5)


# --- One reference measurement ----------------------------------------------


@dataclass
class Watched:
    outcome: str = "running"  # complete | stalled | worker exited | broker lost | timed out | interrupted
    detail: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)  # the task events received, as Celery gives them
    worker_cpu_s: float | None = None  # CPU s of the worker tree from its first task event to the end
    cpu_window_s: float | None = None  # wall s that CPU was counted over


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of the process and its live descendants."""
    total = 0.0
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


EVENTS_WORDS = load.WatchWords("no task event in the last {quiet_s:.0f} s", "the batch took over {timeout_s:.0f} s")


def _watch(events, published, worker, broker_alive, stall_s, timeout_s, boot_s=READY_TIMEOUT_S, progress=None):
    """Until every published task has a terminal event, or the worker
    exits, the broker goes, nothing new comes for `stall_s` (`boot_s` more
    before the first task starts: the worker is booting), or `timeout_s`
    (plus the boot) passes. Every wait is bounded."""
    watched = Watched()
    watching = load.Watch(EVENTS_WORDS, stall_s, timeout_s, boot_s)
    seen = 0
    cpu_from = None
    try:
        while True:
            got = events.snapshot()
            watched.events = got
            done = {e["uuid"] for e in got if e["type"] in TERMINAL and e.get("uuid") in published}
            now = time.monotonic()
            if len(got) != seen:
                if cpu_from is None:
                    cpu_from = (now, tree_cpu_s(worker.pid))
                seen = len(got)
                watching.news(now)
                if progress:
                    progress(len(done), len(published))
            if len(done) == len(published):
                watched.outcome = "complete"
                if cpu_from is not None:  # else nothing was published: no CPU to count
                    watched.cpu_window_s = time.monotonic() - cpu_from[0]
                    watched.worker_cpu_s = tree_cpu_s(worker.pid) - cpu_from[1]
                return watched
            booting = not got
            if events.failure is not None:
                watched.outcome, watched.detail = "broker lost", f"the event receiver failed: {events.failure}"
                return watched
            ended = watching.ended(worker, broker_alive, now, booting)
            if ended:
                watched.outcome, watched.detail = ended
                return watched
            signals.raise_if_stopping()
            time.sleep(POLL_S)
    except (KeyboardInterrupt, Interrupted):
        watched.events = events.snapshot()
        watched.outcome, watched.detail = "interrupted", "interrupted by a signal"
        return watched


@dataclass(frozen=True)
class ReferenceResult:
    run_id: str
    outcome: str  # how watching ended: complete, stalled, worker exited, ...
    detail: str  # why, in words ("" when complete)
    command: tuple[str, ...]  # the worker's command line, broker URL redacted
    summary: ReferenceSummary
    health: Health | None  # of the executions; None: not available
    config: Mapping[str, Any]  # pool, concurrency, app, queue, prefetch, acks_late, broker, result backend
    samples: Mapping[str, Any]  # per execution: started_s, finished_s (from the first publish), state, pid
    started_utc: str
    ended_utc: str
    metadata: Mapping[str, Any]
    depth: DepthPass | None = None  # the pass without events; None: not measured

    @property
    def ok(self) -> bool:
        return self.outcome == "complete" and self.summary.tasks.complete


@dataclass(frozen=True)
class ReferenceMeasured:
    result: ReferenceResult
    path: Path


def plain_spec(cfg: RunConfig, broker: Broker, run_id: str, queue: str, events: bool = True) -> plain.PlainSpec:
    """The plain worker of `cfg`: the same app, pool, -c, prefetch,
    acks_late, tasks per child, pinning and broker as the harness's;
    `events`: with -E (else none, and `-depth` in its node name)."""
    user = cfg.user_task
    backend = None if cfg.broker_from_app else broker.result_backend(cfg.result_backend)
    return plain.PlainSpec(
        app=user.app if user else "proj",
        pool=cfg.pool,
        concurrency=cfg.concurrency,
        queue=queue,
        nodename=f"bench-{run_id}-{'reference' if events else 'depth'}@{socket.gethostname()}",
        loglevel=cfg.loglevel,
        broker_url=None if cfg.broker_from_app else broker.url,
        result_backend=backend,
        prefetch_multiplier=cfg.prefetch_multiplier,
        acks_late=cfg.acks_late,
        max_tasks_per_child=cfg.max_tasks_per_child,
        workdir=user.workdir if user else None,
        cpus=cfg.cpus,
        events=events,
    )


def measure(
    cfg: RunConfig,
    broker: Broker,
    stub_address: str | None = None,
    progress: load.Progress | None = None,
    clock: Callable[[], datetime] = utc_now,
    describe: Callable[[], dict[str, Any]] = machine.describe,
    beside: str | Path | None = None,
) -> ReferenceMeasured:
    """Measure `cfg` with a plain worker, without task events (by the
    queue's depth) then with them (by the events); write the reference
    document beside the run's (`beside`, the run's document: `<its
    stem>-reference.json`; None: named as a run of its own would be) and
    return it. Raises Interrupted (after writing it) on a signal; a failed
    reference is a result (its outcome and counts say so), not an error."""
    started = clock()
    run_id = new_run_id(started)
    prefix = f"celery-bench.{run_id}."
    spec = plain_spec(cfg, broker, run_id, f"{prefix}reference")
    depth_spec = plain_spec(cfg, broker, run_id, f"{prefix}depth", events=False)
    settings = cfg.app_info.settings if cfg.app_info is not None else {}
    app = load.client_app(broker, settings.get("task_serializer") or "json")
    args, calls = call_args(cfg, stub_address)
    limits = time_limits(cfg)
    work = scratch.make("reference")
    events = EventWatch(app, f"{prefix}events")
    worker = None
    watched = Watched(outcome="not measured")
    depth = None
    published = {}
    log_tail = ""
    log = None
    try:
        prefetch = prefetch_count(health_context(settings_of(cfg, broker)))
        depth = depth_pass(cfg, app, broker, depth_spec, args, calls, limits, prefetch, work, progress)
        if depth.outcome != "interrupted":
            load.declare(app, spec.queue)
            sent = load.publish(app, spec.queue, cfg.spec.task, args, cfg.tasks, calls)
            offset = time.time() - time.monotonic()  # publish times onto the events' (wall) clock
            published = {task_id: t + offset for task_id, t in sent.items()}
            events.start()
            worker = plain.start(spec, work / "worker.log", work / "tmp")
            stall_s, timeout_s = limits
            watched = _watch(events, published, worker, watcher(broker.pid), stall_s, timeout_s, progress=progress)
    finally:
        try:
            if worker is not None:
                stop_worker(worker)
            events.stop()
            watched.events = events.snapshot() or watched.events
            log_tail = last_error_line(work / "worker.log") if watched.outcome not in ("complete",) else ""
            log = log_evidence([read_log(work / "worker.log")]) if worker is not None else None
            if broker.pid is None or watcher(broker.pid)():
                with contextlib.suppress(Exception):  # tidy-up only; the broker may be gone
                    load.tidy(app, broker, prefix, [spec.nodename, depth_spec.nodename])
        finally:
            app.close()
            scratch.remove(work)
    if watched.outcome not in ("complete", "interrupted", "not measured") and not watched.detail:
        watched.detail = log_tail
    result = build(cfg, broker, run_id, spec, published, watched, started, clock(), describe(), depth, log)
    path = write_atomic(reference_path(beside or result_path(cfg, run_id)), to_json(result))
    if "interrupted" in (watched.outcome, depth.outcome if depth else None):
        raise Interrupted(f"interrupted during the reference; the partial result is in {path}")
    return ReferenceMeasured(result, path)


def build(
    cfg: RunConfig,
    broker: Broker,
    run_id: str,
    spec: plain.PlainSpec,
    published: Mapping[str, float],
    watched: Watched,
    started: datetime,
    ended: datetime,
    metadata: Mapping[str, Any],
    depth: DepthPass | None = None,
    log: LogEvidence | None = None,
) -> ReferenceResult:
    execs = executions(watched.events, published)
    summary = summarize(execs, published)
    if watched.worker_cpu_s is not None and summary.tasks.succeeded:
        summary = dataclasses.replace(
            summary,
            worker_cpu_s=watched.worker_cpu_s,
            worker_cpu_per_task_s=watched.worker_cpu_s / summary.tasks.succeeded,
        )
    # The harness's own context (bench/measure/result.py), from the same settings: the same findings in the same words
    context = health_context(settings_of(cfg, broker), log=log)
    health = diagnose(published, execs.records, context)
    origin = min(published.values()) if published else 0.0
    rel = lambda t: round(t - origin, 6)  # noqa: E731
    return ReferenceResult(
        run_id=run_id,
        outcome=watched.outcome,
        detail=watched.detail,
        command=plain.redacted_argv(spec, broker),
        summary=summary,
        health=health,
        config={
            "app": spec.app,
            "task": cfg.spec.task,
            "pool": cfg.pool,
            "concurrency": cfg.concurrency,
            "slots": context.slots,
            "tasks": cfg.tasks,
            "queue": spec.queue,
            "prefetch_multiplier": context.prefetch_multiplier,  # None: Celery's default
            "prefetch_multiplier_passed": cfg.prefetch_multiplier is not None,
            "acks_late": context.acks_late,
            "max_tasks_per_child": cfg.max_tasks_per_child,
            "broker": {"kind": broker.kind, "url": broker.redacted_url, "server": broker.server},
            "result_backend": "app's own" if spec.result_backend is None else redact(spec.result_backend),
            "workdir": str(spec.cwd),
        },
        samples={
            "time_origin": "first publish of the batch (wall clock of this host)",
            "published_s": [rel(r.published) for r in execs.records],
            "started_s": [rel(r.started) for r in execs.records],
            "finished_s": [rel(r.finished) for r in execs.records],
            "state": [r.state for r in execs.records],
            "pid": [r.pid for r in execs.records],
        },
        started_utc=started.isoformat(),
        ended_utc=ended.isoformat(),
        metadata=dict(metadata),
        depth=depth,
    )


def reference_path(run_document: str | Path) -> Path:
    """Beside the run's own document: `<its stem>-reference.json`."""
    own = Path(run_document)
    return own.with_name(f"{own.stem}-reference.json")


def to_json(result: ReferenceResult) -> dict[str, Any]:
    s = result.summary
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": REFERENCE,
        "run_id": result.run_id,
        "status": {"state": "ok" if result.ok else "failed", "outcome": result.outcome, "detail": result.detail},
        "command": list(result.command),
        "config": dict(result.config),
        "summary": {
            "throughput_per_s": s.throughput_per_s,
            "steady_throughput_per_s": s.steady_throughput_per_s,
            "window_s": s.window_s,
            "tasks": {
                "published": s.tasks.published,
                "succeeded": s.tasks.succeeded,
                "failed": s.tasks.failed,
                "missing": s.tasks.missing,
                "duplicates": s.tasks.duplicates,
                "started_more_than_once": s.started_more_than_once,
            },
            "max_concurrency": s.max_concurrency,
            "mean_concurrency": s.mean_concurrency,
            "processes_used": s.processes_used,
            "event_lag_p50_s": s.event_lag_p50_s,
            "event_lag_max_s": s.event_lag_max_s,
            "worker_cpu_s": s.worker_cpu_s,
            "worker_cpu_per_task_s": s.worker_cpu_per_task_s,
        },
        "health": health_json(result.health),
        "samples": dict(result.samples),
        "depth": depth_json(result.depth),
        "metadata": {**result.metadata, "started_utc": result.started_utc, "ended_utc": result.ended_utc},
    }


def health_json(health: Health | None) -> dict[str, Any] | None:
    """As a run document writes its summary.health."""
    if health is None:
        return None
    return {"findings": [dataclasses.asdict(f) for f in health.findings]}

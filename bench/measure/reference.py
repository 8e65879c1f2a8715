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
on the worker's clock (bench/measure/task_events.py: the receiver, one
record per execution, the summary); throughput and the steady state are
computed as `run` computes them. Pass 1 is bench/measure/queue_depth.py.
"""

import contextlib
import dataclasses
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from bench.analysis.health import LogEvidence, diagnose, log_evidence
from bench.errors import Interrupted
from bench.harness import machine, plain, scratch, signals
from bench.harness.broker import Broker
from bench.harness.process import tree
from bench.harness.urls import redact
from bench.harness.worker import READY_TIMEOUT_S, last_error_line
from bench.harness.worker import stop as stop_worker
from bench.measure import load
from bench.measure.config import RunConfig
from bench.measure.crew import keep_logs, read_log
from bench.measure.queue_depth import DepthPass, depth_json, depth_pass, prefetch_count
from bench.measure.result import health_context
from bench.measure.runner import (
    call_args,
    new_run_id,
    result_path,
    settings_of,
    stop_and_prefetch_settings,
    time_limits,
)
from bench.measure.task_events import TERMINAL, EventWatch, ReferenceSummary, executions, summarize
from bench.results.io import write_atomic
from bench.results.schema import SCHEMA_VERSION, Health, utc_now

REFERENCE = "reference"  # the document's `kind`
POLL_S = 0.02  # between two looks at the events received


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
    worker_log: Mapping[str, Any] | None = None  # {path, lines}: the plain workers' log, kept when odd

    @property
    def ok(self) -> bool:
        return self.outcome == "complete" and self.summary.tasks.complete


@dataclass(frozen=True)
class ReferenceMeasured:
    result: ReferenceResult
    path: Path


def plain_spec(cfg: RunConfig, broker: Broker, run_id: str, queue: str, events: bool = True) -> plain.PlainSpec:
    """The plain worker of `cfg`: the same app, pool, -c, prefetch,
    acks_late, tasks per child, pinning, broker and settings of tasks in
    flight at a stop (reject_on_worker_lost, soft shutdown, visibility
    timeout) and prefetch settings (-O, disable_prefetch, the ETA task
    limit) as the harness's;
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
        max_memory_per_child_kib=cfg.max_memory_per_child_kib,
        workdir=user.workdir if user else None,
        cpus=cfg.cpus,
        events=events,
        **stop_and_prefetch_settings(cfg),
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
    logs: list[tuple[str, str]] = []  # (pass, log text), read before the scratch directory goes
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
            watched = _watch(events, published, worker, broker.watch(), stall_s, timeout_s, progress=progress)
    finally:
        try:
            if worker is not None:
                stop_worker(worker)
            events.stop()
            watched.events = events.snapshot() or watched.events
            log_tail = last_error_line(work / "worker.log") if watched.outcome not in ("complete",) else ""
            log = log_evidence([read_log(work / "worker.log")]) if worker is not None else None
            logs = [(name, read_log(work / f)) for name, f in PLAIN_LOGS if (work / f).exists()]
            if broker.pid is None or broker.watch()():
                with contextlib.suppress(Exception):  # tidy-up only; the broker may be gone
                    load.tidy(app, broker, prefix, [spec.nodename, depth_spec.nodename])
        finally:
            app.close()
            scratch.remove(work)
    if watched.outcome not in ("complete", "interrupted", "not measured") and not watched.detail:
        watched.detail = log_tail
    result = build(cfg, broker, run_id, spec, published, watched, started, clock(), describe(), depth, log)
    target = reference_path(beside or result_path(cfg, run_id))
    if _odd(result):
        result = dataclasses.replace(result, worker_log=keep_logs(target, logs))
    path = write_atomic(target, to_json(result))
    if "interrupted" in (watched.outcome, depth.outcome if depth else None):
        raise Interrupted(f"interrupted during the reference; the partial result is in {path}")
    return ReferenceMeasured(result, path)


# The plain workers' logs, by pass: kept beside the reference when it is odd.
PLAIN_LOGS = (("without events", "depth.log"), ("with events", "worker.log"))


def _odd(result: ReferenceResult) -> bool:
    """A reference whose plain workers' log is worth keeping: a pass that
    did not complete, Celery's misbehaviour in either, or a log that told
    of failed acks or a lost broker connection."""
    depth = result.depth
    depth_odd = depth is not None and (
        depth.outcome != "complete"
        or bool(depth.moves.rose_by or depth.moves.pauses_s)
        or bool(depth.log and (depth.log.ack_failures or depth.log.reconnects))
    )
    misbehaved = result.health is not None and bool(result.health.misbehaviour)
    return not result.ok or misbehaved or depth_odd


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
            "max_memory_per_child_kib": cfg.max_memory_per_child_kib,
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
        "worker_log": dict(result.worker_log) if result.worker_log else None,
        "metadata": {**result.metadata, "started_utc": result.started_utc, "ended_utc": result.ended_utc},
    }


def health_json(health: Health | None) -> dict[str, Any] | None:
    """As a run document writes its summary.health."""
    if health is None:
        return None
    return {"findings": [dataclasses.asdict(f) for f in health.findings]}

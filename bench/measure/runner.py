"""One measured point, start to end: the pipeline that `run` executes once
and a sweep executes many times.

    broker -> (stub server) -> worker ready -> warm-up batch -> pre-fill the
    measured batch -> release it -> watch it complete -> stop the worker ->
    statistics -> result document (written at once, even for a failed run)

Longer than the ~400 lines a module aims for, on purpose: it is that one
pipeline and the pieces every mode shares with it (the launch, the
read-back, the services, `conclude`, the document's path), which the open
loop, the reference and the agents import from here so that there is one
of each.
"""

import contextlib
import dataclasses
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from celery import Celery

from bench.analysis.accuracy import predict_run
from bench.analysis.health import log_evidence
from bench.analysis.series import per_second, series_figures
from bench.errors import Interrupted, RunFailed
from bench.harness import broker as broker_mod
from bench.harness import cgroups, machine, netstub, readback, worker
from bench.harness.urls import derived_password, redact
from bench.measure import deploy, load, mix
from bench.measure.config import RunConfig
from bench.measure.crew import Crew, Nodes, Relay, keep_logs
from bench.measure.limits import celery_default_concurrency, oom_losses, window_figures, worker_limits
from bench.measure.memory import ProcessSampler, interval_for
from bench.measure.observe import NodeReaders, RecordReader, ResourceSampler
from bench.measure.result import (
    Observed,
    build_result,
    first_reports,
    not_measured,
    observed_batch,
    run_metadata,
    run_settings,
)
from bench.output.health import oom_words
from bench.results.io import write_lines_atomic, write_run
from bench.results.overheads import cached, calibration_key
from bench.results.schema import (
    BrokerInfo,
    DeployFigures,
    LimitFigures,
    Metadata,
    Placement,
    RunResult,
    RunSettings,
    utc_now,
    utc_text,
)
from bench.workloads import Ceiling, ceiling, expected_rate, slots


@contextlib.contextmanager
def services(
    broker_url: str | None,
    redis_server: str | None = None,
    needs_stub: bool = False,
    listen: str | None = None,
    port: int | None = None,
    secret: bytes | None = None,
) -> Iterator[tuple[broker_mod.Broker, str | None]]:
    """The broker (embedded when `broker_url` is None, else the user's) and,
    when the `net` workload needs it, the stub server. `listen`: an address
    of this host the embedded broker binds too (--listen); with `port`, on
    that port, its password derived from the shared `secret`, so agents
    started with --harness ADDRESS:PORT find it."""
    with contextlib.ExitStack() as stack:
        if broker_url is None:
            password = derived_password(secret) if port and secret else None
            broker = stack.enter_context(broker_mod.embedded(redis_server, listen, port, password))
        else:
            broker = broker_mod.connect(broker_url)
        stub = stack.enter_context(netstub.running()) if needs_stub else None
        yield broker, stub


def services_for(
    cfg: RunConfig, secret: bytes | None = None
) -> AbstractContextManager[tuple[broker_mod.Broker, str | None]]:
    """The services one run needs (`secret`: of the agents, see services)."""
    return services(cfg.broker_url, cfg.redis_server, cfg.spec.needs_stub, cfg.listen, cfg.listen_port, secret)


@dataclass(frozen=True)
class Measured:
    result: RunResult  # what was measured
    path: Path  # the file it was written to


class NotMeasured(RunFailed):
    """A run that failed before its measured window: the reason, with what
    the workers had said by then (their logs, their settings' report), for
    the document measure_repeat keeps of it."""

    def __init__(self, message, logs=(), reported=None):
        super().__init__(message)
        self.logs = list(logs)  # [(node name, log text)]
        self.reported = reported  # {node: report} (harness/readback.py); None: not read


class FailedRun(RunFailed):
    """A run measured and written whose result is a failure (tasks failed,
    lost, or above the ceiling): the message, and what was measured, so the
    caller can still show it."""

    def __init__(self, message, measured: Measured):
        super().__init__(message)
        self.measured = measured


def time_limits(cfg: RunConfig) -> tuple[float, float]:
    """(stall, timeout) seconds for watching a batch: a slot that is busy
    reports at least once per task duration, so a long silence means lost
    tasks; the whole batch gets ten times its expected length."""
    task_s = (cfg.longest_task_ms or 1.0) / 1000.0  # a stuck task's block is a task's time too
    # A user's task of unknown length may take long: a minute of silence.
    stall_s = max(60.0 if cfg.user_task is not None and cfg.task_ms is None else 10.0, 5 * task_s + 5)
    rate = expected_rate(
        cfg.spec, cfg.pool, cfg.concurrency, cfg.task_ms, cfg.cores, workers=cfg.workers, cpu_limit=cfg.cpu_limit
    )
    timeout_s = max(60.0, 10 * cfg.tasks / rate)
    return stall_s, timeout_s


def new_run_id(started: datetime | None = None) -> str:
    """A run's id: its UTC start (now, by default) and a random suffix
    (queue and node names)."""
    return (started or utc_now()).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def worker_spec(cfg: RunConfig, run_id: str, queue: str, node: int | None = None) -> worker.WorkerSpec:
    """The worker of a run of `cfg`, consuming `queue` from the start:
    the tutorial's app, or the user's through the same entry point;
    `node`: its index among several workers (in its node name)."""
    user = cfg.user_task
    suffix = "" if node is None else f"-{node}"
    return worker.WorkerSpec(
        pool=cfg.pool,
        concurrency=cfg.concurrency,
        queue=queue,
        nodename=f"bench-{run_id}{suffix}@{socket.gethostname()}",
        prefetch_multiplier=cfg.prefetch_multiplier,
        loglevel=cfg.loglevel,
        result_backend=cfg.result_backend,
        cpus=cfg.cpus,
        acks_late=cfg.acks_late,
        max_tasks_per_child=cfg.max_tasks_per_child,
        max_memory_per_child_kib=cfg.max_memory_per_child_kib,
        app=user.app if user else "proj",
        workdir=user.workdir if user else None,
        broker_from_app=cfg.broker_from_app,
        record_memory=cfg.record_memory,
        limits=cfg.limits,
        record_starts=cfg.deploy is not None,
        record_received=cfg.traffic is not None,
        **stop_and_prefetch_settings(cfg),
        **_side_of(cfg),
    )


def stop_and_prefetch_settings(cfg: RunConfig) -> dict[str, Any]:
    """The settings of tasks in flight at a stop and of prefetching, as the
    keywords of WorkerSpec and of the plain worker's PlainSpec (reference.py)."""
    return dict(
        reject_on_worker_lost=cfg.reject_on_worker_lost,
        soft_shutdown_timeout=cfg.soft_shutdown_timeout,
        visibility_timeout=cfg.visibility_timeout,
        remap_sigterm=cfg.remap_sigterm,
        optimization=cfg.optimization,
        disable_prefetch=cfg.disable_prefetch,
        eta_task_limit=cfg.eta_task_limit,
    )


def worker_specs(cfg: RunConfig, run_id: str, warm_queue: str) -> list[worker.WorkerSpec]:
    """One spec per worker node: the same pool and -c, each its own node name
    and warm-up (idle) queue, so each can be warmed and woken on its own."""
    if cfg.workers == 1:
        return [worker_spec(cfg, run_id, warm_queue)]
    return [worker_spec(cfg, run_id, f"{warm_queue}.{i}", node=i) for i in range(cfg.workers)]


def _side_of(cfg):
    """The worker's project root and interpreter, where `ab` sets them."""
    side = {}
    if cfg.project_root is not None:
        side["project_root"] = Path(cfg.project_root)
    if cfg.worker_python is not None:
        side["python"] = cfg.worker_python
    return side


@contextlib.contextmanager
def recorded_workers(
    specs: Sequence[worker.WorkerSpec], broker: broker_mod.Broker
) -> Iterator[tuple[Nodes, NodeReaders]]:
    """Every worker of `specs` ready (each in its own record directory), as
    one Nodes and one reader of all their records, each tagged with its node."""
    crew = Crew(specs, broker)
    try:
        crew.wait_ready()
        yield crew.nodes, crew.reader
    finally:
        crew.stop()


@contextlib.contextmanager
def recorded_worker(spec: worker.WorkerSpec, broker: broker_mod.Broker) -> Iterator[tuple[worker.Worker, RecordReader]]:
    """A ready worker and the reader of its per-task records, in a private
    directory removed once the worker has stopped (the open-loop runner and
    the benchmark suite start their workers here)."""
    with recorded_workers([spec], broker) as (nodes, reader):
        yield nodes.procs[0], reader.readers[0]


@dataclass
class Launch:
    """A run's workers started (booting) and its warm-up waiting on their
    queues: what a run does before it needs the machine to itself."""

    run_id: str
    started: datetime  # UTC, the run's start as recorded
    specs: list[worker.WorkerSpec]  # one per node
    crew: Crew
    app: Celery  # the harness's client app, publishing to the broker
    warm: load.Batch | None  # the warm-up batch, published; None: no warm-up

    @property
    def prefix(self) -> str:
        return f"celery-bench.{self.run_id}."

    def finish(self, broker: broker_mod.Broker, tidy: bool = True) -> None:
        """Stop the workers; then leave the broker as the run found it
        (`tidy`: not when it is gone)."""
        try:
            self.crew.stop()
        finally:
            if tidy:
                with contextlib.suppress(Exception):  # tidy-up only; the broker may be gone
                    load.tidy(self.app, broker, self.prefix, [s.nodename for s in self.specs])
            self.app.close()


def launch(
    cfg: RunConfig, broker: broker_mod.Broker, stub_address: str | None = None, clock: Callable[[], datetime] = utc_now
) -> Launch:
    """Start the run's workers and publish its warm-up to their queues
    without waiting for them: they take it as soon as they are ready."""
    started = clock()
    run_id = new_run_id(started)
    specs = worker_specs(cfg, run_id, f"celery-bench.{run_id}.warmup")
    settings = cfg.app_info.settings if cfg.app_info is not None else {}
    app = load.client_app(broker, settings.get("task_serializer") or "json")
    try:
        crew = Crew(specs, broker)
    except BaseException:
        app.close()
        raise
    launched = Launch(run_id, started, specs, crew, app, None)
    try:
        if cfg.warmup:
            # every worker warms on its own queue, as one worker alone would
            args, calls = call_args(cfg, stub_address)
            published = {}
            for node, spec in enumerate(specs):
                load.declare(app, spec.queue)  # kept until the worker consumes it
                if cfg.traffic is not None:  # the mix, each worker its own draw
                    warm_calls = mix.batch_calls(cfg.traffic, cfg.warmup, f"warmup-{node}")
                    every_lane = [spec.queue] * len(cfg.traffic.lanes)  # all of it to this worker
                    published.update(mix.publish(app, every_lane, cfg.traffic, warm_calls))
                else:
                    published.update(load.publish(app, spec.queue, cfg.spec.task, args, cfg.warmup, calls))
            launched.warm = load.Batch(published)
    except BaseException:
        launched.finish(broker)
        raise
    return launched


def call_args(cfg: RunConfig, stub_address: str | None) -> tuple[Any, load.Calls | None]:
    """(args, calls) for load.publish: the workload's arguments, or a user's
    task's arguments by the index of the call."""
    user = cfg.user_task
    if user:
        return None, lambda i: (list(user.call(i).args), dict(user.call(i).kwargs))
    return cfg.spec.args(cfg.task_ms, stub_address), None


def measured_call_args(cfg: RunConfig, stub_address: str | None) -> tuple[Any, load.Calls | None]:
    """call_args of the measured batch: the stuck workload's drawn tasks block
    (its warm-up does not)."""
    blocked, blocked_ms = cfg.stuck_tasks, cfg.longest_task_ms
    if blocked is None:
        return call_args(cfg, stub_address)
    return None, lambda i: ([cfg.task_ms, blocked_ms if blocked[i] else 0], None)


def measure(
    cfg: RunConfig,
    broker: broker_mod.Broker,
    stub_address: str | None = None,
    progress: load.Progress | None = None,
    clock: Callable[[], datetime] = utc_now,
    describe: Callable[[], dict[str, Any]] = machine.describe,
    relay: Relay | None = None,
) -> Measured:
    """Measure one point in a fresh worker; write its result document and
    return it with its path. Raises RunFailed (after writing the document)
    when tasks went missing or failed, NotMeasured when it failed before
    the measured window, and Interrupted (after writing it) on a signal.
    `relay` (a sweep's crew.Relay): stop the workers in the background once
    the batch is complete, and open the window only once the runs before
    have stopped theirs. `clock` (UTC datetimes) and `describe` (the
    machine's metadata) are seams for tests."""
    workload = cfg.spec
    load_before = os.getloadavg()
    launched = launch(cfg, broker, stub_address, clock)
    nodes, reader, app = launched.crew.nodes, launched.crew.reader, launched.app
    main_queue = f"{launched.prefix}measured"
    args, calls = measured_call_args(cfg, stub_address)
    stall_s, timeout_s = time_limits(cfg)
    batch = None
    retired = False
    reported = None
    logs = []
    try:
        try:
            launched.crew.wait_ready()
            if launched.warm is not None:
                warm = launched.warm
                load.watch(warm, reader, nodes, broker.watch(), stall_s, timeout_s)
                if warm.outcome == "interrupted":
                    raise Interrupted("interrupted during the warm-up; nothing was measured")
                if warm.outcome != "complete":
                    raise RunFailed(f"the warm-up batch did not complete ({warm.outcome}: {warm.detail})")
                failed = [r for r in warm.records if r.state != "SUCCESS"]
                if failed:
                    raise RunFailed(f"warm-up tasks failed: {failed[0].error}")
            reported = read_settings(cfg, broker, app, [s.nodename for s in launched.specs])
        except RunFailed as exc:
            reason = with_oom(str(exc), launched.crew.cgroups(), cfg.memory_limit)
            raise NotMeasured(reason, launched.crew.logs(), getattr(exc, "reported", reported)) from exc
        if relay is not None:
            relay.settle()  # the workers of the runs before are gone: the window is ours
        lanes = [main_queue] if cfg.traffic is None else mix.lane_queues(cfg.traffic, main_queue)
        for lane in lanes:
            load.declare(app, lane)
        if cfg.traffic is not None:
            mix_calls = mix.batch_calls(cfg.traffic, cfg.tasks)
            batch = load.Batch(mix.publish(app, lanes, cfg.traffic, mix_calls))
            task_class = mix.class_of(cfg.traffic, batch.published, mix_calls)
        else:
            batch = load.Batch(load.publish(app, main_queue, workload.task, args, cfg.tasks, calls))
        sampler = ResourceSampler([p.pid for p in nodes.procs], broker.current_pid, cfg.quota_cores).start()
        memory = ProcessSampler([p.pid for p in nodes.procs], interval_for(cfg)).start()
        groups = launched.crew.cgroups()
        counted = [g.figures() for g in groups]
        nodenames, idle = [s.nodename for s in launched.specs], [s.queue for s in launched.specs]
        if cfg.traffic is not None:
            mix.release(app, lanes, cfg.traffic, nodenames, idle)
        else:
            load.release(app, main_queue, nodenames, idle)
        # Under a memory limit or a deploy event, tasks started by a process that died never finish: the batch
        # ends once only they are left.
        killing = cfg.memory_limit is not None or cfg.deploy is not None
        lost = lost_for_good(reader, cfg.acks_late) if killing else None
        event = None
        if cfg.deploy is not None:
            released = time.monotonic()
            event = deploy.Deploy(cfg.deploy, launched.crew, main_queue, released, batch.records, broker.process)
            if cfg.deploy.kind == "broker_restart":
                lost = lost_with_the_broker(reader, event)
        tick = None if event is None else event.tick
        load.watch(batch, reader, nodes, broker.watch(), stall_s, timeout_s, progress, lost, tick)
        resources = sampler.stop()
        series = memory.stop()
        # a mix's reservations: read while the workers' record directories are there
        received = mix.first_received(reader.received()) if cfg.traffic is not None else {}
        deployed: tuple[DeployFigures | None, tuple[int, int, int] | None] = (None, None)
        if event is not None:
            deployed = deploy_outcome(event, batch, reader, max(stall_s, event.plan.stop_grace_s + 5))
        # read while the cgroups are there: they go with the workers
        figures = window_figures(counted, [g.figures() for g in groups]) if groups else None
        if figures is not None and cfg.memory_limit is not None:
            figures = oom_counted(figures, batch, reader, nodes)
        applied = groups[0].applied() if groups else None
        logs = launched.crew.logs()  # before the workers (and their logs) go
        if relay is not None and batch.outcome == "complete":
            relay.retire(lambda: launched.finish(broker))
            retired = True
    finally:
        if not retired:
            # Also after a failure or a signal: the user's broker is left as it was.
            launched.finish(broker, tidy=batch is None or batch.outcome != "broker lost")

    struck, cost = deployed
    observed = observed_batch(
        batch,
        resources,
        load_before,
        limits=figures,
        deploy=struck,
        deploy_counts=cost,
        task_class=task_class if cfg.traffic is not None else None,
        lanes=mix.task_lanes(cfg.traffic, task_class, cfg.slots // cfg.workers, cfg.workers)
        if cfg.traffic is not None
        else None,
        memory=series,
    )
    bound = ceiling(workload, cfg.pool, cfg.concurrency, cfg.task_ms, cfg.cores, cfg.peak_workers, cfg.cpu_limit)
    settings = with_report(settings_of(cfg, broker), reported)
    if applied is not None:
        cpus = len(cfg.cpus) if cfg.cpus else len(os.sched_getaffinity(0))
        settings = dataclasses.replace(settings, limits=worker_limits(applied, cpus, celery_default_concurrency()))
    extend = None
    if cfg.traffic is not None:
        traffic = cfg.traffic

        def extend(result: RunResult) -> RunResult:
            slots_each = cfg.slots // cfg.workers
            meant = mix.due(batch.published, mix_calls, batch.published)  # a countdown's wait counts from its ETA
            return mix.add_classes(result, traffic, task_class, meant, batch.records, received, slots_each, cfg.workers)

    return conclude(
        cfg, launched.run_id, launched.started, settings, bound, observed, logs, clock, describe, extend=extend
    )


def deploy_outcome(
    event: deploy.Deploy, batch: load.Batch, reader: NodeReaders, timeout_s: float
) -> tuple[DeployFigures, tuple[int, int, int]]:
    """What a deploy event cost: its figures (once it has run its course: the
    stopped worker gone, its replacement ready; at most `timeout_s`), and the
    batch's (lost, redelivered, interrupted), read while the workers run."""
    if event.strikes and batch.outcome != "interrupted":
        event.settle(timeout_s)
    starts = reader.starts()
    dead = {s["pid"] for s in starts if _gone(s["pid"])}
    tallied = deploy.counts(batch.published, batch.records, starts, dead, batch.cut)
    return event.figures([r.finished for r in first_reports(batch.records)]), tallied


def with_oom(reason: str, groups: Sequence[cgroups.Cgroup], memory_limit: int | None) -> str:
    """A failure's `reason`, with the OOM kills the workers' cgroups counted
    (a worker OOM-killed before its window fails the run in that one line)."""
    kills = sum(g.figures().oom_kills or 0 for g in groups)
    words = oom_words(LimitFigures(oom_kills=kills), memory_limit) if kills else None
    return f"{reason}; {words}" if words else reason


def oom_counted(figures: LimitFigures, batch: load.Batch, reader: NodeReaders, nodes: Nodes) -> LimitFigures:
    """`figures` with the tasks their OOM kills lost: the batch's tasks that
    a worker process now gone had started and never reported (read before
    the workers stop), and the worker main processes killed outright."""
    starts = reader.starts()
    dead = {(s.get("node", 0), s["pid"]) for s in starts if _gone(s["pid"])}
    killed = sum(
        1 for p in nodes.procs if p not in nodes.retired and p.exited() and p.popen.returncode == -signal.SIGKILL
    )
    return oom_losses(figures, starts, batch.published, {r.id for r in batch.records}, dead, killed)


def lost_for_good(reader: NodeReaders, acks_late: bool = False) -> Callable[[set[str]], bool]:
    """Whether every task of a set is lost for good (the workers' recorded
    starts): Celery failed it with WorkerLostError (it sends task_failure
    only when it does not requeue the task), or, with acks on receipt, a
    process now gone had started it. With acks_late a dead process's task
    may come back (task_reject_on_worker_lost, a dead worker's unacked
    messages): only Celery's own word counts."""

    def check(pending: set[str]) -> bool:
        latest = {s["id"]: s for s in sorted(reader.starts(), key=lambda s: s["started"]) if s["id"] in pending}
        gone = [s.get("worker_lost") or (not acks_late and _gone(s["pid"])) for s in latest.values()]
        return len(latest) == len(pending) and all(gone)

    return check


# After a broker restart, the workers reconnect within this (kombu retries at once, then every second or so)
RECONNECT_S = 5.0


def lost_with_the_broker(reader: NodeReaders, event: deploy.Deploy) -> Callable[[set[str]], bool]:
    """Whether a set of tasks went with a restarted broker (it keeps
    nothing): the restart was RECONNECT_S ago or more, so the workers are
    back, and none of the tasks is running (started and not finished). A
    task a worker had reserved but not started is dropped on a lost
    connection (Celery's consumer clears them: their delivery tags belong
    to the dead channel); one it had started finishes and reports."""

    def check(pending: set[str]) -> bool:
        if not event.strikes or time.monotonic() - event.strikes[0].at < RECONNECT_S:
            return False
        finished = {r["id"] for r in reader.finished()}
        running = {s["id"] for s in reader.starts()} - finished
        return not running & pending

    return check


def _gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie has)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def conclude(
    cfg: RunConfig,
    run_id: str,
    started: datetime,
    settings: RunSettings,
    bound: Ceiling,
    observed: Observed,
    logs: Sequence[tuple[str, str]] = (),
    clock: Callable[[], datetime] = utc_now,
    describe: Callable[[], dict[str, Any]] = machine.describe,
    extend: Callable[[RunResult], RunResult] | None = None,
) -> Measured:
    """The end of every measured run (drain, open loop, on agents): its
    result built from what was observed (`extend(result)` adds what the
    mode adds), the workers' `logs` kept beside a failed or odd run, the
    document written; then Interrupted or RunFailed (after writing) when
    the run was interrupted or failed. Returns Measured (a producer-limited
    run too: the caller says so)."""
    description = describe()
    metadata = run_metadata(description, started, clock())
    log = log_evidence([text for _node, text in logs]) if logs else None
    result = build_result(settings, bound, observed, run_id, metadata, log)
    if extend is not None:
        result = extend(result)
    result = with_prediction(result, cfg, settings, description)
    path = result_path(cfg, run_id)
    if _odd(result):
        result = dataclasses.replace(result, worker_log=keep_logs(path, logs))
    result = with_series(result, observed, path)
    path = write_run(path, result)
    if observed.outcome == "interrupted":
        raise Interrupted(f"interrupted; the partial result is in {path}")
    if result.status.state == "failed":
        raise FailedRun(f"{result.status.reason} (result kept in {path})", Measured(result, path))
    return Measured(result, path)


def with_series(result: RunResult, observed: Observed, path: Path) -> RunResult:
    """The result with its per-second series, written beside its document at
    `path` (docs/soak.md)."""
    if result.summary is None:
        return result
    snapshots = observed.memory.snapshots if observed.memory is not None else ()
    rows = per_second(observed.published, observed.records, snapshots)
    series = write_lines_atomic(path.with_name(f"{path.stem}.series.jsonl"), rows)
    figures = series_figures(rows, series.name)
    return dataclasses.replace(result, summary=dataclasses.replace(result.summary, series=figures))


def with_prediction(result: RunResult, cfg: RunConfig, settings: RunSettings, description: dict[str, Any]) -> RunResult:
    """The result with the model's throughput for its point, where Celery's
    per-task cost is cached for this machine and broker (advise measures
    it); a drained batch here only (open loop's throughput is the rate
    offered; on agents the machine is another)."""
    broker = settings.broker
    if cfg.open_loop or cfg.hosts or result.summary is None or broker is None or broker.kind is None:
        return result
    calibration = cached(calibration_key(description, broker.kind, broker.server))
    predicted = predict_run(cfg.pool, cfg.concurrency, cfg.workers, cfg.quota_cores, cfg.spec, cfg.task_ms, calibration)
    if predicted is None:
        return result
    return dataclasses.replace(result, summary=dataclasses.replace(result.summary, predicted_per_s=predicted))


def _odd(result):
    """A run whose workers' log is worth keeping: it failed, a task ran
    twice or went missing, or the log itself told of failed acks or a lost
    broker connection."""
    tasks = result.summary.tasks if result.summary is not None else None
    odd_tasks = tasks is not None and bool(tasks.duplicates or tasks.missing)
    health = result.summary.health if result.summary is not None else None
    odd_log = health is not None and any(health.of(kind) for kind in ("ack_failures", "reconnects"))
    return result.status.state == "failed" or odd_tasks or odd_log


def write_not_measured(
    cfg: RunConfig,
    broker: broker_mod.Broker,
    path: str | Path,
    failure: RunFailed,
    clock: Callable[[], datetime] = utc_now,
) -> Path:
    """Keep a run that failed before its window (`failure`: the RunFailed)
    as a `not_measured` document at `path`, with the workers' report of
    their settings and their log when the failure brought them."""
    ended = Metadata(ended_utc=utc_text(clock(), timespec="seconds"))
    settings = with_report(settings_of(cfg, broker), getattr(failure, "reported", None), check=False)
    result = not_measured(settings, str(failure), ended)
    logs = getattr(failure, "logs", None)
    if logs:
        result = dataclasses.replace(result, worker_log=keep_logs(path, logs))
    return write_run(path, result)


def intended_settings(cfg: RunConfig, broker: broker_mod.Broker) -> dict[str, Any]:
    """What the harness means each worker to run with, as readback.check
    takes it (None: the app's own, not the harness's to set)."""
    app_settings = cfg.app_info.settings if cfg.app_info is not None else {}
    user = cfg.user_task is not None
    if cfg.broker_from_app:
        backend = app_settings.get("result_backend")
    else:
        backend = redact(broker.result_backend(cfg.result_backend))
    prefetch = cfg.prefetch_multiplier
    if prefetch is None and user:
        prefetch = app_settings.get("worker_prefetch_multiplier")
    return {
        "pool": cfg.pool,
        "concurrency": slots(cfg.pool, cfg.concurrency),
        "result_backend_kind": readback.backend_kind(backend),
        "prefetch_multiplier": prefetch,
        # a user's task may set its own acks_late: only --vary acks_late=true is the harness's
        "acks_late": True if cfg.acks_late else (None if user else False),
        "reject_on_worker_lost": True if cfg.reject_on_worker_lost else (None if user else False),
        # Celery's 0 for the built-in workloads; a user's app may set its own
        "soft_shutdown_timeout": cfg.soft_shutdown_timeout if cfg.soft_shutdown_timeout is not None or user else 0.0,
        "visibility_timeout": cfg.visibility_timeout,  # None: kombu's default or the app's, not the harness's
        "remap_sigterm": cfg.remap_sigterm,
        # -O fair is fair in every Celery; -O default (or none) is whatever the worker's Celery makes of it
        "sched_strategy": "fair" if cfg.optimization == "fair" and cfg.pool == "prefork" else None,
        "disable_prefetch": True if cfg.disable_prefetch else (None if user else False),
        "eta_task_limit": cfg.eta_task_limit,  # None: no limit, or a user's app's own
        # prefork only; a user's app may set its own (worker_max_tasks_per_child, worker_max_memory_per_child)
        "max_tasks_per_child": _recycling(cfg, cfg.max_tasks_per_child, user),
        "max_memory_per_child_kib": _recycling(cfg, cfg.max_memory_per_child_kib, user),
        "result_backend": backend,
        "serializer": None if user else "json",
        "cpus": list(cfg.cpus) if cfg.cpus and not cfg.hosts else None,
    }


def _recycling(cfg, value, user):
    """A recycling setting as meant: the value given; 0 (never) for the
    built-in workloads; None (not the harness's to set) for a user's app
    without it, or outside prefork (the other pools report none)."""
    if cfg.pool != "prefork":
        return None
    return value or (None if user else 0)


def read_settings(
    cfg: RunConfig,
    broker: broker_mod.Broker,
    app: Celery,
    nodenames: Iterable[str],
    between: Callable[[], object] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every worker's report of its settings, checked against the harness's
    intent: {node: report}; SettingMismatch (one line) when they disagree.
    A worker here also reports the CPUs its main process may run on (its
    pool's processes inherit them), and REMAP_SIGTERM from its environment. `between`: see readback.read_back."""
    reported = readback.read_back(app, nodenames, cfg.spec.task, cfg.concurrency, between=between)
    if not cfg.hosts:
        for report in reported.values():
            report["cpus"] = list(_cpus_of(report["pid"]) or ()) or None if report.get("pid") else None
            report["remap_sigterm"] = _remap_sigterm_of(report["pid"]) if report.get("pid") else None
    readback.check(intended_settings(cfg, broker), reported, ignore=_per_host(cfg))
    return reported


def _per_host(cfg):
    """What workers on agents report apart: the result backend's URL holds
    each agent's own address for the broker (its kind is checked)."""
    return ("result_backend",) if cfg.hosts else ()


def with_report(
    settings: RunSettings,
    reported: dict[str, dict[str, Any]] | None,
    check: bool = True,
    ignore: Collection[str] = (),
) -> RunSettings:
    """The recorded settings made the workers' own: pool, -c (but solo's,
    which reports 1 whatever -c says), prefetch multiplier, acks_late,
    max_tasks_per_child, max_memory_per_child_kib, result backend, reject_on_worker_lost, soft
    shutdown timeout, visibility timeout, REMAP_SIGTERM, the prefork pool's
    scheduling strategy, worker_disable_prefetch and worker_eta_task_limit
    as the workers reported them,
    with the report itself. `check=False`: a report that disagreed (a
    not-measured run) is kept beside the intent, which is left as it was.
    `ignore`: settings the nodes report apart (see _per_host), kept as meant."""
    if not reported:
        return settings
    if not check:
        return dataclasses.replace(settings, worker_reported=reported)
    agreed = readback.check({}, reported, ignore)
    own = {name: agreed[name] for name in ("pool", "prefetch_multiplier", "result_backend") if agreed[name] is not None}
    if agreed["acks_late"] is not None:
        own["acks_late"] = agreed["acks_late"]
    for name in ("max_tasks_per_child", "max_memory_per_child_kib"):
        if agreed[name] is not None:
            own[name] = agreed[name]
    for name in (
        "reject_on_worker_lost",
        "soft_shutdown_timeout",
        "visibility_timeout",
        "remap_sigterm",
        "sched_strategy",
        "disable_prefetch",
        "eta_task_limit",
    ):
        if agreed[name] is not None:
            own[name] = agreed[name]
    if agreed["concurrency"] is not None and settings.pool != "solo":
        own["concurrency"] = agreed["concurrency"]
    return dataclasses.replace(settings, worker_reported=reported, **own)


def _remap_sigterm_of(pid):
    """REMAP_SIGTERM in a process's environment; None: not set, or not readable."""
    try:
        return psutil.Process(pid).environ().get("REMAP_SIGTERM")
    except psutil.Error:
        return None


def _cpus_of(pid):
    try:
        return tuple(sorted(psutil.Process(pid).cpu_affinity()))
    except psutil.Error:
        return None


def _placement(cfg, broker):
    """Which CPUs the worker, the harness and the embedded broker could use."""
    return Placement(
        worker_cpus=tuple(cfg.cpus) if cfg.cpus else tuple(sorted(os.sched_getaffinity(0))),
        harness_cpus=tuple(sorted(os.sched_getaffinity(0))),
        broker_cpus=_cpus_of(broker.pid) if broker.pid else None,
    )


def settings_of(cfg: RunConfig, broker: broker_mod.Broker) -> RunSettings:
    """The run's `config` as recorded: its options, the broker, where it ran."""
    info = BrokerInfo(kind=broker.kind, url=broker.redacted_url, server=broker.server, embedded=broker.embedded)
    backend: str | None = redact(broker.result_backend(cfg.result_backend))
    if cfg.broker_from_app:  # the app's own result backend is kept
        backend = (cfg.app_info.settings if cfg.app_info is not None else {}).get("result_backend")
    return run_settings(cfg, info, backend, _placement(cfg, broker))


def result_path(cfg: RunConfig, run_id: str) -> Path:
    if cfg.json_path is not None:
        return cfg.json_path
    # Named by what ran: solo is always one slot, whatever -c said; several
    # workers are counted apart (-c is each worker's).
    what = cfg.workload if cfg.user_task is None else cfg.user_task.task.rsplit(".", 1)[-1]
    shape = f"-w{cfg.workers}" if cfg.workers > 1 else ""
    return cfg.output_dir / f"run-{run_id}-{cfg.pool}-c{slots(cfg.pool, cfg.concurrency)}{shape}-{what}.json"

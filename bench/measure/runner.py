"""One measured point, start to end: the pipeline that `run` executes once
and a sweep executes many times.

    broker -> (stub server) -> worker ready -> warm-up batch -> pre-fill the
    measured batch -> release it -> watch it complete -> stop the worker ->
    statistics -> result document (written at once, even for a failed run)
"""

import contextlib
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.errors import Interrupted, RunFailed
from bench.harness import broker as broker_mod
from bench.harness import machine, netstub, scratch, worker
from bench.harness.process import watcher
from bench.harness.urls import redact
from bench.measure import load
from bench.measure.observe import NodeReaders, RecordReader, ResourceSampler
from bench.measure.result import Observed, build_result, run_metadata, run_settings
from bench.results.io import write_run
from bench.results.schema import BrokerInfo, Placement, RunResult, RunSettings, utc_now
from bench.workloads import ceiling, expected_rate, slots


@contextlib.contextmanager
def services(broker_url, redis_server=None, needs_stub=False):
    """The broker (embedded when `broker_url` is None, else the user's) and,
    when the `net` workload needs it, the stub server."""
    with contextlib.ExitStack() as stack:
        if broker_url is None:
            broker = stack.enter_context(broker_mod.embedded(redis_server))
        else:
            broker = broker_mod.connect(broker_url)
        stub = stack.enter_context(netstub.running()) if needs_stub else None
        yield broker, stub


def services_for(cfg):
    """The services one run needs."""
    return services(cfg.broker_url, cfg.redis_server, cfg.spec.needs_stub)


@dataclass(frozen=True)
class Measured:
    result: RunResult  # what was measured
    path: Path  # the file it was written to


def _time_limits(cfg):
    """(stall, timeout) seconds for watching a batch: a slot that is busy
    reports at least once per task duration, so a long silence means lost
    tasks; the whole batch gets ten times its expected length."""
    task_s = (cfg.task_ms or 1.0) / 1000.0
    # A user's task of unknown length may take long: a minute of silence.
    stall_s = max(60.0 if cfg.user_task is not None and cfg.task_ms is None else 10.0, 5 * task_s + 5)
    rate = expected_rate(cfg.spec, cfg.pool, cfg.concurrency, cfg.task_ms, cfg.cores, workers=cfg.workers)
    timeout_s = max(60.0, 10 * cfg.tasks / rate)
    return stall_s, timeout_s


def new_run_id(started=None):
    """A run's id: its UTC start (now, by default) and a random suffix
    (queue and node names)."""
    return (started or utc_now()).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def worker_spec(cfg, run_id, queue, node=None):
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
        app=user.app if user else "proj",
        workdir=user.workdir if user else None,
        broker_from_app=cfg.broker_from_app,
        record_memory=cfg.record_memory,
        **_side_of(cfg),
    )


def worker_specs(cfg, run_id, warm_queue):
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


class Nodes:
    """Several running workers, watched as one: a batch fails when any of
    them exits."""

    def __init__(self, procs):
        self.procs = procs

    @property
    def pid(self):
        return self.procs[0].pid

    def exited(self):
        return any(p.exited() for p in self.procs)

    def last_error(self):
        gone = [(i, p) for i, p in enumerate(self.procs) if p.exited()]
        if not gone:
            return self.procs[0].last_error()
        i, proc = gone[0]
        return proc.last_error() if len(self.procs) == 1 else f"worker {i}: {proc.last_error()}"


@contextlib.contextmanager
def recorded_workers(specs, broker):
    """Every worker of `specs` ready (each in its own record directory), as
    one Nodes and one reader of all their records, each tagged with its node."""
    with contextlib.ExitStack() as stack:
        started = [stack.enter_context(recorded_worker(spec, broker)) for spec in specs]
        yield Nodes([proc for proc, _ in started]), NodeReaders([reader for _, reader in started])


@contextlib.contextmanager
def recorded_worker(spec, broker):
    """A ready worker and the reader of its per-task records, in a private
    directory removed once the worker has stopped (the runner and the
    benchmark suite start their workers here)."""
    workdir = scratch.make("run")
    record_dir = workdir / "records"
    record_dir.mkdir()
    try:
        with worker.running(spec, broker, record_dir, workdir / "worker.log") as proc:
            yield proc, RecordReader(record_dir)
    finally:
        scratch.remove(workdir)


def measure(cfg, broker, stub_address=None, progress=None, clock=utc_now, describe=machine.describe):
    """Measure one point in a fresh worker; write its result document and
    return it with its path. Raises RunFailed (after writing the document)
    when tasks went missing or failed, and Interrupted (after writing it) on
    a signal. `clock` (UTC datetimes) and `describe` (the machine's
    metadata) are seams for tests."""
    workload = cfg.spec
    user = cfg.user_task
    started = clock()
    run_id = new_run_id(started)
    warm_queue, main_queue = f"celery-bench.{run_id}.warmup", f"celery-bench.{run_id}.measured"
    specs = worker_specs(cfg, run_id, warm_queue)
    args = None if user else workload.args(cfg.task_ms, stub_address)
    calls = (lambda i: (list(user.call(i).args), dict(user.call(i).kwargs))) if user else None
    settings = cfg.app_info.settings if cfg.app_info is not None else {}
    app = load.client_app(broker, settings.get("task_serializer") or "json")
    stall_s, timeout_s = _time_limits(cfg)
    load_before = os.getloadavg()
    batch = None
    try:
        with recorded_workers(specs, broker) as (nodes, reader):
            if cfg.warmup:
                # every worker warms on its own queue, as one worker alone would
                published = {}
                for spec in specs:
                    published.update(load.publish(app, spec.queue, workload.task, args, cfg.warmup, calls))
                warm = load.Batch(published)
                load.watch(warm, reader, nodes, watcher(broker.pid), stall_s, timeout_s)
                if warm.outcome == "interrupted":
                    raise Interrupted("interrupted during the warm-up; nothing was measured")
                if warm.outcome != "complete":
                    raise RunFailed(f"the warm-up batch did not complete ({warm.outcome}: {warm.detail})")
                failed = [r for r in warm.records if r.state != "SUCCESS"]
                if failed:
                    raise RunFailed(f"warm-up tasks failed: {failed[0].error}")
            load.declare(app, main_queue)
            batch = load.Batch(load.publish(app, main_queue, workload.task, args, cfg.tasks, calls))
            sampler = ResourceSampler([p.pid for p in nodes.procs], broker.pid, cfg.cores).start()
            load.release(app, main_queue, [s.nodename for s in specs], [s.queue for s in specs])
            load.watch(batch, reader, nodes, watcher(broker.pid), stall_s, timeout_s, progress)
            resources = sampler.stop()
    finally:
        # Also after a failure or a signal: the user's broker is left as it was.
        if batch is None or batch.outcome != "broker lost":
            with contextlib.suppress(Exception):  # tidy-up only; the broker may be gone
                load.tidy(app, broker, f"celery-bench.{run_id}.", [s.nodename for s in specs])
        app.close()

    observed = Observed(batch.published, batch.records, batch.outcome, batch.detail, resources, load_before)
    bound = ceiling(workload, cfg.pool, cfg.concurrency, cfg.task_ms, cfg.cores, cfg.workers)
    metadata = run_metadata(describe(), started, clock())
    result = build_result(settings_of(cfg, broker), bound, observed, run_id, metadata)
    path = write_run(result_path(cfg, run_id), result)
    if batch.outcome == "interrupted":
        raise Interrupted(f"interrupted; the partial result is in {path}")
    if not result.ok:
        raise RunFailed(f"{result.status.reason} (result kept in {path})")
    return Measured(result, path)


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


def settings_of(cfg, broker) -> RunSettings:
    """The run's `config` as recorded: its options, the broker, where it ran."""
    info = BrokerInfo(kind=broker.kind, url=broker.redacted_url, server=broker.server, embedded=broker.embedded)
    backend = redact(broker.result_backend(cfg.result_backend))
    if cfg.broker_from_app:  # the app's own result backend is kept
        backend = (cfg.app_info.settings if cfg.app_info is not None else {}).get("result_backend")
    return run_settings(cfg, info, backend, _placement(cfg, broker))


def result_path(cfg, run_id):
    if cfg.json_path is not None:
        return cfg.json_path
    # Named by what ran: solo is always one slot, whatever -c said; several
    # workers are counted apart (-c is each worker's).
    what = cfg.workload if cfg.user_task is None else cfg.user_task.task.rsplit(".", 1)[-1]
    shape = f"-w{cfg.workers}" if cfg.workers > 1 else ""
    return cfg.output_dir / f"run-{run_id}-{cfg.pool}-c{slots(cfg.pool, cfg.concurrency)}{shape}-{what}.json"

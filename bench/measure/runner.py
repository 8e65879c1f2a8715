"""One measured point, start to end: the pipeline that `run` executes once
and a sweep executes many times.

    broker -> (stub server) -> worker ready -> warm-up batch -> pre-fill the
    measured batch -> release it -> watch it complete -> stop the worker ->
    statistics -> result document (written at once, even for a failed run)
"""

import contextlib
import datetime as dt
import os
import secrets
import socket

import psutil

from bench.analysis import stats
from bench.errors import Interrupted, RunFailed
from bench.harness import broker as broker_mod
from bench.harness import machine, netstub, scratch, worker
from bench.harness.process import watcher
from bench.harness.urls import redact
from bench.measure import load
from bench.measure.observe import RecordReader, ResourceSampler
from bench.results.io import SCHEMA_VERSION, compact_samples, latency_fields, write_atomic
from bench.workloads import CPU_ATTRIBUTION, ceiling, cpu_attribution, expected_rate

# Above the ceiling by more than this is a harness bug (the slack covers the
# clock's resolution only).
CEILING_TOLERANCE = 1e-3


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


def _utc_now():
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time_limits(cfg):
    """(stall, timeout) seconds for watching a batch: a slot that is busy
    reports at least once per task duration, so a long silence means lost
    tasks; the whole batch gets ten times its expected length."""
    task_s = (cfg.task_ms or 1.0) / 1000.0
    # A user's task of unknown length may take long: a minute of silence.
    stall_s = max(60.0 if cfg.user_task is not None and cfg.task_ms is None else 10.0, 5 * task_s + 5)
    rate = expected_rate(cfg.spec, cfg.pool, cfg.concurrency, cfg.task_ms, cfg.cores)
    timeout_s = max(60.0, 10 * cfg.tasks / rate)
    return stall_s, timeout_s


def new_run_id():
    """A run's id: its UTC start and a random suffix (queue and node names)."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def worker_spec(cfg, run_id, queue):
    """The worker of a run of `cfg`, consuming `queue` from the start:
    the tutorial's app, or the user's through the same entry point."""
    user = cfg.user_task
    return worker.WorkerSpec(
        pool=cfg.pool,
        concurrency=cfg.concurrency,
        queue=queue,
        nodename=f"bench-{run_id}@{socket.gethostname()}",
        prefetch_multiplier=cfg.prefetch_multiplier,
        loglevel=cfg.loglevel,
        result_backend=cfg.result_backend,
        cpus=cfg.cpus,
        app=user.app if user else "proj",
        workdir=user.workdir if user else None,
        broker_from_app=cfg.broker_from_app,
        record_memory=cfg.record_memory,
    )


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


def measure(cfg, broker, stub_address=None, progress=None):
    """Measure one point in a fresh worker; write and return its result
    document. Raises RunFailed (after writing the document) when tasks went
    missing or failed, and Interrupted (after writing it) on a signal."""
    workload = cfg.spec
    user = cfg.user_task
    run_id = new_run_id()
    warm_queue, main_queue = f"celery-bench.{run_id}.warmup", f"celery-bench.{run_id}.measured"
    spec = worker_spec(cfg, run_id, warm_queue)
    args = None if user else workload.args(cfg.task_ms, stub_address)
    calls = (lambda i: (list(user.call(i).args), dict(user.call(i).kwargs))) if user else None
    settings = cfg.app_info.settings if cfg.app_info is not None else {}
    app = load.client_app(broker, settings.get("task_serializer") or "json")
    stall_s, timeout_s = _time_limits(cfg)
    started_utc, load_before = _utc_now(), os.getloadavg()
    try:
        with recorded_worker(spec, broker) as (proc, reader):
            if cfg.warmup:
                warm = load.Batch(load.publish(app, warm_queue, workload.task, args, cfg.warmup, calls))
                load.watch(warm, reader, proc, watcher(broker.pid), stall_s, timeout_s)
                if warm.outcome == "interrupted":
                    raise Interrupted("interrupted during the warm-up; nothing was measured")
                if warm.outcome != "complete":
                    raise RunFailed(f"the warm-up batch did not complete ({warm.outcome}: {warm.detail})")
                failed = [r for r in warm.records if r.state != "SUCCESS"]
                if failed:
                    raise RunFailed(f"warm-up tasks failed: {failed[0].error}")
            load.declare(app, main_queue)
            batch = load.Batch(load.publish(app, main_queue, workload.task, args, cfg.tasks, calls))
            sampler = ResourceSampler(proc.pid, broker.pid, cfg.cores).start()
            load.release(app, main_queue, spec.nodename, idle_queue=warm_queue)
            load.watch(batch, reader, proc, watcher(broker.pid), stall_s, timeout_s, progress)
            resources = sampler.stop()
        if batch.outcome != "broker lost":
            with contextlib.suppress(Exception):  # tidy-up only; the broker may be gone
                load.delete_queues(app, warm_queue, main_queue)
    finally:
        app.close()

    document = build_document(cfg, broker, batch, resources, started_utc, load_before, run_id)
    path = write_atomic(result_path(cfg, run_id), document)
    document["path"] = str(path)
    if batch.outcome == "interrupted":
        raise Interrupted(f"interrupted; the partial result is in {path}")
    status = document["status"]
    if status["state"] != "ok":
        raise RunFailed(f"{status['reason']} (result kept in {path})")
    return document


def _cpus_of(pid):
    try:
        return sorted(psutil.Process(pid).cpu_affinity())
    except psutil.Error:
        return None


def _placement(cfg, broker):
    """Which CPUs the worker, the harness and the embedded broker could use."""
    return {
        "worker_cpus": list(cfg.cpus) if cfg.cpus else sorted(os.sched_getaffinity(0)),
        "harness_cpus": sorted(os.sched_getaffinity(0)),
        "broker_cpus": _cpus_of(broker.pid) if broker.pid else None,
    }


def result_path(cfg, run_id):
    if cfg.json_path is not None:
        return cfg.json_path
    what = cfg.workload if cfg.user_task is None else cfg.user_task.task.rsplit(".", 1)[-1]
    return cfg.output_dir / f"run-{run_id}-{cfg.pool}-c{cfg.concurrency}-{what}.json"


def _app_fields(cfg, broker):
    """What the worker ran with: the harness's settings for its own tasks;
    for a user's app, its own settings, and what the harness overrode."""
    if cfg.user_task is None:
        return {
            "prefetch_multiplier": cfg.prefetch_multiplier,
            "acks_late": False,
            "serializer": "json",
            "result_backend": redact(broker.result_backend(cfg.result_backend)),
        }
    settings = dict(cfg.app_info.settings) if cfg.app_info is not None else {}
    overrides = {"queue": "the run's own warm-up and measured queues", "node_name": True, "pool": cfg.pool}
    overrides["concurrency"] = cfg.concurrency
    if cfg.prefetch_multiplier is not None:
        overrides["prefetch_multiplier"] = cfg.prefetch_multiplier
    if cfg.broker_from_app:
        backend = settings.get("result_backend")
    else:
        backend = redact(broker.result_backend(cfg.result_backend))
        overrides.update(broker_url=broker.redacted_url, result_backend=backend)
    prefetch = cfg.prefetch_multiplier
    if prefetch is None:
        prefetch = settings.get("worker_prefetch_multiplier")
    return {
        "prefetch_multiplier": prefetch,
        "acks_late": bool(settings.get("task_acks_late")),
        "serializer": settings.get("task_serializer"),
        "result_backend": backend,
        "user_task": cfg.user_task.to_json(),
        "app_settings": settings,
        "harness_overrides": overrides,
        "broker_source": "the app's own (--broker from-app)"
        if cfg.broker_from_app
        else ("--broker" if cfg.broker_url else "the harness's private broker"),
        "task_profile": ({"cpu_s": cfg.task_profile[0], "wait_s": cfg.task_profile[1]} if cfg.task_profile else None),
    }


def _task_cpu(pool, done, resources):
    attribution = cpu_attribution(pool)
    found = stats.task_cpu(done, attribution, resources.worker_cpu_s if resources else None)
    return {**vars(found), "basis": CPU_ATTRIBUTION[attribution]}


def build_document(cfg, broker, batch, resources, started_utc, load_before, run_id):
    """The public result document (see results.py for its format history)."""
    tally = stats.account(batch.published, batch.records)
    firsts = {}
    for rec in batch.records:  # the first report of each task
        firsts.setdefault(rec.id, rec)
    done = [r for r in firsts.values() if r.state == "SUCCESS"]
    bound = ceiling(cfg.spec, cfg.pool, cfg.concurrency, cfg.task_ms, cfg.cores)
    rate = stats.throughput(done)
    steady = stats.steady_throughput(done)
    conc = stats.concurrency(done)
    efficiency = rate / bound.per_s if rate is not None and bound.per_s else None
    above = efficiency is not None and efficiency > 1 + CEILING_TOLERANCE
    # An estimated ceiling (a user's task, from its profile) can be passed by
    # a profile that ran slower than the sweep: a warning, not a harness bug.
    above_estimate = above and bound.estimated
    above = above and not bound.estimated
    window_s = (lambda w: w[1] - w[0])(stats.window(done)) if done else None
    summary = {
        "throughput_per_s": rate,
        "steady_throughput_per_s": steady,
        "ceiling_per_s": bound.per_s,
        "ceiling_basis": bound.basis,
        "ceiling_estimated": bound.estimated,
        "efficiency": efficiency,
        "above_ceiling": above,
        "above_estimated_ceiling": above_estimate,
        "window_s": window_s,
        "tasks": {
            "published": tally.published,
            "succeeded": tally.succeeded,
            "failed": tally.failed,
            "missing": tally.missing,
            "duplicates": tally.duplicates,
        },
        **latency_fields(stats.latency(done)),
        "max_concurrency": conc.max,
        "mean_concurrency": conc.mean,
        "processes_used": len({r.pid for r in done}),
        "load_average_before": list(load_before),
        "resources": vars(resources) if resources else None,
        "task_cpu": _task_cpu(cfg.pool, done, resources),
    }
    first_error = next((r.error for r in firsts.values() if r.error), None)
    if batch.outcome == "interrupted":
        state, reason = "interrupted", "interrupted by a signal"
    elif not tally.complete or batch.outcome != "complete":
        state = "failed"
        reason = (
            f"{tally.failed} failed and {tally.missing} missing of {tally.published} tasks"
            f" ({batch.outcome}{': ' + batch.detail if batch.detail else ''})"
        )
        if first_error:
            reason += f"; first error: {first_error}"
    elif above:
        state = "failed"
        reason = (
            f"measured {rate:.1f} tasks/s is above the physical ceiling of {bound.per_s:.1f} tasks/s: "
            "a harness bug, please report it"
        )
    else:
        state, reason = "ok", None
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "run",
        "run_id": run_id,
        "status": {"state": state, "reason": reason, "outcome": batch.outcome},
        "config": {
            "pool": cfg.pool,
            "concurrency": cfg.concurrency,
            "slots": cfg.slots,
            "workload": cfg.workload,
            "task": cfg.spec.task,
            "task_ms": cfg.task_ms,
            "tasks": cfg.tasks,
            "warmup": cfg.warmup,
            **_app_fields(cfg, broker),
            "worker_loglevel": cfg.loglevel,
            "queue_mode": "pre-filled: the batch is queued, then released to the worker",
            "cores": cfg.cores,
            "placement": _placement(cfg, broker),
            "broker": {
                "kind": broker.kind,
                "url": broker.redacted_url,
                "server": broker.server,
                "embedded": broker.embedded,
            },
        },
        "summary": summary,
        "samples": compact_samples(batch.published, batch.records),
        "metadata": {**machine.describe(), "started_utc": started_utc, "ended_utc": _utc_now()},
    }

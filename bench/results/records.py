"""A run's result document as typed, frozen records (its JSON is in
codec.py, the format's history in versions.py), with the names and times
every document uses.

Longer than the ~400 lines a module aims for, on purpose: one record per
part of the run's document, each field with its unit, so the document
reads top to bottom in one place (a sweep's records are in
sweep_records.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.results.versions import SCHEMA_VERSION

RUN, SWEEP, SWEEP_SUMMARY = "run", "sweep", "sweep-summary"  # the documents' `kind`
MANIFEST, SUMMARY, RUNS = "manifest.json", "summary.json", "runs"  # a sweep directory's files
CHECK_DIR, CHECK_SUMMARY = "check", "check.json"  # its fidelity check (sweep --check), when it has one


# --- Names and times ---------------------------------------------------------


def point_name(
    workload: str,
    task_ms: float | None = None,
    pool: str | None = None,
    concurrency: int | None = None,
    pinned: int | None = None,
) -> str:
    """The one name of a point or a group of points, e.g. sleep-50ms-gevent-c16
    (a sweep's point), cpu-20ms-cpus1 (a figure: workload, size, pinning).
    `pinned`: the number of CPUs the worker was pinned to; None: not pinned."""
    parts = [workload]
    if task_ms is not None:
        parts.append(f"{task_ms:g}ms")
    if pool is not None:
        parts.append(pool)
    if concurrency is not None:
        parts.append(f"c{concurrency}")
    if pinned:
        parts.append(f"cpus{pinned}")
    return "-".join(parts)


def utc_now() -> dt.datetime:
    """The wall clock, in UTC: the default clock of every timestamp written."""
    return dt.datetime.now(dt.UTC)


def utc_text(moment: dt.datetime, timespec: str = "milliseconds") -> str:
    """A timestamp as the documents write it: 2026-01-02T03:04:05.678Z."""
    return moment.astimezone(dt.UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


# --- A run -------------------------------------------------------------------


@dataclass(frozen=True)
class TaskCounts:
    """Every task accounted for: published = succeeded + failed + missing."""

    published: int | None = None  # tasks sent in the measured batch
    succeeded: int | None = None  # reported finished with SUCCESS
    failed: int | None = None  # reported finished in another state
    missing: int | None = None  # published but never reported finished
    duplicates: int | None = None  # reported finished more than once (redelivered)
    # Under a deploy event (--stop-at, --kill-at, --kill-child-at), from the workers' records; None otherwise
    lost: int | None = None  # published, never finished by the end of the run (the `missing` of such a run)
    redelivered: int | None = None  # tasks a worker received with the broker's redelivered flag
    interrupted: int | None = None  # tasks started by a worker process that died or stopped before finishing them

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.missing == 0


@dataclass(frozen=True)
class Distribution:
    """Nearest-rank percentiles of recorded values, seconds; None without values."""

    p50: float | None = None  # s
    p90: float | None = None  # s
    p99: float | None = None  # s
    max: float | None = None  # s
    mean: float | None = None  # s


@dataclass(frozen=True)
class Latency:
    wait_s: Distribution = Distribution()  # published -> started: time in the queue and prefetch buffer
    service_s: Distribution = Distribution()  # started -> finished: running the task
    sojourn_s: Distribution = Distribution()  # published -> finished: what the caller waits


LATENCY_KINDS = (("wait", "wait_s"), ("service", "service_s"), ("sojourn", "sojourn_s"))


@dataclass(frozen=True)
class WorkerShare:
    """One worker node's part of the resources (with --workers N)."""

    cpu_s: float | None = None  # user + system CPU seconds of its process tree in the window
    cpu_cores: float | None = None  # cpu_s / window: cores it kept busy on average
    uss_peak_bytes: int | None = None  # the peak of its tree's summed USS, bytes
    pss_peak_bytes: int | None = None  # the peak of its tree's summed PSS, bytes
    rss_peak_bytes: int | None = None  # the peak of its tree's summed RSS, bytes
    processes: int | None = None  # processes in its tree (main + pool children), peak


@dataclass(frozen=True)
class Resources:
    """The worker trees (summed over all worker nodes), the harness and the
    broker over the measured batch."""

    window_s: float | None = None  # wall seconds the sampler covered (the measured batch)
    worker_cpu_s: float | None = None  # user + system CPU seconds of the worker tree in the window
    worker_cpu_cores: float | None = None  # worker_cpu_s / window_s: cores kept busy on average
    worker_cpu_percent_of_usable: float | None = None  # worker_cpu_cores / usable cores * 100, percent
    # Of worker_cpu_s, the main processes' (prefork's parent, which consumes and hands out every task;
    # all of it for the one-process pools), CPU seconds
    worker_main_cpu_s: float | None = None
    worker_uss_peak_bytes: int | None = None  # USS summed over the tree: memory unique to it, bytes
    worker_pss_peak_bytes: int | None = None  # PSS summed over the tree: shared pages split fairly, bytes
    worker_rss_peak_bytes: int | None = None  # RSS summed: double-counts prefork's shared pages; bytes
    worker_processes: int | None = None  # processes in the worker tree (main + pool children), peak
    worker_ctx_switches_voluntary: int | None = None  # count over the window
    worker_ctx_switches_involuntary: int | None = None  # count over the window
    harness_cpu_s: float | None = None  # CPU seconds of this process: a saturated producer shows here
    broker_cpu_s: float | None = None  # CPU seconds of the embedded broker; None for the user's own
    samples: int | None = None  # how many memory samples were taken
    # Each worker node's share, in node order (one entry with one worker).
    # Peaks are per tree, so they need not add up to the summed peak.
    per_worker: tuple[WorkerShare, ...] = ()


@dataclass(frozen=True)
class TaskCPU:
    """CPU time per task, where the pool makes it attributable."""

    attribution: str  # "thread": each task's own thread CPU; "process": the worker's CPU per task (green pools)
    p50_s: float | None = None  # CPU seconds per task, median (thread attribution only)
    p90_s: float | None = None  # CPU seconds per task, 90th percentile (thread attribution only)
    mean_s: float | None = None  # CPU seconds per task, mean; for "process", worker CPU / tasks
    tasks: int | None = None  # tasks the figures cover
    basis: str | None = None  # how it was measured, in words


# ack_failures and reconnects are read from the workers' log (format version 13), the others from the task records.
HEALTH_KINDS = ("duplicates", "lost", "ack_failures", "reconnects", "idle_gaps", "stalls", "restarts", "late_starts")
CUT_SHORT = "cut_short"  # the cause of tasks left unreported because the harness stopped waiting


@dataclass(frozen=True)
class Finding:
    """One kind of misbehaviour in one run (see bench/analysis/health.py for
    how each is found)."""

    kind: str  # one of HEALTH_KINDS
    # tasks run twice / lost / not acknowledged; broker connections lost; idle gaps / stalls / pool processes
    # replaced / tasks started late
    count: int
    total_s: float | None = None  # s, what the gaps / stalls / late waits add up to
    longest_s: float | None = None  # s, the longest one
    period_s: float | None = None  # s, median interval of gaps or stalls recurring at a steady interval
    cause: str | None = None  # the likely cause, a key of bench.analysis.health.KNOWN_CAUSES; None: unknown
    examples: tuple[str, ...] = ()  # up to 5 task ids
    extra_runs: int | None = None  # duplicates: executions beyond each task's first


@dataclass(frozen=True)
class Health:
    """Every finding of one run, in HEALTH_KINDS order; none: healthy."""

    findings: tuple[Finding, ...] = ()
    # The kinds not looked for (HEALTH_KINDS): a soak keeps no task record, and idle gaps and late starts need
    # every task's timeline; () : every kind was
    unchecked: tuple[str, ...] = ()

    def of(self, kind: str) -> Finding | None:
        return next((f for f in self.findings if f.kind == kind), None)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def misbehaviour(self) -> tuple[Finding, ...]:
        """The findings that are Celery's doing: all but the tasks left
        unreported because the harness stopped waiting (cause CUT_SHORT)."""
        return tuple(f for f in self.findings if f.cause != CUT_SHORT)


@dataclass(frozen=True)
class DeployEvent:
    """One deploy event of a run, and what it cost. Times in s from the
    release of the measured batch."""

    kind: (
        str  # stop (SIGTERM, then SIGKILL after the grace) | kill (SIGKILL of the worker) | kill_child | broker_restart
    )
    at_s: float  # when it was done
    node: int | None  # the worker node it struck; None: the broker
    pid: int  # the process it signalled
    task_id: str | None = None  # kill_child: the task that process was running
    drain_s: float | None = None  # stop: SIGTERM to the worker's exit; None: another event
    forced: bool | None = None  # stop: killed after the grace, still running; None: another event
    replacement_ready_s: float | None = None  # the fresh worker ready, after the event; None: none started
    throughput_before_per_s: float | None = None  # tasks/s over the 2 s (at most) before the event
    # s from the event until a window of that length after it completes 90% of the tasks it did before;
    # None: not back before the batch ended (recovered is False), or too little before the event to say
    recovery_s: float | None = None
    recovered: bool | None = None
    down_s: float | None = None  # broker_restart: the broker's SIGTERM to its answering again; None: another event


@dataclass(frozen=True)
class DeployFigures:
    """A run's deploy events (--stop-at, --kill-at, --kill-child-at)."""

    asked: str | None = None  # the event as the command line asked it, e.g. "--kill-child-at 1.5s"
    events: tuple[DeployEvent, ...] = ()  # () when the batch ended before it was due
    stop_grace_s: float | None = None  # the orchestrator's grace between SIGTERM and SIGKILL (--stop-grace)


@dataclass(frozen=True)
class LimitFigures:
    """What the workers' cgroups counted under --cpu-limit/--memory-limit:
    summed over the workers, but the peak, which is the highest of any."""

    # s the CPU quota held the workers back in the measured window, summed over the CPUs their tasks were
    # queued on (the kernel's cpu.stat), so it may pass the window's length
    throttled_s: float | None = None
    throttled_periods: int | None = None  # CFS periods in which they were throttled, in the window
    periods: int | None = None  # CFS periods in which they ran, in the window
    # The memory high-water mark of a worker's cgroup (v1 max_usage_in_bytes, v2 memory.peak), from its
    # start to the window's end, bytes; None: not counted (no memory limit, or a kernel without memory.peak)
    memory_peak_bytes: int | None = None
    oom_kills: int | None = None  # processes the OOM killer killed in them, from their start to the window's end
    # Tasks of the measured batch lost to those kills: started by a worker process that died before it
    # finished them (the process the OOM killer took, or a pool child that went with its killed worker);
    # 0 without kills; None: not counted (no memory limit, or a document before format 19)
    oom_lost_tasks: int | None = None
    # The tasks each such process lost, one number per process, in the order of their first lost task
    oom_lost_by_process: tuple[int, ...] | None = None
    # Worker main processes that died of SIGKILL while their cgroup counted OOM kills: the OOM killer took
    # the worker itself (its pool children die with it); None: not counted
    oom_killed_main: int | None = None


@dataclass(frozen=True)
class ProcessMemory:
    """How one worker process's memory (or the whole worker tree's) grew over
    the measured window, from samples taken about once a second. The slopes
    are Theil-Sen fits (the median of the pairwise slopes, robust to a few
    odd samples; scipy.stats.theilslopes) with their 95% CI; None where the
    process was sampled fewer than 3 times or its x did not change."""

    pid: int | None = None  # None: the worker tree, every process of every worker summed
    node: int | None = None  # the worker node it belongs to; None: the tree
    main: bool | None = None  # the worker's main process; None: the tree
    born_s: float | None = None  # s from the window's start it was first seen; 0.0: there at the start
    died_s: float | None = None  # s from the window's start it was last seen, gone by the next sample; None: alive
    samples: int = 0  # samples of it the fits use
    # Tasks completed in the window by it (a process that runs none itself, prefork's main: by its
    # worker, which is then its x), or by the tree
    tasks: int = 0
    cpu_s: float | None = None  # user + system CPU seconds between its first and last sample
    uss_first_bytes: int | None = None  # USS at its first sample, bytes (the tree: summed)
    uss_last_bytes: int | None = None  # USS at its last sample, bytes
    uss_peak_bytes: int | None = None  # the highest USS sampled, bytes
    pss_last_bytes: int | None = None  # PSS at its last sample (shared pages split fairly), bytes
    rss_last_bytes: int | None = None  # RSS at its last sample, bytes
    kib_per_task: float | None = None  # slope of USS against the tasks completed, KiB per task
    ci95: tuple[float, float] | None = None  # its 95% CI, KiB per task
    kib_per_1000_tasks: float | None = None  # kib_per_task x 1,000
    kib_per_hour: float | None = None  # slope of USS against time, KiB per hour
    kib_per_hour_ci95: tuple[float, float] | None = None  # its 95% CI, KiB per hour
    pss_kib_per_task: float | None = None  # slope of PSS against the tasks completed, KiB per task
    pss_ci95: tuple[float, float] | None = None  # its 95% CI, KiB per task


@dataclass(frozen=True)
class MemoryGrowth:
    """The worker processes' memory over the measured window: each one's
    growth and the tree's, and the pool processes replaced (recycled)."""

    interval_s: float  # s between samples
    snapshots: int  # samples of the trees the fits use (a long run's are thinned to every 2nd, 4th...)
    recycles: int  # pool processes that appeared in the window, each replacing one (max_tasks_per_child)
    tree: ProcessMemory  # every process of every worker summed, against every task completed
    processes: tuple[ProcessMemory, ...] = ()  # each process sampled at least 3 times, by node and first sight
    unfitted: int = 0  # processes sampled fewer than 3 times (short-lived children), not listed
    # The harness's own process, fitted as a worker's but on its RSS (in the uss fields: its USS jumps when a
    # process it started lets go of shared pages); None: not read
    harness: ProcessMemory | None = None
    # What recycling costs a slot: from a replaced pool process's last task's end to its replacement's first
    # task's start, s, median and longest; None: no replacement (or a soak, which keeps no task records)
    replacement_first_task_p50_s: float | None = None
    replacement_first_task_max_s: float | None = None
    # The slot time recycling left idle (what a slot-bound workload loses of its throughput): those gaps summed,
    # over the pool's slot time (the pool processes at the window's start x the window, first task start to last
    # task end), fraction; None: no replacement (or a soak)
    replacement_idle_share: float | None = None


@dataclass(frozen=True)
class SeriesFigures:
    """The run second by second, in a JSON Lines file beside the run document
    (one row a second: analysis/series.py), and its stalls."""

    file: str  # the series file's name, in the run document's directory
    seconds: int  # rows: seconds from the first publish to the last finish
    stall_seconds: int  # seconds in which nothing completed while tasks were in flight
    longest_stall_s: int  # the most such seconds in a row, s
    # Throughput drift: mean completions a second over the first and the last tenth of the whole seconds (the
    # first and last rows, partial, left out), tasks/s; None: under 4 rows
    first_tenth_per_s: float | None = None
    last_tenth_per_s: float | None = None
    # What recycling costs second by second: the whole seconds in which a pool process was replaced (the
    # second its replacement was first seen in and the one before); None: no process memory in the rows. Their
    # mean completions, and the other whole seconds'; None: no such second
    recycle_seconds: int | None = None
    recycle_second_per_s: float | None = None
    other_second_per_s: float | None = None


@dataclass(frozen=True)
class RunSummary:
    """What one run measured."""

    throughput_per_s: float | None = None  # tasks/s, first task start to last task end; None: nothing done
    steady_throughput_per_s: float | None = None  # tasks/s between 10% and 90% of completions
    ceiling_per_s: float | None = None  # tasks/s, the physical ceiling; None when unbounded
    ceiling_basis: str | None = None  # what bounds it, in words
    efficiency: float | None = None  # throughput / ceiling, fraction
    above_ceiling: bool | None = None  # measured above the ceiling: a harness bug
    window_s: float | None = None  # s, first task start to last task end
    tasks: TaskCounts = TaskCounts()  # counts
    latency: Latency = Latency()  # seconds; written as flat wait_p50_s-style keys
    max_concurrency: int | None = None  # tasks running at the same instant, most
    mean_concurrency: float | None = None  # tasks in flight on average over the window
    processes_used: int | None = None  # distinct worker pids that ran a task
    tasks_per_worker: tuple[int, ...] | None = None  # succeeded tasks each worker node ran, in node order
    load_average_before: tuple[float, ...] | None = None  # 1, 5, 15-minute load average before the run
    resources: Resources | None = None  # None: not sampled
    task_cpu: TaskCPU | None = None  # CPU per task; None: not recorded (older files)
    ceiling_estimated: bool | None = None  # the ceiling comes from a user task's profile
    above_estimated_ceiling: bool | None = None  # above an estimated ceiling: a warning, not a bug
    health: Health | None = None  # what Celery did wrong (tasks run twice, lost, gaps...); None: not diagnosed
    # The worker model's throughput for this point (analysis/mva.py), from Celery's per-task
    # cost cached for this machine and broker (advise measures it) and the task's sizes or
    # profile; None: no cached cost, or a point the model has no term for (on agents, open loop)
    predicted_per_s: float | None = None  # tasks/s
    limits: LimitFigures | None = None  # what the workers' cgroups counted; None: no limits set
    deploy: DeployFigures | None = None  # the deploy events and what they cost; None: no event asked
    memory_growth: MemoryGrowth | None = None  # the worker processes' memory over the window; None: not sampled
    series: SeriesFigures | None = None  # the per-second series written beside the document; None: none


@dataclass(frozen=True)
class BrokerInfo:
    kind: str | None = None  # redis | amqp
    url: str | None = None  # the broker URL, password redacted
    server: str | None = None  # server name and version, e.g. "valkey 8.1.1"
    embedded: bool | None = None  # the harness's private broker


@dataclass(frozen=True)
class Placement:
    worker_cpus: tuple[int, ...] | None = None  # CPU ids the worker could run on
    harness_cpus: tuple[int, ...] | None = None  # CPU ids the harness could run on
    broker_cpus: tuple[int, ...] | None = None  # CPU ids of the embedded broker; None: not ours


@dataclass(frozen=True)
class WorkerLimits:
    """Each worker's limits (--cpu-limit, --memory-limit: a cgroup of its
    own, like a pod's container), as read back from its cgroup."""

    cgroup_version: int | None = None  # 1 or 2
    cpu_limit_cores: float | None = None  # cores: the CPU quota over its period; None: no CPU limit
    cpu_quota_us: int | None = None  # µs of CPU per period
    cpu_period_us: int | None = None  # µs
    memory_limit_bytes: int | None = None  # bytes; None: no memory limit
    # bytes of swap it may use: 0 is swap off; None: no swap control in the kernel (v1 without
    # memory.memsw: its memory.swappiness is 0 instead)
    swap_limit_bytes: int | None = None
    # The -c Celery's default picks inside it: billiard's cpu_count(), os.cpu_count(), which ignores the quota
    celery_default_concurrency: int | None = None
    # The -c the quota gives: its cores rounded up, 1 to the CPUs it may run on (Celery 5.7's `-c auto`);
    # None: no CPU limit
    quota_concurrency: int | None = None


@dataclass(frozen=True)
class StuckTasks:
    """The stuck workload's draw: which tasks of the measured batch block."""

    p: float  # each task's chance to block (--stuck-p)
    blocked_ms: float  # ms a blocked task waits instead of task_ms
    seed: int  # the draw's seed (--seed): the same seed blocks the same tasks
    tasks: int  # tasks of the measured batch drawn to block


@dataclass(frozen=True)
class SoakSettings:
    """A soak (run --duration): a closed loop that keeps a backlog of tasks
    in flight for its duration, then drains; or, with --rate, an open loop
    (its schedule in the document's `schedule`)."""

    duration_s: float  # s of topping up, from the release of the first tasks (an open loop's: its window)
    backlog: int | None  # tasks kept published and not finished (--backlog); None: an open loop (from v27)


@dataclass(frozen=True)
class RunSettings:
    """The full configuration of one run (its `config`)."""

    pool: str | None = None  # prefork | gevent | eventlet | solo
    concurrency: int | None = None  # -c: processes or greenlets, of each worker
    workers: int = 1  # worker nodes on the host, each with this pool and -c
    slots: int | None = None  # tasks that can run at once over all the workers (solo: 1 per worker)
    workload: str | None = None  # workload name
    task: str | None = None  # Celery task name
    task_ms: float | None = None  # ms, size of each task; None for sizeless workloads
    tasks: int | None = None  # tasks in the measured batch
    warmup: int | None = None  # tasks run and discarded first
    prefetch_multiplier: int | None = None  # the worker's --prefetch-multiplier
    acks_late: bool | None = None  # task_acks_late: the worker acknowledges after the task ran
    max_tasks_per_child: int = 0  # a pool process is replaced after this many tasks; 0: never
    # a pool process is replaced once its peak RSS is above this after a task, KiB (Celery's unit); 0: never
    max_memory_per_child_kib: int = 0
    serializer: str | None = None  # task serializer (json)
    result_backend: str | None = None  # "none" or the backend URL, password redacted
    worker_loglevel: str | None = None  # the worker's --loglevel
    queue_mode: str | None = None  # how the batch reached the worker, in words
    cores: float | None = None  # cores the ceiling is based on
    placement: Placement | None = None  # CPU ids of worker, harness and broker
    broker: BrokerInfo | None = None  # which broker carried the tasks
    user_task: dict | None = None  # a user's task: app, task, workdir, its calls' arguments (secrets redacted)
    app_settings: dict | None = None  # a user's task: its app's own settings (URLs redacted)
    harness_overrides: dict | None = None  # a user's task: the settings the harness replaced to measure
    broker_source: str | None = None  # a user's task: whose broker it was, in words
    task_profile: dict | None = None  # a user's task: {cpu_s, wait_s} per call, from its profile
    # What each worker node reported of its settings (bench/harness/readback.py),
    # {node name: {setting: value}}, read before the measured window; None: not read (older files)
    worker_reported: dict | None = None
    limits: WorkerLimits | None = None  # each worker's cgroup limits; None: none set
    # What happens to tasks in flight when a worker stops or dies (issue 26), as the workers read them back:
    reject_on_worker_lost: bool | None = None  # task_reject_on_worker_lost: a task whose process died is requeued
    soft_shutdown_timeout: float | None = None  # s: worker_soft_shutdown_timeout (0: none); None: not known
    visibility_timeout: float | None = None  # s: the Redis transport's; None: not set (kombu's 3600 s, or AMQP)
    remap_sigterm: str | None = None  # REMAP_SIGTERM in the workers' environment ("SIGQUIT"); None: not set
    # Who waits: the prefetch settings (issue 24), as the workers read them back (but -O, as given):
    optimization: str | None = None  # the workers' -O (default, fair); None: not given, the worker's own
    sched_strategy: str | None = None  # the prefork pool's scheduling strategy (fair, fcfs); None: another pool
    disable_prefetch: bool | None = None  # worker_disable_prefetch: a message taken only for a free slot
    eta_task_limit: int | None = None  # worker_eta_task_limit: the most ETA tasks a worker holds; None: no limit
    leak_kib: int | None = None  # the leak workload: KiB each call keeps alive in its process; None: another one
    stuck: StuckTasks | None = None  # the stuck workload's draw; None: another workload
    soak: SoakSettings | None = None  # a soak's duration and backlog; None: a drained batch or an open loop


@dataclass(frozen=True)
class RunStatus:
    state: str  # ok | failed | interrupted | producer-limited (open loop: the schedule was not kept)
    reason: str | None = None  # why it is not ok, in words
    outcome: str | None = None  # how watching the batch ended: complete, stalled, worker exited, ...


@dataclass(frozen=True)
class TaskError:
    id: str  # the task's id
    error: str  # "Type: message"


@dataclass(frozen=True)
class Samples:
    """The raw per-task records as columns, times in seconds from `time_origin`."""

    time_origin: str | None = None  # what t = 0 is, in words
    published_s: tuple[float, ...] = ()  # s from the origin
    started_s: tuple[float, ...] = ()  # s
    finished_s: tuple[float, ...] = ()  # s
    pid: tuple[int, ...] = ()  # worker process of each task
    node: tuple[int, ...] = ()  # worker node of each task (0 to workers - 1)
    state: tuple[str, ...] = ()  # Celery state of each task
    errors: tuple[TaskError, ...] = ()  # the first 100
    missing_ids: tuple[str, ...] = ()  # the first 100, sorted
    cpu_s: tuple[float | None, ...] = ()  # CPU s of each task's own thread; None where not attributable
    rss_bytes: tuple[int | None, ...] | None = None  # the process's RSS after each task, bytes (profile only)
    host: tuple[str, ...] | None = None  # the agent of each task (run --hosts); None: all local
    task_class: tuple[str, ...] | None = None  # the traffic class of each task (run --traffic); None: one workload


@dataclass(frozen=True)
class Metadata:
    """The machine and software a result was measured with."""

    hostname: str | None = None  # the machine's name: results from two machines do not compare
    cpu_model: str | None = None  # /proc/cpuinfo's model name
    cpu_count: int | None = None  # os.cpu_count()
    usable_cores: float | None = None  # affinity, cut to the cgroup quota
    memory_bytes: int | None = None  # bytes of RAM
    os: str | None = None  # platform.platform()
    python: str | None = None  # version
    python_implementation: str | None = None  # CPython, PyPy
    packages: dict[str, str | None] | None = None  # package -> version; None: not installed
    git_commit: str | None = None  # "+dirty" when the checkout had changes
    cpu_governor: str | None = None  # cpufreq's scaling governor of CPU 0; None: not readable (a VM, a container)
    started_utc: str | None = None  # ISO 8601, UTC
    ended_utc: str | None = None  # ISO 8601, UTC


@dataclass(frozen=True)
class HostClock:
    """One agent of a run on several hosts (run --hosts), and its clock."""

    name: str  # the agent's --name
    hostname: str  # its machine
    cores: float  # cores its workers could use
    workers: int  # worker nodes it ran
    tasks: int  # measured tasks it reported
    offset_s: float  # its clock minus the harness's, s (its times were converted with it)
    error_s: float  # the offset is within +/- this, s (half the smallest round trip)
    probes: int  # round trips the estimate came from
    bound_too_wide: bool  # error_s above 1% of the measured window
    # Its workers' CPU and memory over the measured window, sampled by the
    # agent (harness_cpu_s and broker_cpu_s are not its to say: None); None: not sampled
    resources: Resources | None = None


@dataclass(frozen=True)
class RunResult:
    """One run's result document."""

    status: RunStatus  # ok or why not
    config: RunSettings  # what was run
    metadata: Metadata  # where and when
    summary: RunSummary | None = None  # None: nothing was measured (failed before the batch)
    samples: Samples | None = None  # None: nothing was measured
    run_id: str | None = None  # UTC start and a random tag
    schema_version: int = SCHEMA_VERSION  # of the file it was read from
    # Open-loop runs only (None otherwise): the arrival schedule with every
    # task's scheduled and sent times (s from the schedule's t0), and the
    # open-loop summary (rates, latency from the scheduled times, send lag,
    # backlog, producer-limited), as plain JSON-ready mappings.
    schedule: Mapping[str, Any] | None = None
    open_loop: Mapping[str, Any] | None = None
    hosts: tuple[HostClock, ...] | None = None  # the agents of a run --hosts; None: workers ran here
    # A failed or odd run's worker log, kept beside its document: {"path": the
    # file's name, relative to the document, "lines": up to 12 notable lines
    # (warnings, errors, redelivered messages)}; None: not kept
    worker_log: Mapping[str, Any] | None = None
    # A traffic mix only (run --traffic; None otherwise): its classes as run
    # (source, seed, each class's workload, size and share), and the
    # drained batch's results per class name (an open-loop run's are its
    # open_loop's `classes`), as plain JSON-ready mappings.
    traffic: Mapping[str, Any] | None = None
    classes: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status.state == "ok"

    @property
    def measured_per_s(self) -> float | None:
        """The throughput of a successful run (tasks/s); None otherwise."""
        if not self.ok or self.summary is None:
            return None
        return self.summary.throughput_per_s

"""The result documents as typed, frozen records, and their JSON: the one
place that knows the files' keys. Everything else reads attributes.

JSON format history (SCHEMA_VERSION):
  1 - first version. A run: status, config, summary (`throughput_per_s` a
      number; latency as flat `{wait,service,sojourn}_{p50,p90,p99,max,mean}_s`
      keys; resources), samples, metadata. A sweep summary: per point,
      `throughput_per_s` = {median, ci95_low, ci95_high, cv, unstable,
      values} and `load_average_before` (the 1-minute figure, a number).
  2 - a sweep point's throughput estimate is `throughput` = {median_per_s,
      ci95_low_per_s, ci95_high_per_s, cv, unstable, values_per_s}, so
      `throughput_per_s` is only ever a run's number; a point's load average
      is `load_average_1m_before`. A run keeps its layout, and always has
      `run_id` and `samples` (null when it was never measured) and a full
      `config`. Version-1 files are still read: fields they lack read as None.
      Added later within version 2 (a file without them reads as one worker
      and none of the others): config.workers, config.max_tasks_per_child,
      config.acks_late as set (it was always false), summary.tasks_per_worker,
      summary.resources.per_worker, samples.node.
      Open-loop runs (`run --rate`, same version: the keys are new and
      optional) add `schedule` and `open_loop` (see bench/analysis/openloop.py
      and bench/measure/openloop.py), and the status `producer-limited`;
      files without them read with both None.
      Added later in version 2, optional (absent: None, or empty samples):
      a run's `summary.task_cpu`, `summary.ceiling_estimated`,
      `summary.above_estimated_ceiling`, `samples.cpu_s` (and `rss_bytes`
      from `profile`); for a user's own task, `config.user_task`,
      `config.app_settings`, `config.harness_overrides`,
      `config.broker_source`, `config.task_profile`; a sweep point's `task`
      and `profile`, a sweep's `user_task` and `task_profile`.
      Added later in version 2, optional: a run on agents (`run --hosts`)
      has `hosts` (per agent: its clock offset and bound, tasks, and its
      workers' `resources`, sampled there; files without it read None) and
      `samples.host`; its `summary.resources` add up the hosts'. A sweep's
      `hosts` and `host_counts`, a point's `host_count` (--host-counts;
      absent: None, every point on all the hosts). Added later, optional:
      a point's `on_hosts` (the agents its repeats ran on; its `cores` are
      theirs; absent: None, this machine).
      Added later in version 2, optional: a run's `summary.health`
      ({findings: [{kind, count, total_s, longest_s, period_s, cause,
      examples, extra_runs}]}, see bench/analysis/health.py; absent: None,
      not diagnosed); a sweep point's `duplicates`, `lost`,
      `repeats_with_findings` (absent: None) and `findings` ([[kind,
      count]]; absent: none).
      Added later in version 2, optional (absent: None): a run's
      `config.worker_reported`, per worker node, the settings the worker
      reported by remote control before the measured window (pool,
      max_concurrency, prefetch_count and the multiplier derived from it,
      acks_late of the configuration and of the measured task,
      max_tasks_per_child, result_backend, serializer, transport, queues);
      the config's pool, concurrency, prefetch_multiplier, acks_late,
      max_tasks_per_child and result_backend are then the workers' own. A
      run's `worker_log` ({path, lines}): the workers' log kept beside a
      failed or odd run's document, and its notable lines.
      Added later in version 2, optional: a reference document (`kind:
      "reference"`, bench/measure/reference.py) has `depth`, its pass
      without task events counted by the queue's depth ({status, command,
      steady_throughput_per_s, window_s, from_depth, to_depth, start_s,
      end_s, method, rose_by, pauses_s, batch, prefetch_count, poll_s,
      sample_count, samples: {t_s, depth}}; absent: None, not measured).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

SCHEMA_VERSION = 2
RUN, SWEEP, SWEEP_SUMMARY = "run", "sweep", "sweep-summary"  # the documents' `kind`
MANIFEST, SUMMARY, RUNS = "manifest.json", "summary.json", "runs"  # a sweep directory's files
CHECK_DIR, CHECK_SUMMARY = "check", "check.json"  # its fidelity check (sweep --check), when it has one


# --- Names and times ---------------------------------------------------------


def point_name(workload, task_ms=None, pool=None, concurrency=None, pinned=None):
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


def host_words(count):
    """ "1 host", "2 hosts": a point's host count (--host-counts), as its
    variant and its curve's name say it."""
    return f"{count} host{'s' if count != 1 else ''}"


def point_label(workload, task_ms=None, pinned=None):
    """The same, for people: "cpu 20 ms", "sleep 50 ms (1 CPU)"."""
    size = f" {task_ms:g} ms" if task_ms is not None else ""
    pin = f" ({pinned} CPU)" if pinned else ""
    return f"{workload}{size}{pin}"


def utc_now() -> dt.datetime:
    """The wall clock, in UTC: the default clock of every timestamp written."""
    return dt.datetime.now(dt.UTC)


def utc_text(moment: dt.datetime, timespec="milliseconds") -> str:
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

    @property
    def complete(self):
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


HEALTH_KINDS = ("duplicates", "lost", "idle_gaps", "stalls", "restarts", "late_starts")
CUT_SHORT = "cut_short"  # the cause of tasks left unreported because the harness stopped waiting


@dataclass(frozen=True)
class Finding:
    """One kind of misbehaviour in one run (see bench/analysis/health.py for
    how each is found)."""

    kind: str  # one of HEALTH_KINDS
    count: int  # tasks run twice / tasks lost / idle gaps / stalls / pool processes replaced / tasks started late
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

    def of(self, kind) -> Finding | None:
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

    @property
    def ok(self):
        return self.status.state == "ok"

    @property
    def measured_per_s(self):
        """The throughput of a successful run (tasks/s); None otherwise."""
        if not self.ok or self.summary is None:
            return None
        return self.summary.throughput_per_s


# --- A sweep's summary ---------------------------------------------------------


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
    efficiency: float | None = None  # median throughput / ceiling, fraction
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

    @property
    def variant(self):
        """What, besides the pool, tells this point's curve from the others
        in its figure: "2 workers, 2 hosts, prefetch_multiplier=1"; "" for none."""
        parts = [f"{self.workers} workers"] if self.workers != 1 else []
        parts += [host_words(self.host_count)] if self.host_count is not None else []
        return ", ".join(parts + [f"{name}={text}" for name, text in self.settings])

    @property
    def total_concurrency(self):
        """-c over all the workers: what shapes of one size share."""
        return self.concurrency * self.workers

    @property
    def median_per_s(self):
        return self.throughput.median_per_s if self.throughput else None

    @property
    def pinned(self):
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


# --- JSON --------------------------------------------------------------------


def _tuple(value):
    return None if value is None else tuple(value)


def _pick(cls, data: Mapping[str, Any], **converted):
    """`cls` from a JSON object: its fields present in `data` (a file from
    an older version may lack some: they keep their default, None)."""
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    values.update({k: v for k, v in converted.items() if k in names and (k in values or v is not None)})
    return cls(**values)


def _plain(record) -> dict:
    return asdict(record)


def latency_fields(latency: Latency) -> dict:
    """Flat keys with their unit: wait_p50_s, service_p99_s, sojourn_max_s..."""
    out = {}
    for kind, name in LATENCY_KINDS:
        for stat, value in asdict(getattr(latency, name)).items():
            out[f"{kind}_{stat}_s"] = value
    return out


def _latency_from_json(data: Mapping[str, Any]) -> Latency:
    parts = {}
    for kind, name in LATENCY_KINDS:
        stats = {f.name: data.get(f"{kind}_{f.name}_s") for f in fields(Distribution)}
        parts[name] = Distribution(**stats)
    return Latency(**parts)


def run_summary_to_json(summary: RunSummary) -> dict:
    out: dict[str, Any] = {}
    for f in fields(RunSummary):
        value = getattr(summary, f.name)
        if f.name == "latency":
            out.update(latency_fields(value))
        elif f.name in ("load_average_before", "tasks_per_worker"):
            out[f.name] = None if value is None else list(value)
        elif f.name in ("tasks", "resources", "task_cpu", "health"):
            out[f.name] = None if value is None else _plain(value)
        else:
            out[f.name] = value
    return out


def health_from_json(data: Mapping[str, Any] | None) -> Health | None:
    if data is None:
        return None
    return Health(tuple(_pick(Finding, f, examples=tuple(f.get("examples") or ())) for f in data.get("findings") or ()))


def run_summary_from_json(data: Mapping[str, Any]) -> RunSummary:
    resources, task_cpu = data.get("resources"), data.get("task_cpu")
    return _pick(
        RunSummary,
        data,
        task_cpu=None if task_cpu is None else _pick(TaskCPU, task_cpu),
        health=health_from_json(data.get("health")),
        tasks=_pick(TaskCounts, data.get("tasks") or {}),
        latency=_latency_from_json(data),
        load_average_before=_tuple(data.get("load_average_before")),
        tasks_per_worker=_tuple(data.get("tasks_per_worker")),
        resources=None if resources is None else resources_from_json(resources),
    )


def resources_from_json(data: Mapping[str, Any]) -> Resources:
    shares = tuple(_pick(WorkerShare, share) for share in data.get("per_worker") or ())
    return _pick(Resources, data, per_worker=shares)


def host_clock_from_json(data: Mapping[str, Any]) -> HostClock:
    resources = data.get("resources")
    return _pick(HostClock, data, resources=None if resources is None else resources_from_json(resources))


def _settings_from_json(data: Mapping[str, Any]) -> RunSettings:
    placement, broker = data.get("placement"), data.get("broker")
    return _pick(
        RunSettings,
        data,
        placement=None if placement is None else Placement(*(_tuple(placement.get(f.name)) for f in fields(Placement))),
        broker=None if broker is None else _pick(BrokerInfo, broker),
    )


def _samples_from_json(data: Mapping[str, Any]) -> Samples:
    return Samples(
        time_origin=data.get("time_origin"),
        published_s=tuple(data.get("published_s", ())),
        started_s=tuple(data.get("started_s", ())),
        finished_s=tuple(data.get("finished_s", ())),
        pid=tuple(data.get("pid", ())),
        # before --workers there was one worker: node 0 ran every task
        node=tuple(data["node"]) if "node" in data else (0,) * len(data.get("pid", ())),
        state=tuple(data.get("state", ())),
        errors=tuple(TaskError(e["id"], e["error"]) for e in data.get("errors", ())),
        missing_ids=tuple(data.get("missing_ids", ())),
        cpu_s=tuple(data.get("cpu_s", ())),
        rss_bytes=_tuple(data.get("rss_bytes")),
        host=_tuple(data.get("host")),
    )


def metadata_to_json(metadata: Metadata) -> dict:
    """Only what is known: a sweep's machine has no start and end times, a
    run that was never measured only its end."""
    return {k: v for k, v in _plain(metadata).items() if v is not None}


def metadata_from_json(data: Mapping[str, Any] | None) -> Metadata | None:
    return None if data is None else _pick(Metadata, data)


def run_to_json(result: RunResult) -> dict:
    """The run's document, as written (always the current SCHEMA_VERSION).
    `hosts` and the samples' `host` only for a run on agents."""
    samples = None if result.samples is None else _plain(result.samples)
    if samples is not None and samples.get("host") is None:
        del samples["host"]
    extra: dict[str, Any] = {} if result.hosts is None else {"hosts": [_plain(h) for h in result.hosts]}
    if result.worker_log is not None:
        extra["worker_log"] = dict(result.worker_log)
    config = _plain(result.config)
    if config.get("worker_reported") is None:  # only where it was read
        config.pop("worker_reported", None)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": RUN,
        "run_id": result.run_id,
        "status": _plain(result.status),
        "config": config,
        "summary": None if result.summary is None else run_summary_to_json(result.summary),
        "samples": samples,
        "metadata": metadata_to_json(result.metadata),
        **({"schedule": dict(result.schedule)} if result.schedule is not None else {}),
        **({"open_loop": dict(result.open_loop)} if result.open_loop is not None else {}),
        **extra,
    }


def run_from_json(data: Mapping[str, Any]) -> RunResult:
    """A run's document of any version this harness wrote. KeyError,
    TypeError or ValueError when it is malformed."""
    summary, samples = data.get("summary"), data.get("samples")
    config = _settings_from_json(data["config"])
    return RunResult(
        status=_pick(RunStatus, data["status"]),
        config=config,
        metadata=_pick(Metadata, data.get("metadata") or {}),
        summary=None if summary is None else _one_worker_default(run_summary_from_json(summary), config),
        samples=None if samples is None else _samples_from_json(samples),
        run_id=data.get("run_id"),
        schema_version=data["schema_version"],
        schedule=data.get("schedule"),
        open_loop=data.get("open_loop"),
        hosts=None if data.get("hosts") is None else tuple(host_clock_from_json(h) for h in data["hosts"]),
        worker_log=data.get("worker_log"),
    )


def _one_worker_default(summary: RunSummary, config: RunSettings) -> RunSummary:
    """A file from before --workers ran one worker: it ran every task."""
    if summary.tasks_per_worker is None and config.workers == 1 and summary.tasks.succeeded is not None:
        return replace(summary, tasks_per_worker=(summary.tasks.succeeded,))
    return summary


def point_to_json(point: PointSummary) -> dict:
    return _plain(point)


def point_from_json(data: Mapping[str, Any], version: int = SCHEMA_VERSION) -> PointSummary:
    data = dict(data)
    if version < 2:  # throughput_per_s was the estimate; load_average_before its 1-minute figure
        old = data.pop("throughput_per_s", None)
        data["throughput"] = (
            None
            if old is None
            else {
                "median_per_s": old["median"],
                "ci95_low_per_s": old["ci95_low"],
                "ci95_high_per_s": old["ci95_high"],
                "cv": old["cv"],
                "unstable": old["unstable"],
                "values_per_s": old["values"],
            }
        )
        data["load_average_1m_before"] = data.pop("load_average_before", None)
    throughput = data.get("throughput")
    return _pick(
        PointSummary,
        data,
        cpus=_tuple(data.get("cpus")) or None,
        profile=_tuple(data.get("profile")),
        warnings=tuple(data.get("warnings", ())),
        settings=tuple((name, text) for name, text in data.get("settings") or ()),
        findings=tuple((kind, count) for kind, count in data.get("findings") or ()),
        throughput=None
        if throughput is None
        else _pick(ThroughputEstimate, throughput, values_per_s=tuple(throughput["values_per_s"])),
    )


def sweep_settings_from_json(data: Mapping[str, Any]) -> SweepSettings:
    lists = {k: _tuple(v) for k, v in data.items() if isinstance(v, list)}
    lists["vary"] = tuple((name, tuple(values)) for name, values in data.get("vary") or ())
    return _pick(SweepSettings, data, **lists)


def sweep_summary_to_json(summary: SweepSummary) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": SWEEP_SUMMARY,
        "config": _plain(summary.config),
        "metadata": None if summary.metadata is None else metadata_to_json(summary.metadata),
        "status": summary.status,
        "points": [point_to_json(p) for p in summary.points],
    }


def sweep_summary_from_json(data: Mapping[str, Any]) -> SweepSummary:
    version = data["schema_version"]
    return SweepSummary(
        config=sweep_settings_from_json(data["config"]),
        metadata=metadata_from_json(data.get("metadata")),
        status=data.get("status"),
        points=tuple(point_from_json(p, version) for p in data["points"]),
    )


def manifest_to_json(manifest: SweepManifest) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": SWEEP,
        "status": manifest.status,
        "config": manifest.config,
        "plan": list(manifest.plan),
        "metadata": None if manifest.metadata is None else metadata_to_json(manifest.metadata),
        "created_utc": manifest.created_utc,
        "updated_utc": manifest.updated_utc,
    }


def manifest_from_json(data: Mapping[str, Any]) -> SweepManifest:
    return SweepManifest(
        status=data["status"],
        config=dict(data["config"]),
        plan=tuple(data["plan"]),
        metadata=metadata_from_json(data.get("metadata")),
        created_utc=data.get("created_utc"),
        updated_utc=data.get("updated_utc"),
    )

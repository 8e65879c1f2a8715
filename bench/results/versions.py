"""The result format's history: one version per group of fields added, the
newest written, every one read.

Longer than the ~400 lines a module aims for, on purpose: it is a history,
one entry per version, and it grows by one with every field added;
splitting it would cut the one table a reader follows in order.

Documents (a run, a sweep's summary and manifest, and the documents that
share the number: a run's reference, a sweep's check, rates and capacity,
an A/B comparison) carry `schema_version`. HISTORY below says what each
version added, with the date and the commit that brought it to main
(reconstructed with `git log -S` on the field names for versions 3 to 12).

Version 2 is mixed. Versions 3 to 12 were numbered afterwards (issue 22):
their fields were added while the writer still wrote 2, so a document that
says 2 may hold any of them, and its readers take each as present or absent.
A document of any other version holds every field of its version and the
ones before (some only where they apply, as `hosts` only for a run on
agents: `optional` in the table).

Reading: a field a document lacks reads as its record's default (None,
(), "not recorded"). Where a lacking field means something else in the
documents from before it, the reader branches on the version: a run that
`holds(version, 6)` has its worker nodes as written (a missing one is a
malformed document); an older one ran one worker, node 0, every task.
io.read_json refuses a version this code does not know, in one line
(`unreadable`).

Adding a field (pyperf's rule: every change bumps the version):
  1. Append a Version to HISTORY with the next number, today's date, the
     commit's subject and the new keys, as paths ("run:summary.health",
     "point:lost", "sweep:config.check"; `optional` those written only
     where they apply). SCHEMA_VERSION follows.
  2. Add the field to its record (records.py, sweep_records.py) and write
     it in codec.py. If its absence in older documents must read as
     something other than its default, branch: `holds(version, N)`.
  3. Add tests/data/vN/ (a run and a sweep summary as the new writer writes
     them), and update the golden files' schema_version only;
     tests/unit/test_format_history.py reads every version there and checks
     each holds its fields and reads the newer ones' as their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Version:
    number: int
    date: str  # when it reached main, YYYY-MM-DD
    commit: str  # the commit that brought it to main: short hash and subject
    added: str  # what it added, in words
    # The keys it added, as "document:path": run, point (a sweep summary's
    # point), sweep (a sweep summary) or reference; dots go into objects.
    keys: tuple[str, ...] = ()
    # Of those, the ones a document has only where they apply (a run on agents, an open-loop run).
    optional: tuple[str, ...] = ()


HISTORY = (
    Version(
        1,
        "2026-11-25",
        "55b7d24 The runner: python -m bench run measures one real Celery worker",
        "A run: status, config, summary (`throughput_per_s` a number; latency as flat "
        "`{wait,service,sojourn}_{p50,p90,p99,max,mean}_s` keys; resources), samples, metadata. A sweep "
        "summary: per point, `throughput_per_s` = {median, ci95_low, ci95_high, cv, unstable, values} and "
        "`load_average_before` (the 1-minute figure, a number).",
    ),
    Version(
        2,
        "2026-11-25",
        "a7a3b3b Merge issue 9: typed results (schema v2)",
        "A sweep point's throughput estimate is `throughput` = {median_per_s, ci95_low_per_s, ci95_high_per_s, "
        "cv, unstable, values_per_s}, so `throughput_per_s` is only ever a run's number; a point's load "
        "average is `load_average_1m_before`. A run keeps its layout, and always has `run_id` and `samples` "
        "(null when never measured) and a full `config`.",
        ("point:throughput", "point:load_average_1m_before"),
    ),
    Version(
        3,
        "2026-11-25",
        "a73cbdf Merge issue 12: open-loop load (run --rate, capacity, sweep --rates)",
        "An open-loop run (`run --rate`) has `schedule` and `open_loop` (bench/measure/openloop.py, "
        "bench/analysis/openloop.py) and may have the status `producer-limited`.",
        ("run:schedule", "run:open_loop"),
        ("run:schedule", "run:open_loop"),
    ),
    Version(
        4,
        "2026-11-25",
        "ffe1225 Merge issue 11: your own app and tasks (--app/--task), profile and its prediction",
        "A run's CPU per task (`summary.task_cpu`, `samples.cpu_s`, and `samples.rss_bytes` from `profile`) "
        "and its estimated ceiling; a user's own task: its description, settings, the harness's overrides, "
        "whose broker, and its profile, in the run's config, a sweep's config and a point.",
        (
            "run:summary.task_cpu",
            "run:summary.ceiling_estimated",
            "run:summary.above_estimated_ceiling",
            "run:samples.cpu_s",
            "run:samples.rss_bytes",
            "run:config.user_task",
            "run:config.app_settings",
            "run:config.harness_overrides",
            "run:config.broker_source",
            "run:config.task_profile",
            "point:task",
            "point:profile",
            "sweep:config.user_task",
            "sweep:config.task_profile",
        ),
    ),
    Version(
        5,
        "2026-11-25",
        "e87c3fc Merge issue 15 (part): agents on the broker, signed commands, one clock, run and sweep --hosts",
        "A run on agents (`run --hosts`) has `hosts` (per agent: its clock offset and bound, its workers and "
        "tasks) and `samples.host`; its `summary.resources` add up the hosts'. A sweep's `config.hosts`.",
        ("run:hosts", "run:samples.host", "sweep:config.hosts"),
        ("run:hosts", "run:samples.host"),
    ),
    Version(
        6,
        "2026-11-25",
        "8f21897 Merge issue 13: --workers N and --vary NAME=V1,V2 as sweep axes",
        "Worker nodes: a run's `config.workers` and `config.max_tasks_per_child` (and `config.acks_late` as "
        "set, before always false), `summary.tasks_per_worker`, `summary.resources.per_worker`, `samples.node`; "
        "a sweep's `config.vary`, a point's `workers` and `settings`. Before it a run had one worker: it ran "
        "every task.",
        (
            "run:config.workers",
            "run:config.max_tasks_per_child",
            "run:summary.tasks_per_worker",
            "run:summary.resources.per_worker",
            "run:samples.node",
            "sweep:config.vary",
            "point:workers",
            "point:settings",
        ),
    ),
    Version(
        7,
        "2026-11-25",
        "6b4401a Merge branch 'issue15'",
        "A sweep's `config.host_counts` and a point's `host_count` (--host-counts); each agent's own "
        "`resources` in a run's `hosts`; a sweep's `config.listen` and `config.listen_port` (--listen).",
        (
            "sweep:config.host_counts",
            "point:host_count",
            "sweep:config.listen",
            "sweep:config.listen_port",
            "run:hosts.resources",
        ),
        ("run:hosts.resources",),
    ),
    Version(
        8,
        "2026-11-26",
        "6cb5d4a Sweeps on agents: a point records how many hosts it ran on (on_hosts)",
        "A point's `on_hosts`: the agents its repeats ran on (its `cores` are theirs).",
        ("point:on_hosts",),
    ),
    Version(
        9,
        "2026-12-04",
        "9212fa1 Merge branch 'health'",
        "A run's `summary.health` ({findings: [{kind, count, total_s, longest_s, period_s, cause, examples, "
        "extra_runs}]}, bench/analysis/health.py); a point's `duplicates`, `lost`, `repeats_with_findings` "
        "and `findings` ([[kind, count]]).",
        ("run:summary.health", "point:duplicates", "point:lost", "point:repeats_with_findings", "point:findings"),
    ),
    Version(
        10,
        "2026-12-04",
        "6a67ff9 run --reference: a first pass with a plain worker without -E, counted by its queue's depth",
        "A reference document (`kind: reference`, bench/measure/reference.py) has `depth`: its pass without "
        "task events, counted by the queue's depth.",
        ("reference:depth",),
    ),
    Version(
        11,
        "2026-12-04",
        "c41ef62 Merge branch 'paths': one path for a repeat, settings read back from the workers",
        "A run's `config.worker_reported`: per worker node, the settings it reported before the measured "
        "window (the config's pool, concurrency, prefetch_multiplier, acks_late, max_tasks_per_child and "
        "result_backend are then the workers' own); a failed or odd run's `worker_log` ({path, lines}).",
        ("run:config.worker_reported", "run:worker_log"),
        ("run:config.worker_reported", "run:worker_log"),
    ),
    Version(
        12,
        "2026-12-04",
        "41fa8aa sweep --check: every point a plain worker can run is measured once more by one",
        "A sweep's `config.check` (--check: its points measured once more by a plain worker, in check.json).",
        ("sweep:config.check",),
    ),
    Version(
        13,
        "2026-12-04",
        "Health from the workers' log: failed acks and lost broker connections",
        "Health findings of kinds `ack_failures` and `reconnects` (read from the workers' log); a reference's "
        "`depth.ack_failures`, `depth.reconnects` and `depth.redis_pool_exhausted`, and its `worker_log` "
        "({path, lines}: the plain workers' log, kept beside it when it is odd).",
        (
            "reference:depth.ack_failures",
            "reference:depth.reconnects",
            "reference:depth.redis_pool_exhausted",
            "reference:worker_log",
        ),
        ("reference:worker_log",),
    ),
    Version(
        14,
        "2026-12-04",
        "Environment: the CPU governor in every result's metadata; compare names what differs",
        "A run's `metadata.cpu_governor` (cpufreq's scaling governor; null where not readable).",
        ("run:metadata.cpu_governor",),
    ),
    Version(
        15,
        "2026-12-05",
        "The verdict separates the tutorial's second clause: degrades",
        "A verdict may say `degrades` (beyond 2x cores is significantly worse, by at least the minimum effect): "
        "a sweep's `open_loop.json` holds it among its `verdicts` (of the p99). No key is added; a reader that "
        "knows only the four words before it must not read a file that may hold a fifth.",
    ),
    Version(
        16,
        "2026-12-05",
        "ab of your own app; history keys a user's app's results on the app's own commit",
        "A user's task records the commit of the git checkout holding its app (`config.user_task.git_commit`, "
        "\"+dirty\" with changes; null outside git), so `history` orders a user's results by the app's "
        "history rather than the harness's.",
        ("run:config.user_task.git_commit",),
        ("run:config.user_task.git_commit",),
    ),
    Version(
        17,
        "2026-12-05",
        "advise, on a queueing model of the worker; the main process's CPU; each point's predicted throughput",
        "A run records its worker's main process CPU apart (`summary.resources.worker_main_cpu_s`: prefork's "
        "parent, which hands out every task). A sweep's point records its median (`worker_main_cpu_cores`) and "
        "the worker model's throughput there (`predicted_per_s`, analysis/mva.py: from the sweep's own no-op "
        "points and its task measured alone; null where the model has nothing to say), and the overhead-aware "
        "ceiling (`achievable_per_s`: the lower of the physical ceiling and the model's bound with Celery's "
        "per-task cost in it), which `efficiency` is measured against where it is known. A drained run records the "
        "model's throughput for its point (`summary.predicted_per_s`) where Celery's per-task cost is cached for "
        "the machine and broker.",
        (
            "run:summary.resources.worker_main_cpu_s",
            "point:worker_main_cpu_cores",
            "point:predicted_per_s",
            "point:achievable_per_s",
            "run:summary.predicted_per_s",
        ),
        ("point:predicted_per_s", "point:achievable_per_s", "run:summary.predicted_per_s"),
    ),
    Version(
        18,
        "2026-12-05",
        "Limits like a pod's: --cpu-limit and --memory-limit put each worker in a cgroup of its own",
        "A run's `config.limits` (each worker's cgroup limits read back: cgroup version, CPU quota in cores "
        "and as quota/period, memory and swap limits, the -c Celery's default picks inside them and the -c the "
        "quota gives) and `summary.limits` (what the cgroups counted: throttled time and periods in the "
        "measured window, the memory high-water mark, OOM kills), both null without limits; a sweep's "
        "`config.cpu_limit` and `config.memory_limit`; a point's `cpu_limit` (as its repeats read it back), "
        "which its ceiling in the figures uses.",
        (
            "run:config.limits",
            "run:summary.limits",
            "sweep:config.cpu_limit",
            "sweep:config.memory_limit",
            "point:cpu_limit",
        ),
    ),
    Version(
        19,
        "2026-12-05",
        "OOM kills under --memory-limit: the tasks each kill lost",
        "A run's `summary.limits` counts what its OOM kills cost: `oom_lost_tasks` (tasks of the batch that a "
        "worker process had started when it died, never finished), `oom_lost_by_process` (those tasks, per "
        "killed process) and `oom_killed_main` (worker main processes killed outright), under a memory limit "
        "(null otherwise); a health finding's cause may be `oom_kill`.",
        (
            "run:summary.limits.oom_lost_tasks",
            "run:summary.limits.oom_lost_by_process",
            "run:summary.limits.oom_killed_main",
        ),
    ),
    Version(
        20,
        "2026-12-05",
        "Tasks in flight at a stop: reject_on_worker_lost, the soft shutdown timeout and the visibility timeout",
        "A run's `config.reject_on_worker_lost` (task_reject_on_worker_lost), `config.soft_shutdown_timeout` "
        "(worker_soft_shutdown_timeout, s), `config.visibility_timeout` (the Redis transport's, s; null: not "
        "set) and `config.remap_sigterm` (REMAP_SIGTERM in the workers' environment, SIGQUIT with a soft "
        "shutdown timeout; null: not set), as the workers read them back; a sweep's "
        "`config.reject_on_worker_lost`, `config.soft_shutdown_timeout` and `config.visibility_timeout`.",
        (
            "run:config.reject_on_worker_lost",
            "run:config.soft_shutdown_timeout",
            "run:config.visibility_timeout",
            "run:config.remap_sigterm",
            "sweep:config.reject_on_worker_lost",
            "sweep:config.soft_shutdown_timeout",
            "sweep:config.visibility_timeout",
        ),
    ),
    Version(
        21,
        "2026-12-05",
        "Deploy events: --stop-at, --kill-at, --kill-child-at and --rolling-restart, and what they cost",
        "A run's `summary.deploy` (the event asked, as `asked`; each event done: its kind, time after the "
        "batch's release, node, pid, the task a killed pool process ran, a stop's drain time and whether the "
        "grace ran out, when the fresh worker was ready, the throughput before and the time until it was back at "
        "90%), null without an event; `summary.tasks.lost`, `redelivered` and `interrupted` under an event (null "
        "otherwise); a sweep's `config.acks_late` (--acks-late), `stop_at`, `kill_at`, `kill_child_at`, "
        "`stop_grace` and `rolling_restart`; a point's `deploy` "
        "(the counts summed over its repeats, the median recovery and drain) and `memory_limit` (as its repeats, "
        "failed ones too, read it back; the report's best -c under each limit uses it).",
        (
            "run:summary.deploy",
            "run:summary.tasks.lost",
            "run:summary.tasks.redelivered",
            "run:summary.tasks.interrupted",
            "sweep:config.acks_late",
            "sweep:config.stop_at",
            "sweep:config.kill_at",
            "sweep:config.kill_child_at",
            "sweep:config.stop_grace",
            "sweep:config.rolling_restart",
            "point:deploy",
            "point:memory_limit",
        ),
    ),
    Version(
        22,
        "2026-12-05",
        "Who waits: -O, worker_disable_prefetch and worker_eta_task_limit",
        "A run's `config.optimization` (the workers' -O as given, default or fair; null: not given, the worker's "
        "own), `config.sched_strategy` (the prefork pool's scheduling strategy as the workers read it back, fair "
        "or fcfs; null for the other pools), `config.disable_prefetch` (worker_disable_prefetch) and "
        "`config.eta_task_limit` (worker_eta_task_limit; null: no limit), as the workers read them back.",
        (
            "run:config.optimization",
            "run:config.sched_strategy",
            "run:config.disable_prefetch",
            "run:config.eta_task_limit",
        ),
    ),
    Version(
        23,
        "2026-12-05",
        "Traffic mixes: run --traffic, per-class results and the time tasks sat reserved while a slot was free",
        "A run of a traffic mix (run --traffic) has `traffic` (its source, seed, routing and queues, each class's "
        "name, workload, share, size, distribution and queue, and the least wait counted as waiting while a slot "
        "was free), "
        "`samples.task_class` (each sample's class) and its results per class name: a drained batch's as "
        "`classes`, an open-loop run's as `open_loop.classes` (counts, throughput, wait, service, sojourn and "
        "reserved percentiles, and the time reserved while a slot was free); its `config.workload` is mix.",
        ("run:traffic", "run:samples.task_class", "run:classes", "run:open_loop.classes"),
        ("run:traffic", "run:samples.task_class", "run:classes", "run:open_loop.classes"),
    ),
    Version(
        24,
        "2026-12-05",
        "sweep --traffic: a traffic mix at every point, summarized per class",
        "A sweep of a traffic mix (sweep --traffic) has `config.traffic` (the mix as parsed, as a run's "
        "`traffic`; null: none) and per point `classes` (null: no mix): per class its name, share and mean size, "
        "and over the repeats the median of their sojourn p99 with its bootstrap 95% CI and the values, the "
        "median throughput, and the median time its tasks sat reserved while a slot was free (and how many "
        "waited so). open_loop.json's rate cells have the same `classes`, from each repeat's `open_loop.classes`.",
        ("sweep:config.traffic", "point:classes"),
    ),
    Version(
        25,
        "2026-12-05",
        "A broker restart as a deploy event: --broker-restart-at",
        "A run's deploy event may be `broker_restart` (the embedded broker stopped and started again on its port): "
        "its `node` is null (no worker was struck) and its `down_s` how long the broker was down (null for the "
        "other events); a sweep's `config.broker_restart_at`, and its `config.arrival` (the open-loop runs' "
        "arrivals, --arrival with --rates: uniform or poisson).",
        ("sweep:config.broker_restart_at", "sweep:config.arrival"),
    ),
    Version(
        26,
        "2026-12-05",
        "Memory growth per task (Theil-Sen), recycles, a per-second series beside the run; --leak-kib, stuck",
        "A run's `summary.memory_growth` (null: not sampled): the sample interval, the samples the fits use, the "
        "pool processes recycled in the window, and for the worker tree (`tree`) and each process sampled at least "
        "3 times (`processes`: pid, node, main, born_s, died_s, tasks, CPU, first, last and peak USS) the "
        "Theil-Sen slope of USS against the tasks completed (`kib_per_task`, its `ci95`, `kib_per_1000_tasks`), "
        "against time (`kib_per_hour`, `kib_per_hour_ci95`) and of PSS (`pss_kib_per_task`, `pss_ci95`), and "
        "the processes sampled fewer times (`unfitted`), and the harness's own process fitted the same way "
        "(`harness`, on its RSS), and what a replacement cost its slot (`replacement_first_task_p50_s`, "
        "`replacement_first_task_max_s`); `config.leak_kib` (the leak workload's KiB per call; "
        "null: another workload) and `config.stuck` (the stuck workload's draw: p, blocked_ms, seed and the "
        "tasks drawn to block; null: another workload); `summary.series` (the per-second series written beside "
        "the document: its file's name, its seconds, the stall seconds and the longest run of them, the throughput "
        "over the first and the last tenth of the seconds; null: none); "
        "`config.soak` (a soak, run --duration "
        "without --rate: its duration_s and backlog; null: another run).",
        (
            "run:summary.memory_growth",
            "run:summary.series",
            "run:config.leak_kib",
            "run:config.stuck",
            "run:config.soak",
        ),
    ),
    Version(
        27,
        "2026-12-05",
        "Open-loop soaks: config.soak.backlog null, open_loop.in_flight_at_end",
        "A soak at --rate (run --rate R --duration of 5 min or more, or --soak): its `config.soak.backlog` is "
        "null (the tasks arrive on the schedule in `schedule`); its `open_loop` block has the open-loop run's keys, "
        "from histograms, with `sojourn_from_sent_*` and `backlog_at_end` null (no task's send time or start is "
        "kept) and `in_flight_at_end` (tasks sent and not finished at the window's end) instead.",
        ("run:open_loop.in_flight_at_end",),
        optional=("run:open_loop.in_flight_at_end",),
    ),
    Version(
        28,
        "2026-12-05",
        "Recycling by memory: --max-memory-per-child and --vary max_memory_per_child; the slot time it leaves idle",
        "A run's `config.max_memory_per_child_kib` (a pool process is replaced once its peak RSS is above it after "
        "a task, KiB, as the workers read it back; 0: never) and `summary.memory_growth.replacement_idle_share` "
        "(the replacement gaps summed over the pool's slot time, the processes at the window's start x the window: "
        "what a slot-bound workload loses of its throughput to recycling; null: no replacement); a sweep "
        "point's `recycles` and `tree_kib_per_task` (medians over its repeats of the runs' memory growth; null: "
        "not sampled).",
        (
            "run:config.max_memory_per_child_kib",
            "run:summary.memory_growth.replacement_idle_share",
            "point:recycles",
            "point:tree_kib_per_task",
        ),
    ),
    Version(
        29,
        "2026-12-05",
        "The throughput dip of recycling, second by second: summary.series.recycle_seconds and its rates",
        "A run's `summary.series` has `recycle_seconds` (the whole seconds in which a pool process was replaced: "
        "the second its replacement was first sampled in and the one before; null: no process memory in the "
        "series), `recycle_second_per_s` (their mean completions; null: none) and `other_second_per_s` (the other "
        "whole seconds'; null: none). A soak, which keeps no task records, measures recycling's cost this way.",
        (
            "run:summary.series.recycle_seconds",
            "run:summary.series.recycle_second_per_s",
            "run:summary.series.other_second_per_s",
        ),
    ),
    Version(
        30,
        "2026-12-05",
        "A soak's health: summary.health.unchecked, the kinds of finding not looked for",
        "A soak is diagnosed from what it counts (tasks run twice and lost, by their numbers; its stall seconds; "
        "the pool processes replaced; the workers' log), not from every task's record, so it cannot look for "
        "idle gaps and late starts: `summary.health.unchecked` lists them (empty: every kind was looked for). "
        "A soak's `stalls` finding counts runs of whole stall seconds.",
        ("run:summary.health.unchecked",),
    ),
)
SCHEMA_VERSION = HISTORY[-1].number  # the version written
MIXED = 2  # a document that says 2 may hold any key of versions 3 to 12 (numbered afterwards)
NUMBERED_AFTERWARDS = 12  # the last version whose fields were first written as 2


def holds(version: int, added_in: int) -> bool:
    """Whether a document of `version` surely holds what version `added_in`
    added: it is that version or newer, and not a mixed version 2 (which
    holds the later fields or not)."""
    if version == MIXED:
        return added_in <= MIXED
    return version >= added_in


def may_hold(version: int, added_in: int) -> bool:
    """Whether a document of `version` can hold what `added_in` added."""
    return version >= added_in or (version == MIXED and added_in <= NUMBERED_AFTERWARDS)


def added_in(key: str) -> int:
    """The version that added `key` ("run:samples.node"); KeyError if none did."""
    for version in HISTORY:
        if key in version.keys:
            return version.number
    raise KeyError(key)


def unreadable(version: object) -> str | None:
    """Why a document's `schema_version` cannot be read, in one line; None
    when it can."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return f"unknown schema_version {version!r}"
    if version > SCHEMA_VERSION:
        return f"schema_version {version} is newer than this celery-bench reads ({SCHEMA_VERSION}); upgrade it"
    return None

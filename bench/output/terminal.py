"""A run's summary in the terminal, and the aligned table every text
reporter uses. Reporters return text; only the CLI prints (a sweep's
summary is in sweep_terminal.py)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bench.analysis.groups import plural
from bench.harness.sizes import size_words
from bench.output.health import health_lines, oom_words
from bench.output.memory import memory_lines, series_line, soak_lines, stuck_line
from bench.results.schema import (
    LATENCY_KINDS,
    DeployFigures,
    LimitFigures,
    Resources,
    RunResult,
    RunSettings,
    TaskCounts,
    WorkerLimits,
)


def _ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _mib(n):
    return "-" if n is None else f"{n / 2**20:.1f} MiB"


def aligned(table: Sequence[Sequence[str]], right: Collection[int]) -> list[str]:
    """Rows of cells as aligned text lines: the columns whose index is in
    `right` right-aligned, the others left; a rule of dashes under the
    first row (the header)."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for n, row in enumerate(table):
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _task_cpu_line(cpu):
    if cpu is None or cpu.mean_s is None:
        return "  task CPU        -"
    if cpu.attribution == "thread":
        return f"  task CPU        p50 {_ms(cpu.p50_s)} ms, p90 {_ms(cpu.p90_s)} ms (each task's own thread)"
    return f"  task CPU        {_ms(cpu.mean_s)} ms per task (process CPU / tasks: greenlets share one thread)"


def run_summary(result: RunResult) -> str:
    """The terminal summary of one run's result (a RunResult)."""
    cfg, s, meta = result.config, result.summary, result.metadata
    broker = cfg.broker
    # a measured run's result: what it measured, on which broker
    assert s is not None
    assert broker is not None
    tasks = s.tasks
    size = f" {cfg.task_ms:.4g} ms" if cfg.task_ms is not None else ""
    res = s.resources
    user = cfg.user_task
    what = f"{cfg.workload}{size}" if not user else f"{user['task']} (app {user['app']}, {user['calls']} call(s))"
    if result.traffic is not None:
        names = ", ".join(c["name"] for c in result.traffic["classes"])
        what = f"a mix of {len(result.traffic['classes'])} classes ({names}){size and ', mean' + size}"
    lines = [
        f"{_shape(cfg.workers)}{cfg.pool} -c {cfg.concurrency}  {what}  "
        f"{tasks.published} tasks (+{cfg.warmup} warm-up)  "
        f"broker: {broker.server} ({'embedded' if broker.embedded else broker.url})",
        f"machine: {meta.usable_cores:g} usable cores, {meta.cpu_model}",
        "",
    ]
    if user:
        lines.insert(1, f"broker used: {cfg.broker_source}, {broker.url}")
    if s.throughput_per_s is not None:
        lines.append(
            f"  throughput      {s.throughput_per_s:10.1f} tasks/s  (first start to last end, {s.window_s:.2f} s)"
        )
        if s.steady_throughput_per_s is not None:
            lines.append(f"  steady state    {s.steady_throughput_per_s:10.1f} tasks/s  (10%-90% of completions)")
    if s.ceiling_per_s is not None:
        eff = f"{100 * s.efficiency:.1f}% of it" if s.efficiency is not None else ""
        lines.append(f"  ceiling         {s.ceiling_per_s:10.1f} tasks/s  ({s.ceiling_basis}); measured is {eff}")
    elif s.ceiling_estimated:
        lines.append(f"  ceiling                  -  {s.ceiling_basis}")
    else:
        lines.append(f"  ceiling                  -  bounded by {s.ceiling_basis}")
    if s.predicted_per_s is not None:
        lines.append(
            f"  model           {s.predicted_per_s:10.1f} tasks/s  (queueing model with Celery's per-task cost "
            "cached here: docs/advise.md)"
        )
    if s.above_estimated_ceiling:
        lines.append("  (above the ceiling estimated from the profile: the task ran faster here than when profiled)")
    if s.above_ceiling:
        lines.append("  !!! ABOVE THE PHYSICAL CEILING: this number cannot be true; the harness has a bug !!!")
    if s.max_concurrency is not None and s.mean_concurrency is not None:  # a soak keeps no per-task samples
        lines.append(
            f"  concurrency     max {s.max_concurrency} running at once, mean {s.mean_concurrency:.1f} "
            f"(-c {cfg.concurrency}{_times_workers(cfg.workers)}, {plural(s.processes_used, 'process', 'processes')})"
        )
    lines += soak_lines(cfg)
    lines.append("  latency (ms)        p50      p90      p99      max")
    for kind, name in LATENCY_KINDS:
        dist = getattr(s.latency, name)
        vals = "".join(f"{_ms(v):>9}" for v in (dist.p50, dist.p90, dist.p99, dist.max))
        lines.append(f"    {kind:<13}{vals}")
    if res and res != Resources():
        lines.append(
            f"  worker CPU      {res.worker_cpu_s:.2f} s = {res.worker_cpu_cores:.2f} cores busy "
            f"({res.worker_cpu_percent_of_usable:.0f}% of usable); harness {res.harness_cpu_s:.2f} s"
            + (f", broker {res.broker_cpu_s:.2f} s" if res.broker_cpu_s is not None else "")
        )
        lines.append(_task_cpu_line(s.task_cpu))
        lines.append(
            f"  worker memory   USS {_mib(res.worker_uss_peak_bytes)}, PSS {_mib(res.worker_pss_peak_bytes)} "
            f"(peak, {plural(res.worker_processes, 'process', 'processes')})"
        )
        lines += _per_worker(res.per_worker, s.tasks_per_worker or ())
    lines += memory_lines(s.memory_growth, cfg.max_tasks_per_child, cfg.max_memory_per_child_kib)
    lines += stuck_line(cfg, tasks.published)
    lines += series_line(s.series)
    if cfg.limits is not None:
        lines.append(limits_line(cfg.limits, s.limits))
    lines += prefetch_lines(cfg)
    load = s.load_average_before
    assert load is not None  # read before every measured run
    lines.append(f"  load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    lines.append(
        f"  tasks: {tasks.published} published = {tasks.succeeded} succeeded + "
        f"{tasks.failed} failed + {tasks.missing} missing" + _ran_again(tasks, s.health)
    )
    if s.deploy is not None:
        lines += deploy_lines(s.deploy, tasks)
    struck = s.deploy is not None and bool(s.deploy.events)
    lines += [f"  {line}" for line in health_lines(s.health, tasks.published, struck)]
    lines += _worker_log_lines(result.worker_log)
    return "\n".join(lines)


_STRUCK = {
    "stop": "SIGTERM to worker {node} (pid {pid})",
    "kill": "SIGKILL to worker {node} (pid {pid}) and its pool",
    "kill_child": "SIGKILL to pool process {pid} of worker {node}",
    "broker_restart": "SIGTERM to the embedded broker (pid {pid}), then the same server again",
}


def deploy_lines(deploy: DeployFigures, tasks: TaskCounts) -> list[str]:
    """A run's deploy event: what was done when, what it cost in tasks, and
    how long the worker took to drain and the throughput to come back."""
    if not deploy.events:
        return [f"  deploy event    {deploy.asked}: not done, the batch ended first"]
    lines = []
    rolling = (deploy.asked or "").startswith("--rolling-restart")
    for event in deploy.events:
        done = _STRUCK[event.kind].format(node=event.node, pid=event.pid)
        running = f", running task {event.task_id}" if event.task_id else ""
        lines.append(f"  deploy event    {deploy.asked}: {done} at {event.at_s:.2f} s{running}")
        after = []
        if event.kind == "stop":
            if event.drain_s is None:
                after.append("the worker had not exited when the run ended")
            elif event.forced:
                after.append(
                    f"killed after the {deploy.stop_grace_s:g} s grace, {event.drain_s:.2f} s after the SIGTERM"
                )
            else:
                after.append(f"the worker drained and exited in {event.drain_s:.2f} s")
        if event.down_s is not None:
            after.append(f"the broker answered again {event.down_s:.2f} s after")
        if rolling:
            after.append("its fresh worker was ready before it")
        elif event.replacement_ready_s is not None:
            after.append(f"a fresh worker was ready {event.replacement_ready_s:.2f} s after")
        if event.recovered:
            after.append(
                f"throughput back at 90% of its {event.throughput_before_per_s:.1f} tasks/s after "
                f"{event.recovery_s:.2f} s"
            )
        elif event.recovered is False:
            after.append(f"throughput not back at 90% of its {event.throughput_before_per_s:.1f} tasks/s by the end")
        if after:
            lines.append(f"                  {'; '.join(after)}")
    lines.append(
        f"  cost            lost {tasks.lost}, interrupted {tasks.interrupted}, redelivered {tasks.redelivered}, "
        f"ran twice {tasks.duplicates} (of {tasks.published})"
    )
    return lines


def prefetch_lines(cfg: RunSettings) -> list[str]:
    """The prefetch settings of a run where any was given, as the workers
    read them back: -O and the prefork pool's strategy, worker_disable_prefetch,
    worker_eta_task_limit (none: nothing to say)."""
    if cfg.optimization is None and not cfg.disable_prefetch and cfg.eta_task_limit is None:
        return []
    said = []
    if cfg.optimization is not None:
        pool = f" (the pool schedules {cfg.sched_strategy})" if cfg.sched_strategy else " (no strategy in this pool)"
        said.append(f"-O {cfg.optimization}{pool}")
    said.append("prefetch disabled" if cfg.disable_prefetch else "prefetch on")
    if cfg.eta_task_limit is not None:
        said.append(f"ETA task limit {cfg.eta_task_limit}")
    return [f"  prefetch        {', '.join(said)}"]


def limits_line(limits: WorkerLimits, figures: LimitFigures | None) -> str:
    """One line of a run under --cpu-limit/--memory-limit: each worker's
    limits, then what its cgroup counted (the throttling in the window, the
    memory high-water mark, OOM kills) and the -c Celery would pick."""
    said = []
    if limits.cpu_limit_cores is not None:
        said.append(f"CPU {limits.cpu_limit_cores:g} core{'s' if limits.cpu_limit_cores != 1 else ''}")
    if limits.memory_limit_bytes is not None:
        swap = {0: " (swap off)", None: " (swappiness 0)"}.get(limits.swap_limit_bytes, "")
        said.append(f"memory {size_words(limits.memory_limit_bytes)}{swap}")
    text = f"  limits          {', '.join(said)} per worker, cgroup v{limits.cgroup_version}"
    figures = figures or LimitFigures()
    counted = []
    if figures.throttled_s is not None:
        # the kernel sums the throttled time over the CPUs: the share of periods says how often instead
        throttled, periods = figures.throttled_periods, figures.periods
        share = f" in {throttled / periods:.0%} of periods" if throttled is not None and periods else ""
        counted.append(f"throttled {figures.throttled_s:.2f} s{share}")
    if figures.memory_peak_bytes is not None:
        counted.append(f"memory high-water {_mib(figures.memory_peak_bytes)}")
    if figures.oom_kills:
        counted.append(oom_words(figures, limits.memory_limit_bytes) or "")
    if counted:
        text += ": " + ", ".join(counted)
    if limits.quota_concurrency is not None and limits.celery_default_concurrency is not None:
        text += (
            f"; Celery's default -c would be {limits.celery_default_concurrency}, "
            f"the quota gives {limits.quota_concurrency}"
        )
    return text


WORKER_LOG_LINES_SHOWN = 6  # the document keeps up to 12


def _worker_log_lines(worker_log):
    """Where a failed or odd run's workers' log was kept, and its first
    notable lines (warnings, errors, restored messages)."""
    if not worker_log:
        return []
    lines = [f"  worker log: {worker_log.get('path')} (kept beside the result)"]
    notable = list(worker_log.get("lines") or ())
    lines += [f"    {line}" for line in notable[:WORKER_LOG_LINES_SHOWN]]
    if len(notable) > WORKER_LOG_LINES_SHOWN:
        lines.append(f"    ... {len(notable) - WORKER_LOG_LINES_SHOWN} more in the document's worker_log")
    return lines


def _ran_again(tasks, health):
    """What the tasks line adds about tasks run more than once: "; 210 ran
    twice" (tasks), or from an older file the repeated reports alone."""
    twice = health.of("duplicates") if health is not None else None
    if twice is not None:
        if twice.extra_runs is not None and twice.extra_runs > twice.count:
            return f"; {twice.count} ran more than once ({twice.extra_runs} extra runs)"
        return f"; {twice.count} ran twice"
    if tasks.duplicates:
        return f"; {plural(tasks.duplicates, 'extra run')} of tasks already reported (run again)"
    return ""


def _shape(workers):
    return f"{workers} workers x " if workers and workers > 1 else ""


def _times_workers(workers):
    return f" x {workers} workers" if workers and workers > 1 else ""


def _per_worker(shares, tasks):
    """One line per worker node, when there are several."""
    if len(shares) < 2:
        return []
    lines = ["  per worker      tasks   CPU s   cores   USS peak   processes"]
    for i, share in enumerate(shares):
        done = tasks[i] if i < len(tasks) else "-"
        lines.append(
            f"    worker {i:<6}{done:>7}  {share.cpu_s:6.2f}  {share.cpu_cores:6.2f}  "
            f"{_mib(share.uss_peak_bytes):>10}  {share.processes:>9}"
        )
    return lines

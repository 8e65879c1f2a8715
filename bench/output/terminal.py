"""Human-readable summaries. Reporters return text; only the CLI prints."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bench.analysis.deploy import SafetyRow, deploy_safety, safe_settings
from bench.analysis.groups import curve_name, group_key, group_label, has_shapes, measured_points, plural
from bench.analysis.hosts import HOSTS_FIGURE, host_lines, scales, scaling_words
from bench.analysis.limits import UnderLimit, under_limits
from bench.analysis.summary import Analysis
from bench.analysis.verdict import FLAT_RULE
from bench.harness.sizes import size_words
from bench.output.health import health_lines, oom_words
from bench.output.memory import memory_lines, series_line, soak_lines, stuck_line
from bench.output.mix import mix_terminal
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
from bench.results.sweep_records import PointSummary, SweepSummary


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
    lines += memory_lines(s.memory_growth, cfg.max_tasks_per_child)
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


def _rate(value):
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


RAN_TWICE_OR_LOST = "!"  # the mark of a cell whose repeats ran tasks twice or lost some
RAN_TWICE_OR_LOST_KEY = "tasks run twice or lost in its repeats (see the warnings)"


def ran_twice_or_lost(point: PointSummary) -> bool:
    """Did a point's repeats run tasks twice or lose some?"""
    return bool(point.duplicates or point.lost)


def sweep_table_rows(summary: SweepSummary, analysis: Analysis) -> list[list[str]]:
    """Rows of throughput (median tasks/s) per pool x workload across -c, the
    best -c marked `*` (none on a flat row), unstable points `~`, points
    whose repeats ran tasks twice or lost some `!`, and a last column saying
    which -c is best; the first row is the header."""
    rows: dict[tuple[str, str], dict[int, PointSummary]] = {}  # (figure, curve) -> -c -> point
    for point in measured_points(summary):
        rows.setdefault((group_key(point), curve_name(point)), {})[point.concurrency] = point
    columns = sorted({c for cells in rows.values() for c in cells})
    header = ["workload", "pool", *[f"c={c}" for c in columns], "best"]
    table = [header]
    for (key, pool), cells in rows.items():
        best = analysis.bests[key][pool]
        line = [group_label(next(iter(cells.values()))), pool]
        for c in columns:
            cell = cells.get(c)
            if cell is None:
                line.append("")
                continue
            text = _rate(cell.median_per_s)
            if cell.failed_repeats and cell.median_per_s is None:
                text = "failed"
            if ran_twice_or_lost(cell):
                text += RAN_TWICE_OR_LOST
            if cell.throughput and cell.throughput.unstable:
                text += "~"
            if c == best.c:
                text += "*"
            line.append(text)
        line.append(best.words)
        table.append(line)
    return table


def table_key(table: Sequence[Sequence[str]]) -> str:
    """The key under the throughput table: what its figures are, and only
    the marks it shows (a key for marks the reader cannot find is noise)."""
    cells = [cell for row in table[1:] for cell in row[2:-1]]
    key = ["median tasks/s over repeats"]
    if any(cell.endswith("*") for cell in cells):
        key.append("* best -c of the row")
    if any("~" in cell for cell in cells):
        key.append("~ unstable (CV > 10%)")
    if any(RAN_TWICE_OR_LOST in cell for cell in cells):
        key.append(f"{RAN_TWICE_OR_LOST} {RAN_TWICE_OR_LOST_KEY}")
    flat = any(row[-1] == "flat" for row in table[1:])
    return "; ".join(key) + (f"\n{FLAT_RULE}" if flat else "")


def sweep_table(summary: SweepSummary, analysis: Analysis) -> str:
    """The sweep's throughput table as aligned text (and, with several
    workers, the same medians by total concurrency)."""
    table = sweep_table_rows(summary, analysis)
    out = aligned(table, right=set(range(2, len(table[0]) - 1)))
    out.append(table_key(table))
    shapes = shapes_table(summary)  # with several workers: the same medians by total concurrency
    return "\n".join(out) + (f"\n\n{shapes}" if shapes else "")


HEADLINE = '"adding more than twice the number of CPUs is rarely effective, and likely to degrade performance instead"'


def verdict_rows(summary: SweepSummary, analysis: Analysis) -> list[list[str]]:
    """The verdict per pool x workload (header first), and per combination
    of the other axes (workers, varied settings: see groups.curve_name): the
    best -c, the best at and beyond 2x cores, the gain's 95% CI, the verdict."""
    rows = [["workload", "pool", "best -c", "best -c <= 2x cores", "best -c > 2x cores", "gain (95% CI)", "verdict"]]
    seen = set()
    for point in measured_points(summary):
        key, name = group_key(point), curve_name(point)
        if (key, name) in seen:
            continue
        seen.add((key, name))
        v = analysis.verdicts[key][name]
        within = f"-c {v.within_c}: {_num(v.within_per_s)}/s" if v.within_c else "-"
        beyond = f"-c {v.beyond_c}: {_num(v.beyond_per_s)}/s" if v.beyond_c else "-"
        gain = f"{_pct(v.gain)} ({_pct(v.gain_ci95[0])} to {_pct(v.gain_ci95[1])})" if v.gain_ci95 else "-"
        best = analysis.bests[key][name].words
        rows.append([group_label(point), name, best, within, beyond, gain, v.word])
    return rows


def limits_words(cpu_limit: float | None, memory_limit: int | None) -> str:
    """Each worker's limits in words: "CPU 0.5 core, memory 256 MiB"."""
    said = []
    if cpu_limit is not None:
        said.append(f"CPU {cpu_limit:g} core{'s' if cpu_limit != 1 else ''}")
    if memory_limit is not None:
        said.append(f"memory {size_words(memory_limit)}")
    return ", ".join(said)


def under_limit_rows(limited: Sequence[UnderLimit]) -> list[list[str]]:
    """The table of curves under limits (header first): the limits, the
    best -c, and whether Celery's default -c would have been it."""
    rows = [["workload", "pool", "limits", "best -c", "Celery's default -c"]]
    for u in limited:
        best = u.best.words + (f": {_num(u.best.per_s)}/s" if u.best.c is not None else "")
        rows.append([u.workload, u.curve, limits_words(u.cpu_limit, u.memory_limit), best, u.words])
    return rows


def deploy_safety_rows(rows: Sequence[SafetyRow]) -> list[list[str]]:
    """The deploy-safety table (header first): per point, its event and what
    it cost over the repeats, summed."""
    table = [["point", "event", "repeats", "lost", "ran twice", "redelivered", "interrupted", "back to 90%", "drain"]]
    for row in rows:
        d = row.deploy
        back = "-" if d.recovery_s is None else f"{d.recovery_s:.2f} s"
        if d.not_recovered:
            back += f" ({d.not_recovered} never)"
        drain = "-" if d.drain_s is None else f"{d.drain_s:.2f} s" + (f" ({d.forced} killed)" if d.forced else "")
        counts = [str(n) for n in (d.repeats, d.lost, d.ran_twice, d.redelivered, d.interrupted)]
        table.append([row.label, d.asked or "-", *counts, back, drain])
    return table


def safe_lines(rows: Sequence[SafetyRow]) -> list[str]:
    """Which points lost nothing, and which ran nothing twice, in words."""
    lose_nothing, twice_nothing = safe_settings(rows)
    return [
        "lost nothing: " + ("; ".join(lose_nothing) or "none"),
        "ran nothing twice: " + ("; ".join(twice_nothing) or "none"),
    ]


def verdict_keys(summary: SweepSummary) -> list[tuple[str, str]]:
    """(figure key, curve name) of each verdict row, in order."""
    seen = []
    for point in measured_points(summary):
        if (group_key(point), curve_name(point)) not in seen:
            seen.append((group_key(point), curve_name(point)))
    return seen


def report_end(summary: SweepSummary, analysis: Analysis) -> str:
    """What a sweep and `report` end with in the terminal: the throughput
    table, the verdict table, and every warning (or that there is none)."""
    lines = [sweep_table(summary, analysis), "", f"Verdict on the tutorial's {HEADLINE}:"]
    lines += aligned(verdict_rows(summary, analysis), right=set())
    limited = under_limits(summary, analysis)
    if limited:
        lines += [
            "",
            "Under limits: the best -c, and would Celery's default (os.cpu_count()) have been it?",
        ]
        lines += aligned(under_limit_rows(limited), right=set())
    safety = deploy_safety(summary)
    if safety:
        lines += ["", "Deploy safety: what the deploy event cost, summed over each point's repeats"]
        lines += aligned(deploy_safety_rows(safety), right={2, 3, 4, 5, 6})
        lines += [f"  {line}" for line in safe_lines(safety)]
    if analysis.overheads:
        rates = ", ".join(f"{pool} {rate:,.0f}/s" for (pool, _), (rate, _) in analysis.overheads.items())
        lines += ["", f"No-op rate, Celery's own per-task cost (a second ceiling): {rates}"]
    hosts = host_lines(summary)
    if scales(hosts):
        lines += ["", f"Throughput against hosts (figure {HOSTS_FIGURE}.png):"]
        lines += [f"  {scaling_words(line)}" for line in hosts]
    mix = mix_terminal(summary)
    if mix:
        lines += ["", *mix]
    lines += ["", "Warnings:"]
    lines += [f"  - {w}" for w in analysis.warnings] or ["  none: every point complete, stable and under its ceiling"]
    return "\n".join(lines)


def _pct(value):
    return "-" if value is None else f"{value:+.0%}"


def _num(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def shapes_table_rows(summary: SweepSummary) -> list[list[str]]:
    """Rows of throughput (median tasks/s) per workload and shape across the
    total concurrency (-c x workers), so shapes of one size sit in one
    column: 1 x prefork 8 beside 2 x prefork 4. The first row is the header;
    no rows when no point runs several workers."""
    if not has_shapes(summary):
        return []
    rows: dict[tuple[str, str], dict[int, float | None]] = {}  # (workload, shape) -> total -c -> tasks/s
    for point in summary.points:
        others = [f"{name}={text}" for name, text in point.settings]
        shape = f"{point.workers} x {point.pool}" + (f" [{', '.join(others)}]" if others else "")
        rows.setdefault((group_label(point), shape), {})[point.total_concurrency] = point.median_per_s
    columns = sorted({t for cells in rows.values() for t in cells})
    table = [["workload", "workers x pool", *[f"total c={t}" for t in columns]]]
    for (workload, shape), cells in rows.items():
        table.append([workload, shape, *(_rate(cells[t]) if t in cells else "" for t in columns)])
    return table


def shapes_table(summary: SweepSummary) -> str:
    """The medians by total concurrency as aligned text, headed; "" when no
    point runs several workers."""
    table = shapes_table_rows(summary)
    if not table:
        return ""
    return "by total concurrency (-c x workers):\n" + "\n".join(aligned(table, right=set(range(2, len(table[0])))))

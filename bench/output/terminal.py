"""Human-readable summaries. Reporters return text; only the CLI prints."""

from bench.analysis.groups import group_label
from bench.results.schema import LATENCY_KINDS, Resources


def _ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _mib(n):
    return "-" if n is None else f"{n / 2**20:.1f} MiB"


def aligned(table, right):
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


def run_summary(result):
    """The terminal summary of one run's result (a RunResult)."""
    cfg, s, meta = result.config, result.summary, result.metadata
    tasks = s.tasks
    size = f" {cfg.task_ms:.4g} ms" if cfg.task_ms is not None else ""
    res = s.resources
    user = cfg.user_task
    what = f"{cfg.workload}{size}" if not user else f"{user['task']} (app {user['app']}, {user['calls']} call(s))"
    lines = [
        f"{cfg.pool} -c {cfg.concurrency}  {what}  "
        f"{tasks.published} tasks (+{cfg.warmup} warm-up)  "
        f"broker: {cfg.broker.server} ({'embedded' if cfg.broker.embedded else cfg.broker.url})",
        f"machine: {meta.usable_cores:g} usable cores, {meta.cpu_model}",
        "",
    ]
    if user:
        lines.insert(1, f"broker used: {cfg.broker_source}, {cfg.broker.url}")
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
    if s.above_estimated_ceiling:
        lines.append("  (above the ceiling estimated from the profile: the task ran faster here than when profiled)")
    if s.above_ceiling:
        lines.append("  !!! ABOVE THE PHYSICAL CEILING: this number cannot be true; the harness has a bug !!!")
    lines += [
        f"  concurrency     max {s.max_concurrency} running at once, mean {s.mean_concurrency:.1f} "
        f"(-c {cfg.concurrency}, {s.processes_used} process(es))",
        "  latency (ms)        p50      p90      p99      max",
    ]
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
            f"(peak, {res.worker_processes} processes)"
        )
    load = s.load_average_before
    lines.append(f"  load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    lines.append(
        f"  tasks: {tasks.published} published = {tasks.succeeded} succeeded + "
        f"{tasks.failed} failed + {tasks.missing} missing"
        + (f" ({tasks.duplicates} reported twice)" if tasks.duplicates else "")
    )
    return "\n".join(lines)


def _rate(value):
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def sweep_table_rows(summary):
    """Rows of throughput (median tasks/s) per pool x workload across -c, the
    best -c marked `*`, unstable points `~`; the first row is the header."""
    rows = {}
    for point in summary.points:
        rows.setdefault((group_label(point), point.pool), {})[point.concurrency] = point
    columns = sorted({c for cells in rows.values() for c in cells})
    header = ["workload", "pool", *[f"c={c}" for c in columns]]
    table = [header]
    for (workload, pool), cells in rows.items():
        medians = {c: p.median_per_s for c, p in cells.items()}
        best = max((c for c in medians if medians[c] is not None), key=lambda c: medians[c], default=None)
        line = [workload, pool]
        for c in columns:
            point = cells.get(c)
            if point is None:
                line.append("")
                continue
            text = _rate(medians[c])
            if point.failed_repeats and medians[c] is None:
                text = "failed"
            if point.throughput and point.throughput.unstable:
                text += "~"
            if c == best:
                text += "*"
            line.append(text)
        table.append(line)
    return table


def sweep_table(summary):
    """The sweep's throughput table as aligned text."""
    table = sweep_table_rows(summary)
    out = aligned(table, right=set(range(2, len(table[0]))))
    out.append("median tasks/s over repeats; * best -c of the row; ~ unstable (CV > 10%)")
    return "\n".join(out)

"""A sweep's summary in the terminal: the throughput table, the verdict,
and what a sweep and `report` end with. Reporters return text; only the
CLI prints (a run's summary is in terminal.py)."""

from __future__ import annotations

from collections.abc import Sequence

from bench.analysis.deploy import SafetyRow, deploy_safety, safe_settings
from bench.analysis.groups import curve_name, group_key, group_label, has_shapes, measured_points
from bench.analysis.hosts import HOSTS_FIGURE, host_lines, scales, scaling_words
from bench.analysis.limits import UnderLimit, under_limits
from bench.analysis.recycling import RecyclingRow, recycling_rows
from bench.analysis.summary import Analysis
from bench.analysis.verdict import FLAT_RULE
from bench.harness.sizes import size_words
from bench.output.mix import mix_terminal
from bench.output.terminal import aligned
from bench.results.sweep_records import PointSummary, SweepSummary


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


RECYCLING_TITLE = "Recycling: what each setting held down, against what it cost (medians over the repeats)"
RECYCLING_KEY = (
    "peak USS: the worker tree's, at its peak; KiB/task: its growth per task (Theil-Sen); recycles: pool processes "
    "replaced in the window; tasks/s and the sojourn p99 against the same point with recycling off (0)"
)


def _kib(value):
    """KiB per task, signed: +1,030, +51.3, -0.47."""
    if value is None:
        return "-"
    return f"{value:+,.0f}" if abs(value) >= 100 else f"{value:+.3g}"


def _change(value):
    """A relative change, signed, in whole percent; +0% for one that rounds to nothing."""
    return "-" if value is None else f"{value:+.0%}" if round(value, 2) else "+0%"


def recycling_table_rows(rows: Sequence[RecyclingRow]) -> list[list[str]]:
    """The recycling table (header first): per point of the recycling axes,
    its memory and recycles, its throughput and p99 against recycling off."""
    table = [["point", "recycling", "peak USS", "KiB/task", "recycles", "tasks/s", "vs off", "p99", "vs off"]]
    for row in rows:
        p = row.point
        uss = "-" if p.worker_uss_peak_bytes is None else f"{p.worker_uss_peak_bytes / 2**20:.0f} MiB"
        slope = _kib(p.tree_kib_per_task)
        recycles = "-" if p.recycles is None else f"{p.recycles:g}"
        p99 = "-" if p.sojourn_p99_s is None else f"{p.sojourn_p99_s * 1000:.0f} ms"
        off = "(off)" if row.off else None
        table.append([
            row.label, row.setting, uss, slope, recycles, _num(p.median_per_s),
            off or _change(row.throughput_change), p99, off or _change(row.p99_change),
        ])  # fmt: skip
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
    recycling = recycling_rows(summary)
    if recycling:
        lines += ["", f"{RECYCLING_TITLE}:"]
        lines += aligned(recycling_table_rows(recycling), right={2, 3, 4, 5, 6, 7, 8})
        lines += [f"  {RECYCLING_KEY}"]
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

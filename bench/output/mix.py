"""Words and tables for a sweep of a traffic mix (issue 24): per setting,
the short class's p99 with its CI, the long class's throughput and the time
the short tasks sat reserved while a slot was free; and one line of
recommendation whose every number comes from the measurements
(bench/analysis/mix.py decides; this module only says it)."""

from collections.abc import Mapping, Sequence
from typing import Any

from bench.analysis.mix import Recommendation, SettingRow, SettingTable, open_loop_tables, setting_tables
from bench.analysis.verdict import MIN_EFFECT
from bench.results.sweep_records import ClassEstimate, SweepSummary

FIGURE = "mix-p99"  # the per-class p99 figure's name (PNG and SVG)
OPEN_LOOP_FIGURE = "mix-p99-open-loop"  # ... of the open-loop rates
AS_CELERY = " (Celery's default)"


def duration(seconds: float | None) -> str:
    """2.1 s, 60 ms, 850 us: three significant figures at most, in the unit that reads."""
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 0.001:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def _with_ci(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "-"
    if low is None or high is None:
        return f"{duration(value)} (1 repeat)"
    return f"{duration(value)} ({duration(low)} to {duration(high)})"


def _p99(k: ClassEstimate | None) -> str:
    return "-" if k is None else _with_ci(k.sojourn_p99_s, k.sojourn_p99_ci95_low_s, k.sojourn_p99_ci95_high_s)


def _rate(k: ClassEstimate | None) -> str:
    return "-" if k is None or k.throughput_per_s is None else f"{k.throughput_per_s:.3g}"


def _held(k: ClassEstimate | None) -> str:
    if k is None or k.reserved_while_free_s is None:
        return "-"
    waited = k.waited_while_free or 0
    return f"{k.reserved_while_free_s:.3g} s ({waited:g} tasks)" if waited else "none"


def _label(row: SettingRow) -> str:
    return row.setting or "as given"


def table_rows(table: SettingTable) -> list[list[str]]:
    """A header and a row per setting: the short class's p99 (every class's
    with three classes or more), the long class's throughput, and the time
    the short class's tasks sat reserved while a slot was free."""
    every = len(table.names) > 2
    p99_names = table.names if every else (table.short,)
    alone = [name for name in p99_names if any(name in row.alone for row in table.rows)]
    header = ["setting", *(f"{name} p99 (95% CI)" for name in p99_names)]
    header += [f"{name} alone p99" for name in alone]
    header += [f"{table.long} tasks/s", f"{table.short} reserved while a slot was free"]
    rows = [header]
    for row in table.rows:
        cells = [_label(row), *(_p99(row.of(name)) for name in p99_names)]
        cells += [_p99(row.alone.get(name)) for name in alone]
        rows.append([*cells, _rate(row.of(table.long)), _held(row.of(table.short))])
    return rows


def _change(change: float) -> str:
    return f"{abs(change):.0%}" if abs(change) >= 0.01 else f"{abs(change):.1%}"


def recommendation_line(rec: Recommendation) -> str:
    """The one line of recommendation, e.g. "prefetch_multiplier=1 cuts the
    short tasks' p99 from 2.1 s (prefetch_multiplier=4: Celery's default) to
    60 ms and costs 3% of long-task throughput", naming the settings the
    best cannot be told from; "no significant difference" where the
    measurements do not tell the best from the reference."""
    best, reference = rec.best or "as given", rec.reference or "as given"
    if not rec.significant:
        why = (
            "one repeat each gives no confidence interval"
            if rec.one_repeat
            else f"their 95% CIs overlap or differ by less than {MIN_EFFECT:.0%}"
        )
        return (
            f"No significant difference in the {rec.short} tasks' p99 between the settings: "
            f"{duration(rec.best_p99_s)} with {best} against {duration(rec.reference_p99_s)} with {reference}"
            f"{AS_CELERY if rec.reference_is_default else ''} ({why})."
        )
    default = ": Celery's default" if rec.reference_is_default else ""
    ratio = rec.reference_p99_s / rec.best_p99_s if rec.best_p99_s else None
    times = "" if ratio is None else f" ({ratio:.3g}x lower)" if ratio < 10 else f" ({ratio:.0f}x lower)"
    line = (
        f"{best} cuts the {rec.short} tasks' p99 from {duration(rec.reference_p99_s)} ({reference}{default}) "
        f"to {duration(rec.best_p99_s)}{times}"
    )
    if rec.long_change is None:
        line += f"; the {rec.long} tasks' throughput was not measured in both"
    elif not rec.long_significant:
        line += f", with no significant change in {rec.long}-task throughput ({rec.long_change:+.1%})"
    elif rec.long_change < 0:
        line += f" and costs {_change(rec.long_change)} of {rec.long}-task throughput"
    else:
        line += f" and raises {rec.long}-task throughput by {_change(rec.long_change)}"
    if rec.ties:
        same = "; ".join(f"{setting or 'as given'} ({duration(p99)})" for setting, p99 in rec.ties)
        line += f"; not told apart from it: {same}"
    return line + "."


def _md_table(rows: Sequence[Sequence[str]]) -> list[str]:
    header, *body = rows
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(row) + " |" for row in body]


def mix_words(traffic: Mapping[str, Any] | None) -> str:
    """The mix in a few words: "99% short (sleep 10 ms), 1% long (sleep 2000 ms)"."""
    if not traffic:
        return "a traffic mix"
    parts = []
    for c in traffic["classes"]:
        size = f" {c['mean_ms']:.4g} ms" if c.get("mean_ms") is not None else ""
        shape = "" if c.get("distribution", "fixed") == "fixed" else f" {c['distribution']}, mean"
        parts.append(f"{100 * c['share']:.3g}% {c['name']} ({c['workload']}{shape}{size})")
    return ", ".join(parts)


def mix_section(summary: SweepSummary) -> list[str]:
    """report.md's section on a mix sweep; [] for a sweep of workloads."""
    tables = setting_tables(summary)
    if not tables:
        return []
    traffic = summary.config.traffic
    source = f" from `{traffic['source']}`, seed {traffic['seed']}" if traffic else ""
    lines = [
        "## Traffic mix: who waits, per setting",
        "",
        f"Every point ran the mix {mix_words(traffic)}{source}. Per setting, over its repeats: the median of "
        "each repeat's sojourn p99 (from each task's publish) with its bootstrap 95% CI, the median throughput of "
        "the long class, and the median time the short class's tasks sat reserved in a worker while a slot of "
        "the run was free (prefetch held them behind a busy process). The short class is the one with the "
        "smallest mean size, the long the largest. A difference counts when the 95% CIs do not overlap and it "
        f"is {MIN_EFFECT:.0%} or more.",
        "",
    ]
    for table in tables:
        lines += [f"### {table.shape}", "", *_md_table(table_rows(table)), ""]
        if table.recommendation is not None:
            lines += [f"**Recommendation:** {recommendation_line(table.recommendation)}", ""]
    lines += [f"![per-class p99 per setting]({FIGURE}.png)", ""]
    return lines


def open_loop_section(document: Mapping[str, Any]) -> str:
    """report.md's section on a mix sweep's open-loop rates (open_loop.json);
    "" when its cells hold no classes."""
    tables = open_loop_tables(document)
    if not tables:
        return ""
    lines = [
        "",
        "## Traffic mix in open loop: who waits, per setting and rate",
        "",
        "As for the drained points, from each open-loop run's classes: latency from each task's scheduled send "
        "time, throughput in the measured window; runs whose producer fell behind are left out.",
        "",
    ]
    for rate, table in tables:
        lines += [f"### {table.shape}, at {rate:g} tasks/s", "", *_md_table(table_rows(table)), ""]
        if table.recommendation is not None:
            lines += [f"**Recommendation at {rate:g} tasks/s:** {recommendation_line(table.recommendation)}", ""]
    lines += [f"![per-class p99 per setting, open loop]({OPEN_LOOP_FIGURE}.png)", ""]
    return "\n".join(lines)


def open_loop_terminal(document: Mapping[str, Any]) -> list[str]:
    """The terminal's lines for a mix sweep's rates: each recommendation."""
    return [
        f"Traffic mix in open loop, {table.shape} at {rate:g}/s: {recommendation_line(table.recommendation)}"
        for rate, table in open_loop_tables(document)
        if table.recommendation is not None
    ]


def mix_terminal(summary: SweepSummary) -> list[str]:
    """The terminal's lines for a mix sweep: each shape's recommendation."""
    return [
        f"Traffic mix, {table.shape}: {recommendation_line(table.recommendation)}"
        for table in setting_tables(summary)
        if table.recommendation is not None
    ]

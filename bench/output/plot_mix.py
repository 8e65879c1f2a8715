"""The figures of a sweep of a traffic mix: per shape (pool, -c), a group of
bars per setting, one bar per class, its height the median of the repeats'
sojourn p99 and its whisker the bootstrap 95% CI; the median written on
each bar. A logarithmic axis when the p99s span more than 30x (a short
class beside a long one always does), so the short class's bars stay
readable. Colours are plot_style's colour-blind-safe palette, one per class.
The drained points' figure is mix-p99; the open-loop rates' (a panel per
rate) mix-p99-open-loop."""

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from bench.analysis.mix import SettingTable, open_loop_tables, setting_tables
from bench.output.mix import FIGURE, OPEN_LOOP_FIGURE, duration, mix_words
from bench.output.plot_style import PALETTE, subplots
from bench.results.sweep_records import SweepSummary

LOG_SPAN = 30  # a log axis past this ratio of the largest p99 to the smallest


def mix_figure(summary: SweepSummary) -> dict[str, Figure]:
    """{FIGURE: the figure} for a mix sweep; {} for a sweep of workloads."""
    tables = setting_tables(summary)
    if not tables:
        return {}
    words = "drained batches: latency from each task's publish"
    return {FIGURE: _figure([(t.shape, t) for t in tables], summary.config.traffic, words, "from publish")}


def open_loop_mix_figure(document: Mapping[str, Any], traffic: Mapping[str, Any] | None) -> dict[str, Figure]:
    """{OPEN_LOOP_FIGURE: the figure} of a mix sweep's open-loop rates
    (open_loop.json; `traffic`: the sweep's config.traffic), a panel per
    rate and shape; {} without a mix."""
    tables = open_loop_tables(document)
    if not tables:
        return {}
    panels = [(f"{table.shape}, open loop at {rate:g} tasks/s", table) for rate, table in tables]
    words = "open loop: latency from each task's scheduled send"
    return {OPEN_LOOP_FIGURE: _figure(panels, traffic, words, "from schedule")}


def _figure(
    panels: Sequence[tuple[str, SettingTable]], traffic: Mapping[str, Any] | None, words: str, origin: str
) -> Figure:
    widest = max(len(t.rows) * len(t.names) for _, t in panels)
    fig, axes = subplots(max(6.5, 1.1 + 0.75 * widest), 0.7 + 3.8 * len(panels), rows=len(panels), layout="constrained")
    for ax, (title, table) in zip(axes[:, 0], panels, strict=True):
        _bars(ax, table, title, origin)
    fig.suptitle(
        f"per-class sojourn p99 per setting: {mix_words(traffic)}\n"
        f"{words}; median of the repeats, whiskers the bootstrap 95% CI",
        fontsize=10,
    )
    return fig


def _bars(ax: Axes, table: SettingTable, title: str, origin: str) -> None:
    n = len(table.names)
    width = 0.8 / n
    values: list[float] = []
    for j, name in enumerate(table.names):
        xs, heights, lows, highs = [], [], [], []
        for i, row in enumerate(table.rows):
            k = row.of(name)
            if k is None or k.sojourn_p99_s is None:
                continue
            ms = k.sojourn_p99_s * 1000
            low = (k.sojourn_p99_ci95_low_s or k.sojourn_p99_s) * 1000
            high = (k.sojourn_p99_ci95_high_s or k.sojourn_p99_s) * 1000
            xs.append(i - 0.4 + width * (j + 0.5))
            heights.append(ms)
            lows.append(max(0.0, ms - low))
            highs.append(max(0.0, high - ms))
            values += [ms, high]
        colour = PALETTE[j % len(PALETTE)]
        ax.bar(xs, heights, width * 0.92, color=colour, label=name, zorder=2)
        ax.errorbar(xs, heights, yerr=[lows, highs], fmt="none", ecolor="0.15", elinewidth=1, capsize=3, zorder=3)
        for x, h, up in zip(xs, heights, highs, strict=True):
            ax.annotate(
                duration(h / 1000), (x, h + up), xytext=(0, 2), textcoords="offset points",
                ha="center", va="bottom", fontsize=7, color="0.2",
            )  # fmt: skip
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > LOG_SPAN:
        ax.set_yscale("log")
        ax.set_ylim(min(positive) / 2, max(positive) * 3)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_ylim(0, (max(positive) if positive else 1.0) * 1.18)
    # one setting a line, so several axes' labels never run into each other
    labels = ["\n".join((row.setting or "as given").split(", ")) for row in table.rows]
    ax.set_xticks(range(len(table.rows)), labels, fontsize=8.5)
    ax.set_xlim(-0.6, len(table.rows) - 0.4)
    ax.set_xlabel("setting")
    ax.set_ylabel(f"sojourn p99 (ms), {origin}")
    ax.set_title(title, fontsize=9.5)
    ax.grid(True, axis="y", alpha=0.3, zorder=0)
    ax.legend(title="class", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if not math.isfinite(ax.get_ylim()[1]):  # nothing measured: keep an empty panel readable
        ax.set_ylim(0, 1)

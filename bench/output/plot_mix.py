"""The figure of a sweep of a traffic mix: per shape (pool, -c), a group of
bars per setting, one bar per class, its height the median of the repeats'
sojourn p99 and its whisker the bootstrap 95% CI; the median written on
each bar. A logarithmic axis when the p99s span more than 30x (a short
class beside a long one always does), so the short class's bars stay
readable. Colours are plot_style's colour-blind-safe palette, one per class."""

import math

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from bench.analysis.mix import SettingTable, setting_tables
from bench.output.mix import FIGURE, duration, mix_words
from bench.output.plot_style import PALETTE, subplots
from bench.results.sweep_records import SweepSummary

LOG_SPAN = 30  # a log axis past this ratio of the largest p99 to the smallest


def mix_figure(summary: SweepSummary) -> dict[str, Figure]:
    """{FIGURE: the figure} for a mix sweep; {} for a sweep of workloads."""
    tables = setting_tables(summary)
    if not tables:
        return {}
    widest = max(len(t.rows) * len(t.names) for t in tables)
    fig, axes = subplots(max(6.5, 1.1 + 0.55 * widest), 0.6 + 3.6 * len(tables), rows=len(tables), layout="constrained")
    for ax, table in zip(axes[:, 0], tables, strict=True):
        _bars(ax, table)
    fig.suptitle(
        f"per-class sojourn p99 per setting: {mix_words(summary.config.traffic)}\n"
        "median of the repeats, whiskers the bootstrap 95% CI",
        fontsize=10,
    )
    return {FIGURE: fig}


def _bars(ax: Axes, table: SettingTable) -> None:
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
    ax.set_xticks(range(len(table.rows)), [row.setting or "as given" for row in table.rows], fontsize=8.5)
    ax.set_xlim(-0.6, len(table.rows) - 0.4)
    ax.set_xlabel("setting")
    ax.set_ylabel("sojourn p99 (ms), from publish")
    ax.set_title(table.shape, fontsize=9.5)
    ax.grid(True, axis="y", alpha=0.3, zorder=0)
    ax.legend(title="class", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if not math.isfinite(ax.get_ylim()[1]):  # nothing measured: keep an empty panel readable
        ax.set_ylim(0, 1)

"""The figure of one series over the stored results, for `history --html`:
each result's median with its 95% CI as a band, the level between changes
as a dashed step, each change as a vertical line with how much and how
sure, and where the environment changed. Results sit at their place in
the history (date order), so every series' figure has the same x-axis."""

import io
import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from bench.analysis.history import History, Level, Series, short_commit
from bench.output.history import p_words, percent
from bench.output.plot_style import NOTE_BOX, single
from bench.results.history import THROUGHPUT, StoredResult

MEASURED = "#0072B2"  # Okabe-Ito blue, as prefork in the sweep's figures
WORSE = "#D55E00"  # vermillion: a change for the worse
BETTER = "#009E73"  # bluish green: a change for the better
DPI = 144  # the page shows it at half its pixels: sharp on a high-density screen
MIN_SPAN = 0.2  # the y-axis spans at least this fraction of the series' level
MAX_TICKS = 14  # x labels shown at most; the others are thinned out
PNG_METADATA = {"Software": "celery-bench (matplotlib)"}  # fixed: the same history gives the same bytes


def _segments(series: Series) -> list[list[Level]]:
    """The series' levels split at its changes."""
    out: list[list[Level]] = [[]]
    cuts = {c.at for c in series.changes}
    for level in series.levels:
        if level.result in cuts and out[-1]:
            out.append([])
        out[-1].append(level)
    return out


def _tick_label(result: StoredResult) -> str:
    day = result.measured.strftime("%m-%d") if result.measured else "?"
    return f"{short_commit(result.commit)[:7]}\n{day}"


def _ticks(results: Sequence[StoredResult]) -> list[int]:
    step = max(1, math.ceil(len(results) / MAX_TICKS))
    ticks = list(range(0, len(results), step))
    if ticks[-1] != len(results) - 1:
        ticks.append(len(results) - 1)  # the newest is always named
    return ticks


def series_figure(history: History, series: Series, label: str) -> Figure:
    """The figure of `series`, titled `label`."""
    fig, ax = single(6.6, 2.7)
    levels = series.levels
    xs = [lv.result for lv in levels]
    medians = [lv.median for lv in levels]
    lows = [lv.ci95[0] if lv.ci95 else lv.median for lv in levels]
    highs = [lv.ci95[1] if lv.ci95 else lv.median for lv in levels]
    ax.fill_between(xs, lows, highs, color=MEASURED, alpha=0.18, linewidth=0, label="95% CI of the median")
    ax.plot(xs, medians, color=MEASURED, marker="o", markersize=4, linewidth=1.4, label="median", zorder=3)
    for segment in _segments(series):
        if segment:
            level = math.exp(sum(math.log(lv.median) for lv in segment) / len(segment))
            ax.hlines(
                level,
                segment[0].result - 0.3,
                segment[-1].result + 0.3,
                colors="0.3",
                linestyles=(0, (4, 2)),
                linewidth=1,
                zorder=2,
            )
    for env in history.environment_changes:
        ax.axvline(env.at - 0.5, color="0.55", linestyle=(0, (1, 2)), linewidth=1, zorder=1)
        ax.annotate(
            "env",
            (env.at - 0.5, 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, 3),
            textcoords="offset points",
            fontsize=7,
            color="0.4",
        )
    for change in series.changes:
        before = max(lv.result for lv in levels if lv.result < change.at)
        x = (before + change.at) / 2
        colour = WORSE if change.worse else BETTER
        ax.axvline(x, color=colour, linewidth=1.8, alpha=0.9, zorder=2)
        p = p_words(change.p_value)
        text = f"{percent(change.change)}\np{p if p.startswith('<') else f'={p}'}"
        right_side = x > 0.7 * (len(history.results) - 1)  # near the right edge: the note goes left of the line
        ax.annotate(
            text,
            (x, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(-4 if right_side else 4, -4),
            textcoords="offset points",
            ha="right" if right_side else "left",
            va="top",
            fontsize=8,
            color=colour,
            fontweight="bold",
            bbox=NOTE_BOX,
            zorder=4,
        )
    if series.failed_at:
        bottom = min(lows) if lows else 0.0
        ax.plot(
            series.failed_at,
            [bottom] * len(series.failed_at),
            "x",
            color=WORSE,
            markersize=7,
            label="every repeat failed",
            zorder=3,
        )
    _y_range(ax, medians)
    _axes(ax, history.results, series.key.unit if series.key.metric == THROUGHPUT else "s per round")
    ax.set_title(label, fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="lower left", frameon=False, ncols=3)
    return fig


def _y_range(ax: Axes, medians: Sequence[float]) -> None:
    """At least MIN_SPAN of the typical level from bottom to top: a flat
    series' noise is drawn as the few percent it is, not across the panel."""
    low, high = ax.get_ylim()
    middle = math.exp(sum(math.log(m) for m in medians) / len(medians)) if medians else (low + high) / 2
    if high - low < MIN_SPAN * middle:
        centre = (low + high) / 2
        low, high = centre - MIN_SPAN * middle / 2, centre + MIN_SPAN * middle / 2
    ax.set_ylim(low, high)


def _axes(ax: Axes, results: Sequence[StoredResult], unit: str) -> None:
    ticks = _ticks(results)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda v, _: _tick_label(results[int(v)]) if 0 <= v < len(results) else "")
    )
    ax.tick_params(axis="x", labelsize=7)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlim(-0.5, len(results) - 0.5)
    low, high = ax.get_ylim()
    ax.set_ylim(low - (high - low) * 0.25, high + (high - low) * 0.3)  # room for the legend and the notes
    ax.set_ylabel(unit, fontsize=8)
    ax.grid(axis="y", color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, bbox_inches="tight", metadata=PNG_METADATA)
    return out.getvalue()

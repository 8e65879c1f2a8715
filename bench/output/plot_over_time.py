"""A sweep over time: one figure per workload, from the series of each
point's median repeat (bench/analysis/over_time.py chooses it and groups
the points). Each panel (a pool's curve, or a recycling group) has four
axes sharing the time axis: completions a second, the tasks running and
the tasks queued at each second's end, and the worker tree's USS with the
seconds a pool process was born or gone marked on it; a line per point.

Sojourn is not drawn: a sweep's repeat is a batch queued before the
worker starts, so a task's sojourn is the time since the batch was sent,
the queue the third axes show (open-loop runs, whose sojourn is latency,
have a figure of their own: `python -m bench plot RUN.json`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import offset_copy

from bench.analysis.over_time import Group, OverTime, Panel, Representative, lifetimes, tree_uss
from bench.output.over_time import figure_name
from bench.output.plot_series import MINUTES_PAST_S, plain_log_labels
from bench.output.plot_style import PALETTE

MIB = 2**20
PANEL_WIDTH, PANEL_HEIGHT = 11.0, 4.6  # inches of one panel: its four axes, its title and legend
MARKERS_UNDER = 30  # rows: a shorter line shows its seconds as dots
BORN, GONE = "^", "v"
LOG_PAST = 8  # memory is drawn on a log scale when its highest value is this many times its lowest
HEADROOM = 1.15  # a linear axis's top over its highest value: a flat line and its marks clear of the edge
MARK_OFFSET_PT = 5  # a birth's mark this far above the line, a death's below: both show at one second


def over_time_figures(over_time: OverTime) -> dict[str, Figure]:
    """{file stem: Figure}, one per workload with a series (none for a
    sweep recorded before format version 26)."""
    return {figure_name(group): group_figure(group, over_time.chosen) for group in over_time.drawn()}


def _drawn(panel: Panel, chosen: Mapping[str, Representative]) -> list[tuple[str, Representative]]:
    return [(line.label, chosen[line.point.key]) for line in panel.lines if line.point.key in chosen]


def group_figure(group: Group, chosen: Mapping[str, Representative]) -> Figure:
    """One workload's panels, one below the other, each with its legend at its right."""
    panels = [(panel, _drawn(panel, chosen)) for panel in group.panels]
    panels = [(panel, lines) for panel, lines in panels if lines]
    last = max((rep.rows[-1]["t_s"] for _, lines in panels for _, rep in lines if rep.rows), default=1)
    scale, unit = (60.0, "min") if last >= MINUTES_PAST_S else (1.0, "s")
    fig = Figure(figsize=(PANEL_WIDTH, PANEL_HEIGHT * len(panels) + 0.4), layout="constrained")
    fig.suptitle(f"{group.label} over time: each point's median repeat (by throughput), second by second")
    subfigures = fig.subfigures(len(panels), 1, squeeze=False)[:, 0]
    every: list[Axes] = []
    for sub, (panel, lines) in zip(subfigures, panels, strict=True):
        every += _panel(sub, panel.title, lines, scale, unit)
    first = every[0]
    for ax in every[1:]:
        ax.sharex(first)
    span = max(last, 1) / scale
    first.set_xlim(-0.03 * span, 1.03 * span)  # room for the marks at the first and last second
    if unit == "s":
        first.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def _panel(
    sub: SubFigure, title: str, lines: Sequence[tuple[str, Representative]], scale: float, unit: str
) -> list[Axes]:
    axes = sub.subplots(2, 2)
    rate, running, queued, memory = axes.flat
    sub.suptitle(title, fontsize=11, fontweight="bold")
    marked = False
    dots = max(len(rep.rows) for _, rep in lines) < MARKERS_UNDER
    mib: list[float] = []
    for i, (_, rep) in enumerate(lines):
        rows = rep.rows
        style: dict[str, Any] = {"color": PALETTE[i % len(PALETTE)], "linewidth": 1.3}
        if dots:
            style |= {"marker": "o", "markersize": 3}
        t = [row["t_s"] / scale for row in rows]
        rate.plot(t, [row["completions"] for row in rows], **style)
        _plot_key(running, t, rows, "running", style)
        _plot_key(queued, t, rows, "waiting", style)
        uss = tree_uss(rows)
        if uss:
            mib += [b / MIB for _, b in uss]
            memory.plot([s / scale for s, _ in uss], mib[-len(uss) :], **style)
        marked |= _marks(memory, rows, uss, scale, style["color"])
    log = bool(mib) and max(mib) > LOG_PAST * min(mib)  # a leak without recycling flattens the recycled lines
    for ax, ylabel, what in (
        (rate, "tasks / s", "completions a second"),
        (running, "tasks", "running at the second's end"),
        (queued, "tasks", "queued: sent, not started"),
        (memory, "MiB (USS)", "worker tree's memory: every process summed"),
    ):
        ax.set_title(what, fontsize=9, loc="left")
        ax.set_ylabel(ylabel)
        if not (log and ax is memory):
            top = max((float(y) for line in ax.get_lines() for y in line.get_ydata()), default=0.0)
            ax.set_ylim(0, HEADROOM * (top or 1.0))
        ax.grid(alpha=0.3)
    if log:
        memory.set_yscale("log")
        memory.yaxis.set_major_formatter(plain_log_labels())
        memory.yaxis.set_minor_formatter(plain_log_labels(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
        memory.set_ylabel("MiB (USS), log scale")
        memory.margins(y=0.12)
        memory.grid(alpha=0.3, which="both")
    for ax in (queued, memory):
        ax.set_xlabel(f"{unit} since the first task was sent")
    handles: list[Any] = [Line2D([], [], color=PALETTE[i % len(PALETTE)], linewidth=1.6) for i in range(len(lines))]
    labels = [label for label, _ in lines]
    if marked:
        handles += [
            Line2D([], [], color="0.3", marker=BORN, linestyle="none"),
            Line2D([], [], color="0.3", marker=GONE, linestyle="none"),
        ]
        labels += ["pool process born", "pool process gone"]
    sub.legend(handles, labels, loc="outside right upper", fontsize=8, frameon=False)
    return list(axes.flat)


def _plot_key(ax: Axes, t: Sequence[float], rows: Sequence[Mapping[str, Any]], key: str, style: Any) -> None:
    points = [(x, row[key]) for x, row in zip(t, rows, strict=True) if row.get(key) is not None]
    if points:
        ax.plot(*zip(*points, strict=True), **style)


def _marks(
    ax: Axes, rows: Sequence[Mapping[str, Any]], uss: Sequence[tuple[int, float]], scale: float, color: str
) -> bool:
    """Pool processes born (above the tree's line) and gone (below it) at
    the second each was first and last seen, with how many where more than
    one; True when there was any."""
    at = dict(uss)
    life = lifetimes(rows)
    for seconds, marker, up in ((life.born, BORN, 1), (life.gone, GONE, -1)):
        shift = offset_copy(ax.transData, fig=ax.get_figure(root=True), y=up * MARK_OFFSET_PT, units="points")
        for s, n in sorted(Counter(seconds).items()):
            if s not in at:  # sampled, its USS not read
                continue
            x, y = s / scale, at[s] / MIB
            ax.plot(x, y, marker, color=color, markersize=6, markeredgecolor="white", zorder=3, transform=shift)
            if n > 1:
                ax.annotate(f"{n}", (x, y), xytext=(5, up * MARK_OFFSET_PT), textcoords="offset points",
                            fontsize=7, color=color, va="center")  # fmt: skip
    return bool(life.born or life.gone)

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

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D

from bench.analysis.over_time import Group, OverTime, Panel, Representative, lifetimes, tree_uss
from bench.output.over_time import figure_name
from bench.output.plot_series import MINUTES_PAST_S
from bench.output.plot_style import PALETTE

MIB = 2**20
PANEL_WIDTH, PANEL_HEIGHT = 11.0, 4.6  # inches of one panel: its four axes, its title and legend
MARKERS_UNDER = 30  # rows: a shorter line shows its seconds as dots
BORN, GONE = "^", "v"


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
    longest = max(len(rep.rows) for _, lines in panels for _, rep in lines)
    scale, unit = (60.0, "min") if longest > MINUTES_PAST_S else (1.0, "s")
    fig = Figure(figsize=(PANEL_WIDTH, PANEL_HEIGHT * len(panels) + 0.4), layout="constrained")
    fig.suptitle(f"{group.label} over time: each point's median repeat (by throughput), second by second")
    subfigures = fig.subfigures(len(panels), 1, squeeze=False)[:, 0]
    every: list[Axes] = []
    for sub, (panel, lines) in zip(subfigures, panels, strict=True):
        every += _panel(sub, panel.title, lines, scale, unit)
    first = every[0]
    for ax in every[1:]:
        ax.sharex(first)
    first.set_xlim(0, longest / scale)
    return fig


def _panel(
    sub: SubFigure, title: str, lines: Sequence[tuple[str, Representative]], scale: float, unit: str
) -> list[Axes]:
    axes = sub.subplots(2, 2)
    rate, running, queued, memory = axes.flat
    sub.suptitle(title, fontsize=11, fontweight="bold")
    marked = False
    for i, (_, rep) in enumerate(lines):
        rows = rep.rows
        style: dict[str, Any] = {"color": PALETTE[i % len(PALETTE)], "linewidth": 1.3}
        if len(rows) < MARKERS_UNDER:
            style |= {"marker": "o", "markersize": 3}
        t = [row["t_s"] / scale for row in rows]
        rate.plot(t, [row["completions"] for row in rows], **style)
        _plot_key(running, t, rows, "running", style)
        _plot_key(queued, t, rows, "waiting", style)
        uss = tree_uss(rows)
        if uss:
            memory.plot([s / scale for s, _ in uss], [b / MIB for _, b in uss], **style)
        marked |= _marks(memory, rows, uss, scale, style["color"])
    for ax, ylabel, what in (
        (rate, "tasks / s", "completions a second"),
        (running, "tasks", "running at the second's end"),
        (queued, "tasks", "queued: sent, not started"),
        (memory, "MiB (USS)", "worker tree's memory: every process summed"),
    ):
        ax.set_title(what, fontsize=9, loc="left")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    if memory.has_data():
        memory.margins(y=0.15)
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
    """A pool process's birth and death on the tree's line, at the second
    it was first and last seen; True when there was any."""
    at = dict(uss)
    life = lifetimes(rows)
    for seconds, marker in ((life.born, BORN), (life.gone, GONE)):
        for s in seconds:
            if s not in at:  # sampled, its USS not read
                continue
            ax.plot(s / scale, at[s] / MIB, marker, color=color, markersize=6, markeredgecolor="white", zorder=3)
    return bool(life.born or life.gone)

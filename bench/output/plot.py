"""Figures of a sweep, from its summary and analysis: throughput against
the ceilings, efficiency, service time, memory and CPU, and one overview
with the verdicts. matplotlib with the Agg backend: no display needed.

`draw` returns the Figure objects (tests check what was drawn); `figures`
writes them, deterministically: the same sweep gives the same bytes. The
throughput panel is plot_throughput.py, the hosts figure plot_hosts.py,
what every figure shares plot_style.py; which curves coincide is decided
in bench/analysis/coincide.py."""

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from bench.analysis.groups import Curve, groups, plural
from bench.analysis.hosts import HOSTS_FIGURE, host_lines, scales
from bench.analysis.summary import Analysis, binding_ceiling
from bench.output.plot_hosts import hosts_figure
from bench.output.plot_mix import mix_figure
from bench.output.plot_style import (
    cores_of,
    legend_columns,
    line_styles,
    renderer_of,
    single,
    subplots,
    title,
    x_axis,
)
from bench.output.plot_throughput import throughput_axes
from bench.results.sweep_records import PointSummary, SweepSummary

FORMATS = ("png", "svg")
DPI = 110
# Fixed metadata and SVG ids: re-rendering an unchanged sweep writes the same bytes.
METADATA = {"png": {"Software": "celery-bench (matplotlib)"}, "svg": {"Date": None, "Creator": "celery-bench"}}
matplotlib.rcParams["svg.hashsalt"] = "celery-bench"


def _simple_axes(ax, curves, cores, series, ylabel, scale=1.0, styles=None, percent=False):
    """One line per pool and series (a function of a point); `styles` gives
    each series a line style (the pools then differ by colour and marker),
    else each pool keeps its own."""
    lines = line_styles(curves)
    for pool, curve in curves.items():
        style = dict(lines[pool])
        for i, get in enumerate(series):
            values = [None if v is None else v * scale for v in curve.values(get)]
            if all(v is None for v in values):
                continue
            if styles:
                style["linestyle"] = styles[i]
            ax.plot(curve.c, values, markersize=4.5, linewidth=1.4, **style)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    if percent:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}%"))
    x_axis(ax, curves, cores)
    ax.grid(True, axis="y", alpha=0.3)


def _reference(ax, y, text):
    """A labelled horizontal reference line."""
    ax.axhline(y, color="0.3", linewidth=0.8)
    ax.annotate(text, (0.995, y), xycoords=("axes fraction", "data"), xytext=(0, 2), textcoords="offset points",
                ha="right", va="bottom", fontsize=7, color="0.3")  # fmt: skip


def _pool_legend(ax, curves, extra=()):
    # When line styles carry another meaning (p50/p99), pools keep colour and marker only.
    styles = line_styles(curves)
    handles = [
        Line2D([], [], markersize=5, **(styles[pool] | ({"linestyle": "-"} if extra else {}))) for pool in curves
    ]
    labels = list(curves)
    for label, linestyle in extra:
        handles.append(Line2D([], [], color="0.3", linestyle=linestyle))
        labels.append(label)
    ncol = legend_columns(curves, 4)
    ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol, frameon=False)


def latency_series(
    curves: Mapping[str, Curve],
) -> list[tuple[str, Callable[[PointSummary], float | None], str]]:
    """What the latency figure can honestly show. Closed-loop batches are
    queued before the worker starts, so wait and sojourn measure the queue's
    length, not latency: service time only. Open-loop runs (points with an
    `open_loop` flag, from the open-loop issue) add wait and sojourn."""
    series = [("service p50", lambda p: p.service_p50_s, "-"), ("service p99", lambda p: p.service_p99_s, "--")]
    if any(getattr(p, "open_loop", False) for curve in curves.values() for p in curve.points):
        series += [("wait p99", lambda p: p.wait_p99_s, ":"), ("sojourn p99", lambda p: p.sojourn_p99_s, "-.")]
    return series


LATENCY_NOTE = (
    "Service time: task start to end, in batches queued before the worker started.\n"
    "Wait and sojourn are shown only for open-loop runs: here they would measure the queue."
)


def draw(
    summary: SweepSummary, analysis: Analysis | None = None, prediction: Mapping[str, Any] | None = None
) -> dict[str, Figure]:
    """Every figure of a sweep as {file stem: Figure} (outside pyplot: nothing to close)."""
    machine_cores = float((summary.metadata and summary.metadata.usable_cores) or 1)
    out = {}
    all_groups = groups(summary)
    for key, curves in all_groups.items():
        cores = cores_of(curves, machine_cores)

        fig, ax = single(7.5, 4.8)
        throughput_axes(ax, curves, cores, analysis, key, prediction=prediction)
        ax.set_title(title(curves, "Throughput", cores), fontsize=10)
        out[f"throughput-{key}"] = fig

        sized = next(iter(curves.values())).points[0].task_ms is not None
        if sized:
            overheads = analysis.overheads if analysis else {}

            def efficiency(p: PointSummary, overheads: dict = overheads) -> float | None:
                bound, _ = binding_ceiling(p, overheads)
                return p.median_per_s / bound if bound and p.median_per_s is not None else None

            fig, ax = single(7.5, 4.2)
            what = "physical ceiling" + (" and no-op rate" if overheads else "")
            _simple_axes(ax, curves, cores, [efficiency], f"measured / lower of {what}", scale=100, percent=True)
            ax.set_ylim(0, 110)
            _reference(ax, 100, "100%: the binding ceiling")
            _pool_legend(ax, curves)
            ax.set_title(title(curves, "Efficiency", cores), fontsize=10)
            out[f"efficiency-{key}"] = fig

        fig, ax = single(7.5, 4.2)
        series = latency_series(curves)
        _simple_axes(ax, curves, cores, [get for _, get, _ in series], "time (ms)", 1000, [s for _, _, s in series])
        _pool_legend(ax, curves, [(name, s) for name, _, s in series])
        ax.text(0.01, 0.98, LATENCY_NOTE, transform=ax.transAxes, fontsize=7, va="top", color="0.3")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.2)
        ax.set_title(title(curves, "Service time", cores), fontsize=10)
        out[f"latency-{key}"] = fig

        fig, ax = single(7.5, 4.2)
        _simple_axes(
            ax,
            curves,
            cores,
            [lambda p: p.worker_pss_peak_bytes, lambda p: p.worker_uss_peak_bytes],
            "MiB",
            1 / 2**20,
            ("-", "--"),
        )
        _pool_legend(ax, curves, [("PSS: shared pages split", "-"), ("USS: unique", "--")])
        ax.set_title(title(curves, "Peak memory of the worker tree", cores), fontsize=10)
        out[f"memory-{key}"] = fig

        fig, ax = single(7.5, 4.2)
        _simple_axes(ax, curves, cores, [lambda p: p.worker_cpu_cores], "cores busy, CPU s / wall s")
        # On agents, the busy cores add up over the hosts: so do the usable ones.
        hosts = max(p.on_hosts or 1 for curve in curves.values() for p in curve.points)
        ax.set_ylim(0, max(ax.get_ylim()[1], hosts * cores * 1.15))
        usable = plural(hosts * cores, "usable core") + (f" on {plural(hosts, 'host')}" if hosts > 1 else "")
        _reference(ax, hosts * cores, usable)
        _pool_legend(ax, curves)
        ax.set_title(title(curves, "CPU of the worker tree", cores), fontsize=10)
        out[f"cpu-{key}"] = fig

        if any(p.workers > 1 for curve in curves.values() for p in curve.points):
            fig, ax = single(7.5, 4.6)
            shapes_axes(ax, curves)
            ax.set_title(title(curves, "Shapes of one total size", cores), fontsize=10)
            out[f"shapes-{key}"] = fig

    if all_groups:
        out["overview"] = overview(all_groups, machine_cores, analysis, prediction)
    lines = host_lines(summary)
    if scales(lines):
        out[HOSTS_FIGURE] = hosts_figure(lines)
    out.update(mix_figure(summary))  # a traffic mix's per-class p99 per setting
    return out


def save(fig: Figure, directory: Path, name: str) -> list[Path]:
    """Write one figure as PNG and SVG, the same bytes for the same figure."""
    written = []
    for fmt in FORMATS:
        path = directory / f"{name}.{fmt}"
        fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata=METADATA[fmt])
        written.append(path)
    return written


def figures(
    summary: SweepSummary,
    directory: Path,
    analysis: Analysis | None = None,
    prediction: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write every figure into `directory`; returns the paths written.
    `prediction`: a user's task's profile prediction, marked on throughput."""
    written = []
    for name, fig in draw(summary, analysis, prediction).items():
        written += save(fig, directory, name)
    return written


def shapes_axes(ax: Axes, curves: Mapping[str, Curve]) -> None:
    """Median throughput against the total concurrency (-c x workers), one
    line per shape: 1 x prefork 8 and 2 x prefork 4 share an x."""
    styles = line_styles(curves)
    ticks = set()
    for name, curve in curves.items():
        totals = [p.total_concurrency for p in curve.points]
        ticks.update(totals)
        medians = [math.nan if m is None else m for m in curve.medians()]  # unmeasured: a gap, as None drew
        ax.plot(totals, medians, label=name, markersize=5, linewidth=1.5, **styles[name])
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(sorted(ticks)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("total concurrency (-c x workers)")
    ax.set_ylabel("throughput (tasks/s)")
    ax.set_ylim(bottom=0)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)


SUPTITLE = ("Does -c beyond 2x cores help?", "Each legend gives the verdict on the tutorial's guidance, per pool")
PANEL_WIDTH, PANEL_HEIGHT = 7.2, 4.3  # inches of one overview panel: its title, axes, ticks and label
SUPTITLE_HEIGHT = 0.35  # inches a line of the suptitle takes


def overview(
    all_groups: Mapping[str, Mapping[str, Curve]],
    machine_cores: float,
    analysis: Analysis | None = None,
    prediction: Mapping[str, Any] | None = None,
) -> Figure:
    """All throughput panels in one grid, each pool's verdict in its legend.
    Each row of panels is as tall as its longest legend and notes need
    below it (they grow with the pools and the varied settings), and the
    constrained layout places everything without overlap."""
    n = len(all_groups)
    cols = min(2, n)
    rows = math.ceil(n / cols)
    fig, axes = subplots(PANEL_WIDTH * cols, PANEL_HEIGHT * rows, rows, cols, layout="constrained")
    for ax, (key, curves) in zip(axes.flat, all_groups.items(), strict=False):
        cores = cores_of(curves, machine_cores)
        throughput_axes(ax, curves, cores, analysis, key, prediction=prediction)
        ax.set_title(title(curves, "Throughput", cores), fontsize=10)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    renderer = renderer_of(fig)
    suptitle = fig.suptitle(" ".join(SUPTITLE), fontsize=12)
    # One panel is narrower than the sentence: its two halves on two lines.
    if suptitle.get_window_extent(renderer).width > 0.95 * fig.bbox.width:
        suptitle.set_text("\n".join(SUPTITLE))
    below = [max(_below(ax, renderer) for ax in row if ax.get_visible()) for row in axes]
    lines = suptitle.get_text().count("\n") + 1
    fig.set_size_inches(PANEL_WIDTH * cols, rows * PANEL_HEIGHT + sum(below) + lines * SUPTITLE_HEIGHT)
    return fig


def _below(ax: Axes, renderer: RendererAgg) -> float:
    """Inches a panel's legend and notes take below its axes."""
    legend = ax.get_legend()
    if legend is None:
        return 0.0
    heights = [legend.get_window_extent(renderer).height]
    heights += [t.get_window_extent(renderer).height for t in ax.texts if t.get_gid() == "notes"]
    return sum(heights) / ax.figure.dpi + 0.1 * len(heights)

"""Figures of a sweep, from its summary: throughput against the ceiling,
efficiency, service time, memory and CPU, and one overview with the
verdicts. matplotlib with the Agg backend: no display needed."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from bench.analysis.groups import groups
from bench.analysis.model import fit_usl
from bench.output.prediction import mark_prediction
from bench.workloads import ceiling, point_workload

# Okabe-Ito colours (safe for colour-blind readers) and a distinct marker and
# line style per pool, so the lines stay apart when printed in grey.
STYLE = {
    "prefork": {"color": "#0072B2", "marker": "o", "linestyle": "-"},
    "gevent": {"color": "#D55E00", "marker": "s", "linestyle": "--"},
    "eventlet": {"color": "#009E73", "marker": "^", "linestyle": "-."},
    "solo": {"color": "#CC79A7", "marker": "D", "linestyle": ":"},
    "threads": {"color": "#E69F00", "marker": "v", "linestyle": (0, (3, 1, 1, 1, 1, 1))},
}
FORMATS = ("png", "svg")
DPI = 110


def _title(curves, what, cores):
    first = next(iter(curves.values())).points[0]
    workload = point_workload(first)
    size = f" {first.task_ms:.4g} ms" if first.task_ms is not None else ""
    pin = f", pinned to {len(first.cpus)} CPU(s)" if first.cpus else ""
    return f"{what}: {first.workload}{size} ({workload.summary})\n{cores:g} usable cores{pin}"


def _cores_of(curves, machine_cores):
    first = next(iter(curves.values())).points[0]
    return float(first.cores or machine_cores)


def _x_axis(ax, curves, cores):
    ticks = sorted({c for curve in curves.values() for c in curve.c})
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    low, high = min(ticks) / 1.4, max(ticks) * 1.4
    ax.set_xlim(low, high)
    ax.set_xlabel("concurrency (-c)")
    # The markers' labels sit on a top axis of their own, never on the data.
    marks = [(x, label) for x, label in ((cores, "cores"), (2 * cores, "2x cores")) if low < x < high]
    for x, _ in marks:
        ax.axvline(x, color="0.45", linestyle=(0, (1, 2)), linewidth=1, zorder=0)
    top = ax.secondary_xaxis("top")
    top.set_xticks([x for x, _ in marks], [f"{label} ({x:g})" for x, label in marks], fontsize=7.5, color="0.35")
    top.xaxis.set_minor_locator(NullLocator())
    top.tick_params(length=0, pad=1)


def _ceiling_curve(curve, cores):
    first = curve.points[0]
    workload = point_workload(first)
    grid = _grid(curve.c)
    values = [ceiling(workload, curve.pool, n, first.task_ms, cores).per_s for n in grid]
    return grid, values


def _grid(cs):
    if len(cs) == 1:
        return list(cs)
    lo, hi = math.log2(min(cs)), math.log2(max(cs))
    return [2 ** (lo + (hi - lo) * i / 100) for i in range(101)]


def throughput_axes(ax, curves, cores, verdicts=None, fits=True, legend=True, prediction=None):
    """One throughput panel: median with its CI band, ceiling, USL fit; and
    with a task's `prediction` (from its profile), the predicted optima."""
    top = 0.0
    for pool, curve in curves.items():
        style = STYLE[pool]
        med = curve.medians()
        lows = [
            (p.throughput.ci95_low_per_s if p.throughput else None) or m for p, m in zip(curve.points, med, strict=True)
        ]
        highs = [
            (p.throughput.ci95_high_per_s if p.throughput else None) or m
            for p, m in zip(curve.points, med, strict=True)
        ]
        label = pool if pool != "solo" else "solo (-c 1 only)"
        if verdicts and pool in verdicts:
            label += f": {verdicts[pool].word}"
        ax.plot(curve.c, med, label=label, markersize=5, linewidth=1.6, **style)
        if len(curve.c) > 1 and all(v is not None for v in lows + highs):
            ax.fill_between(curve.c, lows, highs, color=style["color"], alpha=0.18, linewidth=0)
        top = max([top, *(v for v in highs if v is not None)])
        if curve.points[0].task_ms is not None:
            grid, ceil_values = _ceiling_curve(curve, cores)
            ax.plot(grid, ceil_values, color=style["color"], linestyle=(0, (4, 3)), linewidth=0.9, alpha=0.7)
        if fits and len(curve.c) >= 4:
            fit = fit_usl(curve.c, med)
            if fit.ok:
                grid = _grid(curve.c)
                ax.plot(grid, [fit.predict(n) for n in grid], color=style["color"], linewidth=0.8, alpha=0.55)
    if prediction is not None:
        top = max(top, mark_prediction(ax, prediction, curves, STYLE))
    ax.set_ylim(0, top * 1.25 if top else 1)
    ax.set_ylabel("throughput (tasks/s)")
    _x_axis(ax, curves, cores)
    if prediction is not None:  # the markers stay in view when they lie past the measured -c
        shown = [p["best_c"] for p in prediction["pools"] if p["pool"] in curves and p["best_c"] is not None]
        low, high = ax.get_xlim()
        ax.set_xlim(low, max([high, *(c * 1.4 for c in shown)]))
    ax.grid(True, axis="y", alpha=0.3)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        handles += [
            plt.Line2D([], [], color="0.3", linestyle=(0, (4, 3)), linewidth=0.9),
            plt.Line2D([], [], color="0.3", linewidth=0.8, alpha=0.6),
        ]
        labels += ["physical ceiling", "USL fit"]
        # Below the axes, so it never hides a curve.
        ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)


def _simple_axes(ax, curves, cores, series, ylabel, scale=1.0, styles=None, percent=False):
    """One line per pool and series (a function of a point); `styles` gives
    each series a line style (the pools then differ by colour and marker),
    else each pool keeps its own."""
    for pool, curve in curves.items():
        style = dict(STYLE[pool])
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
    _x_axis(ax, curves, cores)
    ax.grid(True, axis="y", alpha=0.3)


def _pool_legend(ax, curves, extra=()):
    # When line styles carry another meaning (p50/p99), pools keep colour and marker only.
    handles = [
        plt.Line2D([], [], markersize=5, **(STYLE[pool] | ({"linestyle": "-"} if extra else {}))) for pool in curves
    ]
    labels = list(curves)
    for label, linestyle in extra:
        handles.append(plt.Line2D([], [], color="0.3", linestyle=linestyle))
        labels.append(label)
    ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, frameon=False)


def _save(fig, directory, name):
    written = []
    for fmt in FORMATS:
        path = directory / f"{name}.{fmt}"
        fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
        written.append(path)
    plt.close(fig)
    return written


def figures(summary, directory, verdicts=None, prediction=None):
    """Write every figure into `directory`; returns the paths written.
    `verdicts`: {figure key: {pool: Verdict}}, shown in the legends;
    `prediction`: a user's task's profile prediction, marked on throughput."""
    machine_cores = float((summary.metadata and summary.metadata.usable_cores) or 1)
    written = []
    all_groups = groups(summary)
    for key, curves in all_groups.items():
        cores = _cores_of(curves, machine_cores)
        marks = (verdicts or {}).get(key)

        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        throughput_axes(ax, curves, cores, marks, prediction=prediction)
        ax.set_title(_title(curves, "Throughput", cores), fontsize=10)
        written += _save(fig, directory, f"throughput-{key}")

        sized = next(iter(curves.values())).points[0].task_ms is not None
        if sized:
            fig, ax = plt.subplots(figsize=(7.5, 4.2))
            _simple_axes(
                ax, curves, cores, [lambda p: p.efficiency], "measured / physical ceiling", scale=100, percent=True
            )
            ax.axhline(100, color="0.3", linewidth=0.8)
            ax.set_ylim(0, 110)
            _pool_legend(ax, curves)
            ax.set_title(_title(curves, "Efficiency", cores), fontsize=10)
            written += _save(fig, directory, f"efficiency-{key}")

        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        _simple_axes(
            ax,
            curves,
            cores,
            [lambda p: p.service_p50_s, lambda p: p.service_p99_s],
            "service time (ms)",
            1000,
            ("-", "--"),
        )
        _pool_legend(ax, curves, [("p50", "-"), ("p99", "--")])
        ax.set_title(_title(curves, "Service time (task start to end)", cores), fontsize=10)
        written += _save(fig, directory, f"latency-{key}")

        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        _simple_axes(
            ax,
            curves,
            cores,
            [lambda p: p.worker_pss_peak_bytes, lambda p: p.worker_uss_peak_bytes],
            "MiB",
            1 / 2**20,
            ("-", "--"),
        )
        _pool_legend(ax, curves, [("PSS (shared pages split)", "-"), ("USS (unique)", "--")])
        ax.set_title(_title(curves, "Memory of the worker tree (peak)", cores), fontsize=10)
        written += _save(fig, directory, f"memory-{key}")

        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        _simple_axes(ax, curves, cores, [lambda p: p.worker_cpu_cores], "cores busy (CPU s / wall s)")
        ax.axhline(cores, color="0.3", linewidth=0.8)
        ax.set_ylim(0, max(ax.get_ylim()[1], cores * 1.1))
        _pool_legend(ax, curves)
        ax.set_title(_title(curves, "CPU of the worker tree", cores), fontsize=10)
        written += _save(fig, directory, f"cpu-{key}")

    written += overview(all_groups, directory, machine_cores, verdicts, prediction)
    return written


def overview(all_groups, directory, machine_cores, verdicts=None, prediction=None):
    """All throughput panels in one grid, each pool's verdict in its legend."""
    n = len(all_groups)
    cols = min(2, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7.2 * cols, 4.8 * rows), squeeze=False)
    # Room under each panel for its legend; bbox_inches="tight" trims the rest.
    height = 4.8 * rows
    fig.subplots_adjust(hspace=0.75, wspace=0.2, top=1 - 1.2 / height)
    for ax, (key, curves) in zip(axes.flat, all_groups.items(), strict=False):
        cores = _cores_of(curves, machine_cores)
        throughput_axes(ax, curves, cores, (verdicts or {}).get(key), prediction=prediction)
        ax.set_title(_title(curves, "Throughput", cores), fontsize=10)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(
        "Does -c beyond 2x cores help? (legend: the verdict on the tutorial's guidance, per pool)",
        fontsize=12,
        y=1 - 0.2 / height,
    )
    return _save(fig, directory, "overview")

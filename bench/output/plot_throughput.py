"""The throughput panel of a sweep's figures: each pool's median with its
CI band against the physical ceiling, the no-op rate, the USL fit and the
worker model's prediction, with notes for what is not drawn and for curves
that coincide."""

import math
import textwrap
from collections.abc import Mapping
from typing import Any

from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from bench.analysis.coincide import COINCIDE, coinciding
from bench.analysis.groups import Curve
from bench.analysis.summary import Analysis
from bench.output.plot_style import (
    CEILING_STYLE,
    FIT_STYLE,
    MODEL_STYLE,
    NOTE_BOX,
    OVERHEAD_STYLE,
    POOL_LINEWIDTH,
    STYLE,
    LineStyle,
    curve_grid,
    line_styles,
    renderer_of,
    x_axis,
)
from bench.output.prediction import mark_prediction
from bench.workloads import ceiling, point_workload

LOG_SPAN = 10.0  # throughput spanning more than this factor gets a log y-axis
NOTE_CHARS = 100  # a note's line in a panel's corner, at 7 pt


def _ceiling_curve(curve, cores):
    """The physical ceiling over the curve's -c range: of one machine, or
    summed over the agents the points ran on (each with `cores`)."""
    first = curve.points[0]
    workload = point_workload(first)
    grid = curve_grid(curve.c)
    hosts = first.on_hosts or 1
    bounds = [
        ceiling(workload, curve.pool, n, first.task_ms, cores, first.workers, first.cpu_limit).per_s for n in grid
    ]
    values = [None if per_s is None else hosts * per_s for per_s in bounds]  # a sized workload: never None
    return grid, values


def _pool_label(pool, curve, analysis, key):
    label = pool if curve.pool != "solo" else f"{pool}, -c 1 only"
    if analysis is None:
        return label
    verdict = analysis.verdicts.get(key, {}).get(pool)
    if verdict is not None and curve.pool != "solo":
        label += f": {verdict.word}"
    best = analysis.bests.get(key, {}).get(pool)
    if best is not None and curve.pool != "solo":
        if best.flat:
            label += "; flat"
        elif best.edge:
            label += f"; best at the {best.edge} -c tried"
    return label


def _and(names):
    """ "a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def throughput_axes(
    ax: Axes,
    curves: Mapping[str, Curve],
    cores: float,
    analysis: Analysis | None = None,
    key: str | None = None,
    prediction: Mapping[str, Any] | None = None,
) -> None:
    """One throughput panel: median with its CI band, the physical ceiling
    (thick band), the no-op rate (Celery's own cost, a second ceiling), the
    USL fit over the measured range only; with a task's `prediction` (from
    its profile), the predicted optima. Its words never overlap: the legend
    and the notes sit below the axes, and the no-op rates' labels inside
    them, one label per group of lines too close to label apart."""
    analysis_fits = analysis.fits.get(key, {}) if analysis and key is not None else {}
    highs_all, lows_all = [], []
    styles = line_styles(curves)
    for pool, curve in curves.items():
        style = styles[pool]
        med = curve.medians()
        lows = [
            (p.throughput.ci95_low_per_s if p.throughput else None) or m for p, m in zip(curve.points, med, strict=True)
        ]
        highs = [
            (p.throughput.ci95_high_per_s if p.throughput else None) or m
            for p, m in zip(curve.points, med, strict=True)
        ]
        line = ax.plot(
            curve.c,
            [math.nan if m is None else m for m in med],  # unmeasured: a gap, as None drew
            label=_pool_label(pool, curve, analysis, key),
            markersize=5,
            linewidth=POOL_LINEWIDTH,
            **style,
        )[0]
        line.set_gid(f"pool:{pool}")
        low_band, high_band = [v for v in lows if v is not None], [v for v in highs if v is not None]
        if len(curve.c) > 1 and len(low_band) == len(lows) and len(high_band) == len(highs):
            ax.fill_between(curve.c, low_band, high_band, color=style["color"], alpha=0.18, linewidth=0)
        highs_all += [v for v in highs if v is not None]
        lows_all += [v for v in lows if v is not None and v > 0]
        if curve.points[0].task_ms is not None:
            grid, ceil_values = _ceiling_curve(curve, cores)
            band = ax.plot(grid, ceil_values, color=style["color"], zorder=1, **CEILING_STYLE)[0]
            band.set_gid(f"ceiling:{pool}")
        fit = analysis_fits.get(pool)
        measured = [c for c, m in zip(curve.c, med, strict=True) if m is not None]
        if fit is not None and fit.ok and len(measured) > 1:
            grid = curve_grid(measured)
            fit_line = ax.plot(grid, [fit.predict(n) for n in grid], color=style["color"], **FIT_STYLE)[0]
            fit_line.set_gid(f"fit:{pool}")
        predicted = _model_line(ax, pool, curve, style)
        highs_all += predicted
        lows_all += [v for v in predicted if v > 0]
    top = max(highs_all, default=0.0)
    if prediction is not None:
        top = max(top, mark_prediction(ax, prediction, curves, STYLE))
    bottom = min(lows_all, default=0.0)
    log = bool(bottom) and top / bottom > LOG_SPAN
    notes, drawn = _overhead_lines(ax, curves, analysis, top, log)
    top = max([top, *(rate for rate, _ in drawn)])
    if log:
        ax.set_yscale("log")
        ax.set_ylim(bottom / 1.6, top * 1.8)
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.set_ylim(0, top * 1.25 if top else 1)
    ax.set_ylabel("throughput (tasks/s)" + (", log scale" if log else ""))
    x_axis(ax, curves, cores)
    if prediction is not None:  # the markers stay in view when they lie past the measured -c
        shown = [p["best_c"] for p in prediction["pools"] if p["pool"] in curves and p["best_c"] is not None]
        low, high = ax.get_xlim()
        ax.set_xlim(low, max([high, *(c * 1.4 for c in shown)]))
    ax.grid(True, axis="y", alpha=0.3)
    _overhead_labels(ax, drawn, max(c for curve in curves.values() for c in curve.c), log)
    handles, labels = ax.get_legend_handles_labels()
    grey: LineStyle = {"color": "0.45"}
    if any(str(line.get_gid()).startswith("ceiling:") for line in ax.get_lines()):
        handles.append(Line2D([], [], **grey, **CEILING_STYLE))
        labels.append("physical ceiling, per pool")
    if drawn:
        handles.append(Line2D([], [], **grey, **(OVERHEAD_STYLE | {"markevery": None})))
        labels.append("no-op rate: Celery's own per-task cost")
    if any(str(line.get_gid()).startswith("fit:") for line in ax.get_lines()):
        handles.append(Line2D([], [], **grey, **FIT_STYLE))
        labels.append("USL fit, measured range only")
    if any(str(line.get_gid()).startswith("model:") for line in ax.get_lines()):
        handles.append(Line2D([], [], **grey, **MODEL_STYLE))
        labels.append("model (exact MVA), at the -c measured")
    legend = _legend(ax, handles, labels)
    notes += [f"{_and(group)} coincide (within {COINCIDE:.0%} at every -c)" for group in coinciding(curves)]
    if notes:
        # Under the legend, one note a line: inside the axes they fell on
        # the no-op rates' labels (and on the curves). Wrapped: an overview
        # panel is narrower than a long list of rates.
        text = "\n".join(textwrap.fill(note, NOTE_CHARS, subsequent_indent="  ") for note in notes)
        ax.annotate(
            text,
            (0.5, 0),
            xycoords=legend,
            xytext=(0, -3),
            textcoords="offset points",
            ha="center",
            va="top",
            multialignment="left",
            fontsize=7,
            color="0.3",
        ).set_gid("notes")


def _model_line(ax, pool, curve, style):
    """The model's throughput at the curve's -c (its points'
    predicted_per_s), dashed in the curve's colour, where two or more
    points have one (a gap where one has none); returns the values drawn."""
    predicted = [p.predicted_per_s for p in curve.points]
    drawn = [v for v in predicted if v is not None]
    if len(drawn) < 2:
        return []
    values = [math.nan if v is None else v for v in predicted]
    ax.plot(curve.c, values, color=style["color"], **MODEL_STYLE)[0].set_gid(f"model:{pool}")
    return drawn


def _legend(ax, handles, labels):
    """The legend below the axes, so it never hides a curve: in two
    columns, or one when two are wider than the panel (long variants)."""
    spec = ax.get_subplotspec()
    panel = ax.figure.bbox.width / (spec.get_gridspec().ncols if spec else 1)
    for ncol in (2, 1):
        legend = ax.legend(
            handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol, frameon=False
        )
        if legend.get_window_extent(renderer_of(ax.figure)).width <= 0.95 * panel:
            break
    return legend


def _overhead_lines(ax, curves, analysis, top, log):
    """Each pool's no-op rate as a horizontal line over the figure's -c
    range, where it is near enough the data to bind (within 3x of the top,
    or anywhere on a log axis up to 10x); the rest said in a note. Returns
    (notes, [(tasks/s, pool) drawn, in legend order])."""
    if analysis is None or not analysis.overheads:
        return [], []
    low, high = min(c for cu in curves.values() for c in cu.c), max(c for cu in curves.values() for c in cu.c)
    off_scale, seen, drawn = [], set(), []
    for curve in curves.values():
        pool = curve.pool  # one line per pool, however many variants it has
        rate = analysis.overheads.get((pool, curve.points[0].pinned))
        if rate is None or len(curve.c) < 2 or pool in seen:
            continue
        seen.add(pool)
        per_s = rate[0]
        if top and per_s > top * (10 if log else 3):
            off_scale.append(f"{pool} {per_s:,.0f}/s")
            continue
        grid = curve_grid([low, high])
        line = ax.plot(grid, [per_s] * len(grid), color=STYLE[pool]["color"], zorder=1.5, **OVERHEAD_STYLE)[0]
        line.set_gid(f"overhead:{pool}")
        drawn.append((per_s, pool))
    if off_scale:
        return [f"no-op rate far above this range, not drawn: {', '.join(off_scale)}"], drawn
    return [], drawn


# No-op lines closer than this (a fraction of the axes' height) share one
# label: a label is 7 pt high, under 0.05 of any panel drawn here (3 inches
# or more), so labels this far apart never touch.
LABEL_GAP = 0.07


def _overhead_labels(ax, drawn, high, log):
    """Label the no-op lines at the right end of the -c range, just above
    each: lines too close to label apart share one label, on the highest of
    them; the y-axis grows until the highest label fits inside the axes.
    Positions are fractions of the axes, so the labels keep apart at any
    size the figure is laid out to."""
    if not drawn:
        return
    while _height(ax, max(rate for rate, _ in drawn)) > 1 - LABEL_GAP:
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, top * (1.25 if log else 1.1))
    for near in _near_rates(ax, drawn):
        per_s, pool = near[0]
        one = len(near) == 1
        ax.annotate(
            f"no-op rate, {pool}: {per_s:,.0f}/s"
            if one
            else "no-op rate: " + ", ".join(f"{p} {r:,.0f}/s" for r, p in drawn if (r, p) in near),  # legend order
            (high, per_s),
            xytext=(-2, 2),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=7,
            color=STYLE[pool]["color"] if one else "0.3",
            bbox=NOTE_BOX,
        ).set_gid(f"overhead-label:{pool}")


def _height(ax, y):
    """Where `y` (data) lies on the axes' height, 0 at the bottom, 1 at the top."""
    return float(ax.transAxes.inverted().transform(ax.transData.transform((1.0, y)))[1])


def _near_rates(ax, rates):
    """(rate, pool) pairs in groups whose lines lie within LABEL_GAP of the
    next on the axes, each group's highest first (its label sits on the
    highest line)."""
    groups: list[list[tuple[float, str]]] = []
    for rate, pool in sorted(rates, reverse=True):
        if groups and _height(ax, groups[-1][-1][0]) - _height(ax, rate) < LABEL_GAP:
            groups[-1].append((rate, pool))
        else:
            groups.append([(rate, pool)])
    return groups

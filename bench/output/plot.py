"""Figures of a sweep, from its summary and analysis: throughput against
the ceilings, efficiency, service time, memory and CPU, and one overview
with the verdicts. matplotlib with the Agg backend: no display needed.

`draw` returns the Figure objects (tests check what was drawn); `figures`
writes them, deterministically: the same sweep gives the same bytes."""

import math
import textwrap

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

from bench.analysis.groups import groups, plural
from bench.analysis.hosts import HOSTS_FIGURE, host_lines, scales
from bench.analysis.summary import binding_ceiling
from bench.output.prediction import mark_prediction
from bench.workloads import ceiling, point_workload

# Okabe-Ito colours (safe for colour-blind readers) and a distinct marker and
# line style per pool, so the lines stay apart when printed in grey.
STYLE = {
    "prefork": {"color": "#0072B2", "marker": "o", "linestyle": "-"},
    "gevent": {"color": "#D55E00", "marker": "s", "linestyle": "--"},
    "eventlet": {"color": "#009E73", "marker": "^", "linestyle": "-."},
    "solo": {"color": "#CC79A7", "marker": "D", "linestyle": ":"},
    "threads": {"color": "#E69F00", "marker": "v", "linestyle": (0, (3, 1, 1, 1))},
}
# With varied settings or several workers a pool has several lines: the
# colour says the settings (colour-blind safe), the dash the worker count
# (solid: 1), the marker the pool, and the legend names all of them.
PALETTE = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#882255", "#44AA99", "#999933",
)  # fmt: skip
DASHES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1, 1, 1, 1, 1)))


def _styles(curves):
    """{curve name: line style}: the pool's own style when no curve has a
    variant, else colour by settings and dash by worker count (see PALETTE)."""
    if not any(curve.variant for curve in curves.values()):
        return {name: STYLE.get(curve.pool, STYLE["prefork"]) for name, curve in curves.items()}
    # The host count (--host-counts) tells lines apart by colour, as settings do.
    combos = list(dict.fromkeys((c.points[0].settings, c.points[0].host_count) for c in curves.values()))
    counts = sorted({c.points[0].workers for c in curves.values()})
    return {
        name: {
            "color": PALETTE[combos.index((curve.points[0].settings, curve.points[0].host_count)) % len(PALETTE)],
            "marker": STYLE.get(curve.pool, STYLE["prefork"])["marker"],
            "linestyle": DASHES[counts.index(curve.points[0].workers) % len(DASHES)],
        }
        for name, curve in curves.items()
    }


def _legend_columns(curves, default):
    """Fewer columns when the lines' names are long (settings in them)."""
    return 2 if any(curve.variant for curve in curves.values()) else default


POOL_LINEWIDTH = 1.6
# The physical ceiling: a thick translucent band in the pool's colour, a
# style no measured line uses (they are thin, opaque and have markers).
CEILING_STYLE = {"linewidth": 7.0, "alpha": 0.22, "linestyle": "-", "solid_capstyle": "butt"}
# Celery's own per-task cost (the no-op rate): a horizontal step line with
# short vertical ticks, in the pool's colour.
OVERHEAD_STYLE = {"linewidth": 1.2, "linestyle": (0, (1, 1)), "marker": "|", "markersize": 9, "markevery": 12}
FIT_STYLE = {"linewidth": 0.8, "alpha": 0.55, "linestyle": "-"}
LOG_SPAN = 10.0  # throughput spanning more than this factor gets a log y-axis
NOTE_CHARS = 100  # a note's line in a panel's corner, at 7 pt
NOTE_BOX = {"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}
COINCIDE = 0.02  # two curves within 2% at every shared -c are said to coincide
FORMATS = ("png", "svg")
DPI = 110
# Fixed metadata and SVG ids: re-rendering an unchanged sweep writes the same bytes.
METADATA = {"png": {"Software": "celery-bench (matplotlib)"}, "svg": {"Date": None, "Creator": "celery-bench"}}
matplotlib.rcParams["svg.hashsalt"] = "celery-bench"


def _subplots(width, height, rows=1, cols=1):
    """A Figure outside pyplot's registry (nothing to close, no limit on how
    many exist), drawn by Agg."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _single(width, height):
    fig, axes = _subplots(width, height)
    return fig, axes[0, 0]


def _title(curves, what, cores):
    first = next(iter(curves.values())).points[0]
    workload = point_workload(first)
    size = f" {first.task_ms:.4g} ms" if first.task_ms is not None else ""
    pin = f", pinned to {plural(len(first.cpus), 'CPU')}" if first.cpus else ""
    machine = plural(cores, "usable core") + (f" each, on {plural(first.on_hosts, 'host')}" if first.on_hosts else "")
    return f"{what}: {first.workload}{size}, {workload.summary}\n{machine}{pin}"


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
    # The markers' labels sit on a top axis of their own, never on the data;
    # short, since the two are one octave apart.
    marks = [(x, label) for x, label in ((cores, "cores"), (2 * cores, "2x cores")) if low < x < high]
    for x, _ in marks:
        ax.axvline(x, color="0.45", linestyle=(0, (1, 2)), linewidth=1, zorder=0)
    top = ax.secondary_xaxis("top")
    top.set_xticks([x for x, _ in marks], [label for _, label in marks], fontsize=7.5, color="0.35")
    top.xaxis.set_minor_locator(NullLocator())
    top.tick_params(length=0, pad=1)


def _grid(cs):
    """Points to draw a curve through, only over the measured -c range."""
    if len(cs) == 1:
        return list(cs)
    lo, hi = math.log2(min(cs)), math.log2(max(cs))
    return [2 ** (lo + (hi - lo) * i / 100) for i in range(101)]


def _ceiling_curve(curve, cores):
    """The physical ceiling over the curve's -c range: of one machine, or
    summed over the agents the points ran on (each with `cores`)."""
    first = curve.points[0]
    workload = point_workload(first)
    grid = _grid(curve.c)
    hosts = first.on_hosts or 1
    values = [hosts * ceiling(workload, curve.pool, n, first.task_ms, cores, first.workers).per_s for n in grid]
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


def _coinciding(curves):
    """Groups of pools whose medians agree within COINCIDE at every shared
    -c, each pool with every other of its group (a pool joins the first
    group it agrees with throughout)."""
    pools = [p for p, c in curves.items() if len(c.c) > 1]
    groups = []
    for pool in pools:
        group = next((g for g in groups if all(_agree(curves[pool], curves[other]) for other in g)), None)
        if group is None:
            groups.append([pool])
        else:
            group.append(pool)
    return [g for g in groups if len(g) > 1]


def _agree(a, b):
    ma = dict(zip(a.c, a.medians(), strict=True))
    mb = dict(zip(b.c, b.medians(), strict=True))
    shared = [c for c in ma if c in mb and ma[c] and mb[c]]
    return len(shared) > 1 and all(abs(ma[c] / mb[c] - 1) <= COINCIDE for c in shared)


def _and(names):
    """ "a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def throughput_axes(ax, curves, cores, analysis=None, key=None, legend=True, prediction=None):
    """One throughput panel: median with its CI band, the physical ceiling
    (thick band), the no-op rate (Celery's own cost, a second ceiling), the
    USL fit over the measured range only; with a task's `prediction` (from
    its profile), the predicted optima."""
    analysis_fits = analysis.fits.get(key, {}) if analysis else {}
    highs_all, lows_all = [], []
    styles = _styles(curves)
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
            curve.c, med, label=_pool_label(pool, curve, analysis, key), markersize=5, linewidth=POOL_LINEWIDTH, **style
        )[0]
        line.set_gid(f"pool:{pool}")
        if len(curve.c) > 1 and all(v is not None for v in lows + highs):
            ax.fill_between(curve.c, lows, highs, color=style["color"], alpha=0.18, linewidth=0)
        highs_all += [v for v in highs if v is not None]
        lows_all += [v for v in lows if v is not None and v > 0]
        if curve.points[0].task_ms is not None:
            grid, ceil_values = _ceiling_curve(curve, cores)
            band = ax.plot(grid, ceil_values, color=style["color"], zorder=1, **CEILING_STYLE)[0]
            band.set_gid(f"ceiling:{pool}")
        fit = analysis_fits.get(pool)
        measured = [c for c, m in zip(curve.c, med, strict=True) if m is not None]
        if fit is not None and fit.ok and len(measured) > 1:
            grid = _grid(measured)
            fit_line = ax.plot(grid, [fit.predict(n) for n in grid], color=style["color"], **FIT_STYLE)[0]
            fit_line.set_gid(f"fit:{pool}")
    top = max(highs_all, default=0.0)
    if prediction is not None:
        top = max(top, mark_prediction(ax, prediction, curves, STYLE))
    bottom = min(lows_all, default=0.0)
    log = bool(bottom) and top / bottom > LOG_SPAN
    notes = _overhead_lines(ax, curves, analysis, top, log)
    drawn = [line.get_ydata()[0] for line in ax.get_lines() if str(line.get_gid()).startswith("overhead:")]
    top = max([top, *drawn])
    if log:
        ax.set_yscale("log")
        ax.set_ylim(bottom / 1.6, top * 1.8)
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.set_ylim(0, top * 1.25 if top else 1)
    ax.set_ylabel("throughput (tasks/s)" + (", log scale" if log else ""))
    _x_axis(ax, curves, cores)
    if prediction is not None:  # the markers stay in view when they lie past the measured -c
        shown = [p["best_c"] for p in prediction["pools"] if p["pool"] in curves and p["best_c"] is not None]
        low, high = ax.get_xlim()
        ax.set_xlim(low, max([high, *(c * 1.4 for c in shown)]))
    ax.grid(True, axis="y", alpha=0.3)
    for group in _coinciding(curves):
        notes.append(f"{_and(group)} coincide (within {COINCIDE:.0%} at every -c)")
    if notes:
        # Wrapped: an overview panel is narrower than a long list of rates.
        text = "\n".join(textwrap.fill(note, NOTE_CHARS, subsequent_indent="  ") for note in notes)
        ax.text(0.01, 0.98, text, transform=ax.transAxes, fontsize=7, va="top", color="0.3", bbox=NOTE_BOX)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        grey = {"color": "0.45"}
        if any(str(line.get_gid()).startswith("ceiling:") for line in ax.get_lines()):
            handles.append(Line2D([], [], **grey, **CEILING_STYLE))
            labels.append("physical ceiling, per pool")
        if drawn:
            handles.append(Line2D([], [], **grey, **(OVERHEAD_STYLE | {"markevery": None})))
            labels.append("no-op rate: Celery's own per-task cost")
        if any(str(line.get_gid()).startswith("fit:") for line in ax.get_lines()):
            handles.append(Line2D([], [], **grey, **FIT_STYLE))
            labels.append("USL fit, measured range only")
        # Below the axes, so it never hides a curve.
        ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)


def _overhead_lines(ax, curves, analysis, top, log):
    """Each pool's no-op rate as a horizontal line over the figure's -c
    range, where it is near enough the data to bind (within 3x of the top,
    or anywhere on a log axis up to 10x); the rest said in words."""
    if analysis is None or not analysis.overheads:
        return []
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
        grid = _grid([low, high])
        line = ax.plot(grid, [per_s] * len(grid), color=STYLE[pool]["color"], zorder=1.5, **OVERHEAD_STYLE)[0]
        line.set_gid(f"overhead:{pool}")
        drawn.append((per_s, pool))
    for near in _near_rates(drawn):
        per_s, pool = near[0]
        one = len(near) == 1
        ax.annotate(
            f"no-op rate, {pool}: {per_s:,.0f}/s"
            if one
            else "no-op rate: " + ", ".join(f"{p} {r:,.0f}/s" for r, p in drawn if (r, p) in near),  # legend order
            (high, per_s),
            xytext=(-2, 4),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=7,
            color=STYLE[pool]["color"] if one else "0.3",
            bbox=NOTE_BOX,
        )
    if off_scale:
        return [f"no-op rate far above this range, not drawn: {', '.join(off_scale)}"]
    return []


NEAR_RATES = 1.15  # no-op rates closer than this ratio share one label: theirs would overlap


def _near_rates(rates):
    """(rate, pool) pairs in groups of rates within NEAR_RATES of the next,
    each group's highest first (its label sits on the highest line)."""
    groups = []
    for rate, pool in sorted(rates, reverse=True):
        if groups and groups[-1][-1][0] <= rate * NEAR_RATES:
            groups[-1].append((rate, pool))
        else:
            groups.append([(rate, pool)])
    return groups


def _simple_axes(ax, curves, cores, series, ylabel, scale=1.0, styles=None, percent=False):
    """One line per pool and series (a function of a point); `styles` gives
    each series a line style (the pools then differ by colour and marker),
    else each pool keeps its own."""
    lines = _styles(curves)
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
    _x_axis(ax, curves, cores)
    ax.grid(True, axis="y", alpha=0.3)


def _reference(ax, y, text):
    """A labelled horizontal reference line."""
    ax.axhline(y, color="0.3", linewidth=0.8)
    ax.annotate(text, (0.995, y), xycoords=("axes fraction", "data"), xytext=(0, 2), textcoords="offset points",
                ha="right", va="bottom", fontsize=7, color="0.3")  # fmt: skip


def _pool_legend(ax, curves, extra=()):
    # When line styles carry another meaning (p50/p99), pools keep colour and marker only.
    styles = _styles(curves)
    handles = [
        Line2D([], [], markersize=5, **(styles[pool] | ({"linestyle": "-"} if extra else {}))) for pool in curves
    ]
    labels = list(curves)
    for label, linestyle in extra:
        handles.append(Line2D([], [], color="0.3", linestyle=linestyle))
        labels.append(label)
    ncol = _legend_columns(curves, 4)
    ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol, frameon=False)


def latency_series(curves):
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


def draw(summary, analysis=None, prediction=None):
    """Every figure of a sweep as {file stem: Figure} (outside pyplot: nothing to close)."""
    machine_cores = float((summary.metadata and summary.metadata.usable_cores) or 1)
    out = {}
    all_groups = groups(summary)
    for key, curves in all_groups.items():
        cores = _cores_of(curves, machine_cores)

        fig, ax = _single(7.5, 4.8)
        throughput_axes(ax, curves, cores, analysis, key, prediction=prediction)
        ax.set_title(_title(curves, "Throughput", cores), fontsize=10)
        out[f"throughput-{key}"] = fig

        sized = next(iter(curves.values())).points[0].task_ms is not None
        if sized:
            overheads = analysis.overheads if analysis else {}

            def efficiency(p, overheads=overheads):
                bound, _ = binding_ceiling(p, overheads)
                return p.median_per_s / bound if bound and p.median_per_s is not None else None

            fig, ax = _single(7.5, 4.2)
            what = "physical ceiling" + (" and no-op rate" if overheads else "")
            _simple_axes(ax, curves, cores, [efficiency], f"measured / lower of {what}", scale=100, percent=True)
            ax.set_ylim(0, 110)
            _reference(ax, 100, "100%: the binding ceiling")
            _pool_legend(ax, curves)
            ax.set_title(_title(curves, "Efficiency", cores), fontsize=10)
            out[f"efficiency-{key}"] = fig

        fig, ax = _single(7.5, 4.2)
        series = latency_series(curves)
        _simple_axes(ax, curves, cores, [get for _, get, _ in series], "time (ms)", 1000, [s for _, _, s in series])
        _pool_legend(ax, curves, [(name, s) for name, _, s in series])
        ax.text(0.01, 0.98, LATENCY_NOTE, transform=ax.transAxes, fontsize=7, va="top", color="0.3")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.2)
        ax.set_title(_title(curves, "Service time", cores), fontsize=10)
        out[f"latency-{key}"] = fig

        fig, ax = _single(7.5, 4.2)
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
        ax.set_title(_title(curves, "Peak memory of the worker tree", cores), fontsize=10)
        out[f"memory-{key}"] = fig

        fig, ax = _single(7.5, 4.2)
        _simple_axes(ax, curves, cores, [lambda p: p.worker_cpu_cores], "cores busy, CPU s / wall s")
        # On agents, the busy cores add up over the hosts: so do the usable ones.
        hosts = max(p.on_hosts or 1 for curve in curves.values() for p in curve.points)
        ax.set_ylim(0, max(ax.get_ylim()[1], hosts * cores * 1.15))
        usable = plural(hosts * cores, "usable core") + (f" on {plural(hosts, 'host')}" if hosts > 1 else "")
        _reference(ax, hosts * cores, usable)
        _pool_legend(ax, curves)
        ax.set_title(_title(curves, "CPU of the worker tree", cores), fontsize=10)
        out[f"cpu-{key}"] = fig

        if any(p.workers > 1 for curve in curves.values() for p in curve.points):
            fig, ax = _single(7.5, 4.6)
            shapes_axes(ax, curves)
            ax.set_title(_title(curves, "Shapes of one total size", cores), fontsize=10)
            out[f"shapes-{key}"] = fig

    if all_groups:
        out["overview"] = overview(all_groups, machine_cores, analysis, prediction)
    lines = host_lines(summary)
    if scales(lines):
        out[HOSTS_FIGURE] = hosts_figure(lines)
    return out


IDEAL_STYLE = {"linewidth": 1.0, "linestyle": (0, (4, 2)), "alpha": 0.8}


def hosts_figure(lines):
    """Throughput against the number of hosts (--host-counts): per line the
    median with its 95% CI as error bars, linear scaling from the 1-host
    median (dashed) and the ceiling, k x one host's (the thick band)."""
    fig, ax = _single(7.5, 4.8)
    counts = sorted({p.hosts for line in lines for p in line.points})
    span = list(range(1, max(counts) + 1))
    top = 0.0
    for i, line in enumerate(lines):
        colour = PALETTE[i % len(PALETTE)]
        marker = STYLE.get(line.pool, STYLE["prefork"])["marker"]
        measured = [p for p in line.points if p.median_per_s is not None]
        if not measured:
            continue
        medians = [p.median_per_s for p in measured]
        below = [
            m - (p.ci95_low_per_s if p.ci95_low_per_s is not None else m)
            for p, m in zip(measured, medians, strict=True)
        ]
        above = [
            (p.ci95_high_per_s if p.ci95_high_per_s is not None else m) - m
            for p, m in zip(measured, medians, strict=True)
        ]
        drawn = ax.errorbar(
            [p.hosts for p in measured],
            medians,
            yerr=[below, above],
            color=colour,
            marker=marker,
            markersize=5,
            linewidth=POOL_LINEWIDTH,
            capsize=4,
            label=line.name,
        )
        drawn.lines[0].set_gid(f"hosts:{line.name}")
        top = max([top, *(m + a for m, a in zip(medians, above, strict=True))])
        if line.one_host_per_s is not None:
            ideal = [line.ideal_per_s(k) for k in span]
            ax.plot(span, ideal, color=colour, zorder=1.5, **IDEAL_STYLE)[0].set_gid(f"ideal:{line.name}")
            top = max(top, ideal[-1])
        if line.per_host_ceiling_per_s is not None:
            ceil_values = [line.ceiling_per_s(k) for k in span]
            ax.plot(span, ceil_values, color=colour, zorder=1, **CEILING_STYLE)[0].set_gid(f"ceiling:{line.name}")
            top = max(top, ceil_values[-1])
        if line.efficiency is not None:
            last = line.largest
            ax.annotate(
                f"{line.efficiency:.0%} of linear",
                (last.hosts, last.median_per_s),
                xytext=(6, -4),
                textcoords="offset points",
                fontsize=7.5,
                color=colour,
                va="top",
            )
    ax.set_xticks(span, [f"{k}" for k in span])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(0.6, max(counts) + 0.6)
    ax.set_ylim(0, top * 1.2 if top else 1)
    ax.set_xlabel("hosts (agents running the workers)")
    ax.set_ylabel("throughput (tasks/s)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(
        "Throughput against hosts: median and its 95% CI,\nagainst linear scaling from 1 host and the ceiling "
        "(k x one host's)",
        fontsize=10,
    )
    handles, labels = ax.get_legend_handles_labels()
    grey = {"color": "0.45"}
    handles += [Line2D([], [], **grey, **IDEAL_STYLE), Line2D([], [], **grey, **CEILING_STYLE)]
    labels += ["linear: k x the 1-host median", "ceiling: k x one host's"]
    ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    return fig


def save(fig, directory, name):
    """Write one figure as PNG and SVG, the same bytes for the same figure."""
    written = []
    for fmt in FORMATS:
        path = directory / f"{name}.{fmt}"
        fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata=METADATA[fmt])
        written.append(path)
    return written


def figures(summary, directory, analysis=None, prediction=None):
    """Write every figure into `directory`; returns the paths written.
    `prediction`: a user's task's profile prediction, marked on throughput."""
    written = []
    for name, fig in draw(summary, analysis, prediction).items():
        written += save(fig, directory, name)
    return written


def shapes_axes(ax, curves):
    """Median throughput against the total concurrency (-c x workers), one
    line per shape: 1 x prefork 8 and 2 x prefork 4 share an x."""
    styles = _styles(curves)
    ticks = set()
    for name, curve in curves.items():
        totals = [p.total_concurrency for p in curve.points]
        ticks.update(totals)
        ax.plot(totals, curve.medians(), label=name, markersize=5, linewidth=1.5, **styles[name])
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(sorted(ticks)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("total concurrency (-c x workers)")
    ax.set_ylabel("throughput (tasks/s)")
    ax.set_ylim(bottom=0)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)


def overview(all_groups, machine_cores, analysis=None, prediction=None):
    """All throughput panels in one grid, each pool's verdict in its legend."""
    n = len(all_groups)
    cols = min(2, n)
    rows = math.ceil(n / cols)
    fig, axes = _subplots(7.2 * cols, 5.2 * rows, rows, cols)
    # Room under each panel for its legend; bbox_inches="tight" trims the rest.
    height = 5.2 * rows
    fig.subplots_adjust(hspace=0.85, wspace=0.2, top=1 - 1.2 / height)
    for ax, (key, curves) in zip(axes.flat, all_groups.items(), strict=False):
        cores = _cores_of(curves, machine_cores)
        throughput_axes(ax, curves, cores, analysis, key, prediction=prediction)
        ax.set_title(_title(curves, "Throughput", cores), fontsize=10)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(
        "Does -c beyond 2x cores help? Each legend gives the verdict on the tutorial's guidance, per pool",
        fontsize=12,
        y=1 - 0.2 / height,
    )
    return fig

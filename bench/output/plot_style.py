"""What every figure of a sweep shares: the pools' colours, markers and
line styles, the figure itself (outside pyplot) and its title, and the
concurrency axis with its cores markers."""

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from numpy.typing import NDArray

from bench.analysis.groups import Curve, plural
from bench.workloads import point_workload, quota_cores

# Keyword arguments of a matplotlib line (Line2D): their values are of as many
# types as matplotlib's options (colours, dash tuples, widths).
LineStyle = dict[str, Any]

# Okabe-Ito colours (safe for colour-blind readers) and a distinct marker and
# line style per pool, so the lines stay apart when printed in grey.
STYLE: dict[str, LineStyle] = {
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


def line_styles(curves: Mapping[str, Curve]) -> dict[str, LineStyle]:
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


def legend_columns(curves: Mapping[str, Curve], default: int) -> int:
    """Fewer columns when the lines' names are long (settings in them)."""
    return 2 if any(curve.variant for curve in curves.values()) else default


POOL_LINEWIDTH = 1.6
# The physical ceiling: a thick translucent band in the pool's colour, a
# style no measured line uses (they are thin, opaque and have markers).
CEILING_STYLE: LineStyle = {"linewidth": 7.0, "alpha": 0.22, "linestyle": "-", "solid_capstyle": "butt"}
# Celery's own per-task cost (the no-op rate): a horizontal step line with
# short vertical ticks, in the pool's colour.
OVERHEAD_STYLE: LineStyle = {
    "linewidth": 1.2,
    "linestyle": (0, (1, 1)),
    "marker": "|",
    "markersize": 9,
    "markevery": 12,
}
FIT_STYLE: LineStyle = {"linewidth": 0.8, "alpha": 0.55, "linestyle": "-"}
# The worker model's prediction at each measured -c: thin, dashed, no
# markers, in the curve's colour (thinner than any measured line, which has
# markers; gevent's own dashes are longer and thicker).
MODEL_STYLE: LineStyle = {"linewidth": 1.0, "linestyle": "--", "alpha": 0.9}
NOTE_BOX = {"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}


def subplots(
    width: float, height: float, rows: int = 1, cols: int = 1, layout: Literal["constrained"] | None = None
) -> tuple[Figure, NDArray[Any]]:
    """A Figure outside pyplot's registry (nothing to close, no limit on how
    many exist), drawn by Agg; `layout`: matplotlib's layout engine
    ("constrained" makes room for every panel's legend and notes)."""
    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def renderer_of(fig: Figure) -> RendererAgg:
    """The renderer of a figure made by subplots(): to measure words before it is drawn."""
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)  # subplots() gave it one
    return canvas.get_renderer()


def single(width: float, height: float) -> tuple[Figure, Axes]:
    fig, axes = subplots(width, height)
    return fig, axes[0, 0]


def title(curves: Mapping[str, Curve], what: str, cores: float) -> str:
    first = next(iter(curves.values())).points[0]
    workload = point_workload(first)
    size = f" {first.task_ms:.4g} ms" if first.task_ms is not None else ""
    pin = f", pinned to {plural(len(first.cpus), 'CPU')}" if first.cpus else ""
    machine = plural(cores, "usable core") + (f" each, on {plural(first.on_hosts, 'host')}" if first.on_hosts else "")
    limits = {p.cpu_limit for curve in curves.values() for p in curve.points}
    if len(limits) == 1 and (limit := limits.pop()) is not None:  # one --cpu-limit for every curve
        machine += f", a CPU quota of {limit:g} core{'s' if limit != 1 else ''} per worker"
    if first.task is not None:  # a user's task: its summary names it, with the profile that sized it
        return f"{what}: {workload.summary}\n{machine}{pin}"
    return f"{what}: {first.workload}{size}, {workload.summary}\n{machine}{pin}"


def cores_of(curves: Mapping[str, Curve], machine_cores: float) -> float:
    first = next(iter(curves.values())).points[0]
    return float(first.cores or machine_cores)


def x_axis(ax: Axes, curves: Mapping[str, Curve], cores: float) -> None:
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
    at, label = marked_cores(curves, cores)
    marks = [(x, text) for x, text in ((at, label), (2 * at, f"2x {label}")) if low < x < high]
    for x, _ in marks:
        ax.axvline(x, color="0.45", linestyle=(0, (1, 2)), linewidth=1, zorder=0)
    top = ax.secondary_xaxis("top")
    top.set_xticks([x for x, _ in marks], [label for _, label in marks], fontsize=7.5, color="0.35")
    top.xaxis.set_minor_locator(NullLocator())
    top.tick_params(length=0, pad=1)


def marked_cores(curves: Mapping[str, Curve], cores: float) -> tuple[float, str]:
    """Where the figure marks the cores, and its word: under one CPU quota
    shared by every curve (--cpu-limit), the cores it gives, as the verdict
    counts them; else `cores`. Curves under different quotas (--vary
    cpu_limit) keep the machine's: each curve's verdict says its own."""
    quotas = {
        quota_cores(float(p.cores or cores), p.workers, p.cpu_limit) if p.cpu_limit is not None else None
        for curve in curves.values()
        for p in curve.points
    }
    if len(quotas) == 1 and (quota := quotas.pop()) is not None:
        return quota, "quota cores"
    return cores, "cores"


def curve_grid(cs: Sequence[float]) -> list[float]:
    """Points to draw a curve through, only over the measured -c range."""
    if len(cs) == 1:
        return list(cs)
    lo, hi = math.log2(min(cs)), math.log2(max(cs))
    return [2 ** (lo + (hi - lo) * i / 100) for i in range(101)]

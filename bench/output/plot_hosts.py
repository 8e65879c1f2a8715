"""The figure of a sweep over host counts (--host-counts): throughput
against the number of hosts, against linear scaling and the ceiling."""

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from bench.analysis.hosts import HostLine
from bench.output.plot_style import CEILING_STYLE, PALETTE, POOL_LINEWIDTH, STYLE, LineStyle, single

IDEAL_STYLE: LineStyle = {"linewidth": 1.0, "linestyle": (0, (4, 2)), "alpha": 0.8}


def hosts_figure(lines: Sequence[HostLine]) -> Figure:
    """Throughput against the number of hosts (--host-counts): per line the
    median with its 95% CI as error bars, linear scaling from the 1-host
    median (dashed) and the ceiling, k x one host's (the thick band)."""
    fig, ax = single(7.5, 4.8)
    counts = sorted({p.hosts for line in lines for p in line.points})
    span = list(range(1, max(counts) + 1))
    top = 0.0
    for i, line in enumerate(lines):
        colour = PALETTE[i % len(PALETTE)]
        marker = STYLE.get(line.pool, STYLE["prefork"])["marker"]
        measured = [p for p in line.points if p.median_per_s is not None]
        if not measured:
            continue
        medians = [m for p in measured if (m := p.median_per_s) is not None]  # every one: measured
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
            ideal = [v for k in span if (v := line.ideal_per_s(k)) is not None]  # every k: the 1-host median is known
            ax.plot(span, ideal, color=colour, zorder=1.5, **IDEAL_STYLE)[0].set_gid(f"ideal:{line.name}")
            top = max(top, ideal[-1])
        if line.per_host_ceiling_per_s is not None:
            ceil_values = [v for k in span if (v := line.ceiling_per_s(k)) is not None]  # every k: bounded
            ax.plot(span, ceil_values, color=colour, zorder=1, **CEILING_STYLE)[0].set_gid(f"ceiling:{line.name}")
            top = max(top, ceil_values[-1])
        # an efficiency is only had from the largest measured point
        last = line.largest
        if line.efficiency is not None and last is not None and last.median_per_s is not None:
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
    grey: LineStyle = {"color": "0.45"}
    handles += [Line2D([], [], **grey, **IDEAL_STYLE), Line2D([], [], **grey, **CEILING_STYLE)]
    labels += ["linear: k x the 1-host median", "ceiling: k x one host's"]
    ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    return fig

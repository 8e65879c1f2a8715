"""Figures of a sweep's open-loop rates, from open_loop.json: per workload,
the sojourn p50 and p99 (from the scheduled send times) against the offered
rate, one line per pool and -c (the hockey stick), each point's drain
throughput marked; and the achieved completion rate against the offered
rate, with the identity line."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import ticker

from bench.analysis.latency_verdict import RULE
from bench.output.plot import METADATA
from bench.output.plot_style import STYLE
from bench.results.schema import point_name
from bench.results.words import point_label

DPI = 110


def group_key(point: dict[str, Any]) -> str:
    return point_name(point["workload"], point["task_ms"], pinned=len(point["cpus"]) if point["cpus"] else None)


def group_label(point: dict[str, Any]) -> str:
    pinned = len(point["cpus"]) if point["cpus"] else None
    return point_label(point["workload"], point["task_ms"], pinned=pinned, task=point.get("task"))


def _median(values):
    return statistics.median(values) if values else None


def figures(summary: dict[str, Any], directory: Path) -> list[Path]:
    """Write latency-vs-rate-<workload>.png/svg per workload; the paths."""
    by_group: dict[str, list[dict[str, Any]]] = {}
    for point in summary["points"]:
        if point["rates"]:
            by_group.setdefault(group_key(point), []).append(point)
    paths = []
    for key, points in by_group.items():
        fig, (ax50, ax99, axr) = plt.subplots(1, 3, figsize=(15, 4.8), dpi=DPI)
        shades = _shades(points)
        spans: dict[str, list[float]] = {"p50": [], "p99": []}  # each panel's own values decide its scale
        for point in sorted(points, key=lambda p: (p["pool"], p["concurrency"])):
            style = dict(STYLE.get(point["pool"], {}))
            style["color"] = shades[(point["pool"], point["concurrency"])]
            label = f"{point['pool']} -c {point['concurrency']}"
            cells = [c for c in point["rates"] if c["runs"]]
            rates = [c["rate"] for c in cells]
            for ax, key_ in ((ax50, "p50"), (ax99, "p99")):
                ys = [_median(c[key_]) for c in cells]
                xs = [r for r, y in zip(rates, ys, strict=True) if y is not None]
                ys = [y * 1000 for y in ys if y is not None]
                spans[key_] += ys
                ax.plot(xs, ys, label=label, markersize=5, **style)
                limited = [c["rate"] for c in cells if c["producer_limited"]]
                if limited:
                    ax.plot(limited, [min(ys or [1])] * len(limited), "x", color="red")
                if point["drain_throughput_per_s"]:
                    ax.axvline(point["drain_throughput_per_s"], color=style["color"], linestyle=":", linewidth=1)
            achieved = [_median(c["achieved"]) for c in cells]
            axr.plot(rates, achieved, label=label, markersize=5, **style)
        for ax, what in ((ax50, "p50"), (ax99, "p99")):
            ax.set_xlabel("offered rate (tasks/s)")
            ax.set_ylabel(f"sojourn {what} (ms), from the scheduled send")
            positive = [y for y in spans[what] if y and y > 0]
            if positive and max(positive) / min(positive) > 30:
                ax.set_yscale("log")
                # plain milliseconds (20, 50, 200), not powers of ten
                ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda y, _: f"{y:g}"))
                ax.yaxis.set_minor_formatter(ticker.NullFormatter())
            else:
                ax.set_ylim(bottom=0)  # a linear latency axis from zero: no small rise drawn as a steep one
            ax.grid(True, alpha=0.3)
            ax.set_title(f"sojourn {what} against offered load\n(dotted: each point's drain throughput)", fontsize=9)
        top = max((c["rate"] for p in points for c in p["rates"]), default=1.0)
        axr.plot([0, top], [0, top], color="0.5", linestyle="--", linewidth=1, label="achieved = offered")
        axr.set_xlabel("offered rate (tasks/s)")
        axr.set_ylabel("completed in the window (tasks/s)")
        axr.set_title("achieved against offered", fontsize=9)
        axr.grid(True, alpha=0.3)
        axr.legend(fontsize=7, loc="upper left")
        fig.suptitle(f"open loop: {group_label(points[0])}", fontsize=11)
        fig.tight_layout()
        for ext in ("png", "svg"):
            path = directory / f"latency-vs-rate-{key}.{ext}"
            fig.savefig(path, metadata=METADATA[ext])  # the same bytes for the same data
            paths.append(path)
        plt.close(fig)
    return paths


def _shades(points):
    """One colour per pool and -c: the pool's hue, lighter for smaller -c."""
    out = {}
    for pool in {p["pool"] for p in points}:
        cs = sorted(p["concurrency"] for p in points if p["pool"] == pool)
        base = matplotlib.colors.to_rgb(STYLE.get(pool, {"color": "#333333"})["color"])
        for i, c in enumerate(cs):
            mix = 0.55 * (1 - (i + 1) / len(cs)) if len(cs) > 1 else 0.0
            out[(pool, c)] = tuple(x + (1 - x) * mix for x in base)
    return out


def verdict_markdown(summary: dict[str, Any]) -> str:
    """The report's section on the latency verdicts."""
    lines = [
        "",
        "## Open loop: does -c beyond 2x cores lower the p99?",
        "",
        "At the highest offered rate both sides sustain (no producer-limited repeat, achieved >= 95% of offered), "
        "the sojourn p99 from the scheduled send times, by the bootstrap 95% CI of the ratio of medians and a 5% "
        "minimum effect. " + RULE + ".",
        "",
        "| workload | pool | verdict | why |",
        "|---|---|---|---|",
    ]
    labels = {group_key(p): group_label(p) for p in summary["points"]}
    for key, pools in summary["verdicts"].items():
        for pool, v in pools.items():
            lines.append(f"| {labels.get(key, key)} | {pool} | **{v['word']}** | {v['reason']} |")
    if not summary["verdicts"]:
        lines.append("| - | - | not tested | no pool other than solo had rates swept |")
    lines.append("")
    lines.append(
        "Figures: "
        + ", ".join(f"latency-vs-rate-{k}.png" for k in sorted({group_key(p) for p in summary["points"] if p["rates"]}))
    )
    return "\n".join(lines) + "\n"

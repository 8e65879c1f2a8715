"""The profile's prediction beside what a sweep measured: a Markdown table
for the report, and markers on the throughput figure."""

from collections.abc import Collection, Mapping
from typing import Any

from matplotlib.axes import Axes

from bench.analysis.groups import Curve, groups
from bench.results.sweep_records import SweepSummary


def measured_optimum(curve: Curve) -> tuple[int, float] | None:
    """(-c, median tasks/s) of the curve's best median, or None."""
    best = None
    for c, median in zip(curve.c, curve.medians(), strict=True):
        if median is not None and (best is None or median > best[1]):
            best = (c, median)
    return best


def _curves(summary):
    found = groups(summary)
    return next(iter(found.values())) if len(found) == 1 else {}


def prediction_section(summary: SweepSummary, profile: Mapping[str, Any]) -> str:
    """Markdown: per pool, the predicted -c and throughput from the task's
    profile against the measured best -c and its median."""
    pred, call = profile["prediction"], profile["per_call"]
    curves = _curves(summary)
    rows = [
        "## Predicted from the profile, and measured",
        "",
        f"The task's profile ({call['calls']} calls alone): {call['cpu_s'] * 1000:.2f} ms CPU + "
        f"{call['wait_s'] * 1000:.2f} ms waiting per call; on {pred['cores']:g} cores the prediction "
        f"favours **{pred['favoured']}** ({pred['reason']}).",
        "",
        "| pool | predicted best -c | predicted tasks/s | measured best -c | measured tasks/s | basis |",
        "|---|---|---|---|---|---|",
    ]
    for p in pred["pools"]:
        curve = curves.get(p["pool"])
        found = measured_optimum(curve) if curve is not None else None
        best_c = "-" if p["best_c"] is None else str(p["best_c"])
        rate = "overhead-bound" if p["per_s"] is None else f"{p['per_s']:.1f}"
        if p.get("best_c_if_gil_released") is not None:
            best_c += f" ({p['best_c_if_gil_released']} if the GIL is released)"
            rate += f" ({p['per_s_if_gil_released']:.1f})"
        measured = ("not measured", "-") if found is None else (str(found[0]), f"{found[1]:.1f}")
        rows.append(f"| {p['pool']} | {best_c} | {rate} | {measured[0]} | {measured[1]} | {p['basis']} |")
    rows.append("")
    return "\n".join(rows)


def mark_prediction(
    ax: Axes, prediction: Mapping[str, Any], pools: Collection[str], styles: Mapping[str, Mapping[str, Any]]
) -> float:
    """A hollow star per pool at its predicted (-c, tasks/s), in its colour;
    returns the highest throughput marked (for the axis' limit)."""
    top = 0.0
    for p in prediction["pools"]:
        if p["pool"] in pools and p["best_c"] is not None and p["per_s"] is not None:
            top = max(top, p["per_s"])
            colour = styles[p["pool"]]["color"]
            ax.plot(
                [p["best_c"]],
                [p["per_s"]],
                marker="*",
                markersize=13,
                markerfacecolor="none",
                markeredgecolor=colour,
                markeredgewidth=1.3,
                linestyle="none",
                zorder=5,
            )
    ax.plot(
        [],
        [],
        marker="*",
        markersize=10,
        markerfacecolor="none",
        markeredgecolor="0.3",
        linestyle="none",
        label="predicted optimum (profile)",
    )
    return top

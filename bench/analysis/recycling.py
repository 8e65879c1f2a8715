"""A sweep's recycling axes against what they cost: for every point that
varied max_tasks_per_child or max_memory_per_child, the memory the
setting held down (the worker tree's peak USS and its growth per task) and
the recycles, beside its throughput and p99 sojourn relative to the same
point with recycling off (every recycling setting 0). Pure: from the
sweep's summary."""

from __future__ import annotations

from dataclasses import dataclass

from bench.analysis.groups import group_label, measured_points
from bench.results.sweep_records import PointSummary, SweepSummary

# The settings that recycle pool processes (--vary NAME=...), which only prefork has
RECYCLING_AXES = ("max_tasks_per_child", "max_memory_per_child")
OFF = ("0", "off", "none")  # how a recycling setting's 0 (never) is written


@dataclass(frozen=True)
class RecyclingRow:
    """One point of a recycling axis, against its point with recycling off."""

    label: str  # the point without its recycling settings: "sleep 10 ms prefork -c 2"
    setting: str  # its recycling settings, "max_tasks_per_child=100"
    off: bool  # recycling off here: the baseline of its label
    point: PointSummary
    throughput_change: float | None  # median throughput / the baseline's - 1, fraction; None: no baseline
    p99_change: float | None  # median sojourn p99 / the baseline's - 1, fraction; None: no baseline


def _recycling(point: PointSummary) -> tuple[tuple[str, str], ...]:
    return tuple((name, text) for name, text in point.settings if name in RECYCLING_AXES)


def _rest(point: PointSummary) -> tuple:
    """What the point is besides its recycling settings."""
    others = tuple((name, text) for name, text in point.settings if name not in RECYCLING_AXES)
    return (group_label(point), point.pool, point.concurrency, point.workers, point.host_count, others)


def _change(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else value / base - 1


def recycling_rows(summary: SweepSummary) -> list[RecyclingRow]:
    """Every point of the recycling axes, grouped by everything else about
    it, each group's off point first; [] when the sweep varied neither."""
    points = [p for p in measured_points(summary) if _recycling(p)]
    grouped: dict[tuple, list[PointSummary]] = {}
    for point in points:
        grouped.setdefault(_rest(point), []).append(point)
    rows = []
    for rest, members in grouped.items():
        off = [p for p in members if all(text.strip().lower() in OFF for _, text in _recycling(p))]
        base = off[0] if off else None
        label, pool, c, workers, _hosts, others = rest
        words = f"{label} {pool} -c {c}" + (f" x{workers}" if workers != 1 else "")
        words += "".join(f", {name}={text}" for name, text in others)
        for point in sorted(members, key=lambda p: p is not base):
            rows.append(
                RecyclingRow(
                    label=words,
                    setting=", ".join(f"{name}={text}" for name, text in _recycling(point)),
                    off=point is base,
                    point=point,
                    throughput_change=_change(point.median_per_s, base.median_per_s if base else None),
                    p99_change=_change(point.sojourn_p99_s, base.sojourn_p99_s if base else None),
                )
            )
    return rows

"""How a sweep's points group: one figure per workload (size and pinning),
one curve per pool (and per workers and varied settings), ordered by -c."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.results.schema import point_name
from bench.results.sweep_records import PointSummary, SweepSummary
from bench.results.words import point_label, task_named
from bench.workloads import POOLS

NOOP = "noop"  # the workload whose rate is Celery's own per-task cost


@dataclass(frozen=True)
class Curve:
    pool: str
    points: list[PointSummary]  # ordered by -c
    variant: str = ""  # the workers and varied settings of its points ("2 workers, prefetch_multiplier=1")

    @property
    def name(self) -> str:
        return curve_name(self.points[0])

    @property
    def c(self) -> list[int]:
        return [p.concurrency for p in self.points]

    def values(self, get: Callable[[PointSummary], Any]) -> list[Any]:
        """`get(point)` of every point, e.g. values(lambda p: p.efficiency)."""
        return [get(p) for p in self.points]

    def medians(self) -> list[float | None]:
        return [p.median_per_s for p in self.points]


def group_key(point: PointSummary) -> str:
    """Which figure a point belongs to: its workload, size and pinning."""
    return point_name(point.workload, point.task_ms, pinned=point.pinned)


def group_label(point: PointSummary) -> str:
    """The same, for people: "cpu 20 ms", "sleep 50 ms (1 CPU)", a user's
    task by its name: "orders.place"."""
    return point_label(point.workload, point.task_ms, pinned=point.pinned, task=point.task)


def group_name(point: PointSummary) -> str:
    """The figure's key as warnings name it: "sleep-50ms", a user's task by
    its name: "orders.place", "orders.place-cpus1"."""
    return task_named(group_key(point), point.workload, point.task_ms, point.task)


def plural(n: float | None, word: str, many: str | None = None) -> str:
    """ "1 point", "3 points", "1 process" / "2 processes" (`many`: the plural when not word + "s")."""
    if n is None:
        return f"? {many or word + 's'}"
    return f"{n:g} {word if n == 1 else (many or word + 's')}"


def is_overhead_probe(point: PointSummary, summary: SweepSummary) -> bool:
    """A noop point the plan added to measure Celery's own per-task cost
    (the no-op rate), not one of the workloads the user asked for."""
    return point.workload == NOOP and NOOP not in (summary.config.workloads or ())


def measured_points(summary: SweepSummary) -> list[PointSummary]:
    """The points of the workloads asked for (overhead probes left out)."""
    return [p for p in summary.points if not is_overhead_probe(p, summary)]


def overhead_rates(summary: SweepSummary) -> dict[tuple[str, int | None], tuple[float, PointSummary]]:
    """{(pool, pinned CPUs or None): (tasks/s, the noop point)}: the most
    no-op tasks per second each pool completed in this sweep, the ceiling
    Celery's own per-task cost sets on any workload under that pool."""
    out: dict[tuple[str, int | None], tuple[float, PointSummary]] = {}
    for point in summary.points:
        if point.workload != NOOP or point.median_per_s is None:
            continue
        slot = (point.pool, point.pinned)
        if slot not in out or point.median_per_s > out[slot][0]:
            out[slot] = (point.median_per_s, point)
    return out


def curve_name(point: PointSummary) -> str:
    """The line a point belongs to in its figure: its pool, and its workers
    and varied settings when it has any ("gevent [2 workers]"). The verdict
    is decided per line: per combination of the other axes."""
    return f"{point.pool} [{point.variant}]" if point.variant else point.pool


def groups(summary: SweepSummary) -> dict[str, dict[str, Curve]]:
    """{figure key: {curve name: Curve}}: pools in the usual order, each
    pool's variants (workers, varied settings) in the plan's order; overhead
    probes are not a figure of their own (they are drawn as a ceiling)."""
    out: dict[str, dict[str, list[PointSummary]]] = {}
    for point in measured_points(summary):
        out.setdefault(group_key(point), {}).setdefault(curve_name(point), []).append(point)
    result = {}
    for key, by_name in out.items():
        ordered = sorted(by_name.values(), key=lambda pts: POOLS.index(pts[0].pool))
        result[key] = {
            curve_name(pts[0]): Curve(pts[0].pool, sorted(pts, key=lambda p: p.concurrency), pts[0].variant)
            for pts in ordered
        }
    return result


def has_shapes(summary: SweepSummary) -> bool:
    """Do some points run several workers (a total-concurrency view helps)?"""
    return any(p.workers > 1 for p in summary.points)

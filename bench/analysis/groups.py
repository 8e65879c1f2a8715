"""How a sweep's points group: one figure per workload (size and pinning),
one curve per pool (and per workers and varied settings), ordered by -c."""

from dataclasses import dataclass

from bench.results.schema import point_label, point_name
from bench.workloads import POOLS


@dataclass(frozen=True)
class Curve:
    pool: str
    points: list  # the sweep summary's PointSummary records, ordered by -c
    variant: str = ""  # the workers and varied settings of its points ("2 workers, prefetch_multiplier=1")

    @property
    def name(self):
        return curve_name(self.points[0])

    @property
    def c(self):
        return [p.concurrency for p in self.points]

    def values(self, get):
        """`get(point)` of every point, e.g. values(lambda p: p.efficiency)."""
        return [get(p) for p in self.points]

    def medians(self):
        return [p.median_per_s for p in self.points]


def group_key(point):
    """Which figure a point belongs to: its workload, size and pinning."""
    return point_name(point.workload, point.task_ms, pinned=point.pinned)


def group_label(point):
    """The same, for people: "cpu 20 ms", "sleep 50 ms (1 CPU)"."""
    return point_label(point.workload, point.task_ms, pinned=point.pinned)


def curve_name(point):
    """The line a point belongs to in its figure: its pool, and its workers
    and varied settings when it has any ("gevent [2 workers]"). The verdict
    is decided per line: per combination of the other axes."""
    return f"{point.pool} [{point.variant}]" if point.variant else point.pool


def groups(summary):
    """{figure key: {curve name: Curve}}: pools in the usual order, each
    pool's variants (workers, varied settings) in the plan's order."""
    out = {}
    for point in summary.points:
        out.setdefault(group_key(point), {}).setdefault(curve_name(point), []).append(point)
    result = {}
    for key, by_name in out.items():
        ordered = sorted(by_name.values(), key=lambda pts: POOLS.index(pts[0].pool))
        result[key] = {
            curve_name(pts[0]): Curve(pts[0].pool, sorted(pts, key=lambda p: p.concurrency), pts[0].variant)
            for pts in ordered
        }
    return result


def has_shapes(summary):
    """Do some points run several workers (a total-concurrency view helps)?"""
    return any(p.workers > 1 for p in summary.points)

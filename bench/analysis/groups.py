"""How a sweep's points group: one figure per workload (size and pinning),
one curve per pool, ordered by -c."""

from dataclasses import dataclass

from bench.results.schema import point_label, point_name
from bench.workloads import POOLS


@dataclass(frozen=True)
class Curve:
    pool: str
    points: list  # the sweep summary's PointSummary records, ordered by -c

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


def groups(summary):
    """{figure key: {pool: Curve}} with pools in the usual order."""
    out = {}
    for point in summary.points:
        out.setdefault(group_key(point), {}).setdefault(point.pool, []).append(point)
    return {
        key: {
            pool: Curve(pool, sorted(pts, key=lambda p: p.concurrency))
            for pool, pts in sorted(by_pool.items(), key=lambda kv: POOLS.index(kv[0]))
        }
        for key, by_pool in out.items()
    }

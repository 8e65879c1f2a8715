"""How a sweep's points group: one figure per workload (size and pinning),
one curve per pool, ordered by -c."""

from dataclasses import dataclass

from bench.workloads import POOLS


@dataclass(frozen=True)
class Curve:
    pool: str
    points: list  # the sweep summary's point dicts, ordered by -c

    @property
    def c(self):
        return [p["concurrency"] for p in self.points]

    def values(self, key):
        return [p.get(key) for p in self.points]

    def medians(self):
        return [(p["throughput_per_s"] or {}).get("median") for p in self.points]


def group_key(point):
    """Which figure a point belongs to: its workload, size and pinning."""
    size = f"-{point['task_ms']:.4g}ms" if point["task_ms"] is not None else ""
    pin = f"-cpus{len(point['cpus'])}" if point["cpus"] else ""
    return f"{point['workload']}{size}{pin}"


def group_label(point):
    """The same, for people: "cpu 20 ms", "sleep 50 ms (1 CPU)"."""
    size = f" {point['task_ms']:.4g} ms" if point["task_ms"] is not None else ""
    pin = f" ({len(point['cpus'])} CPU)" if point["cpus"] else ""
    return f"{point.get('task') or point['workload']}{size}{pin}"


def groups(summary):
    """{figure key: {pool: Curve}} with pools in the usual order."""
    out = {}
    for point in summary["points"]:
        out.setdefault(group_key(point), {}).setdefault(point["pool"], []).append(point)
    return {
        key: {
            pool: Curve(pool, sorted(pts, key=lambda p: p["concurrency"]))
            for pool, pts in sorted(by_pool.items(), key=lambda kv: POOLS.index(kv[0]))
        }
        for key, by_pool in out.items()
    }

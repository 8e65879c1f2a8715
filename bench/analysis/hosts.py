"""Throughput against the number of hosts (a sweep's --host-counts): one
line per workload, pool, -c and other varied settings, its points by host
count, the ideal (linear from one host) and the ceiling (k times one
host's). Pure, from a sweep's summary."""

from collections.abc import Sequence
from dataclasses import dataclass

from bench.analysis.groups import group_label, measured_points, plural
from bench.results.sweep_records import PointSummary, SweepSummary

HOSTS_FIGURE = "throughput-vs-hosts"  # the figure's file stem (plot) and its link (report)


@dataclass(frozen=True)
class HostPoint:
    hosts: int  # agents the point ran on
    median_per_s: float | None  # tasks/s, median over its repeats; None: not measured
    ci95_low_per_s: float | None  # tasks/s, bootstrap 95% CI of the median; None with one repeat
    ci95_high_per_s: float | None  # tasks/s
    ceiling_per_s: float | None  # tasks/s, the point's ceiling (the sum of its hosts'); None: unbounded


@dataclass(frozen=True)
class HostLine:
    """One line of the throughput-against-hosts figure."""

    name: str  # "cpu 20 ms, prefork -c 2" (and the other varied settings)
    pool: str  # its pool (the figure's marker)
    points: tuple[HostPoint, ...]  # by host count, ascending

    @property
    def one_host_per_s(self) -> float | None:
        """The 1-host median, tasks/s: what the ideal line scales; None
        when 1 host was not measured."""
        return next((p.median_per_s for p in self.points if p.hosts == 1), None)

    @property
    def per_host_ceiling_per_s(self) -> float | None:
        """One host's ceiling, tasks/s: the fewest hosts' ceiling over
        their count (the hosts are meant to be alike); None: unbounded."""
        first = self.points[0]
        return None if first.ceiling_per_s is None else first.ceiling_per_s / first.hosts

    def ideal_per_s(self, hosts: int) -> float | None:
        """Linear scaling from one host: hosts x the 1-host median."""
        one = self.one_host_per_s
        return None if one is None else hosts * one

    def ceiling_per_s(self, hosts: int) -> float | None:
        """hosts x one host's ceiling."""
        per_host = self.per_host_ceiling_per_s
        return None if per_host is None else hosts * per_host

    @property
    def largest(self) -> HostPoint | None:
        """The measured point with the most hosts; None: none measured."""
        measured = [p for p in self.points if p.median_per_s is not None]
        return measured[-1] if measured else None

    @property
    def efficiency(self) -> float | None:
        """Scaling efficiency at the largest host count k:
        throughput(k) / (k x throughput(1)); None without both."""
        top, one = self.largest, self.one_host_per_s
        if top is None or top.median_per_s is None or not one or top.hosts == 1:
            return None
        return top.median_per_s / (top.hosts * one)


def host_lines(summary: SweepSummary) -> list[HostLine]:
    """[HostLine]: the points of a sweep with a host count, one line per
    workload, pool, -c, workers and varied settings, in plan order; [] when
    no point has a host count."""
    # (label, pool, -c, workers, settings) -> its points with their host count
    lines: dict[tuple[str, str, int, int, tuple[tuple[str, str], ...]], list[tuple[int, PointSummary]]] = {}
    for p in measured_points(summary):
        if p.host_count is None:
            continue
        lines.setdefault((group_label(p), p.pool, p.concurrency, p.workers, p.settings), []).append((p.host_count, p))
    out = []
    for (label, pool, c, workers, settings), points in lines.items():
        shape = f", {workers} workers" if workers != 1 else ""
        varied = "".join(f", {name}={text}" for name, text in settings)
        out.append(
            HostLine(
                name=f"{label}, {pool} -c {c}{shape}{varied}",
                pool=pool,
                points=tuple(
                    HostPoint(
                        hosts=hosts,
                        median_per_s=p.median_per_s,
                        ci95_low_per_s=p.throughput.ci95_low_per_s if p.throughput else None,
                        ci95_high_per_s=p.throughput.ci95_high_per_s if p.throughput else None,
                        ceiling_per_s=p.ceiling_per_s,
                    )
                    for hosts, p in sorted(points, key=lambda hp: hp[0])
                ),
            )
        )
    return out


def scales(lines: Sequence[HostLine]) -> bool:
    """Is there a figure to draw: some line measured at two host counts?"""
    return any(len([p for p in line.points if p.median_per_s is not None]) > 1 for line in lines)


def scaling_words(line: HostLine) -> str:
    """One line of reading: how the most hosts compare with one, e.g.
    "cpu 20 ms, prefork -c 2: 2 hosts give 1.94x the throughput of 1 host
    (scaling efficiency 97% = throughput(2) / (2 x throughput(1)))"."""
    top, one = line.largest, line.one_host_per_s
    if top is None or top.median_per_s is None:
        return f"{line.name}: not measured"
    if one is None:
        return f"{line.name}: 1 host was not measured, so there is no scaling efficiency"
    if top.hosts == 1:
        return f"{line.name}: measured on 1 host only ({one:,.1f} tasks/s)"
    k = top.hosts
    return (
        f"{line.name}: {plural(k, 'host')} give {top.median_per_s / one:.2f}x the throughput of 1 host "
        f"({top.median_per_s:,.1f} against {one:,.1f} tasks/s; scaling efficiency {line.efficiency:.0%} "
        f"= throughput({k}) / ({k} x throughput(1)))"
    )

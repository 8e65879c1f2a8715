"""A sweep over time: which of its points share a panel of the figure over
time of their workload, which repeat stands for each point, and what each
second of that repeat's series (bench/analysis/series.py) says of the
worker tree's memory and of its pool processes' births and deaths
(recycling). Pure: from the sweep's summary, its repeats' throughputs and
the rows of a series.

One figure per workload (a figure key of bench/analysis/groups.py). Its
panels: one per curve (pool, workers and varied settings), a line per -c;
where the sweep varied a recycling setting (max_tasks_per_child,
max_memory_per_child), one panel per point less its recycling settings
(`prefork -c 2`), a line per setting, recycling off first: the settings
side by side, where memory over time differs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.analysis.groups import curve_name, group_key, group_label, measured_points
from bench.analysis.recycling import recycling_rows
from bench.results.sweep_records import PointSummary, SweepSummary
from bench.workloads import POOLS


@dataclass(frozen=True)
class Line:
    """One point of a panel."""

    label: str  # what tells it from the panel's other lines: "-c 4", "max_tasks_per_child=100"
    point: PointSummary


@dataclass(frozen=True)
class Panel:
    """The points drawn together, one line each."""

    title: str  # "prefork", "gevent [prefetch_multiplier=1]", "prefork -c 2" (a recycling group)
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Group:
    """One figure over time: a workload's panels."""

    key: str  # the figure's key, as the sweep's other figures: "sleep-50ms"
    label: str  # for people: "sleep 50 ms"
    recycling: bool  # some panels set recycling settings against each other
    panels: tuple[Panel, ...]

    @property
    def points(self) -> list[PointSummary]:
        return [line.point for panel in self.panels for line in panel.lines]


@dataclass(frozen=True)
class Representative:
    """The repeat that stands for a point, and its series."""

    repeat: str  # its file's name less .json: "r02"
    of: int  # the point's ok repeats with a series, of which it is the median by throughput
    rows: tuple[Mapping[str, Any], ...]  # its series, a row a second (bench/analysis/series.py)


@dataclass(frozen=True)
class OverTime:
    """A sweep's figures over time: its groups, and the repeat drawn for
    each point that has one (a sweep recorded before format version 26 has
    none)."""

    groups: tuple[Group, ...]
    chosen: Mapping[str, Representative]  # point key -> its repeat

    def drawn(self) -> list[Group]:
        """The groups with a series for at least one of their points."""
        return [group for group in self.groups if any(p.key in self.chosen for p in group.points)]


def over_time_groups(summary: SweepSummary) -> list[Group]:
    """The figures over time of a sweep, in the order its points first
    appear; overhead probes (noop points the plan added) left out."""
    recycled = {row.point.key: row for row in recycling_rows(summary)}
    by_key: dict[str, dict[str, list[Line]]] = {}
    labels: dict[str, str] = {}
    for point in measured_points(summary):
        key = group_key(point)
        labels.setdefault(key, group_label(point))
        row = recycled.get(point.key)
        if row is not None:
            # the recycling group's words less the workload, which the figure's title says
            title, line = row.label.removeprefix(f"{group_label(point)} "), row.setting
        else:
            title, line = curve_name(point), f"-c {point.concurrency}"
        by_key.setdefault(key, {}).setdefault(title, []).append(Line(line, point))
    groups = []
    for key, panels in by_key.items():
        ordered = sorted(panels.items(), key=lambda item: POOLS.index(item[1][0].point.pool))
        groups.append(
            Group(
                key=key,
                label=labels[key],
                recycling=any(line.point.key in recycled for _, lines in ordered for line in lines),
                panels=tuple(Panel(title, tuple(_ordered(lines, recycled))) for title, lines in ordered),
            )
        )
    return groups


def _ordered(lines: list[Line], recycled: Mapping[str, Any]) -> list[Line]:
    """A curve's lines by -c; a recycling group's with recycling off first, then as planned."""
    if any(line.point.key in recycled for line in lines):
        return sorted(lines, key=lambda line: not recycled[line.point.key].off)
    return sorted(lines, key=lambda line: line.point.concurrency)


def median_repeat(throughputs: Sequence[float | None]) -> int | None:
    """The index of the repeat that stands for a point: the median by
    throughput of those with one (the lower of the middle two of an even
    count; equal ones in run order); None when none has one."""
    known = sorted((value, i) for i, value in enumerate(throughputs) if value is not None)
    if not known:
        return None
    return known[(len(known) - 1) // 2][1]


def tree_uss(rows: Sequence[Mapping[str, Any]]) -> list[tuple[int, float]]:
    """(second, bytes): the worker tree's USS (every process of every
    worker, summed) at each second with a memory sample."""
    out = []
    for row in rows:
        uss = [proc["uss_bytes"] for proc in row.get("memory") or () if proc.get("uss_bytes") is not None]
        if uss:
            out.append((row["t_s"], float(sum(uss))))
    return out


@dataclass(frozen=True)
class Lifetimes:
    """Pool processes that came or went while the series was sampled: a
    process first seen after its first sampled second was born (a
    replacement), one last seen before its last sampled second was gone."""

    born: tuple[int, ...]  # s, the second each was first seen in (one entry per process)
    gone: tuple[int, ...]  # s, the last second each was seen in


def lifetimes(rows: Sequence[Mapping[str, Any]]) -> Lifetimes:
    """The births and deaths of pool processes (never the worker's main
    process) within the seconds that have memory samples."""
    seen: dict[tuple[Any, Any], list[int]] = {}  # (node, pid) -> [first, last] second
    sampled = [row["t_s"] for row in rows if row.get("memory")]
    if not sampled:
        return Lifetimes((), ())
    for row in rows:
        for proc in row.get("memory") or ():
            if proc.get("main"):
                continue
            span = seen.setdefault((proc.get("node"), proc["pid"]), [row["t_s"], row["t_s"]])
            span[1] = row["t_s"]
    first, last = sampled[0], sampled[-1]
    born = sorted(start for start, _ in seen.values() if start > first)
    gone = sorted(end for _, end in seen.values() if end < last)
    return Lifetimes(tuple(born), tuple(gone))

"""A sweep's plan in words, for the user to see before it starts."""

import math
from collections.abc import Sequence
from typing import Protocol

from bench.analysis.estimate import Sized, estimate_s
from bench.analysis.groups import NOOP
from bench.results.words import host_words, point_label, recycles_nothing_words


class PlannedPoint(Sized, Protocol):
    """A point of the plan as its words need it (bench.sweep.point.Point, a layer above)."""

    @property
    def workload(self) -> str: ...
    @property
    def task(self) -> str | None: ...  # a user's task: its registered name
    @property
    def cpus(self) -> tuple[int, ...] | None: ...
    @property
    def variant(self) -> str: ...


class Repeats(Protocol):
    """How many repeats a point gets: a SweepConfig's or a Profile's."""

    @property
    def min_repeats(self) -> int: ...
    @property
    def max_repeats(self) -> int: ...


def describe(
    points: Sequence[PlannedPoint],
    profile: Repeats,
    repeats_left: int | None = None,
    hosts: Sequence[str] | None = None,
) -> str:
    """The planned matrix as text, for the user to see before it starts;
    `profile`: its min_repeats and max_repeats are the plan's (a
    SweepConfig's, which --repeats sets, or a Profile's); for a resumed
    sweep (`repeats_left`), the estimate covers only those.
    `hosts`: the --hosts names, to say which agents each host count uses."""
    lines = []
    counts = sorted({p.host_count for p in points if p.host_count is not None})
    if counts:
        lines.append("  hosts per point: " + "; ".join(f"{host_words(k)}: {_first_hosts(hosts, k)}" for k in counts))
    groups: dict[tuple, list[int]] = {}  # (workload, task_ms, task, pool, cpus, variant) -> its -c values
    for p in points:
        groups.setdefault((p.workload, p.task_ms, p.task, p.pool, p.cpus, p.variant), []).append(p.concurrency)
    for (workload, task_ms, task, pool, cpus, variant), values in groups.items():
        what = point_label(workload, task_ms, task=task)  # a user's task by its name
        pin = f" on {len(cpus)} pinned CPU(s) {list(cpus)}" if cpus else ""
        note = "  (solo runs one task at a time: -c 1 only)" if pool == "solo" else ""
        shape = f"  [{variant}]" if variant else ""
        if workload == NOOP:
            note = "  (Celery's own per-task cost: the no-op rate, a second ceiling)"
        lines.append(f"  {what:<14} {pool:<9} -c {','.join(map(str, values))}{pin}{shape}{note}")
    n = len(points)
    if repeats_left is not None:
        left_s = estimate_s(points, 1, fleet=bool(hosts)) / max(1, n) * repeats_left
        lines.append(f"  {n} point{'s' if n != 1 else ''}; {repeats_left} repeat{'s' if repeats_left != 1 else ''} "
                     f"left (at least); estimated {_duration(left_s)}")  # fmt: skip
        return "\n".join(lines)
    low = estimate_s(points, profile.min_repeats, fleet=bool(hosts))
    high = estimate_s(points, profile.max_repeats, fleet=bool(hosts))
    span = (
        f"{_duration(low)}" if profile.min_repeats == profile.max_repeats else f"{_duration(low)} to {_duration(high)}"
    )
    lines.append(
        f"  {n} point{'s' if n != 1 else ''} x {profile.min_repeats}"
        + (f"-{profile.max_repeats}" if profile.max_repeats != profile.min_repeats else "")
        + f" repeat{'s' if profile.max_repeats != 1 else ''} in fresh workers; estimated {span}"
    )
    return "\n".join(lines)


def left_out_lines(left_out: Sequence[tuple[str, str, Sequence[str]]]) -> list[str]:
    """One line for each pool and recycling setting a sweep does not run
    ((pool, setting, values), sweep.plan.left_out): why, in words."""
    return [
        f"not run: {pool} with {name}={','.join(values)}: {recycles_nothing_words(pool)}"
        for pool, name, values in left_out
    ]


def _first_hosts(hosts, k):
    """Which agents k hosts are, in words."""
    if not hosts or tuple(hosts) == ("all",):
        return f"the first {k} (by name) of the agents that answer"
    return ",".join(hosts[:k])


def _duration(seconds):
    minutes, secs = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"

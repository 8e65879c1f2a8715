"""A traffic mix's results per class, and the time its tasks sat reserved
in a worker while a slot was free: head-of-line blocking (issue 24). Pure.

A task is *reserved* from the moment a worker's consumer received it
(Celery's task_received, in the worker's main process), or from its ETA
when it came with a countdown and was held for it by design, until a pool
process started it. While it waits there, another slot of the run (of this
worker or another) may be idle: that is the time prefetching costs it, the
time it "waited while a slot was free". The slots are those that could
have run it: every worker's, or under dedicated routing those of the
workers consuming its queue (its lane). Their occupancy comes from
every task's start and end; a pool process hands over between two tasks in
a few milliseconds, so a task counts as having waited while a slot was free
only above FREE_WAIT_MIN_S of it.
"""

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.analysis.openloop import Tail, tail, tail_fields

FREE_WAIT_MIN_S = 0.010  # above a pool process's hand-over between two tasks


@dataclass(frozen=True)
class ClassTask:
    """One task of the mix, as the harness and the workers saw it."""

    klass: str  # its class's name
    origin: float  # s, monotonic: when it was published (a drained batch) or scheduled (open loop)
    started: float | None  # s, monotonic; None: never reported
    finished: float | None
    state: str | None  # Celery state of its first report; None: never reported
    received: float | None = None  # s, monotonic: its worker's consumer received it; None: not recorded
    lane: int = 0  # the queue it was sent to, of the workers that could run it (dedicated routing)


@dataclass(frozen=True)
class Occupancy:
    """How many of the run's slots were busy over time: a step function."""

    times: tuple[float, ...]  # breakpoints, ascending
    free_before: tuple[float, ...]  # s with a slot free from times[0] to each breakpoint
    free_after: tuple[bool, ...]  # whether a slot is free from each breakpoint to the next

    def free_s(self, start: float, end: float) -> float:
        """Seconds of [start, end] during which at least one slot was free."""
        return max(0.0, self._free_until(end) - self._free_until(start))

    def _free_until(self, t: float) -> float:
        if not self.times or t <= self.times[0]:
            return 0.0  # before the first task started: the slots were idle, but not yet the run's
        k = bisect.bisect_right(self.times, t) - 1
        return self.free_before[k] + ((t - self.times[k]) if self.free_after[k] else 0.0)


def occupancy(spans: Iterable[tuple[float, float]], slots: int) -> Occupancy:
    """The slots' occupancy from every task's (start, end)."""
    events: dict[float, int] = {}
    for start, end in spans:
        events[start] = events.get(start, 0) + 1
        events[end] = events.get(end, 0) - 1
    times = sorted(events)
    running, free_total = 0, 0.0
    free_before: list[float] = []
    free_after: list[bool] = []
    for i, t in enumerate(times):
        if i:
            free_total += (t - times[i - 1]) if free_after[-1] else 0.0
        free_before.append(free_total)
        running += events[t]
        free_after.append(running < slots)
    return Occupancy(tuple(times), tuple(free_before), tuple(free_after))


@dataclass(frozen=True)
class Reserved:
    """The time a class's tasks sat reserved in a worker before they started."""

    reserved_s: Tail  # received -> started, per task
    while_free_s: float  # summed over its tasks: reserved while a slot of the run was free
    waited_while_free: int  # tasks that waited so more than FREE_WAIT_MIN_S
    longest_while_free_s: float | None  # the longest such wait of one task; None: no task recorded


def _held(t: ClassTask) -> tuple[float, float] | None:
    """(from, to) of the time `t` sat reserved while it was due: from its
    receipt, or its ETA when it came with a countdown (held until then by
    design), to its start; None when either end is unknown."""
    if t.received is None or t.started is None:
        return None
    return max(t.received, t.origin), t.started


def reserved(tasks: Sequence[ClassTask], slots_busy: Occupancy) -> Reserved:
    waits = [held for t in tasks if (held := _held(t)) is not None]
    free = [slots_busy.free_s(received, max(received, started)) for received, started in waits]
    return Reserved(
        reserved_s=tail([max(0.0, started - received) for received, started in waits]),
        while_free_s=math.fsum(free),
        waited_while_free=sum(1 for f in free if f > FREE_WAIT_MIN_S),
        longest_while_free_s=max(free) if free else None,
    )


def class_fields(
    tasks: Sequence[ClassTask],
    names: Sequence[str],
    slots: int | Sequence[int],
    window: tuple[float, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per class name, its counts, throughput, wait, service and sojourn
    tails (from each task's origin) and the time its tasks sat reserved.
    `window` (open loop: [start, end) of the measured window, monotonic):
    only the tasks scheduled in it count, and throughput is its
    completions in it over its length; a drained batch's throughput is a
    class's completions over the batch's span (first start to last end).
    `slots`: of the run, or of each lane (the workers of each queue)."""
    ran = [(t.started, t.finished) for t in tasks if t.started is not None and t.finished is not None]
    lane_slots = [slots] if isinstance(slots, int) else list(slots)
    busy = [
        occupancy(
            [
                (t.started, t.finished)
                for t in tasks
                if t.lane == lane and t.started is not None and t.finished is not None
            ],
            count,
        )
        for lane, count in enumerate(lane_slots)
    ]
    if window is not None:
        span = window[1] - window[0]
    else:
        span = (max(f for _, f in ran) - min(s for s, _ in ran)) if ran else 0.0
    out = {}
    for name in names:
        mine = [t for t in tasks if t.klass == name]
        counted = mine if window is None else [t for t in mine if window[0] <= t.origin < window[1]]
        done = [t for t in counted if t.state == "SUCCESS" and t.started is not None and t.finished is not None]
        if window is None:
            completions = sum(1 for t in mine if t.state == "SUCCESS")
        else:
            completions = sum(1 for t in mine if t.finished is not None and window[0] <= t.finished < window[1])
        held = _reserved_by_lane(counted, busy)
        out[name] = {
            "tasks": {
                "counted": len(counted),
                "succeeded": len(done),
                "failed": sum(1 for t in counted if t.state is not None and t.state != "SUCCESS"),
                "not_finished": sum(1 for t in counted if t.state is None),
            },
            "throughput_per_s": completions / span if span > 0 else None,
            **tail_fields("wait", tail([_set(t.started) - t.origin for t in done])),
            **tail_fields("service", tail([_set(t.finished) - _set(t.started) for t in done])),
            **tail_fields("sojourn", tail([_set(t.finished) - t.origin for t in done])),
            **tail_fields("reserved", held.reserved_s),
            "reserved_while_free_s": held.while_free_s,
            "waited_while_free": held.waited_while_free,
            "longest_wait_while_free_s": held.longest_while_free_s,
        }
    return out


def _reserved_by_lane(tasks: Sequence[ClassTask], busy: Sequence[Occupancy]) -> Reserved:
    """`reserved` of tasks that may lie in several lanes, each against its own slots."""
    parts = [reserved([t for t in tasks if t.lane == lane], occ) for lane, occ in enumerate(busy)]
    if len(parts) == 1:
        return parts[0]
    waits = [held for t in tasks if (held := _held(t)) is not None]
    longest = [p.longest_while_free_s for p in parts if p.longest_while_free_s is not None]
    return Reserved(
        reserved_s=tail([max(0.0, started - received) for received, started in waits]),
        while_free_s=math.fsum(p.while_free_s for p in parts),
        waited_while_free=sum(p.waited_while_free for p in parts),
        longest_while_free_s=max(longest) if longest else None,
    )


def _set(value: float | None) -> float:
    assert value is not None  # a task that succeeded has its start and end
    return value


def class_tasks(
    class_of: Mapping[str, str],
    origins: Mapping[str, float],
    reports: Mapping[str, tuple[float, float, str]],
    received: Mapping[str, float],
    lane_of: Mapping[str, int] | None = None,
) -> list[ClassTask]:
    """One ClassTask per task of `class_of` (id -> class name), from its
    origin, its first report (id -> (started, finished, state)), when
    its worker received it (the first time) and its lane (class name ->
    the queue's index; None: one queue)."""
    out = []
    for task_id, name in class_of.items():
        report = reports.get(task_id)
        out.append(
            ClassTask(
                klass=name,
                origin=origins[task_id],
                started=report[0] if report else None,
                finished=report[1] if report else None,
                state=report[2] if report else None,
                received=received.get(task_id),
                lane=0 if lane_of is None else lane_of[name],
            )
        )
    return out

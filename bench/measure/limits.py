"""What a run under --cpu-limit/--memory-limit records: each worker's limits
as read back from its cgroup, and what the cgroups counted over the
measured window. Pure: the readings are taken by the runner (Crew.cgroups)."""

import dataclasses
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from bench.harness.cgroups import Applied, Figures, quota_concurrency
from bench.results.schema import LimitFigures, WorkerLimits


def worker_limits(applied: Applied, cpus: int, celery_default: int | None) -> WorkerLimits:
    """A worker's limits for the record: `applied`, read back from its
    cgroup; `cpus`, the CPUs it may run on; `celery_default`, the -c
    Celery's default picks there (billiard's cpu_count: os.cpu_count())."""
    cores = applied.cpu_cores
    return WorkerLimits(
        cgroup_version=applied.version,
        cpu_limit_cores=cores,
        cpu_quota_us=applied.cpu_quota_us,
        cpu_period_us=applied.cpu_period_us,
        memory_limit_bytes=applied.memory_limit_bytes,
        swap_limit_bytes=applied.swap_limit_bytes,
        celery_default_concurrency=celery_default,
        quota_concurrency=None if cores is None else quota_concurrency(cores, cpus),
    )


def celery_default_concurrency() -> int | None:
    """The -c a worker started without one picks: Celery 5.7 asks
    billiard.cpu_count(), which is os.cpu_count(), blind to the quota."""
    return os.cpu_count()


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def _sum(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if len(known) == len(values) and known else None


def window_figures(before: Sequence[Figures], after: Sequence[Figures]) -> LimitFigures:
    """What the workers' cgroups counted, each worker's `before` (at the
    window's start) and `after` (at its end) in the same order: the
    throttling in the window, summed; the memory high-water mark, the
    highest of any worker; OOM kills summed, from each worker's start."""
    throttled = _sum([_delta(a.throttled_s, b.throttled_s) for a, b in zip(after, before, strict=True)])
    throttled_periods = _sum(
        [_delta(a.throttled_periods, b.throttled_periods) for a, b in zip(after, before, strict=True)]
    )
    periods = _sum([_delta(a.periods, b.periods) for a, b in zip(after, before, strict=True)])
    peaks = [a.memory_peak_bytes for a in after if a.memory_peak_bytes is not None]
    return LimitFigures(
        throttled_s=throttled,
        throttled_periods=None if throttled_periods is None else int(throttled_periods),
        periods=None if periods is None else int(periods),
        memory_peak_bytes=max(peaks) if peaks else None,
        oom_kills=None if (kills := _sum([a.oom_kills for a in after])) is None else int(kills),
    )


def oom_losses(
    figures: LimitFigures,
    starts: Iterable[Mapping[str, Any]],
    published: Collection[str],
    finished: Collection[str],
    dead: Collection[tuple[int, int]],
    killed_mains: int,
) -> LimitFigures:
    """`figures` with what its OOM kills cost: `starts` are the workers'
    recorded task starts ({id, pid, started, node}); a task of `published`
    that a process of `dead` ((node, pid): gone before the window's end)
    had started and that never `finished` (no report) was lost to a kill;
    so was one Celery reported lost with its pool process (a start marked
    `worker_lost`, written by the main process: the child died before it
    wrote its own start), each its own process (a prefork child runs one
    task at a time).
    `killed_mains`: worker main processes that died of SIGKILL. Without
    OOM kills nothing is attributed (0 lost): a process that died otherwise
    is the health check's (restarts, lost)."""
    if not figures.oom_kills:
        return dataclasses.replace(figures, oom_lost_tasks=0, oom_lost_by_process=(), oom_killed_main=0)
    lost: dict[tuple[int, int | str], list[tuple[float, str]]] = {}
    seen: set[str] = set()
    for start in sorted(starts, key=lambda s: s["started"]):
        task, node, worker_lost = start["id"], start.get("node", 0), bool(start.get("worker_lost"))
        where: tuple[int, int | str] = (node, f"lost {task}") if worker_lost else (node, start["pid"])
        gone = worker_lost or where in dead
        if task in published and task not in finished and task not in seen and gone:
            seen.add(task)  # a redelivered task started twice counts once, where it first started
            lost.setdefault(where, []).append((start["started"], task))
    by_process = tuple(len(tasks) for tasks in sorted(lost.values()))
    return dataclasses.replace(
        figures, oom_lost_tasks=sum(by_process), oom_lost_by_process=by_process, oom_killed_main=killed_mains
    )

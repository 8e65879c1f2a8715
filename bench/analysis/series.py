"""A run second by second: what completed, what was in flight, the latency
of what finished, each worker process's memory, and the seconds in which
nothing completed while work was queued or running (stalls). Pure
functions over the publish times (an open-loop run's: each task's
scheduled send time), the task records and the memory samples.

Seconds count from the first publish of the measured batch (the origin
of the run document's samples). A second's counts are at its end; its
latency percentiles are the tasks whose first report came in it (nearest
rank, as the whole run's: always one of the values)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from bench.analysis.memory import Snapshot
from bench.analysis.stats import percentile
from bench.results.schema import SeriesFigures

DIGITS = 6  # s: microseconds, as the samples


class Execution(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def started(self) -> float: ...
    @property
    def finished(self) -> float: ...


def per_second(
    published: Mapping[str, float], executions: Sequence[Execution], snapshots: Sequence[Snapshot] = ()
) -> list[dict[str, Any]]:
    """One row per second from the first publish to the last finish:

    - t_s: the second's start, s from the first publish;
    - completions: executions finished in it (a task run twice counts twice);
    - in_flight, waiting, running: tasks published and not finished (first
      report), of them not started, and started, at its end;
    - wait_/sojourn_ p50, p99, max (s): of the tasks first reported in it; null
      when none was;
    - stall: nothing completed in it while tasks were in flight at its start
      and at its end;
    - memory: each worker process at the last sample in it (pid, node, main,
      bytes of RSS, USS, PSS, CPU s), and harness_rss_bytes, harness_uss_bytes:
      the harness's own; absent when no sample fell in it.
    """
    if not published:
        return []
    t0 = min(published.values())
    firsts: dict[str, tuple[float, float]] = {}
    for run in executions:
        if run.id in published:
            start, finish = firsts.get(run.id, (math.inf, math.inf))
            firsts[run.id] = (min(start, run.started), min(finish, run.finished))
    pubs = sorted(published.values())
    starts = sorted(s for s, _ in firsts.values())
    finishes = sorted(f for _, f in firsts.values())
    every = sorted(run.finished for run in executions if run.id in published)
    end = max([pubs[-1], *finishes])
    seconds = int(end - t0) + 1  # a finish at a second's very start is in that second
    waits: list[list[float]] = [[] for _ in range(seconds)]
    sojourns: list[list[float]] = [[] for _ in range(seconds)]
    for task, (start, finish) in firsts.items():
        k = min(seconds - 1, int(finish - t0))
        waits[k].append(start - published[task])
        sojourns[k].append(finish - published[task])
    samples = sorted(snapshots, key=lambda s: s.t)
    times = [s.t for s in samples]

    def before(times: list[float], t: float) -> int:  # events strictly before t: a second is [start, end)
        return bisect.bisect_left(times, t)

    def in_flight(t: float) -> int:
        return before(pubs, t) - before(finishes, t)

    rows = []
    for k in range(seconds):
        lo, hi = t0 + k, t0 + k + 1
        done = before(every, hi) - before(every, lo)
        started = before(starts, hi)
        row: dict[str, Any] = {
            "t_s": k,
            "completions": done,
            "in_flight": in_flight(hi),
            "waiting": before(pubs, hi) - started,
            "running": started - before(finishes, hi),
        }
        for name, values in (("wait", waits[k]), ("sojourn", sojourns[k])):
            ordered = sorted(values)
            row[f"{name}_p50_s"] = _round(percentile(ordered, 50))
            row[f"{name}_p99_s"] = _round(percentile(ordered, 99))
            row[f"{name}_max_s"] = _round(ordered[-1]) if ordered else None
        row["stall"] = done == 0 and in_flight(lo) > 0 and row["in_flight"] > 0
        i = bisect.bisect_left(times, hi) - 1  # the last sample before the second's end
        if i >= 0 and times[i] >= lo:
            row["memory"] = [
                {
                    "pid": r.pid,
                    "node": r.node,
                    "main": r.main,
                    "rss_bytes": r.rss,
                    "uss_bytes": r.uss,
                    "pss_bytes": r.pss,
                    "cpu_s": _round(r.cpu_s),
                }
                for r in samples[i].readings
            ]
            own = samples[i].harness
            if own is not None:
                row["harness_rss_bytes"], row["harness_uss_bytes"] = own.rss, own.uss
        rows.append(row)
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def series_figures(rows: Sequence[Mapping[str, Any]], file: str) -> SeriesFigures:
    """What the run document says of its series: its file, its seconds, the
    stall seconds and the longest run of them, the drift and what the
    seconds with a recycle completed."""
    longest = run = 0
    for row in rows:
        run = run + 1 if row["stall"] else 0
        longest = max(longest, run)
    first, last = drift((row["completions"] for row in rows), len(rows))
    return SeriesFigures(
        file=file,
        seconds=len(rows),
        stall_seconds=sum(1 for row in rows if row["stall"]),
        longest_stall_s=longest,
        first_tenth_per_s=first,
        last_tenth_per_s=last,
        **recycle_seconds(rows, len(rows)),
    )


def drift(completions: Iterable[int], seconds: int) -> tuple[float | None, float | None]:
    """(first, last): the mean completions a second over the first and the
    last tenth of a run's whole seconds (its first and last rows, partial
    seconds of ramp and drain, left out), from its rows' `completions` in
    order (`seconds` of them: read once, so a soak's file streams through);
    (None, None) under 4 rows."""
    whole = seconds - 2
    if whole < 2:
        return None, None
    tenth = max(1, whole // 10)
    first = last = 0
    for k, done in enumerate(completions):
        if 1 <= k <= tenth:
            first += done
        if whole - tenth < k <= whole:
            last += done
    return first / tenth, last / tenth


def recycle_seconds(rows: Iterable[Mapping[str, Any]], seconds: int) -> dict[str, Any]:
    """The throughput dip recycling costs, second by second: the whole
    seconds in which a pool process was replaced against the others, from
    the rows' `memory` (read once, as `drift`'s; `seconds` of them).

    A replacement is a pool process (not a worker's main one) in a row's
    memory and not in the row with memory before it; it was born between that
    sample and the one before, a second apart, so both its second and the
    one before count as seconds with a recycle. Rows without memory count
    in neither. The first and last rows, partial, are left out. Returns
    SeriesFigures' recycle_seconds (None: no row has memory),
    recycle_second_per_s and other_second_per_s (mean completions, None
    where there is no such second)."""
    known: set[tuple[int, int]] | None = None
    totals = {True: [0, 0], False: [0, 0]}  # a second with a recycle? -> [completions, seconds]
    held: list[Any] | None = None  # the row before: [k, completions, has memory, recycle], counted once passed

    def count(k: int, done: int, sampled: bool, recycle: bool) -> None:
        if sampled and 1 <= k <= seconds - 2:
            totals[recycle][0] += done
            totals[recycle][1] += 1

    for k, row in enumerate(rows):
        memory = row.get("memory")
        recycle = False
        if memory is not None:
            pool = {(r["node"], r["pid"]) for r in memory if not r["main"]}
            recycle = known is not None and bool(pool - known)
            known = pool  # the last row's only: bounded however many processes a soak replaces
        if held is not None:
            count(held[0], held[1], held[2], held[3] or recycle)
        held = [k, row["completions"], memory is not None, recycle]
    if held is not None:
        count(*held)
    if known is None:
        return {"recycle_seconds": None, "recycle_second_per_s": None, "other_second_per_s": None}
    (hit, hits), (rest, rests) = totals[True], totals[False]
    return {
        "recycle_seconds": hits,
        "recycle_second_per_s": round(hit / hits, 3) if hits else None,
        "other_second_per_s": round(rest / rests, 3) if rests else None,
    }

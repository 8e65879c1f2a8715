"""Memory growth of the worker processes over a run: how many KiB each
process (and the whole worker tree) keeps per task it completes, and how
many pool processes were replaced. Pure functions over the samples the
harness took (bench/measure/memory.py) and the task records: no psutil, no
clock.

A process's growth is the Theil-Sen slope of its USS against the tasks it
had completed by each sample (the median of the slopes between every two
samples: a few odd samples, a page the allocator returned, do not move
it), with Sen's 95% CI: scipy.stats.theilslopes' estimator, computed here
with numpy (tests/unit/test_memory_growth.py checks the two agree), so a
run does not import scipy.stats for it (half a second of CPU, in every
`python -m bench run`). USS is the memory only
that process holds (prefork's children share their parent's pages until
they write them: summed RSS would count those once per child); PSS splits
the shared pages fairly and is fitted too. A process that runs no task
itself (prefork's main process) is fitted against its worker's completed
tasks. The tree's growth is its summed USS against every task completed:
under recycling (max_tasks_per_child) it is bounded, whatever each child's.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple, Protocol

import numpy as np

from bench.analysis.stats import percentile
from bench.results.schema import MemoryGrowth, ProcessMemory

MIN_FIT_SAMPLES = 3  # fewer samples than this: no slope (two points have no spread to give a CI)
CONFIDENCE = 0.95
KIB = 1024
DIGITS = 3  # KiB: a thousandth of a KiB is finer than any page


class Reading(NamedTuple):
    """One process at one sample."""

    pid: int
    node: int  # the worker node whose tree it is in
    main: bool  # the worker's main process (the tree's root)
    rss: int  # bytes
    uss: int | None  # bytes; None: not readable
    pss: int | None  # bytes; None: not readable
    cpu_s: float  # user + system CPU seconds since it started


class Snapshot(NamedTuple):
    """Every worker process at one instant (s, on the records' monotonic clock),
    and the harness's own process (its node and main mean nothing)."""

    t: float
    readings: tuple[Reading, ...]
    harness: Reading | None = None  # None: not read
    # (node, pid) -> tasks that process had completed by t: a soak's, which keeps no executions; None: not counted
    done: Mapping[tuple[int, int], int] | None = None


@dataclass(frozen=True)
class Life:
    """When a process was seen (s, monotonic): first and last sample it was in."""

    pid: int
    node: int
    main: bool
    first_t: float
    last_t: float
    gone: bool  # not in the trees at a later sample, or at the end


@dataclass(frozen=True)
class MemorySeries:
    """What the sampler kept of a window: the snapshots (at most a bound
    of them: a long run's are thinned evenly), every process's life
    (not thinned), and the window's ends."""

    interval_s: float  # s between samples
    start_t: float  # s, monotonic: the window's first sample
    end_t: float  # s, monotonic: its last
    snapshots: tuple[Snapshot, ...]
    lives: tuple[Life, ...]


class Finished(Protocol):
    """A task execution as the fits see it (stats.TaskRecord has these)."""

    @property
    def pid(self) -> int: ...
    @property
    def node(self) -> int: ...
    @property
    def finished(self) -> float: ...


class Ran(Finished, Protocol):
    """A task execution with its start too."""

    @property
    def started(self) -> float: ...


def replacement_gaps(executions: Iterable[Ran], there: Iterable[int], mains: Iterable[int] = ()) -> list[float]:
    """What recycling costs a slot, s: for each pool process that appeared
    in the window (not in `there`, the processes at its start, nor a
    worker's main process), the time from the last task of a process it
    replaced to its own first task, on the same worker node: each newcomer,
    in the order of its first task, is paired with the latest process of
    its node that had run its last task by then and is not yet paired
    (prefork replaces a process once it exits)."""
    spans: dict[tuple[int, int], list[float]] = {}  # (node, pid) -> [first start, last finish]
    for run in executions:
        span = spans.setdefault((run.node, run.pid), [run.started, run.finished])
        span[0], span[1] = min(span[0], run.started), max(span[1], run.finished)
    skip = set(mains)
    newcomers = sorted((span[0], key) for key, span in spans.items() if key[1] not in set(there) | skip)
    paired: set[tuple[int, int]] = set()
    gaps = []
    for first_start, (node, pid) in newcomers:
        ended = [
            (span[1], key)
            for key, span in spans.items()
            if key[0] == node and key not in paired and key[1] != pid and key[1] not in skip and span[1] <= first_start
        ]
        if ended:
            last_finish, key = max(ended)
            paired.add(key)
            gaps.append(first_start - last_finish)
    return gaps


@dataclass(frozen=True)
class Fit:
    """A Theil-Sen slope and its 95% CI, per unit of x."""

    slope: float
    low: float
    high: float


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> Fit | None:
    """The Theil-Sen slope of ys against xs, with its 95% CI (Sen's, from
    the normal approximation of Kendall's tau); None with fewer than
    MIN_FIT_SAMPLES points, fewer than two distinct xs, or no CI."""
    if len(xs) < MIN_FIT_SAMPLES or len(set(xs)) < 2:
        return None
    if len(set(ys)) == 1:  # nothing moved: every pairwise slope is 0
        return Fit(0.0, 0.0, 0.0)
    slope, low, high = _sen(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), CONFIDENCE)
    if not all(math.isfinite(v) for v in (slope, low, high)):
        return None
    return Fit(slope, low, high)


_Z = {0.95: NormalDist().inv_cdf(0.025)}  # the normal quantile of Sen's CI, by confidence


def _sen(x: np.ndarray, y: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """(slope, low, high): the median of the slopes between every two
    points with distinct x, and Sen's (1968) CI from the normal
    approximation of Kendall's tau with ties, as scipy.stats.theilslopes
    (method 'separate') computes them; nan bounds where the variance is
    negative (many tied xs)."""
    dx = x[:, np.newaxis] - x
    dy = y[:, np.newaxis] - y
    slopes = np.sort(dy[dx > 0] / dx[dx > 0])
    z = _Z.get(confidence) or NormalDist().inv_cdf((1 - confidence) / 2)
    n, nt = len(y), len(slopes)
    sigsq = (n * (n - 1) * (2 * n + 5) - _tie_term(x) - _tie_term(y)) / 18.0
    if sigsq < 0:
        return float(np.median(slopes)), math.nan, math.nan
    sigma = math.sqrt(sigsq)
    upper = min(int(np.round((nt - z * sigma) / 2.0)), nt - 1)
    lower = max(int(np.round((nt + z * sigma) / 2.0)) - 1, 0)
    if lower >= nt or upper < 0:
        return float(np.median(slopes)), math.nan, math.nan
    return float(np.median(slopes)), float(slopes[lower]), float(slopes[upper])


def _tie_term(values: np.ndarray) -> float:
    """The sum of k (k - 1) (2k + 5) over each value repeated k > 1 times."""
    _, counts = np.unique(values, return_counts=True)
    k = counts[counts > 1].astype(float)
    return float(np.sum(k * (k - 1) * (2 * k + 5)))


def completed_by(finishes: Sequence[float], t: float) -> int:
    """How many of the sorted `finishes` were at or before `t`."""
    return bisect.bisect_right(finishes, t)


class _Finishes:
    """The tasks each process, each worker node and the tree had completed
    by a time: from every execution (a run), or from the counts each
    snapshot carries (a soak, which keeps no executions)."""

    def __init__(self, executions: Iterable[Finished]):
        self.by_pid: dict[int, list[float]] = {}
        self.by_node: dict[int, list[float]] = {}
        for run in executions:
            self.by_pid.setdefault(run.pid, []).append(run.finished)
            self.by_node.setdefault(run.node, []).append(run.finished)
        self.every = sorted(t for times in self.by_node.values() for t in times)
        for times in (*self.by_pid.values(), *self.by_node.values()):
            times.sort()

    def ran(self, series: MemorySeries) -> set[int]:
        if series.snapshots and series.snapshots[-1].done is not None:
            return {pid for _node, pid in series.snapshots[-1].done}
        return set(self.by_pid)

    def process(self, snap: Snapshot, life: Life) -> int:
        """By `snap`, the tasks `life`'s process completed (a main process
        that runs none itself, prefork's: its node's)."""
        if snap.done is not None:
            own = snap.done.get((life.node, life.pid))
            if own is None and life.main:
                return sum(n for (node, _pid), n in snap.done.items() if node == life.node)
            return own or 0
        finishes = self.by_pid.get(life.pid)
        if finishes is None and life.main:
            finishes = self.by_node.get(life.node)
        return completed_by(finishes or [], snap.t)

    def tree(self, snap: Snapshot) -> int:
        return sum(snap.done.values()) if snap.done is not None else completed_by(self.every, snap.t)


def memory_growth(series: MemorySeries, executions: Iterable[Ran] = ()) -> MemoryGrowth:
    """The growth of every process sampled at least MIN_FIT_SAMPLES times,
    and the tree's, from `series` and every task execution of the window
    (a task run twice leaked twice), or the counts of completed tasks its
    snapshots carry (a soak's). Recycles are the pool processes (not a
    worker's main one) that ran a task or were sampled, less the ones
    there at the first sample; their cost, the replacement_gaps."""
    executions = list(executions)
    counts = _Finishes(executions)
    mains = {life.pid for life in series.lives if life.main}
    pool_pids = ({life.pid for life in series.lives} | counts.ran(series)) - mains
    first = {r.pid for r in series.snapshots[0].readings} if series.snapshots else set()
    recycles = len(pool_pids - first) if series.snapshots else 0
    gaps = sorted(replacement_gaps(executions, first, mains))

    processes, unfitted = [], 0
    for life in sorted(series.lives, key=lambda life: (life.node, life.first_t, life.pid)):
        points = [(s, r) for s in series.snapshots for r in s.readings if r.pid == life.pid]
        if len(points) < MIN_FIT_SAMPLES:
            unfitted += 1
            continue
        xs = [counts.process(snap, life) for snap, _ in points]
        processes.append(_process(series, life, points, xs))
    tree_xs = [counts.tree(snap) for snap in series.snapshots]
    tree_points = [(s, _summed(s.readings)) for s in series.snapshots]
    tree = _growth(series, tree_points, tree_xs)
    # The harness's own memory, against the tasks done and the time: flat, or the harness leaks. Its RSS, in
    # the USS fields: its USS jumps when a process it started lets go of pages they shared (measured: +21 MB
    # in one second of a soak, RSS flat), which is no growth of its own.
    mine = [(s, s.harness._replace(uss=s.harness.rss)) for s in series.snapshots if s.harness is not None]
    harness = None
    if mine:
        growth = _growth(series, mine, [counts.tree(snap) for snap, _ in mine])
        harness = dataclasses.replace(growth, pid=mine[0][1].pid)
    return MemoryGrowth(
        interval_s=series.interval_s,
        snapshots=len(series.snapshots),
        recycles=recycles,
        tree=tree,
        processes=tuple(processes),
        unfitted=unfitted,
        harness=harness,
        replacement_first_task_p50_s=_round_s(percentile(gaps, 50)),
        replacement_first_task_max_s=_round_s(gaps[-1] if gaps else None),
        replacement_idle_share=idle_share(gaps, len(first - mains), executions),
    )


def idle_share(gaps: Sequence[float], slots: int, executions: Sequence[Ran]) -> float | None:
    """The share of the pool's slot time recycling left idle: the
    replacement gaps summed, over `slots` (the pool processes at the
    window's start) x the window (first task start to last task end). A
    slot-bound workload loses that share of its throughput; one bound by
    the cores (more slots than cores) less. None: no gap, no slot or no window."""
    if not gaps or slots < 1 or not executions:
        return None
    window = max(r.finished for r in executions) - min(r.started for r in executions)
    return round(sum(gaps) / (slots * window), 4) if window > 0 else None


def _process(series: MemorySeries, life: Life, points: list[tuple[Snapshot, Reading]], xs: Sequence[int]):
    growth = _growth(series, points, xs)
    born = 0.0 if life.first_t <= series.start_t else round(life.first_t - series.start_t, DIGITS)
    died = round(life.last_t - series.start_t, DIGITS) if life.gone else None
    cpu = points[-1][1].cpu_s - points[0][1].cpu_s
    return dataclasses.replace(
        growth, pid=life.pid, node=life.node, main=life.main, born_s=born, died_s=died, cpu_s=round(cpu, DIGITS)
    )


def _summed(readings: Sequence[Reading]) -> Reading:
    """The tree at one sample as one reading: every process's memory summed."""
    uss = None if any(r.uss is None for r in readings) else sum(r.uss or 0 for r in readings)
    pss = None if any(r.pss is None for r in readings) else sum(r.pss or 0 for r in readings)
    cpu = sum(r.cpu_s for r in readings)
    return Reading(0, 0, False, sum(r.rss for r in readings), uss, pss, cpu)


def _growth(series: MemorySeries, points: Sequence[tuple[Snapshot, Reading]], done: Sequence[int]) -> ProcessMemory:
    """The fits of one process (or the tree) over its `points` (snapshot,
    reading), x being `done`: the tasks it had completed by each; its
    `tasks` are those it completed from its first point to its last."""
    if not points:
        return ProcessMemory()
    xs = [float(n) for n in done]
    hours = [(snap.t - series.start_t) / 3600.0 for snap, _ in points]
    readings = [r for _, r in points]
    uss = [r.uss / KIB for r in readings if r.uss is not None]
    pss = [r.pss / KIB for r in readings if r.pss is not None]
    per_task = theil_sen(xs, uss) if len(uss) == len(xs) else None
    per_hour = theil_sen(hours, uss) if len(uss) == len(xs) else None
    pss_fit = theil_sen(xs, pss) if len(pss) == len(xs) else None
    return ProcessMemory(
        samples=len(points),
        tasks=done[-1] - done[0] if len(points) > 1 else 0,
        uss_first_bytes=readings[0].uss,
        uss_last_bytes=readings[-1].uss,
        uss_peak_bytes=max((r.uss for r in readings if r.uss is not None), default=None),
        pss_last_bytes=readings[-1].pss,
        rss_last_bytes=readings[-1].rss,
        kib_per_task=_round(per_task.slope) if per_task else None,
        ci95=_ci(per_task),
        kib_per_1000_tasks=_round(per_task.slope * 1000) if per_task else None,
        kib_per_hour=_round(per_hour.slope) if per_hour else None,
        kib_per_hour_ci95=_ci(per_hour),
        pss_kib_per_task=_round(pss_fit.slope) if pss_fit else None,
        pss_ci95=_ci(pss_fit),
    )


def _round_s(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _round(value: float) -> float:
    """A slope to 4 significant digits: to decimals, a slow growth at a high
    rate (0.00004 KiB a task is 26 KiB an hour at 185 tasks/s) read as 0,
    and a CI of (0, 0) as no growth, where its per-hour CI excluded 0."""
    return float(f"{value:.4g}")


def _ci(fit: Fit | None) -> tuple[float, float] | None:
    return None if fit is None else (_round(fit.low), _round(fit.high))


def includes_zero(ci: tuple[float, float] | None) -> bool | None:
    """Whether a slope's CI includes 0 (no growth told apart from none);
    None: no CI."""
    return None if ci is None else ci[0] <= 0.0 <= ci[1]


# A process's life as the sampler notes it: pid -> [node, main, first t, last t]
Book = dict[int, list]


def note(book: Book, snapshot: Snapshot) -> None:
    """Note in `book` every process of `snapshot` (the sampler does this at
    every sample, kept or thinned out)."""
    for r in snapshot.readings:
        book.setdefault(r.pid, [r.node, r.main, snapshot.t, snapshot.t])[3] = snapshot.t


def lives(book: Book, end_t: float) -> tuple[Life, ...]:
    """The lives of a `book`'s processes; one not seen at `end_t` (the last
    sample) is gone."""
    return tuple(
        Life(pid, node, main, first_t, last_t, gone=last_t < end_t)
        for pid, (node, main, first_t, last_t) in book.items()
    )


def series_of(snapshots: Sequence[Snapshot], interval_s: float) -> MemorySeries:
    """A series of every snapshot (nothing thinned), with its lives."""
    book: Book = {}
    for snap in snapshots:
        note(book, snap)
    start, end = (snapshots[0].t, snapshots[-1].t) if snapshots else (0.0, 0.0)
    return MemorySeries(interval_s, start, end, tuple(snapshots), lives(book, end))

"""The -c that fits a memory budget for an uptime: a pure model over what
was measured of a worker's memory (issue 25).

The worker tree's memory (PSS summed over its processes: the pages they
share split fairly, so summing it counts each page once) after running for
`uptime_s` at -c c:

    memory(c, uptime) = base + per_slot x slots(c) + slope x rate(c) x uptime

- `base`: what the worker holds with no slot, after its warm-up: prefork's
  main process (with what it shares with its children), the one process of
  the other pools;
- `per_slot`: what each slot adds: a prefork child (the difference of the
  tree's PSS between two -c, over the difference: the pages a child writes
  or maps alone, not its RSS, most of which it shares with its parent), a
  thread or a greenlet (a stack, a little allocator state);
- `slope`: bytes the tree keeps per task completed (a leak; the Theil-Sen
  slope of the tree's PSS against the tasks it completed, taken as 0 where
  its 95% CI includes 0, a slope told apart from none only, or in a young
  worker's run where it may be the worker's youth: YOUNG_TASKS);
- `rate(c)`: the throughput at c, tasks/s (predicted or measured), so that
  rate x uptime is the tasks run in the uptime.

Growth is taken as linear for the whole uptime (no recycling: with
--max-tasks-per-child a prefork child's leak is bounded instead). Solo runs
one task at a time whatever -c: its only -c is 1.

How the fixed part is measured (`fixed_bytes`): a run's tree PSS at its
last sample, less the slope x the tasks the worker had completed by then
(warm-up and measured batch), so a leaking task's warm-up does not count as
a slot's memory. `fit_slots` fits base + per_slot x c over two or more -c.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.analysis.profile import PoolPrediction, Prediction
from bench.results.schema import PointSummary, RunResult

KIB = 1024
# A young worker grows by itself (docs/soak.md): Celery remembers its last 1,000 task ids, and a prefork
# child grows over its first hundreds of tasks. A run warmed up over fewer tasks than YOUNG_TASKS has
# its slope taken only where even its CI's low end is above YOUNG_KIB_PER_TASK (the most a young worker
# was measured to keep a task, 1.06 KiB: a leak, not the worker's youth).
YOUNG_TASKS = 1000
YOUNG_KIB_PER_TASK = 1.5
# A prefork child is young over its first hundreds of tasks, and keeps more a task the younger it is: in
# `advise`'s quick runs of proj.tasks.mixed (5 + 20 ms), children that ran about 26 tasks each (-c 16) kept
# 3.4-4.8 KiB a task (CI up to 7.6), about 40 each (-c 8) 2.0-2.8 KiB (CI to 5.0). A run whose children ran
# fewer than YOUNG_CHILD_TASKS each has its slope taken only above YOUNG_CHILD_KIB_PER_TASK (a leak of 50 KiB a
# task still shows). profile's probe (PROBE_WARMUP over 3 children: 400 each, and more) stays past it, as its
# slopes were taken before; between 40 and 400 tasks a child, where youth ends is not measured.
YOUNG_CHILD_TASKS = 300
YOUNG_CHILD_KIB_PER_TASK = 10.0
DEFAULT_UPTIME_S = 8 * 3600.0  # the uptime a budget line is for unless --uptime says
MAX_C = 512  # the largest -c the search considers


@dataclass(frozen=True)
class BudgetAsk:
    """What the budget lines are for."""

    uptime_s: float = DEFAULT_UPTIME_S  # s the worker runs (--uptime)
    budget_bytes: int | None = None  # --memory-budget, bytes; None: only what each pool's -c needs


NO_BUDGET = BudgetAsk()  # the default: what each pool's -c needs after DEFAULT_UPTIME_S


@dataclass(frozen=True)
class RateCurve:
    """Throughput against -c: piecewise linear through (0, 0) and `points`
    ((c, tasks/s), c ascending); past the last point flat (the pool's bound
    is reached there) or, with `grows_beyond`, on the last point's line
    through the origin (no bound known: an upper bound of the tasks run)."""

    points: tuple[tuple[int, float], ...]
    grows_beyond: bool = False

    def __post_init__(self) -> None:
        if not self.points or any(c < 1 or r < 0 for c, r in self.points):
            raise ValueError("a rate curve needs points of -c >= 1 and a rate >= 0")
        if [c for c, _ in self.points] != sorted({c for c, _ in self.points}):
            raise ValueError("a rate curve's -c must ascend, each once")

    def at(self, c: int) -> float:
        """tasks/s at -c `c`."""
        cs = [p[0] for p in self.points]
        last_c, last_r = self.points[-1]
        if c >= last_c:
            return last_r * c / last_c if self.grows_beyond else last_r
        i = bisect.bisect_left(cs, c)
        if cs[i] == c:
            return self.points[i][1]
        c0, r0 = (0, 0.0) if i == 0 else self.points[i - 1]
        c1, r1 = self.points[i]
        return r0 + (r1 - r0) * (c - c0) / (c1 - c0)


@dataclass(frozen=True)
class PoolMemory:
    """What one pool's worker holds: the model's terms, measured."""

    pool: str
    base_bytes: float  # the worker tree with no slot, after warm-up, PSS, bytes
    per_slot_bytes: float  # what each slot adds (a prefork child's PSS it adds; a thread's, a greenlet's), bytes
    slope_bytes_per_task: float  # bytes the tree keeps per task completed (0: no growth told apart from none)
    rate: RateCurve  # tasks/s against -c
    basis: str  # how the terms were measured, with the numbers

    def __post_init__(self) -> None:
        if self.base_bytes < 0 or self.per_slot_bytes < 0 or self.slope_bytes_per_task < 0:
            raise ValueError("memory terms are >= 0")

    def bytes_at(self, c: int, uptime_s: float) -> float:
        """The worker tree's PSS after `uptime_s` at -c `c`, bytes."""
        slots = 1 if self.pool == "solo" else c
        return self.base_bytes + self.per_slot_bytes * slots + self.slope_bytes_per_task * self.tasks(c, uptime_s)

    def tasks(self, c: int, uptime_s: float) -> float:
        """Tasks completed in `uptime_s` at -c `c`."""
        return self.rate.at(1 if self.pool == "solo" else c) * uptime_s


@dataclass(frozen=True)
class BudgetLine:
    """One pool's answer: what -c `at_c` needs after the uptime, and the
    largest -c that fits the budget."""

    pool: str
    at_c: int  # the -c asked about (the predicted or measured best)
    needs_bytes: float  # the tree's PSS after the uptime at at_c, bytes
    tasks: float  # tasks completed in the uptime at at_c
    budget_bytes: int | None  # None: no budget given (only what at_c needs)
    fits_c: int | None  # the largest -c (up to at_c) within the budget; None: none fits, or no budget
    fits_bytes: float | None  # what fits_c needs, bytes
    least_bytes: float  # what -c 1 needs, bytes (the least any -c needs)
    memory: PoolMemory  # the terms the answer came from

    @property
    def fits(self) -> bool | None:
        """Whether at_c fits the budget; None: no budget."""
        return None if self.budget_bytes is None else self.needs_bytes <= self.budget_bytes


def budget_line(memory: PoolMemory, at_c: int, uptime_s: float, budget_bytes: int | None) -> BudgetLine:
    """What -c `at_c` needs after `uptime_s`, and the largest -c up to it
    within `budget_bytes` (memory grows with -c: the first -c over the
    budget ends the search)."""
    if at_c < 1 or uptime_s < 0:
        raise ValueError("a budget line needs -c >= 1 and an uptime >= 0")
    if memory.pool == "solo":
        at_c = 1
    needs = memory.bytes_at(at_c, uptime_s)
    fits_c = None
    if budget_bytes is not None:
        for c in range(1, min(at_c, MAX_C) + 1):
            if memory.bytes_at(c, uptime_s) > budget_bytes:
                break
            fits_c = c
    fits_bytes = memory.bytes_at(fits_c, uptime_s) if fits_c is not None else None
    least = memory.bytes_at(1, uptime_s)
    return BudgetLine(
        memory.pool, at_c, needs, memory.tasks(at_c, uptime_s), budget_bytes, fits_c, fits_bytes, least, memory
    )


def line_json(line: BudgetLine) -> dict[str, Any]:
    """A budget line as the documents keep it (numbers; output/budget.py words it)."""
    m = line.memory
    return {
        "pool": line.pool,
        "at_c": line.at_c,
        "needs_bytes": round(line.needs_bytes),
        "tasks": round(line.tasks),
        "fits": line.fits,
        "fits_c": line.fits_c,
        "fits_bytes": None if line.fits_bytes is None else round(line.fits_bytes),
        "least_bytes": round(line.least_bytes),
        "base_bytes": round(m.base_bytes),
        "per_slot_bytes": round(m.per_slot_bytes),
        "kib_per_task": m.slope_bytes_per_task / KIB,
        "per_s_at_c": m.rate.at(line.at_c),
        "basis": m.basis,
    }


def slope_used(kib_per_task: float | None, ci95: Sequence[float] | None, young_above: float | None = None) -> float:
    """The growth the model takes, bytes per task: the fitted slope where
    its 95% CI excludes 0 and it is positive; 0 otherwise (no slope, or one
    not told apart from none; a shrinking tree does not shrink forever).
    `young_above`: the run's worker was young (RunMemory.young_above): 0
    unless the CI's low end is above it, KiB per task."""
    if kib_per_task is None or ci95 is None or ci95[0] <= 0 <= ci95[1] or kib_per_task <= 0:
        return 0.0
    if young_above is not None and ci95[0] <= young_above:
        return 0.0
    return kib_per_task * KIB


def fixed_bytes(pss_last_bytes: float, slope_bytes_per_task: float, tasks_done: int) -> float:
    """A run's memory that is not growth: its tree PSS at the last sample
    less the slope x the tasks its worker had completed by then."""
    return max(0.0, pss_last_bytes - slope_bytes_per_task * tasks_done)


def fit_slots(fixed_by_c: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """(base, per_slot), bytes, of fixed memory = base + per_slot x c: the
    least-squares line over (c, fixed bytes) at two or more distinct -c;
    per_slot is held at 0 or above (a thread costs a stack, never less
    than nothing) and base then the mean of what is left."""
    cs = {c for c, _ in fixed_by_c}
    if len(cs) < 2:
        raise ValueError("the memory a slot adds needs runs at two -c or more")
    n = len(fixed_by_c)
    mean_c = math.fsum(c for c, _ in fixed_by_c) / n
    mean_m = math.fsum(m for _, m in fixed_by_c) / n
    num = math.fsum((c - mean_c) * (m - mean_m) for c, m in fixed_by_c)
    den = math.fsum((c - mean_c) ** 2 for c, _ in fixed_by_c)
    per_slot = max(0.0, num / den)
    base = max(0.0, mean_m - per_slot * mean_c)
    return base, per_slot


@dataclass(frozen=True)
class RunMemory:
    """What one run measured of its worker's memory (from its document)."""

    concurrency: int  # -c
    pss_last_bytes: int  # the tree's PSS at the last sample, bytes
    tasks_done: int  # tasks its worker had completed by then: warm-up and measured batch
    pss_kib_per_task: float | None  # the tree's PSS slope against tasks completed, KiB per task
    pss_ci95: tuple[float, float] | None  # its 95% CI, KiB per task
    per_s: float | None = None  # its throughput, tasks/s (None: not measured)
    warmup: int | None = None  # tasks its worker ran before the window; None: not known (taken as warm)
    pool: str | None = None  # its pool; None: not known (taken as one process)

    @property
    def young_above(self) -> float | None:
        """The KiB a task its slope must be above to count, where the
        worker was young: prefork children that ran fewer than
        YOUNG_CHILD_TASKS each, YOUNG_CHILD_KIB_PER_TASK; a worker warmed up
        over fewer than YOUNG_TASKS, YOUNG_KIB_PER_TASK; None: not young."""
        if self.pool == "prefork" and self.tasks_done < YOUNG_CHILD_TASKS * self.concurrency:
            return YOUNG_CHILD_KIB_PER_TASK
        if self.warmup is not None and self.warmup < YOUNG_TASKS:
            return YOUNG_KIB_PER_TASK
        return None


def pool_memory(
    pool: str,
    runs: Sequence[RunMemory],
    rate: RateCurve,
    slope_runs: Sequence[RunMemory] = (),
    slope_source: str = "",
) -> PoolMemory:
    """A pool's terms from its runs: the slope, the median of the runs'
    (each 0 unless its CI excludes 0), or of `slope_runs` where given
    (runs warmed up longer, named by `slope_source`); the fixed memory of
    each run; base and per slot fitted over them (two -c or more), or, for
    solo or runs at one -c only, base alone (per slot 0, said in the basis)."""
    if not runs:
        raise ValueError(f"{pool}: no run measured its memory")
    slopes = sorted(slope_used(r.pss_kib_per_task, r.pss_ci95, r.young_above) for r in (slope_runs or runs))
    mid = len(slopes) // 2
    slope = slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2
    fixed = [(r.concurrency, fixed_bytes(r.pss_last_bytes, slope, r.tasks_done)) for r in runs]
    cs = sorted({c for c, _ in fixed})
    runs_words = f"{len(runs)} run{'s' if len(runs) > 1 else ''} at -c {', '.join(map(str, cs))}"
    if pool == "solo" or len(cs) < 2:
        base, per_slot = math.fsum(m for _, m in fixed) / len(fixed), 0.0
        slots = "one slot" if pool == "solo" else "per slot not measured (runs at one -c): taken as 0"
        basis = f"{runs_words}: tree PSS {base / 2**20:.1f} MiB after warm-up; {slots}"
    else:
        base, per_slot = fit_slots(fixed)
        basis = (
            f"{runs_words}: base {base / 2**20:.1f} MiB + {per_slot / 2**20:.2f} MiB a slot "
            "(the tree's PSS after warm-up, fitted over -c)"
        )
    if slope:
        growth = f"{slope / KIB:.3g} KiB/task"
    elif any(r.young_above is not None for r in (slope_runs or runs)):
        bars = {r.young_above for r in (slope_runs or runs) if r.young_above is not None}
        if YOUNG_CHILD_KIB_PER_TASK in bars:
            why = f"prefork children under {YOUNG_CHILD_TASKS:,} tasks each: a slope counts above "
            why += f"{YOUNG_CHILD_KIB_PER_TASK:g} KiB/task only"
        else:
            why = f"warm-up under {YOUNG_TASKS:,} tasks: a slope counts above {YOUNG_KIB_PER_TASK:g} KiB/task only"
        growth = f"none told apart from a young worker's ({why})"
    else:
        growth = "no growth told apart from none (95% CI includes 0)"
    whose = f"the {slope_source} runs'" if slope_runs else "the runs'"
    basis += f"; growth: {growth} ({whose} tree PSS slope, median)"
    return PoolMemory(pool, base, per_slot, slope, rate, basis)


def run_memory(result: RunResult, per_s: float | None = None) -> RunMemory | None:
    """What a measured run says of its worker's memory; None: its memory was
    not sampled, or PSS not readable."""
    growth = result.summary.memory_growth if result.summary is not None else None
    if growth is None or growth.tree.pss_last_bytes is None:
        return None
    tree, cfg = growth.tree, result.config
    assert tree.pss_last_bytes is not None
    return RunMemory(
        cfg.concurrency or 1,
        tree.pss_last_bytes,
        (cfg.warmup or 0) + tree.tasks,
        tree.pss_kib_per_task,
        tree.pss_ci95,
        per_s,
        cfg.warmup,
        cfg.pool,
    )


# prefork's memory probe in `profile`: two runs whose difference is what a child adds
PROBE_C = (1, 3)
PROBE_S = 5.0  # s of calls measured in each, at the predicted rate
PROBE_WARMUP = 1200  # calls first: past the 1,000 task ids a young worker remembers (it grows until then)
PROBE_WARMUP_S = 8.0  # s the warm-up may take at the predicted rate, at most
PROBE_MIN_TASKS = 30
PROBE_MAX_TASKS = 1000


def probe_size(per_s: float) -> tuple[int, int]:
    """(warm-up, tasks) of a memory probe run at `per_s` tasks/s: the
    warm-up PROBE_WARMUP calls or PROBE_WARMUP_S long, the fewer; the calls
    measured about PROBE_S long."""
    warmup = min(PROBE_WARMUP, max(PROBE_MIN_TASKS, math.ceil(PROBE_WARMUP_S * per_s)))
    return warmup, min(PROBE_MAX_TASKS, max(PROBE_MIN_TASKS, math.ceil(PROBE_S * per_s)))


def predicted_rate(pool: PoolPrediction, service_s: float, measured: Sequence[tuple[int, float]] = ()) -> RateCurve:
    """A pool's throughput against -c from the profile's prediction: up to
    its bound at its best -c; where only Celery's overhead bounds it (no
    bound predicted), c / (C + W) however far (an upper bound of the
    tasks, so of the growth). `measured`: (c, tasks/s) the pool ran at
    (prefork's memory probe): the curve goes through them below the best
    -c, and, with no bound predicted, on the last one's line past it."""
    below = tuple(sorted((c, r) for c, r in measured if pool.best_c is None or c < pool.best_c))
    if pool.best_c is None or pool.per_s is None:
        return RateCurve(below or ((1, 1 / service_s),), grows_beyond=True)
    return RateCurve((*below, (pool.best_c, pool.per_s)))


def profile_budget(
    prediction: Prediction,
    solo: RunMemory,
    prefork: Sequence[RunMemory],
    uptime_s: float,
    budget_bytes: int | None,
) -> tuple[BudgetLine, ...]:
    """Per pool of the prediction, its budget line at its predicted best -c
    (the cores, rounded up, where none is predicted): prefork from its
    probe runs (their throughput too, below its best -c); the one-process pools from the solo run's process (per
    slot not measured); the growth from the prefork runs (warmed up past a
    young worker's growth)."""
    service_s = prediction.cpu_s + prediction.wait_s
    lines = []
    ran = [(r.concurrency, r.per_s) for r in prefork if r.per_s is not None]
    for p in prediction.pools:
        rate = predicted_rate(p, service_s, ran if p.pool == "prefork" else ())
        if p.pool == "prefork":
            memory = pool_memory("prefork", prefork, rate)
        else:
            memory = pool_memory(p.pool, [solo], rate, slope_runs=prefork, slope_source="prefork")
        at_c = p.best_c if p.best_c is not None else math.ceil(prediction.cores)
        lines.append(budget_line(memory, at_c, uptime_s, budget_bytes))
    return tuple(lines)


@dataclass(frozen=True)
class MeasuredPool:
    """One pool's curve of a sweep (or advise's points): its runs' memory and
    the median throughput at each -c measured."""

    pool: str
    label: str  # what tells this curve from the sweep's others ("" when it is the only one of its pool)
    runs: tuple[RunMemory, ...]  # every successful repeat whose memory was sampled
    per_s: tuple[tuple[int, float], ...]  # (c, median tasks/s), c ascending
    at_c: int | None = None  # the -c the line is for (advise's answer); None: the best median's


def measured_budget(
    pools: Sequence[MeasuredPool], uptime_s: float, budget_bytes: int | None
) -> tuple[tuple[str, BudgetLine], ...]:
    """Per measured pool, (its label, its budget line at its `at_c` or the
    -c of its best median throughput): base and per slot fitted over its -c, the growth
    its runs measured, the tasks at its measured throughput (flat past the
    largest -c measured). Pools without a run whose memory was sampled
    have none."""
    lines = []
    for p in pools:
        if not p.runs or not p.per_s:
            continue
        rate = RateCurve(tuple(sorted(p.per_s)))
        at_c = p.at_c if p.at_c is not None else max(p.per_s, key=lambda cr: (cr[1], -cr[0]))[0]
        lines.append((p.label, budget_line(pool_memory(p.pool, p.runs, rate), at_c, uptime_s, budget_bytes)))
    return tuple(lines)


def budget_json(labelled: Sequence[tuple[str, BudgetLine]], ask: BudgetAsk) -> dict[str, Any]:
    """A document's `budget` section: the ask and each line (with its label:
    what tells its curve from the others of its pool; "" for none)."""
    return {
        "uptime_s": ask.uptime_s,
        "budget_bytes": ask.budget_bytes,
        "memory": "the worker tree's PSS (shared pages split fairly), after the uptime",
        "pools": [{**line_json(line), "label": label} for label, line in labelled],
    }


def sweep_pools(measured: Sequence[tuple[PointSummary, Sequence[RunResult]]]) -> tuple[MeasuredPool, ...]:
    """A sweep's curves, one per pool, workload and variant (what else the
    sweep varied), from its points and each point's repeats: the memory of
    every successful repeat that sampled it, the point's median throughput."""
    curves: dict[tuple[str, str], tuple[list[RunMemory], list[tuple[int, float]]]] = {}
    for point, results in measured:
        size = f" {point.task_ms:g} ms" if point.task_ms is not None else ""
        what = point.task or f"{point.workload}{size}"
        label = ", ".join(filter(None, [what, point.variant]))
        runs, per_s = curves.setdefault((point.pool, label), ([], []))
        runs.extend(m for r in results if r.ok and (m := run_memory(r)) is not None)
        if point.median_per_s is not None:
            per_s.append((point.concurrency, point.median_per_s))
    return tuple(
        MeasuredPool(pool, label, tuple(runs), tuple(sorted(dict(per_s).items())))
        for (pool, label), (runs, per_s) in curves.items()
    )

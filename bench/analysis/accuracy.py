"""The model (mva.py) against what was measured: each point's predicted
throughput beside its measured median, the error, and whether the
predicted best -c of each curve is the measured one (pure)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from bench.analysis import mva
from bench.results.overheads import Calibration, PoolOverhead
from bench.results.sweep_records import PointSummary
from bench.workloads import Workload, point_workload

GOOD = 0.10  # a prediction within this of the measured median is good
BAD = 0.20  # one beyond this is wrong


def _one(p: PoolOverhead) -> mva.Overhead:
    return mva.Overhead(
        dispatch_s=1.0 / p.noop_per_s,
        worker_cpu_s=p.worker_cpu_per_task_s,
        main_cpu_s=p.main_cpu_per_task_s,
        other_cpu_s=(p.broker_cpu_per_task_s or 0.0) + p.harness_cpu_per_task_s,
    )


def overhead_of(measured: Sequence[PoolOverhead], concurrency: int) -> mva.Overhead | None:
    """The model's overhead at -c `concurrency` from a pool's no-op
    measurements (calibration.of(pool)): linear in -c between the measured
    ones, and beyond them along the same line, never falling (prefork's
    parent pays per child it polls; more children never make it cheaper)."""
    if not measured:
        return None
    points = sorted(measured, key=lambda p: p.concurrency)
    if len(points) == 1:
        return _one(points[0])
    lo, hi = (points[0], points[1]) if concurrency <= points[1].concurrency else (points[-2], points[-1])
    a, b = _one(lo), _one(hi)
    t = (concurrency - lo.concurrency) / (hi.concurrency - lo.concurrency)

    def at(x: float, y: float) -> float:
        if t <= 0:
            return x  # below the lowest -c measured: its own cost
        return x + t * (y - x) if t <= 1 else max(y, x + t * (y - x))

    return mva.Overhead(
        at(a.dispatch_s, b.dispatch_s),
        at(a.worker_cpu_s, b.worker_cpu_s),
        at(a.main_cpu_s, b.main_cpu_s),
        at(a.other_cpu_s, b.other_cpu_s),
    )


def demand_of(workload: Workload, task_ms: float | None) -> mva.TaskDemand | None:
    """A sized workload's C and W; None for the sizeless ones (only the
    overhead bounds them: a no-op has no demand of its own)."""
    if not workload.sized:
        return mva.TaskDemand(0.0, 0.0)
    size_s = (task_ms if task_ms is not None else workload.default_task_ms or 0.0) / 1000.0
    return mva.TaskDemand(size_s * workload.cpu_share, size_s * workload.io_share, workload.releases_gil)


def measured_demand(solo: PointSummary) -> mva.TaskDemand | None:
    """A built-in task's demand as measured: its service time run alone (the
    solo pool at -c 1, as `profile` runs a task), split by the workload's
    shares of CPU and waiting. A user's task has its profile's C and W."""
    workload = point_workload(solo)
    if solo.profile is not None:
        return mva.TaskDemand(*solo.profile, workload.releases_gil)
    if solo.service_p50_s is None or not workload.sized:
        return None
    total = solo.service_p50_s
    return mva.TaskDemand(total * workload.cpu_share, total * workload.io_share, workload.releases_gil)


def _task_key(p: PointSummary) -> tuple:
    return (p.workload, p.task_ms, p.task, p.settings, p.on_hosts)


def solo_demands(points: Iterable[PointSummary]) -> dict[tuple, mva.TaskDemand]:
    """Each task's demand from its solo -c 1 point (measured_demand), by _task_key."""
    out = {}
    for p in points:
        if p.pool == "solo" and p.workers == 1 and not p.cpus and (demand := measured_demand(p)) is not None:
            out[_task_key(p)] = demand
    return out


def model_point(
    point: PointSummary, calibration: Calibration | None, demand: mva.TaskDemand | None = None
) -> tuple[float, float] | None:
    """The model's (throughput, achievable bound) at a sweep point (one
    worker per -c, or its --workers by symmetry: each worker with its share
    of the cores), from `demand` (else the workload's sizes); None where the
    model has nothing to say (a no-op with no calibration, a point on other hosts)."""
    if point.on_hosts:
        return None
    demand = demand or demand_of(point_workload(point), point.task_ms)
    overhead = overhead_of(calibration.of(point.pool), point.concurrency) if calibration is not None else None
    if demand is None or (demand.cpu_s + demand.wait_s <= 0 and overhead is None):
        return None
    workers = max(1, point.workers)
    one = mva.predict(point.pool, point.concurrency, point.cores / workers, demand, overhead)
    return one.throughput_per_s * workers, one.achievable_per_s * workers


def predict_point(
    point: PointSummary, calibration: Calibration | None, demand: mva.TaskDemand | None = None
) -> float | None:
    """The model's throughput at a sweep point (model_point)."""
    found = model_point(point, calibration, demand)
    return found[0] if found else None


@dataclass(frozen=True)
class PointError:
    key: str
    workload: str
    pool: str
    concurrency: int
    predicted_per_s: float
    measured_per_s: float

    @property
    def error(self) -> float:
        """predicted / measured - 1: +0.10 is a prediction 10% too high."""
        return self.predicted_per_s / self.measured_per_s - 1.0


@dataclass(frozen=True)
class BestC:
    workload: str
    pool: str
    predicted_c: int  # the -c of the highest predicted throughput among the measured ones
    measured_c: int  # the -c of the highest measured median
    grid_steps: int  # how many measured -c values apart they are


@dataclass(frozen=True)
class Accuracy:
    points: tuple[PointError, ...]
    best: tuple[BestC, ...]

    @property
    def within_good(self) -> float:
        return sum(abs(p.error) <= GOOD for p in self.points) / len(self.points) if self.points else math.nan

    @property
    def beyond_bad(self) -> tuple[PointError, ...]:
        return tuple(p for p in self.points if abs(p.error) > BAD)

    @property
    def worst(self) -> PointError | None:
        return max(self.points, key=lambda p: abs(p.error), default=None)


def accuracy(points: Iterable[PointSummary], calibration: Calibration | None) -> Accuracy:
    """Every measured point of a sized workload, predicted, but for the
    points the model's inputs come from (the no-op points, a task's solo
    point) and the points with settings axes or on other hosts (the model
    has no term for them)."""
    points = list(points)
    measured = solo_demands(points)
    errors = []
    for p in points:
        if p.settings or p.throughput is None or p.throughput.median_per_s is None:
            continue
        if p.workload == "noop" or (p.pool == "solo" and _task_key(p) in measured):
            continue  # the model's own inputs: predicting them would test nothing
        predicted = predict_point(p, calibration, measured.get(_task_key(p)))
        if predicted is None:
            continue
        errors.append(PointError(p.key, p.workload, p.pool, p.concurrency, predicted, p.throughput.median_per_s))
    return Accuracy(tuple(errors), tuple(best_c(errors)))


def best_c(errors: Sequence[PointError]) -> list[BestC]:
    curves: dict[tuple[str, str], list[PointError]] = defaultdict(list)
    for e in errors:
        curves[(e.workload, e.pool)].append(e)
    out = []
    for (workload, pool), curve in sorted(curves.items()):
        if len(curve) < 2:
            continue
        grid = sorted(e.concurrency for e in curve)
        # The smallest -c within 1% of the best: a flat plateau's best is where it starts.
        top_p = max(e.predicted_per_s for e in curve)
        top_m = max(e.measured_per_s for e in curve)
        pc = min(e.concurrency for e in curve if e.predicted_per_s >= 0.99 * top_p)
        mc = min(e.concurrency for e in curve if e.measured_per_s >= 0.99 * top_m)
        out.append(BestC(workload, pool, pc, mc, abs(grid.index(pc) - grid.index(mc))))
    return out


def calibration_from_points(points: Iterable[PointSummary]) -> Calibration | None:
    """The overheads a sweep measured itself: its no-op points (one per pool
    in the default matrix), as a calibration; None when it has none. The
    broker's and the harness's CPU are not in a sweep's summary: taken as 0."""
    pools = []
    for p in points:
        if p.workload != "noop" or p.settings or p.workers != 1 or p.cpus or p.on_hosts:
            continue
        if p.throughput is None or not p.throughput.median_per_s or p.worker_cpu_cores is None:
            continue
        rate = p.throughput.median_per_s
        worker = p.worker_cpu_cores / rate
        main = p.worker_main_cpu_cores / rate if p.worker_main_cpu_cores is not None else worker
        pools.append(
            PoolOverhead(
                p.pool, p.concurrency, p.repeats, p.tasks, rate, p.throughput.values_per_s, worker, main, None, 0.0
            )
        )
    return Calibration({}, "", "the sweep's own no-op points", tuple(pools)) if pools else None


def with_predictions(points: list[PointSummary]) -> tuple[PointSummary, ...]:
    """The points, each with the model's throughput (predicted_per_s) and
    the overhead-aware ceiling (achievable_per_s: the lower of the physical
    ceiling and the model's bound with Celery's cost in it), their efficiency
    measured against the achievable, where the sweep has what the model
    needs: its no-op points for Celery's cost, and its task's solo point or
    profile for the task's."""
    calibration = calibration_from_points(points)
    if calibration is None:
        return tuple(points)
    measured = solo_demands(points)
    out = []
    for p in points:
        demand = measured.get(_task_key(p))
        if p.settings or (demand is None and p.workload != "noop") or not calibration.of(p.pool):
            out.append(p)
            continue
        found = model_point(p, calibration, demand)
        if found is None:
            out.append(p)
            continue
        predicted, bound = found
        achievable = min(bound, p.ceiling_per_s) if p.ceiling_per_s else bound
        median = p.throughput.median_per_s if p.throughput else None
        out.append(
            replace(
                p,
                predicted_per_s=predicted,
                achievable_per_s=achievable,
                efficiency=median / achievable if median is not None and achievable else p.efficiency,
            )
        )
    return tuple(out)


def predict_run(
    pool: str,
    concurrency: int,
    workers: int,
    cores: float,
    workload: Workload,
    task_ms: float | None,
    calibration: Calibration | None,
) -> float | None:
    """The model's throughput for one run's point: the workload's sizes (a
    user's task sized by its profile), Celery's cost from `calibration`;
    None without one (a run's own measurement has no no-op points)."""
    if calibration is None or not calibration.of(pool):
        return None
    demand = demand_of(workload, task_ms)
    if demand is None or (workload.estimated and not workload.sized):
        return None
    share = cores / max(1, workers)
    one = mva.predict(pool, concurrency, share, demand, overhead_of(calibration.of(pool), concurrency))
    return one.throughput_per_s * max(1, workers)

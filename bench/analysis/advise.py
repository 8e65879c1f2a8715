"""`advise`'s search and its answer (pure, over a callback that measures).

The model (mva.py) predicts every pool's curve; the search measures only
what decides the answer:

1. The pools whose predicted best is within PLATEAU_SPAN of the best pool's.
2. In each, the predicted knee first: the smallest -c of the grid whose
   prediction is within MIN_EFFECT of the pool's predicted best. A pool
   whose knee measures KNEE_GAP below the best knee stops there.
3. Then a climb on the measurements: the neighbours on the grid of the
   pool's best measured -c, until both are measured, and the lower
   neighbour of the pool's answer (below). A measurement that
   departs from the model (by more than DEPARTS) is where the model was
   wrong, and the climb follows the measurements from there: the search
   re-aims itself. A neighbour far below the best after one repeat
   (CLEARLY_LOWER) is not repeated further.
4. A pool whose best measured falls PLATEAU_SPAN below the best measured
   of any pool is dropped.

Each pool's answer is its smallest -c within MIN_EFFECT of its best median
(a cheaper worker that is not measurably slower); across pools the best
median wins, and pools within TIE of it go by PREFERENCE (the cheapest
concurrency: threads, then the green pools, then processes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from bench.analysis import mva
from bench.analysis.accuracy import overhead_of
from bench.analysis.profile import PREFERENCE, TIE
from bench.analysis.stats import Estimate, bootstrap_median, ratio_ci
from bench.results.overheads import Calibration

PLATEAU_SPAN = 0.30  # pools predicted (or measured) this far below the best are left out
MIN_EFFECT = 0.05  # a smaller difference is not worth a bigger worker
DEPARTS = 0.10  # a measurement this far from the model's prediction: the model was wrong there
CLEARLY_LOWER = 0.25  # one repeat this far below the pool's best is lower, whatever the noise
KNEE_GAP = 0.10  # a pool whose knee measures this far below the best pool's knee is not climbed
REPEATS = 3


@dataclass(frozen=True)
class Sample:
    """One repeat: what a fresh worker measured."""

    throughput_per_s: float
    memory_bytes: int | None = None  # the worker tree's peak PSS (USS where PSS is not readable)


@dataclass(frozen=True)
class PointResult:
    pool: str
    concurrency: int
    predicted_per_s: float | None
    samples: tuple[Sample, ...]

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(s.throughput_per_s for s in self.samples)

    @property
    def estimate(self) -> Estimate:
        return bootstrap_median(self.values)

    @property
    def median_per_s(self) -> float:
        return self.estimate.median

    @property
    def memory_bytes(self) -> int | None:
        known = sorted(s.memory_bytes for s in self.samples if s.memory_bytes is not None)
        return known[len(known) // 2] if known else None

    @property
    def model_error(self) -> float | None:
        """predicted / measured - 1."""
        if self.predicted_per_s is None or not self.median_per_s:
            return None
        return self.predicted_per_s / self.median_per_s - 1.0


@dataclass(frozen=True)
class Choice:
    pool: str
    concurrency: int
    point: PointResult


@dataclass(frozen=True)
class Advice:
    best: Choice | None  # None: nothing measured
    runner_up: Choice | None  # the best of the other pools
    per_pool: tuple[Choice, ...]  # each searched pool's answer, best first
    points: tuple[PointResult, ...]  # in the order measured
    searched: tuple[str, ...]  # the pools the search measured
    left_out: tuple[tuple[str, str], ...]  # (pool, why) for the pools it did not, or stopped
    departures: tuple[str, ...]  # where a measurement left the model by more than DEPARTS, in words
    confidence: str  # high | medium | low
    confidence_reason: str

    @property
    def runner_up_loss(self) -> float | None:
        """How much less the runner-up gives, as a fraction of the best."""
        if self.best is None or self.runner_up is None:
            return None
        return 1.0 - self.runner_up.point.median_per_s / self.best.point.median_per_s


def predict_curves(
    grids: Mapping[str, Sequence[int]], cores: float, demand: mva.TaskDemand, calibration: Calibration | None
) -> dict[str, dict[int, float]]:
    """The model's throughput of every pool at every -c of its grid. A task
    whose CPU may release the GIL or not (a user's whose GIL probe could not
    tell: bench.analysis.profile.gil_verdict) is predicted under threads as if it releases it: the higher bound, so
    that threads is measured whenever it could win, and the measurement
    decides (Pillow, numpy and most C extensions release it; pure Python
    does not)."""
    out = {}
    for pool, grid in grids.items():
        task = replace(demand, releases_gil=True) if pool == "threads" and demand.releases_gil is None else demand
        out[pool] = {
            c: mva.predict(
                pool, c, cores, task, overhead_of(calibration.of(pool), c) if calibration else None
            ).throughput_per_s
            for c in grid
        }
    return out


def task_demand(cpu_s: float, wait_s: float, releases_gil: bool | None, calibration: Calibration) -> mva.TaskDemand:
    """The task's own demand: its profiled CPU less what Celery's tracer
    spends on the same thread for any task (a no-op's thread CPU under
    solo), which the model counts in the per-task cost already."""
    solo = calibration.of("solo")
    tracer = solo[0].task_cpu_s if solo and solo[0].task_cpu_s is not None else 0.0
    return mva.TaskDemand(max(0.0, cpu_s - tracer), wait_s, releases_gil)


@dataclass(frozen=True)
class ModelKnee:
    """A pool's curve as the model predicts it with Celery's per-task cost:
    its knee (the smallest -c of the grid within MIN_EFFECT of its best)
    and the throughput there and at its best."""

    pool: str
    best_c: int
    per_s: float  # at best_c, tasks/s
    top_per_s: float  # the best of the grid, tasks/s
    curve: tuple[tuple[int, float], ...]  # (-c, tasks/s) over the grid


def model_knees(
    grids: Mapping[str, Sequence[int]], cores: float, demand: mva.TaskDemand, calibration: Calibration
) -> tuple[ModelKnee, ...]:
    """Each pool's knee on its grid, from the model with Celery's per-task
    cost (`calibration`), for a profile's prediction."""
    curves = predict_curves(grids, cores, demand, calibration)
    knees = []
    for pool, grid in grids.items():
        curve = curves[pool]
        at = knee(grid, curve)
        knees.append(ModelKnee(pool, at, curve[at], max(curve.values()), tuple((c, curve[c]) for c in grid)))
    return tuple(knees)


def knee(grid: Sequence[int], predicted: Mapping[int, float]) -> int:
    """The smallest -c of `grid` predicted within MIN_EFFECT of the pool's best."""
    top = max(predicted[c] for c in grid)
    return min(c for c in grid if predicted[c] >= (1 - MIN_EFFECT) * top)


def pool_answer(results: Sequence[PointResult]) -> PointResult:
    """The smallest -c whose median is within MIN_EFFECT of the pool's best
    (among points measured with all their repeats, where there are any)."""
    full = [r for r in results if len(r.samples) > 1] or list(results)
    top = max(r.median_per_s for r in full)
    return min((r for r in full if r.median_per_s >= (1 - MIN_EFFECT) * top), key=lambda r: r.concurrency)


@dataclass
class Search:
    """The adaptive search. `measure(pool, c)` runs one repeat in a fresh
    worker; `predicted[pool][c]` is the model's throughput on the pool's grid
    (the grid is its keys, in order); `say` reports progress."""

    predicted: Mapping[str, Mapping[int, float]]
    measure: Callable[[str, int], Sample]
    repeats: int = REPEATS
    say: Callable[[str], None] = lambda line: None
    results: dict[tuple[str, int], PointResult] = field(default_factory=dict)
    order: list[tuple[str, int]] = field(default_factory=list)

    def grid(self, pool: str) -> list[int]:
        return sorted(self.predicted[pool])

    def _measure_point(self, pool: str, c: int, reference: float | None) -> PointResult:
        samples: list[Sample] = []
        for i in range(self.repeats):
            samples.append(self.measure(pool, c))
            if i == 0 and reference is not None and samples[0].throughput_per_s < (1 - CLEARLY_LOWER) * reference:
                break  # far below the best already: more repeats cannot change the answer
        result = PointResult(pool, c, self.predicted[pool].get(c), tuple(samples))
        self.results[(pool, c)] = result
        self.order.append((pool, c))
        error = result.model_error
        note = f" (model {result.predicted_per_s:.0f}/s, {error:+.0%})" if error is not None else ""
        self.say(f"  {pool:<9} -c {c:<4} {result.median_per_s:8.1f} tasks/s over {len(samples)} run(s){note}")
        return result

    def _measured(self, pool: str) -> list[PointResult]:
        return [r for (p, _), r in self.results.items() if p == pool]

    def _best_measured(self) -> float:
        return max((r.median_per_s for r in self.results.values()), default=0.0)

    def _climb(self, pool: str) -> str | None:
        """Measure the pool until its best -c is bracketed; returns why it
        stopped early, if it did."""
        grid = self.grid(pool)
        start = knee(grid, self.predicted[pool])
        if (pool, start) not in self.results:
            self._measure_point(pool, start, None)
        while True:
            mine = self._measured(pool)
            best = max(mine, key=lambda r: (r.median_per_s, -r.concurrency))
            if best.median_per_s < (1 - PLATEAU_SPAN) * self._best_measured():
                return f"measured {1 - best.median_per_s / self._best_measured():.0%} below the best pool"
            i = grid.index(best.concurrency)
            todo = [grid[j] for j in (i + 1, i - 1) if 0 <= j < len(grid) and (pool, grid[j]) not in self.results]
            # The answer is the smallest -c within MIN_EFFECT of the best: its lower
            # neighbour must be measured too, to show it is lower.
            answer = grid.index(pool_answer(mine).concurrency)
            if not todo and answer > 0 and (pool, grid[answer - 1]) not in self.results:
                todo = [grid[answer - 1]]
            if not todo:
                return None
            self._measure_point(pool, todo[0], best.median_per_s)

    def run(self) -> Advice:
        tops = {pool: max(curve.values()) for pool, curve in self.predicted.items() if curve}
        best_predicted = max(tops.values())
        candidates = sorted(
            (p for p, top in tops.items() if top >= (1 - PLATEAU_SPAN) * best_predicted), key=lambda p: -tops[p]
        )
        left_out = [
            (p, f"predicted {1 - top / best_predicted:.0%} below the best pool")
            for p, top in tops.items()
            if p not in candidates
        ]
        # Every candidate's knee first; only the pools whose knee comes near the
        # best one's are climbed (a plateau predicted flat rarely hides 10% more).
        for pool in candidates:
            self._measure_point(pool, knee(self.grid(pool), self.predicted[pool]), None)
        knees = {p: self.results[(p, knee(self.grid(p), self.predicted[p]))].median_per_s for p in candidates}
        best_knee = max(knees.values())
        for pool in sorted(candidates, key=lambda p: -knees[p]):
            if knees[pool] < (1 - KNEE_GAP) * best_knee:
                left_out.append((pool, f"its knee measured {1 - knees[pool] / best_knee:.0%} below the best pool's"))
                continue
            why = self._climb(pool)
            if why is not None:
                left_out.append((pool, why))
        return self.advice(candidates, left_out)

    def advice(self, searched: Sequence[str], left_out: Sequence[tuple[str, str]]) -> Advice:
        points = tuple(self.results[k] for k in self.order)
        # Every pool measured has an answer (a pool left early has its best so far): the winner is
        # the best of them, and the runner-up the best of the others.
        answers = [pool_answer(self._measured(p)) for p in searched if self._measured(p)]
        answers.sort(key=lambda r: -r.median_per_s)
        departures = tuple(
            f"{r.pool} -c {r.concurrency}: measured {r.median_per_s:.0f}/s, the model said {r.predicted_per_s:.0f}/s"
            for r in points
            if r.model_error is not None and r.predicted_per_s is not None and abs(r.model_error) > DEPARTS
        )
        if not answers:
            return Advice(
                None, None, (), points, tuple(searched), tuple(left_out), departures, "low", "nothing measured"
            )
        top = answers[0].median_per_s
        tied = [r for r in answers if r.median_per_s >= (1 - TIE) * top]
        winner = min(tied, key=lambda r: PREFERENCE.index(r.pool))
        others = [r for r in answers if r.pool != winner.pool]
        runner = others[0] if others else None
        choice = lambda r: Choice(r.pool, r.concurrency, r)  # noqa: E731
        confidence, reason = _confidence(winner, runner, departures, len(points))
        return Advice(
            choice(winner),
            choice(runner) if runner else None,
            tuple(choice(r) for r in answers),
            points,
            tuple(searched),
            tuple(left_out),
            departures,
            confidence,
            reason,
        )


def _confidence(
    winner: PointResult, runner: PointResult | None, departures: Sequence[str], measured: int
) -> tuple[str, str]:
    """How sure the answer is, and why, from the winner's interval, the gap
    to the runner-up and how well the model held."""
    width = winner.estimate.ci_rel_width
    if width is None or width > 0.20:
        return "low", "the winner's throughput varied widely between runs (95% CI wider than 20%)"
    if len(departures) > measured / 2:
        return "medium", "the model missed more than half the points measured: the search leaned on measurements"
    if runner is None:
        return "high", "only one pool was worth measuring here"
    low, high = ratio_ci(runner.values, winner.values)
    if high < 1.0:
        return "high", f"the runner-up ({runner.pool}) is measurably slower (95% CI of the ratio {low:.2f}-{high:.2f})"
    if runner.median_per_s >= (1 - TIE) * winner.median_per_s:
        return (
            "medium",
            f"{runner.pool} measured the same within {TIE:.0%}: {winner.pool} wins as the cheaper concurrency",
        )
    return "medium", f"the runner-up ({runner.pool}) is slower, but not measurably so in {len(winner.values)} runs"

"""Stored results over time: one series per point (or benchmark), the
changes found in each, and whether the newest result is a step for the worse.

The rule, per series: its results in the order they were measured, each
reduced to the median of its repeats (with a bootstrap 95% CI, as compare
computes it), the analysis on the log of those medians, so a change is a
ratio whatever the level:

1. Where the level may move: ruptures' PELT (l2 cost, a segment may be a
   single result, so the newest result can be one) with the penalty
   PENALTY x sigma^2 x ln n, sigma the noise of one result's median, taken
   robustly from successive differences (MAD / sqrt 2, so the steps
   themselves hardly count), and at least the repeats' own standard error of
   the median and MIN_NOISE.
2. Each candidate is weighed against the results either side of it, up to
   the neighbouring candidates: the change is the ratio of the geometric
   means of their medians, minus 1; how sure, a two-sided Student t-test on
   their log medians (pooled variance) and the t-based 95% CI of the change.
   A candidate whose change is below the threshold goes first, the smallest
   first (so a wobble beside a real step cannot leave that step one result
   against one, with no degree of freedom to test it); then, while one has
   p >= ALPHA, the one with the largest p; the neighbours of each one
   dropped are weighed again. This is the merge step of Hunter (Fleming
   et al., "Hunter: Using Change Point Detection to Hunt for Performance
   Regressions", ICPE 2023), the algorithm of Apache Otava.
3. What is left are the changes: at which result, from what to what, by how
   much, how sure.

The test's unit is a result, not a repeat: the medians' spread from one
result to the next (a machine's day-to-day drift) is the noise a change must
stand out from. A single result on one side can be a change (the newest
one, say) when the other side has enough results to know the noise by.

Why ruptures: it is maintained, needs only numpy and scipy, ships wheels
(CPython 3.11 to 3.13; 3.14 builds it from source), and PELT gives the
exact optimum of the penalised cost. Apache Otava 0.8 (E-divisive, with this
merge step) pins numpy 2.2 and scipy < 1.17 on Python 3.11 (a downgrade
here) and brings BigQuery, Postgres and Slack clients; MongoDB's
signal-processing-algorithms needs numpy < 2 and ships no wheel.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.analysis.compare import environment_changes
from bench.analysis.stats import bootstrap_median
from bench.errors import Regression, UsageError
from bench.results.history import SeriesKey, StoredResult

__all__ = ["SeriesKey", "StoredResult"]  # the inputs, defined where they are read

MIN_RESULTS = 3  # stored results, to look for a change at all (two: use compare)
ALPHA = 0.01  # largest p-value of a change: stricter than compare's, as every series is tested at every result
PENALTY = 3.0  # PELT's penalty, in sigma^2 x ln n: BIC's 2, raised as sigma is itself estimated
MIN_NOISE = 0.001  # the least noise of a log median assumed (0.1%): identical values are not noise-free
MEDIAN_SE = math.sqrt(math.pi / 2)  # the standard error of a normal sample's median, in sd / sqrt(n)
ENVIRONMENT_LEFT_OUT = ("git commit",)  # a history's results differ in commit: that is what it is about
# A result's time when it has none: before every other.
NO_TIME = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Level:
    """One result's value in one series."""

    result: int  # index of the result in History.results (date order)
    median: float  # median of its repeats, in the series' unit
    ci95: tuple[float, float] | None  # 95% CI of the median, in the unit; None with a single value
    repeats: int  # successful repeats (a benchmark's rounds) behind it
    failed: int  # repeats that failed


@dataclass(frozen=True)
class Change:
    """A change found in one series."""

    key: SeriesKey  # which series
    at: int  # index in History.results of the first result after the change
    before: float  # geometric mean of the medians since the previous change, in the unit
    after: float  # the same until the next change
    change: float  # after / before - 1: -0.2 is 20% lower
    change_ci95: tuple[float, float] | None  # Student t 95% CI of the change; None without a degree of freedom
    p_value: float  # two-sided Student t-test of the log medians either side
    results_before: int  # results in the segment before it
    results_after: int  # results in the segment after it

    @property
    def worse(self) -> bool:
        """Throughput down, or time up."""
        return (self.change < 0) == self.key.higher_is_better


@dataclass(frozen=True)
class Series:
    """One series over the stored results."""

    key: SeriesKey  # what is measured
    levels: tuple[Level, ...]  # the results that measured it, in date order
    changes: tuple[Change, ...]  # in date order
    failed_at: tuple[int, ...] = ()  # results (History.results indexes) in which every repeat of it failed


@dataclass(frozen=True)
class EnvironmentChange:
    """What a result was measured with that the one before it was not."""

    at: int  # index in History.results
    changes: tuple[tuple[str, str, str], ...]  # (fact, before, after): compare's facts and the host


@dataclass(frozen=True)
class History:
    results: tuple[StoredResult, ...]  # in the order they were measured
    series: tuple[Series, ...]  # in the order first met
    threshold: float  # the smallest change that counts, fraction
    alpha: float  # the largest p-value of a change
    environment_changes: tuple[EnvironmentChange, ...]  # between consecutive results

    @property
    def changes(self) -> tuple[Change, ...]:
        """Every change found, in date order."""
        return tuple(sorted((c for s in self.series for c in s.changes), key=lambda c: c.at))

    @property
    def newest(self) -> int:
        return len(self.results) - 1


def in_date_order(results: Sequence[StoredResult]) -> list[StoredResult]:
    """Oldest first; a result without a time first of all, then by path (a
    sweep's directory name starts with its UTC start)."""
    return sorted(results, key=lambda r: (r.measured is not None, r.measured or NO_TIME, r.path))


def build_history(results: Sequence[StoredResult], threshold: float, alpha: float = ALPHA) -> History:
    """The series of `results` (any order) and the changes in each;
    UsageError with fewer than MIN_RESULTS results."""
    if len(results) < MIN_RESULTS:
        raise UsageError(
            f"{len(results)} stored result(s) found; a history needs at least {MIN_RESULTS} "
            "(two are compared with `python -m bench compare`)"
        )
    ordered = in_date_order(results)
    keys = list(dict.fromkeys(key for r in ordered for key in r.samples))
    series = tuple(_series(key, ordered, threshold, alpha) for key in keys)
    return History(tuple(ordered), series, threshold, alpha, _environment_changes(ordered))


def _series(key: SeriesKey, results: Sequence[StoredResult], threshold: float, alpha: float) -> Series:
    levels, failed_at = [], []
    for index, result in enumerate(results):
        sample = result.samples.get(key)
        if sample is None:
            continue
        if not sample.values:
            if sample.failed:
                failed_at.append(index)
            continue
        if sample.median is not None:
            levels.append(Level(index, sample.median, sample.ci95, len(sample.values), sample.failed))
            continue
        est = bootstrap_median(sample.values)
        ci = (est.ci_low, est.ci_high) if est.ci_low is not None and est.ci_high is not None else None
        levels.append(Level(index, est.median, ci, len(sample.values), sample.failed))
    within = [_median_se(result.samples[key].values) for result in results if key in result.samples]
    steps = find_changes([lv.median for lv in levels], threshold, alpha, [w for w in within if w is not None])
    changes = tuple(
        Change(
            key=key,
            at=levels[step.at].result,
            before=step.before,
            after=step.after,
            change=step.after / step.before - 1,
            change_ci95=step.change_ci95,
            p_value=step.p_value,
            results_before=step.results_before,
            results_after=step.results_after,
        )
        for step in steps
    )
    return Series(key, tuple(levels), changes, tuple(failed_at))


def _median_se(values: Sequence[float]) -> float | None:
    """The standard error of the log median of one result's repeats; None
    with fewer than 2 (positive) values."""
    logs = np.log([v for v in values if v > 0])
    if logs.size < 2:
        return None
    return float(MEDIAN_SE * np.std(logs, ddof=1) / math.sqrt(logs.size))


@dataclass(frozen=True)
class Step:
    """A change found by find_changes, by position in the values given."""

    at: int  # index of the first value after it
    before: float  # geometric mean of the values since the previous step
    after: float  # geometric mean until the next step
    change_ci95: tuple[float, float] | None  # t-based 95% CI of after / before - 1; None without a degree of freedom
    p_value: float  # two-sided Student t-test on the logs either side
    results_before: int  # values in the segment before
    results_after: int  # values in the segment after


def find_changes(
    values: Sequence[float], threshold: float, alpha: float = ALPHA, within_se: Sequence[float] = ()
) -> list[Step]:
    """The changes in a series of positive values (see the module docstring
    for the rule). `within_se`: each value's own standard error on the log
    scale, where known (from its repeats): the noise is at least their RMS."""
    logs = np.log(np.asarray(values, dtype=float))
    n = logs.size
    if n < MIN_RESULTS or not np.all(np.isfinite(logs)):
        return []
    cuts = candidates(logs, noise(logs, within_se))
    while cuts:
        steps = [_weigh(logs, start, cut, end) for start, cut, end in _neighbours(cuts, n)]
        small = [s for s in steps if abs(s.after / s.before - 1) < threshold]
        if small:
            weakest = min(small, key=lambda s: abs(math.log(s.after / s.before)))
        else:
            weakest = max(steps, key=lambda s: s.p_value)
            if weakest.p_value < alpha:
                return steps
        cuts.remove(weakest.at)
    return []


def noise(logs: np.ndarray, within_se: Sequence[float] = ()) -> float:
    """The noise of one value of the series (log scale): 1.4826 x the median
    absolute deviation of successive differences / sqrt 2, at least the RMS
    of the values' own standard errors and MIN_NOISE."""
    diffs = np.diff(logs)
    mad = float(np.median(np.abs(diffs - np.median(diffs)))) if diffs.size else 0.0
    own = math.sqrt(float(np.mean(np.square(within_se)))) if len(within_se) else 0.0
    return max(1.4826 * mad / math.sqrt(2), own, MIN_NOISE)


def candidates(logs: np.ndarray, sigma: float) -> list[int]:
    """Where the level may move: PELT's change points (the index of the
    first value after each)."""
    # Imported here: ruptures loads scipy, seconds at start-up, and only this needs it.
    import ruptures

    class PrefixL2(ruptures.base.BaseCost):
        """ruptures' l2 cost (the squared deviations from the segment's mean)
        from prefix sums: O(1) a segment, where its CostL2 takes a variance
        of every segment PELT tries."""

        model = "l2-prefix"
        min_size = 1

        def fit(self, signal: np.ndarray) -> PrefixL2:
            self.signal = signal  # PELT reads its length
            x = signal.reshape(-1) - signal.mean()  # centred: the sums of squares stay small
            self.sums = np.concatenate(([0.0], np.cumsum(x)))
            self.squares = np.concatenate(([0.0], np.cumsum(x * x)))
            return self

        def error(self, start: int, end: int) -> float:
            total = self.sums[end] - self.sums[start]
            return float(self.squares[end] - self.squares[start] - total * total / (end - start))

    penalty = PENALTY * sigma**2 * math.log(logs.size)
    pelt = ruptures.Pelt(custom_cost=PrefixL2(), min_size=1, jump=1)
    ends = pelt.fit(logs.reshape(-1, 1)).predict(pen=penalty)
    return [int(end) for end in ends if end < logs.size]


def _neighbours(cuts: list[int], n: int) -> list[tuple[int, int, int]]:
    """(start of the segment before, the cut, end of the segment after) of each cut."""
    edges = [0, *cuts, n]
    return [(edges[i], edges[i + 1], edges[i + 2]) for i in range(len(cuts))]


def _weigh(logs: np.ndarray, start: int, cut: int, end: int) -> Step:
    """The step at `cut` between logs[start:cut] and logs[cut:end]: the
    geometric means, Student's t-test with pooled variance and its CI."""
    from scipy.stats import t as student_t

    left, right = logs[start:cut], logs[cut:end]
    diff = float(right.mean() - left.mean())
    df = left.size + right.size - 2
    p, ci = 1.0, None
    if df > 0:
        pooled = (np.sum((left - left.mean()) ** 2) + np.sum((right - right.mean()) ** 2)) / df
        se = math.sqrt(pooled * (1 / left.size + 1 / right.size))
        if se > 0:
            p = float(2 * student_t.sf(abs(diff) / se, df))
            margin = float(student_t.ppf(0.975, df)) * se
            ci = (math.expm1(diff - margin), math.expm1(diff + margin))
        else:  # no spread at all on either side: any difference is certain
            p = 0.0 if diff else 1.0
            ci = (math.expm1(diff), math.expm1(diff))
    return Step(
        at=cut,
        before=math.exp(float(left.mean())),
        after=math.exp(float(right.mean())),
        change_ci95=ci,
        p_value=p,
        results_before=int(left.size),
        results_after=int(right.size),
    )


def _environment_changes(results: Sequence[StoredResult]) -> tuple[EnvironmentChange, ...]:
    out = []
    for at in range(1, len(results)):
        before, after = results[at - 1], results[at]
        changes = [c for c in environment_changes(before, after) if c[0] not in ENVIRONMENT_LEFT_OUT]
        if before.hostnames and after.hostnames and before.hostnames != after.hostnames:
            changes.insert(0, ("host", ", ".join(sorted(before.hostnames)), ", ".join(sorted(after.hostnames))))
        if changes:
            out.append(EnvironmentChange(at, tuple(changes)))
    return tuple(out)


def newest_regressions(history: History) -> tuple[Change, ...]:
    """The changes for the worse that start at the newest result."""
    return tuple(c for c in history.changes if c.at == history.newest and c.worse)


def newest_failures(history: History) -> tuple[SeriesKey, ...]:
    """The series measured before whose every repeat failed in the newest result."""
    return tuple(s.key for s in history.series if history.newest in s.failed_at and s.levels)


def short_commit(commit: str | None) -> str:
    """The first 10 characters of a commit (and "+dirty"); "?" when unknown."""
    if not commit:
        return "?"
    sha, plus, rest = commit.partition("+")
    return sha[:10] + plus + rest


def outcome(history: History) -> Regression | None:
    """`history --check`: Regression (exit 1) when the newest result is a
    step for the worse in a series, or every repeat of a series measured
    before failed in it; None otherwise."""
    worse, failed = newest_regressions(history), newest_failures(history)
    if not worse and not failed:
        return None
    newest = history.results[-1]
    measured = f"{newest.measured:%Y-%m-%d %H:%M} UTC" if newest.measured else newest.path
    listed = [f"{c.key.name} ({c.change * 100:+.1f}%, p={c.p_value:.2g})" for c in worse]
    listed += [f"{key.name} (every repeat failed)" for key in failed]
    return Regression(
        f"the newest result ({short_commit(newest.commit)}, {measured}) is a step for the worse in "
        f"{len(listed)} series: {', '.join(listed)}"
    )

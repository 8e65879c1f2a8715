"""Compare two results, point by point: is the candidate's throughput
really different from the baseline's, and by enough to matter?

The decision rule, per point matched by configuration (pool, -c, workload,
task size, the CPUs the worker could use, broker kind), on the throughput
of each successful repeat (one fresh worker each):

- fewer than MIN_REPEATS values on either side: `unstable` (too few repeats
  to decide). The change of the medians is still shown.
- otherwise the change is median(candidate) / median(baseline) - 1, with a
  bootstrap 95% CI of that ratio and a two-sided Mann-Whitney U p-value.
  The change is significant when the CI excludes 1 or p < ALPHA, in the
  direction of the change; it is `slower` (`faster`) when it is significant
  AND at least `threshold` (default 5%) below (above) the baseline.
  Anything else is `no significant difference`, including a significant
  change smaller than the threshold.
- a point whose baseline measured but whose candidate repeats all failed is
  `failed`, and counts as a regression.
- a point whose candidate repeats ran tasks twice, or lost tasks, where the
  baseline's did not (none, or not diagnosed) is a regression too, whatever
  its throughput: misbehaviour is a result (`misbehaved` names the kinds).
A side whose coefficient of variation exceeds CV_WARN (10%) is flagged
unstable whatever the decision.

Sweeps run open loop too (`--rates`) are also compared point by point at
each offered rate both measured, on the sojourn p99 of each repeat, by the
same rule turned round: a p99 significantly higher by at least `threshold`
is `slower` (a regression), lower is `faster`. Repeats whose producer fell
behind the schedule are left out (their latency is not the worker's).

Two sides must come from one machine (metadata.hostname), unless the user
allows otherwise: a difference between machines is not a regression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from bench.analysis.stats import CV_WARN, bootstrap_median, median, ratio_ci
from bench.errors import BenchError, Regression, Unstable, UsageError
from bench.results.compare import LatencySide, PointKey, Results, Side, label

__all__ = ["LatencySide", "PointKey", "Results", "Side"]  # the inputs, defined where they are read

MIN_REPEATS = 3  # per side, to test anything at all
ALPHA = 0.05  # significance level of the Mann-Whitney U test (and 1 - the CI's confidence)
DEFAULT_THRESHOLD = 0.05  # the smallest change worth failing a build for

SLOWER, FASTER, SAME, UNSTABLE, FAILED = "slower", "faster", "no significant difference", "unstable", "failed"


@dataclass(frozen=True)
class PointComparison:
    key: PointKey  # which point
    baseline: Side  # its repeats in the baseline
    candidate: Side  # its repeats in the candidate
    baseline_median_per_s: float | None  # median throughput, tasks/s; None without a successful repeat
    candidate_median_per_s: float | None  # tasks/s
    change: float | None  # candidate median / baseline median - 1; -0.2 is 20% slower
    change_ci95: tuple[float, float] | None  # bootstrap 95% CI of the change; None with too few repeats
    p_value: float | None  # two-sided Mann-Whitney U; None with too few repeats
    baseline_cv: float | None  # sample standard deviation / mean of the baseline's values
    candidate_cv: float | None  # fraction
    decision: str  # slower | faster | no significant difference | unstable | failed
    notes: tuple[str, ...]  # why, where the numbers alone do not say
    # What the candidate's repeats did that the baseline's did not:
    # "duplicates" (tasks run twice), "lost" (tasks lost); () for nothing.
    misbehaved: tuple[str, ...] = ()

    @property
    def unstable(self) -> bool:
        """Too few repeats to decide, or a side too noisy to trust (CV above CV_WARN)."""
        noisy = any(cv is not None and cv > CV_WARN for cv in (self.baseline_cv, self.candidate_cv))
        return self.decision == UNSTABLE or noisy

    @property
    def regression(self) -> bool:
        return self.decision in (SLOWER, FAILED) or bool(self.misbehaved)


@dataclass(frozen=True)
class LatencyComparison:
    key: PointKey  # which point
    rate_per_s: float  # the offered rate both sides ran it at, tasks/s
    baseline: LatencySide
    candidate: LatencySide
    baseline_p99_s: float | None  # median over repeats of the sojourn p99, s
    candidate_p99_s: float | None
    change: float | None  # candidate p99 / baseline p99 - 1; +0.3 is 30% worse
    change_ci95: tuple[float, float] | None  # bootstrap 95% CI of the change
    p_value: float | None  # two-sided Mann-Whitney U
    decision: str  # slower (p99 higher) | faster (p99 lower) | no significant difference | unstable | failed
    notes: tuple[str, ...]

    @property
    def regression(self) -> bool:
        return self.decision in (SLOWER, FAILED)


@dataclass(frozen=True)
class Comparison:
    baseline: Results  # what the candidate is compared with
    candidate: Results  # measured after the change
    threshold: float  # the minimum effect, as a fraction (0.05 is 5%)
    points: tuple[PointComparison, ...]  # the matched points, in the baseline's order
    baseline_only: tuple[PointKey, ...]  # points the candidate does not have
    candidate_only: tuple[PointKey, ...]  # points the baseline does not have
    # (fact, baseline's, candidate's) for each environment fact both recorded and that differs
    environment_changes: tuple[tuple[str, str, str], ...] = ()
    latency: tuple[LatencyComparison, ...] = ()  # each point at each offered rate both sides ran

    @property
    def regressions(self) -> tuple[PointComparison, ...]:
        return tuple(p for p in self.points if p.regression)

    @property
    def latency_regressions(self) -> tuple[LatencyComparison, ...]:
        return tuple(c for c in self.latency if c.regression)

    @property
    def unstable(self) -> tuple[PointComparison, ...]:
        return tuple(p for p in self.points if p.unstable)


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value: the probability, if both samples came
    from one distribution, of a rank sum at least as far from its expectation
    as the observed one (exact without ties, normal approximation with them)."""
    # Imported here: scipy.stats takes seconds to import, and only this needs it.
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return 1.0 if math.isnan(p) else p


def misbehaviour(baseline: Side, candidate: Side) -> tuple[str, ...]:
    """The kinds of misbehaviour ("duplicates", "lost") the candidate's
    repeats showed and the baseline's did not."""
    return tuple(
        kind for kind in ("duplicates", "lost") if (getattr(candidate, kind) or 0) > 0 and not getattr(baseline, kind)
    )


def misbehaviour_words(side: Side, kinds: Sequence[str]) -> str:
    """ "210 tasks run twice, 7 lost": a side's counts of `kinds`."""
    words = {"duplicates": "task(s) run twice", "lost": "task(s) lost"}
    return ", ".join(f"{getattr(side, kind)} {words[kind]}" for kind in kinds)


def compare_point(
    key: PointKey, baseline: Side, candidate: Side, threshold: float = DEFAULT_THRESHOLD, alpha: float = ALPHA
) -> PointComparison:
    """The decision for one point (see the module docstring for the rule)."""
    decided = _decide(key, baseline, candidate, threshold, alpha)
    kinds = misbehaviour(baseline, candidate)
    if not kinds:
        return decided
    note = f"candidate repeats: {misbehaviour_words(candidate, kinds)}; baseline: none"
    return replace(decided, misbehaved=kinds, notes=(*decided.notes, note))


def _decide(key, baseline, candidate, threshold, alpha):
    base, cand = baseline.values_per_s, candidate.values_per_s
    notes = []
    for name, side in (("baseline", baseline), ("candidate", candidate)):
        if side.failed:
            notes.append(f"{side.failed} {name} repeat(s) failed: {side.reason}")
    if not base or not cand:
        failed = bool(base) and not cand and candidate.failed > 0
        if not failed:
            missing = [n for n, s in (("baseline", base), ("candidate", cand)) if not s]
            notes.append(f"no successful {' or '.join(missing)} repeat")
        return PointComparison(
            key=key,
            baseline=baseline,
            candidate=candidate,
            baseline_median_per_s=median(baseline.values_per_s),
            candidate_median_per_s=median(candidate.values_per_s),
            change=None,
            change_ci95=None,
            p_value=None,
            baseline_cv=None,
            candidate_cv=None,
            decision=FAILED if failed else UNSTABLE,
            notes=tuple(notes),
        )
    est_b, est_c = bootstrap_median(base), bootstrap_median(cand)
    change = est_c.median / est_b.median - 1
    for name, est in (("baseline", est_b), ("candidate", est_c)):
        if est.unstable:
            notes.append(f"{name} unstable: CV {est.cv:.1%} > {CV_WARN:.0%}")
    common = dict(
        key=key,
        baseline=baseline,
        candidate=candidate,
        baseline_median_per_s=est_b.median,
        candidate_median_per_s=est_c.median,
        change=change,
        baseline_cv=est_b.cv,
        candidate_cv=est_c.cv,
    )
    if len(base) < MIN_REPEATS or len(cand) < MIN_REPEATS:
        notes.append(f"too few repeats to decide ({len(base)} vs {len(cand)}; need {MIN_REPEATS} each)")
        return PointComparison(**common, change_ci95=None, p_value=None, decision=UNSTABLE, notes=tuple(notes))
    low, high, p, lower, higher = _significance(base, cand, change, alpha)
    if lower and change <= -threshold:
        decision = SLOWER
    elif higher and change >= threshold:
        decision = FASTER
    else:
        decision = SAME
        if lower or higher:
            notes.append(f"significant, but within the {threshold:.0%} threshold")
    return PointComparison(**common, change_ci95=(low - 1, high - 1), p_value=p, decision=decision, notes=tuple(notes))


def _significance(
    base: Sequence[float], cand: Sequence[float], change: float, alpha: float
) -> tuple[float, float, float, bool, bool]:
    """(the ratio's CI low, high, the p-value, significantly lower, significantly higher)."""
    low, high = ratio_ci(cand, base, confidence=1 - alpha)
    p = mann_whitney_p(cand, base)
    return low, high, p, high < 1 or (p < alpha and change < 0), low > 1 or (p < alpha and change > 0)


def compare_latency(
    key: PointKey,
    rate: float,
    baseline: LatencySide,
    candidate: LatencySide,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = ALPHA,
) -> LatencyComparison:
    """The decision for one point at one offered rate, on the p99s (the
    module docstring's rule, turned round: higher is worse)."""
    base, cand = baseline.p99_s, candidate.p99_s
    notes = [
        f"{side.producer_limited} {name} repeat(s) producer-limited, left out"
        for name, side in (("baseline", baseline), ("candidate", candidate))
        if side.producer_limited
    ]
    notes += [
        f"{side.failed} {name} repeat(s) failed: {side.reason}"
        for name, side in (("baseline", baseline), ("candidate", candidate))
        if side.failed
    ]
    if not base or not cand:
        failed = bool(base) and not cand and candidate.failed > 0
        decision = FAILED if failed else UNSTABLE
        return LatencyComparison(
            key, rate, baseline, candidate, median(base), median(cand), None, None, None, decision, tuple(notes)
        )
    b, c = median(base), median(cand)
    assert b is not None
    assert c is not None
    change = c / b - 1
    if len(base) < MIN_REPEATS or len(cand) < MIN_REPEATS:
        notes.append(f"too few repeats to decide ({len(base)} vs {len(cand)}; need {MIN_REPEATS} each)")
        return LatencyComparison(key, rate, baseline, candidate, b, c, change, None, None, UNSTABLE, tuple(notes))
    low, high, p, lower, higher = _significance(base, cand, change, alpha)
    if higher and change >= threshold:
        decision = SLOWER
    elif lower and change <= -threshold:
        decision = FASTER
    else:
        decision = SAME
        if lower or higher:
            notes.append(f"significant, but within the {threshold:.0%} threshold")
    return LatencyComparison(
        key, rate, baseline, candidate, b, c, change, (low - 1, high - 1), p, decision, tuple(notes)
    )


def compare(
    baseline: Results, candidate: Results, threshold: float = DEFAULT_THRESHOLD, allow_different_hosts: bool = False
) -> Comparison:
    """Every point of both sides: matched points decided, the rest listed.
    UsageError when the two cannot be compared at all."""
    if baseline.kind != candidate.kind:
        raise UsageError(
            f"cannot compare a {baseline.kind} ({baseline.path}) with a {candidate.kind} ({candidate.path}): "
            "give two result files or two sweep directories"
        )
    if (
        not allow_different_hosts
        and baseline.hostnames
        and candidate.hostnames
        and baseline.hostnames != candidate.hostnames
    ):
        raise UsageError(
            f"the baseline was measured on {', '.join(sorted(baseline.hostnames))} and the candidate on "
            f"{', '.join(sorted(candidate.hostnames))}: results from different machines do not compare "
            "(--allow-different-hosts to compare them anyway)"
        )
    matched = [k for k in baseline.points if k in candidate.points]
    if not matched:
        raise UsageError(
            f"nothing to compare: no point of {baseline.path} ({_names(baseline.points)}) matches one of "
            f"{candidate.path} ({_names(candidate.points)}) in pool, -c, workload, task size, CPUs and broker"
        )
    return Comparison(
        baseline=baseline,
        candidate=candidate,
        threshold=threshold,
        points=tuple(compare_point(k, baseline.points[k], candidate.points[k], threshold) for k in matched),
        baseline_only=tuple(k for k in baseline.points if k not in candidate.points),
        candidate_only=tuple(k for k in candidate.points if k not in baseline.points),
        environment_changes=environment_changes(baseline, candidate),
        latency=tuple(
            compare_latency(key, rate, side, candidate.latency[(key, rate)], threshold)
            for (key, rate), side in baseline.latency.items()
            if (key, rate) in candidate.latency
        ),
    )


class Described(Protocol):
    """A result with its environment: compare's Results, history's StoredResult."""

    @property
    def environment(self) -> tuple[tuple[str, str], ...]: ...  # (fact, value) in ENVIRONMENT's order


def environment_changes(baseline: Described, candidate: Described) -> tuple[tuple[str, str, str], ...]:
    """The environment facts both sides recorded and that differ, in the
    baseline's order: (fact, baseline's value, candidate's value)."""
    theirs = dict(candidate.environment)
    return tuple((fact, ours, theirs[fact]) for fact, ours in baseline.environment if theirs.get(fact, ours) != ours)


def _names(keys, limit=3) -> str:
    keys = list(keys)
    if not keys:
        return "no points"
    shown = ", ".join(label(k, keys) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def percent(value: float | None) -> str:
    """A change as people read it: +4.0%, -20.0%; "-" when there is none."""
    return "-" if value is None else f"{value * 100:+.1f}%"


def _why(p: PointComparison) -> str:
    """ "-20.0%", "failed", "+1.0%; 210 task(s) run twice, 7 task(s) lost": why a point regressed."""
    change = percent(p.change) if p.change is not None else FAILED if p.decision == FAILED else None
    health = misbehaviour_words(p.candidate, p.misbehaved) if p.misbehaved else None
    return "; ".join(part for part in (change, health) if part)


def _latency_why(c: LatencyComparison) -> str:
    return percent(c.change) if c.change is not None else FAILED


def outcome(comparison: Comparison, fail_on_unstable: bool = False) -> BenchError | None:
    """What the comparison ends with: Regression (exit 1) when a point got
    slower beyond the threshold, failed, or ran tasks twice or lost some
    where the baseline did not, or its p99 at an offered rate got worse; else Unstable (exit 3) when a point could not
    be decided and the user asked to fail on that; else None (0)."""
    regressions, latency = comparison.regressions, comparison.latency_regressions
    if regressions or latency:
        listed = [f"{p.key.name} ({_why(p)})" for p in regressions]
        listed += [f"{c.key.name} at {c.rate_per_s:g}/s (p99 {_latency_why(c)})" for c in latency]
        what = "worse than" if latency or any(p.misbehaved for p in regressions) else "slower than"
        return Regression(f"{len(listed)} point(s) {what} the baseline: {', '.join(listed)}")
    if fail_on_unstable and comparison.unstable:
        names = ", ".join(p.key.name for p in comparison.unstable)
        return Unstable(f"{len(comparison.unstable)} point(s) too unstable to decide: {names}")
    return None

"""The verdict on the tutorial's guidance, per pool x workload:

    "adding more than twice the number of CPUs is rarely effective,
    and likely to degrade performance instead"

It compares the best throughput at -c <= 2x cores with the best beyond 2x
cores, by the bootstrap CI of their ratio (from the per-repeat values), and
a minimum effect size: a gain inside the noise is no gain. The second
clause has a word of its own: `degrades`, a significant loss of at least
the minimum effect.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from bench.analysis.groups import curve_name, group_key, measured_points
from bench.analysis.stats import ratio_ci
from bench.results.sweep_records import SweepSummary, ThroughputEstimate
from bench.workloads import quota_cores

MIN_EFFECT = 0.05  # a gain below 5% is not worth more concurrency

HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, NOT_TESTED = "holds", "does not hold", "inconclusive", "not tested"
DEGRADES = "degrades"  # holds, and the second clause too: beyond 2x cores is significantly worse
WORDS = (HOLDS, DEGRADES, DOES_NOT_HOLD, INCONCLUSIVE, NOT_TESTED)  # every word a verdict says

# The words, for the report's key (latency_verdict.RULE says them of the open-loop p99).
RULE = (
    f"**{HOLDS}**: no gain of {MIN_EFFECT:.0%} or more beyond 2x cores; "
    f"**{DEGRADES}**: a loss of {MIN_EFFECT:.0%} or more beyond 2x cores whose 95% CI lies below 0 "
    '(the tutorial\'s "likely to degrade performance instead"); '
    f"**{DOES_NOT_HOLD}**: a gain whose whole 95% CI lies above {MIN_EFFECT:.0%}; "
    f"**{INCONCLUSIVE}**: the interval straddles {MIN_EFFECT:.0%}; "
    f"**{NOT_TESTED}**: no -c was measured on one side of 2x cores, or the pool is solo"
)


@dataclass(frozen=True)
class Verdict:
    word: str  # holds | degrades | does not hold | inconclusive | not tested (WORDS)
    reason: str
    within_c: int | None = None  # the best -c at or below 2x cores
    within_per_s: float | None = None  # its median throughput
    beyond_c: int | None = None  # the best -c above 2x cores
    beyond_per_s: float | None = None
    gain: float | None = None  # beyond / within - 1, of the medians
    gain_ci95: tuple[float, float] | None = None  # bootstrap 95% CI of that gain


@dataclass(frozen=True)
class Best:
    """Which -c of one pool x workload gave the most throughput, and whether
    that means anything: a flat row has no best -c, and a best at the edge of
    the tested range may not be the optimum."""

    c: int | None  # the -c with the highest median; None: flat, or nothing measured
    per_s: float | None  # its median throughput, tasks/s
    flat: bool  # every point within the noise of the highest (FLAT_RULE)
    edge: str | None  # "largest" | "smallest": the best is the largest (or smallest, above 1) -c tried
    tried: tuple[int, ...] = ()  # the -c values measured, ascending

    @property
    def words(self) -> str:
        """The best -c for a table cell: "-c 16", "flat", "-c 16 (largest tried)"."""
        if self.flat:
            return "flat"
        if self.c is None:
            return "-"
        return f"-c {self.c}" + (f" ({self.edge} tried)" if self.edge else "")

    @property
    def warning(self) -> str | None:
        """What a reader must be told, or None."""
        if self.edge == "largest":
            return f"best at the largest -c tried ({self.c}): the optimum may lie beyond"
        if self.edge == "smallest":
            return f"best at the smallest -c tried ({self.c}): the optimum may lie below"
        return None


FLAT_RULE = (
    f"flat: every -c's median is within {MIN_EFFECT:.0%} of the highest (the verdict's minimum effect) "
    "or inside the highest point's 95% CI, so no -c is best"
)


class Measured(TypedDict):
    """A verdict's numbers (see Verdict), the same whatever its word."""

    within_c: int
    within_per_s: float
    beyond_c: int
    beyond_per_s: float
    gain: float
    gain_ci95: tuple[float, float]


def best_of(estimates: Mapping[int, ThroughputEstimate | None], min_effect: float = MIN_EFFECT) -> Best:
    """`estimates`: {concurrency: ThroughputEstimate or None} of one pool x
    workload. The best -c by median; flat when every median is at least
    (1 - min_effect) of the highest, or at least the highest's CI low end."""
    measured = {c: e for c, e in estimates.items() if e is not None}
    tried = tuple(sorted(measured))
    if not measured:
        return Best(None, None, False, None, tried)
    top = max(measured, key=lambda c: measured[c].median_per_s)
    best = measured[top]
    floor = min(best.median_per_s * (1 - min_effect), best.ci95_low_per_s or best.median_per_s)
    if len(measured) > 1 and all(e.median_per_s >= floor for e in measured.values()):
        return Best(None, best.median_per_s, True, None, tried)
    edge = None
    if len(measured) > 1 and top == tried[-1]:
        edge = "largest"
    elif len(measured) > 1 and top == tried[0] and top > 1:
        edge = "smallest"
    return Best(top, best.median_per_s, False, edge, tried)


def decide(points: Mapping[int, Sequence[float]], cores: float, min_effect: float = MIN_EFFECT) -> Verdict:
    """`points`: {concurrency: [per-repeat throughput, ...]} of one pool x
    workload; `cores`: the cores the worker could use."""
    measured = {c: v for c, v in points.items() if v}
    limit = 2 * cores
    within = {c: v for c, v in measured.items() if c <= limit}
    beyond = {c: v for c, v in measured.items() if c > limit}
    if not within or not beyond:
        side = "at or below" if not within else "above"
        return Verdict(NOT_TESTED, f"no -c {side} 2x cores ({limit:g}) was measured")
    best_in = max(within, key=lambda c: np.median(within[c]))
    best_out = max(beyond, key=lambda c: np.median(beyond[c]))
    med_in, med_out = float(np.median(within[best_in])), float(np.median(beyond[best_out]))
    low, high = ratio_ci(beyond[best_out], within[best_in])
    gain = med_out / med_in - 1
    common = Measured(
        within_c=best_in,
        within_per_s=med_in,
        beyond_c=best_out,
        beyond_per_s=med_out,
        gain=gain,
        gain_ci95=(low - 1, high - 1),
    )
    # A loss needs only to be significant (its CI below 1) and at least the
    # minimum effect by its median: degrades only qualifies a verdict that
    # holds already, whereas a gain must clear the minimum effect throughout.
    if high < 1 and gain <= -min_effect:
        word = DEGRADES
        reason = (
            f"-c {best_out} loses {-gain:.0%} against -c {best_in} "
            f"(95% CI {low - 1:+.0%} to {high - 1:+.0%}): beyond 2x cores degrades throughput"
        )
    elif low > 1 + min_effect:
        word = DOES_NOT_HOLD
        reason = f"-c {best_out} beats -c {best_in} by {gain:+.0%} (95% CI {low - 1:+.0%} to {high - 1:+.0%})"
    elif high < 1 + min_effect:
        word = HOLDS
        reason = (
            f"nothing beyond 2x cores gains {min_effect:.0%} or more: best -c {best_out} vs -c {best_in} "
            f"is {gain:+.0%} (95% CI {low - 1:+.0%} to {high - 1:+.0%})"
        )
    else:
        word = INCONCLUSIVE
        reason = (
            f"-c {best_out} vs -c {best_in} is {gain:+.0%}, but its 95% CI "
            f"({low - 1:+.0%} to {high - 1:+.0%}) straddles the {min_effect:.0%} minimum effect"
        )
    return Verdict(word, reason, **common)


def verdicts(summary: SweepSummary) -> dict[str, dict[str, Verdict]]:
    """{figure key: {curve name: Verdict}} for every pool x workload of a
    sweep (a SweepSummary), and per workers and varied settings (see
    groups.curve_name: the name is the pool when nothing else varies)."""
    machine_cores = float((summary.metadata and summary.metadata.usable_cores) or 1)
    series: dict[str, dict[str, dict[int, list[float]]]] = {}  # figure key -> curve name -> -c -> values
    cores = {}  # (figure key, curve name) -> the cores its worker could use
    pools = {}  # (figure key, curve name) -> its pool
    for point in measured_points(summary):
        key = group_key(point)
        values = list(point.throughput.values_per_s) if point.throughput else []
        line = curve_name(point)  # a verdict per pool and combination of the other axes
        series.setdefault(key, {}).setdefault(line, {})[point.concurrency] = values
        # under a CPU quota, the cores it gives: 2x cores is twice the quota's
        cores[key, line] = quota_cores(float(point.cores or machine_cores), point.workers, point.cpu_limit)
        pools[key, line] = point.pool
    out: dict[str, dict[str, Verdict]] = {}
    for key, lines in series.items():
        for line, points in lines.items():
            if pools[key, line] == "solo":
                verdict = Verdict(NOT_TESTED, "solo runs one task at a time: -c does not apply")
            else:
                verdict = decide(points, cores[key, line])
            out.setdefault(key, {})[line] = verdict
    return out

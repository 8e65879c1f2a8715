"""The open-loop verdict per pool x workload, where rates were swept:

    at a rate both can sustain, does -c beyond 2x cores lower the p99?

The same statistics and words as the throughput verdict (verdict.py): the
bootstrap 95% CI of the ratio of the medians of per-repeat values, and a
minimum effect; `degrades` when beyond 2x cores raises the p99 by at least
the minimum effect, significantly. The p99 is the sojourn p99 from the scheduled send times. A point
sustains a rate when no repeat was producer-limited and the median achieved
completion rate is at least SUSTAIN_SHARE of the offered rate.
"""

import math
import statistics
from collections.abc import Mapping
from typing import Any

from bench.analysis.stats import ratio_ci
from bench.analysis.verdict import DEGRADES, DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, MIN_EFFECT, NOT_TESTED, Verdict

SUSTAIN_SHARE = 0.95

# The words of the p99 verdict, for the report's key.
RULE = (
    f"**{HOLDS}**: nothing beyond 2x cores lowers the p99 by {MIN_EFFECT:.0%} or more; "
    f"**{DEGRADES}**: beyond 2x cores raises it by {MIN_EFFECT:.0%} or more, with its 95% CI above 0; "
    f"**{DOES_NOT_HOLD}**: beyond 2x cores lowers it by more than {MIN_EFFECT:.0%} throughout its 95% CI; "
    f"**{INCONCLUSIVE}**: the interval straddles the {MIN_EFFECT:.0%} minimum effect, or no rate was sustained "
    f"on both sides; **{NOT_TESTED}**: rates were not swept on both sides of 2x cores"
)


def sustains(cell: Mapping[str, Any]) -> bool:
    """`cell`: {"p99": [...], "achieved": [...], "producer_limited": n} of one point at one rate."""
    return (
        bool(cell["p99"])
        and cell["producer_limited"] == 0
        and statistics.median(cell["achieved"]) >= SUSTAIN_SHARE * cell["rate"]
    )


def decide(
    points: Mapping[int, Mapping[float, Mapping[str, Any]]], cores: float, min_effect: float = MIN_EFFECT
) -> Verdict:
    """`points`: {concurrency: {rate: cell}} of one pool x workload.
    Picks the highest rate that a -c at or below 2x cores and one above it
    both sustain; compares the lowest median p99 of each side there."""
    limit = 2 * cores
    by_rate: dict[float, dict[int, list[float]]] = {}  # rate -> -c -> the p99 of each repeat
    for c, cells in points.items():
        for rate, cell in cells.items():
            if sustains(cell):
                by_rate.setdefault(rate, {})[c] = cell["p99"]
    for rate in sorted(by_rate, reverse=True):
        within = {c: v for c, v in by_rate[rate].items() if c <= limit}
        beyond = {c: v for c, v in by_rate[rate].items() if c > limit}
        if within and beyond:
            return _compare(rate, within, beyond, min_effect)
    if not any(c <= limit for c in points) or not any(c > limit for c in points):
        return Verdict(NOT_TESTED, f"rates were not swept on both sides of 2x cores ({limit:g})")
    return Verdict(
        INCONCLUSIVE,
        "no rate was sustained both at or below and above 2x cores (auto rates differ per point; "
        "give --rates to compare at the same rates)",
    )


def _compare(rate, within, beyond, min_effect):
    best_in = min(within, key=lambda c: statistics.median(within[c]))
    best_out = min(beyond, key=lambda c: statistics.median(beyond[c]))
    med_in, med_out = statistics.median(within[best_in]), statistics.median(beyond[best_out])
    low, high = ratio_ci(beyond[best_out], within[best_in])  # p99 beyond / p99 within
    change = med_out / med_in - 1 if med_in else math.nan
    common = dict(
        within_c=best_in,
        within_per_s=rate,
        beyond_c=best_out,
        beyond_per_s=rate,
        gain=change,
        gain_ci95=(low - 1, high - 1),
    )
    at = (
        f"at {rate:g} tasks/s, p99 of -c {best_out} vs -c {best_in} is {change:+.0%} "
        f"(95% CI {low - 1:+.0%} to {high - 1:+.0%})"
    )
    if low > 1 and change >= min_effect:  # as the throughput verdict's loss: significant, and big enough
        return Verdict(DEGRADES, f"{at}: beyond 2x cores raises the p99", **common)
    if high < 1 - min_effect:
        return Verdict(DOES_NOT_HOLD, f"{at}: beyond 2x cores lowers the p99", **common)
    if low > 1 - min_effect:
        return Verdict(HOLDS, f"{at}: nothing beyond 2x cores lowers the p99 by {min_effect:.0%} or more", **common)
    return Verdict(INCONCLUSIVE, f"{at}: the CI straddles the {min_effect:.0%} minimum effect", **common)

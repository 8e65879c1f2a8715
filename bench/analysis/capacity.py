"""The capacity of a point under a latency objective: the highest offered
rate at which its latency percentiles stay within the objective. A pure
search over rates; the measuring is passed in, so it is tested on
hand-built latency curves.

The search starts at the point's drain throughput (the most it completes
with a full queue), steps down by STEP_DOWN until a rate meets the
objective (or up by STEP_UP while it still does), then bisects between the
highest rate that met it and the lowest that did not, until the two are
within `tolerance` of each other. A rate meets the objective when, for
every objective, the median over its repeats of the run's percentile is at
or under the limit. A producer-limited rate is not a latency result: it
counts as failing (nothing above it can be measured here) and says so.
"""

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.analysis.stats import Estimate, bootstrap_median

STEP_DOWN = 0.7
STEP_UP = 1.25
DEFAULT_TOLERANCE = 0.10  # stop when the bracket is this narrow, relative to its lower end
DEFAULT_MAX_RATES = 7  # rates tried at most
DEFAULT_REPEATS = 3
PERCENTILE_KEYS = {50.0: "p50", 90.0: "p90", 99.0: "p99", 99.9: "p999"}

_SLO = re.compile(r"^p(50|90|99|99\.9)=(\d+(?:\.\d+)?)(ms|s)$")


@dataclass(frozen=True)
class Objective:
    percentile: float  # 50, 90, 99 or 99.9
    limit_s: float  # the sojourn percentile must be at or under this, s

    @property
    def key(self) -> str:
        """The percentile's name in a run's open_loop block: p50 ... p999."""
        return PERCENTILE_KEYS[self.percentile]

    @property
    def label(self) -> str:
        return f"p{self.percentile:g}"


def parse_slo(text: str) -> Objective:
    """ "p99=250ms" -> Objective(99, 0.25); ValueError saying why not."""
    match = _SLO.match(text.strip())
    if not match:
        raise ValueError(f"expected pNN=LIMIT with NN one of 50, 90, 99, 99.9 and LIMIT in ms or s, got {text!r}")
    pct, value, unit = match.groups()
    limit = float(value) / (1000.0 if unit == "ms" else 1.0)
    if not limit > 0:
        raise ValueError(f"the limit must be above 0, got {text!r}")
    return Objective(float(pct), limit)


@dataclass(frozen=True)
class Repeat:
    """What one open-loop run at a rate gave the search."""

    sojourn_s: dict[str, float | None]  # objective key (p50, p99...) -> the run's sojourn percentile, s
    producer_limited: bool


@dataclass(frozen=True)
class Trial:
    rate_per_s: float  # offered rate tried, tasks/s
    repeats: tuple[Repeat, ...]  # Repeat per fresh-worker run
    # each objective's percentile over the repeats (bootstrap median, 95% CI); None: no value
    estimates: tuple[Estimate | None, ...]
    producer_limited: bool  # any repeat was: the rate could not be offered here
    meets: bool  # every objective's median at or under its limit, and not producer-limited


@dataclass(frozen=True)
class Capacity:
    rate_per_s: float | None  # the highest rate tried that met the objective; None: none did
    first_failing_rate_per_s: float | None  # the lowest rate tried above it that did not; None: none failed
    trials: tuple[Trial, ...]  # every Trial, in the order tried
    start_rate_per_s: float  # where the search began (the drain throughput)

    @property
    def found(self) -> Trial | None:
        return next((t for t in self.trials if t.rate_per_s == self.rate_per_s and t.meets), None)


def judge(rate: float, repeats: Sequence[Repeat], objectives: Sequence[Objective]) -> Trial:
    limited = any(r.producer_limited for r in repeats)
    estimates = []
    for obj in objectives:
        values = [v for r in repeats if (v := r.sojourn_s.get(obj.key)) is not None]
        estimates.append(bootstrap_median(values) if values else None)
    meets = not limited and all(
        est is not None and est.median <= obj.limit_s for est, obj in zip(estimates, objectives, strict=True)
    )
    return Trial(rate, tuple(repeats), tuple(estimates), limited, meets)


def search(
    measure: Callable[[float], Sequence[Repeat]],
    start_rate: float,
    objectives: Sequence[Objective],
    tolerance: float = DEFAULT_TOLERANCE,
    max_rates: int = DEFAULT_MAX_RATES,
    min_rate: float = 0.5,
) -> Capacity:
    """Search the rates; `measure(rate)` runs the repeats at one rate."""
    trials: list[Trial] = []
    lo = hi = None  # highest rate that met the objective; lowest that did not
    rate = start_rate
    while len(trials) < max_rates and rate >= min_rate:
        trial = judge(rate, measure(rate), objectives)
        trials.append(trial)
        if trial.meets:
            lo = rate if lo is None else max(lo, rate)
        else:
            hi = rate if hi is None else min(hi, rate)
        if lo is None:
            rate = rate * STEP_DOWN
        elif hi is None:
            rate = rate * STEP_UP
        elif (hi - lo) / lo <= tolerance:
            break
        else:
            rate = (lo + hi) / 2
        rate = _round_rate(rate)
        if any(math.isclose(rate, t.rate_per_s) for t in trials):
            break
    return Capacity(lo, hi, tuple(trials), start_rate)


def _round_rate(rate):
    """Three significant figures: rates a person can type again."""
    if rate <= 0:
        return rate
    return round(rate, 2 - math.floor(math.log10(rate)))


def estimate_fields(objective: Objective, est: Estimate | None) -> dict[str, Any]:
    return {
        "percentile_label": objective.label,
        "limit_s": objective.limit_s,
        "median_s": None if est is None else est.median,
        "ci_low_s": None if est is None else est.ci_low,
        "ci_high_s": None if est is None else est.ci_high,
        "repeats": 0 if est is None else est.n,
    }


def recommendation(
    capacity: Capacity, objectives: Sequence[Objective], pool: str, concurrency: int, drain_rate: float | None
) -> str:
    objective = " and ".join(f"{o.label} <= {o.limit_s * 1000:g} ms" for o in objectives)
    if capacity.rate_per_s is None:
        lowest = min(t.rate_per_s for t in capacity.trials)
        return (
            f"{pool} -c {concurrency} misses {objective} even at {lowest:.1f} tasks/s: "
            "raise -c, choose another pool, or relax the objective"
        )
    share = f" ({100 * capacity.rate_per_s / drain_rate:.0f}% of its drain throughput)" if drain_rate else ""
    return (
        f"keep {pool} -c {concurrency} under {capacity.rate_per_s:.0f} tasks/s{share} to hold {objective}; "
        "above it the queue, and the tail, grow"
    )


def as_fields(capacity: Capacity, objectives: Sequence[Objective]) -> dict[str, Any]:
    """The search's JSON: every rate tried, and the capacity found."""
    tried = []
    for t in capacity.trials:
        tried.append(
            {
                "rate_per_s": t.rate_per_s,
                "repeats": len(t.repeats),
                "meets": t.meets,
                "producer_limited": t.producer_limited,
                "percentiles": [estimate_fields(o, e) for o, e in zip(objectives, t.estimates, strict=True)],
                "raw": [{"sojourn_s": r.sojourn_s, "producer_limited": r.producer_limited} for r in t.repeats],
            }
        )
    found = capacity.found
    return {
        "criterion": "a rate meets the objective when the median over its repeats of each sojourn percentile "
        "(from the scheduled send times) is at or under its limit, and no repeat was producer-limited",
        "tried": tried,
        "capacity": None
        if found is None
        else {
            "rate_per_s": capacity.rate_per_s,
            "first_failing_rate_per_s": capacity.first_failing_rate_per_s,
            "percentiles": [estimate_fields(o, e) for o, e in zip(objectives, found.estimates, strict=True)],
        },
    }

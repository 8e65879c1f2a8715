"""The arrival schedule of an open-loop run: when each task is meant to be
sent. Pure and seeded, so the same options always give the same schedule.

Times here are offsets in seconds from the schedule's origin t0; the
producer turns them into absolute deadlines (t0 + offset, on the host's
monotonic clock) and never sleeps a fixed interval, so time spent sending
never shifts the tasks after it.
"""

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ARRIVALS = ("uniform", "poisson")
DEFAULT_ARRIVAL = "uniform"
DEFAULT_DURATION_S = 5.0
# The warm-up runs at the same rate before the measured window: long enough
# for prefork children and greenlets to have run tasks, never under a second.
MIN_WARMUP_S = 1.0
WARMUP_SHARE = 0.2  # of the duration


def default_warmup_s(duration_s: float) -> float:
    return max(MIN_WARMUP_S, WARMUP_SHARE * duration_s)


@dataclass(frozen=True)
class Schedule:
    rate_per_s: float  # offered arrival rate, tasks/s (the same in the warm-up)
    arrival: str  # "uniform": evenly spaced; "poisson": exponential gaps
    warmup_s: float  # seconds of arrivals before the window; not counted
    duration_s: float  # seconds of the measured window
    seed: int  # the Poisson gaps' seed (recorded; unused for uniform)

    @property
    def window(self) -> tuple[float, float]:
        """(start, end) of the measured window, s from t0."""
        return self.warmup_s, self.warmup_s + self.duration_s

    def offsets(self) -> list[float]:
        """Every arrival's offset from t0, seconds, ascending, in
        [0, warmup_s + duration_s). Uniform: i / rate. Poisson: the
        cumulative sums of exponential gaps of mean 1 / rate (the first
        arrival at 0)."""
        return list(self.iter_offsets())

    def iter_offsets(self) -> Iterator[float]:
        """offsets(), one at a time (a soak's schedule is too long to hold)."""
        end = self.warmup_s + self.duration_s
        if self.arrival == "uniform":
            n = math.ceil(end * self.rate_per_s - 1e-9)
            yield from (i / self.rate_per_s for i in range(n))
            return
        rng = random.Random(self.seed)
        t = 0.0
        while t < end:
            yield t
            t += rng.expovariate(self.rate_per_s)

    def expected_tasks(self) -> int:
        """About how many arrivals the schedule has (exact for uniform)."""
        return math.ceil((self.warmup_s + self.duration_s) * self.rate_per_s - 1e-9)

    def counted(self, offset: float) -> bool:
        """Whether an arrival at `offset` falls in the measured window."""
        start, end = self.window
        return start <= offset < end

    def describe(self) -> dict[str, Any]:
        return {
            "rate_per_s": self.rate_per_s,
            "arrival": self.arrival,
            "warmup_s": self.warmup_s,
            "duration_s": self.duration_s,
            "seed": self.seed,
        }

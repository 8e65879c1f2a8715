"""Statistics of one run: pure functions over per-task records.

A record is one task the worker finished: its publish, start and end times
on the host's monotonic clock (seconds), its state and its pid.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bench.results.schema import Distribution, Latency
from bench.results.schema import TaskCounts as Accounting

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class TaskRecord:
    id: str
    published: float  # s, monotonic: the harness handed it to the broker
    started: float  # s, monotonic: the worker began running it
    finished: float  # s, monotonic: the worker finished it
    state: str  # Celery state: SUCCESS, FAILURE, ...
    pid: int  # the worker process that ran it
    error: str | None = None  # "Type: message" when it raised
    node: int = 0  # which worker node ran it (0 to --workers - 1)
    cpu_s: float | None = None  # CPU s of the thread that ran it; None where not attributable (green pools)
    rss_bytes: int | None = None  # its process's RSS after it finished, bytes (profile only)
    redelivered: bool = False  # its message came with the broker's redelivered flag


def account(published_ids: Iterable[str], records: Iterable[TaskRecord]) -> Accounting:
    """published = succeeded + failed + missing, by task id; a task reported
    twice counts once (its first report), and the repeat as a duplicate."""
    published_ids = set(published_ids)
    seen = {}
    duplicates = 0
    for rec in records:
        if rec.id not in published_ids:
            continue
        if rec.id in seen:
            duplicates += 1
        else:
            seen[rec.id] = rec
    succeeded = sum(1 for r in seen.values() if r.state == "SUCCESS")
    failed = len(seen) - succeeded
    return Accounting(len(published_ids), succeeded, failed, len(published_ids) - len(seen), duplicates)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest recorded value with at least p%
    of the values at or below it. Always one of the values, so p99 <= max."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def distribution(values: Sequence[float]) -> Distribution:
    ordered = sorted(values)
    if not ordered:
        return Distribution(None, None, None, None, None)
    p50, p90, p99 = (percentile(ordered, p) for p in PERCENTILES)
    return Distribution(p50, p90, p99, ordered[-1], math.fsum(ordered) / len(ordered))


def window(records: Sequence[TaskRecord]) -> tuple[float, float]:
    """(first start, last end) of the records, seconds."""
    return min(r.started for r in records), max(r.finished for r in records)


def throughput(records: Sequence[TaskRecord]) -> float | None:
    """Tasks per second from the first task's start to the last task's end."""
    if not records:
        return None
    first, last = window(records)
    if last <= first:
        return None
    return len(records) / (last - first)


def steady_throughput(records: Sequence[TaskRecord], trim: float = 0.1) -> float | None:
    """Throughput with the ramp-up and the drain left out.

    The window runs from the moment `trim` of the tasks had finished to the
    moment 1 - `trim` had. Each task counts for the fraction of its run time
    that lies inside the window, so a task straddling an edge counts in part:
    this never exceeds what the slots could do in that window, so it obeys
    the same ceiling as `throughput`.
    """
    if len(records) < 10:
        return None
    ends = sorted(r.finished for r in records)
    lo = ends[math.floor(trim * (len(ends) - 1))]
    hi = ends[math.ceil((1 - trim) * (len(ends) - 1))]
    if hi <= lo:
        return None
    done = 0.0
    for r in records:
        run = r.finished - r.started
        if run <= 0:
            done += 1.0 if lo < r.finished <= hi else 0.0
            continue
        overlap = min(r.finished, hi) - max(r.started, lo)
        if overlap > 0:
            done += overlap / run
    return done / (hi - lo)


@dataclass(frozen=True)
class Concurrency:
    max: int  # most tasks running at the same instant
    mean: float  # total run time of all tasks / the window: the average in flight


def concurrency(records: Sequence[TaskRecord]) -> Concurrency:
    """How many tasks really ran at once, from their start and end times."""
    if not records:
        return Concurrency(0, 0.0)
    # Ends sort before starts at the same instant: back-to-back is not overlap.
    events = sorted([(r.started, 1) for r in records] + [(r.finished, -1) for r in records])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    first, last = window(records)
    busy = math.fsum(r.finished - r.started for r in records)
    return Concurrency(peak, busy / (last - first) if last > first else float(peak))


@dataclass(frozen=True)
class CPUPerTask:
    attribution: str  # "thread": each task's own CPU time; "process": the worker's CPU per task
    p50_s: float | None  # median CPU seconds per task (thread attribution only)
    p90_s: float | None  # 90th percentile, CPU seconds (thread attribution only)
    mean_s: float | None  # mean CPU seconds per task; for "process", worker CPU / tasks
    tasks: int  # tasks the figures cover


def task_cpu(records: Sequence[TaskRecord], attribution: str, worker_cpu_s: float | None = None) -> CPUPerTask:
    """CPU per task. With "thread" attribution, from each record's own CPU
    time; with "process" (green pools), the worker tree's CPU seconds over
    the window divided by the tasks that finished in it (Celery's own work
    included), since a greenlet's CPU cannot be told apart."""
    if attribution == "thread":
        values = [r.cpu_s for r in records if r.cpu_s is not None]
        dist = distribution(values)
        return CPUPerTask("thread", dist.p50, dist.p90, dist.mean, len(values))
    mean = worker_cpu_s / len(records) if records and worker_cpu_s is not None else None
    return CPUPerTask("process", None, None, mean, len(records))


def latency(records: Sequence[TaskRecord]) -> Latency:
    return Latency(
        distribution([r.started - r.published for r in records]),
        distribution([r.finished - r.started for r in records]),
        distribution([r.finished - r.published for r in records]),
    )


# --- Across repeats of one point -------------------------------------------

CV_WARN = 0.10  # coefficient of variation above which a point is called unstable


@dataclass(frozen=True)
class Estimate:
    """The median of per-repeat values with its bootstrap confidence interval."""

    median: float
    ci_low: float | None  # None with a single value: no interval
    ci_high: float | None
    n: int  # repeats
    cv: float | None  # sample standard deviation / mean; None with one value

    @property
    def ci_rel_width(self) -> float | None:
        """Width of the interval as a fraction of the median."""
        if self.ci_low is None or self.ci_high is None or not self.median:
            return None
        return (self.ci_high - self.ci_low) / self.median

    @property
    def unstable(self) -> bool:
        return self.cv is not None and self.cv > CV_WARN


RESAMPLES = 4000  # bootstrap resamples: the interval's ends move by well under 1% between seeds


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are not None; None when none is."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    return float(np.median(np.asarray(present, dtype=float)))


def resampled_medians(data: np.ndarray, rng: np.random.Generator, resamples: int = RESAMPLES) -> np.ndarray:
    """The medians of `resamples` resamples of `data` (a numpy array), each
    drawn with replacement and as large as `data`."""
    return np.median(data[rng.integers(0, data.size, (resamples, data.size))], axis=1)


def _central(values, confidence):
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_median(
    values: Sequence[float], confidence: float = 0.95, resamples: int = RESAMPLES, seed: int = 0
) -> Estimate:
    """Median with a percentile-bootstrap CI: resample the values with
    replacement `resamples` times, take each resample's median, and keep the
    central `confidence` share of those medians. Seeded, so the same values
    always give the same interval."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values")
    middle = float(np.median(data))
    if data.size == 1:
        return Estimate(middle, None, None, 1, None)
    rng = np.random.default_rng(seed)
    low, high = _central(resampled_medians(data, rng, resamples), confidence)
    cv = float(np.std(data, ddof=1) / np.mean(data)) if np.mean(data) else None
    return Estimate(middle, low, high, int(data.size), cv)


def ratio_ci(
    numerator: Sequence[float], denominator: Sequence[float], seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap CI of median(numerator) / median(denominator),
    resampling each group's repeats independently."""
    a, b = np.asarray(numerator, float), np.asarray(denominator, float)
    rng = np.random.default_rng(seed)
    ma = resampled_medians(a, rng)
    mb = resampled_medians(b, rng)
    return _central(ma / mb, confidence)


def needs_more_repeats(values: Sequence[float], min_repeats: int, max_repeats: int, target_rel_width: float) -> bool:
    """The stopping rule: at least `min_repeats`; then more while the 95% CI
    of the median is wider than `target_rel_width` of it, up to `max_repeats`."""
    if len(values) < min_repeats:
        return True
    if len(values) >= max_repeats:
        return False
    width = bootstrap_median(values).ci_rel_width
    return width is None or width > target_rel_width

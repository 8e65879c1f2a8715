"""A soak's state, bounded whatever its length: the seconds not yet
written, each process's count of completed tasks, and the whole run's
latency in log-bucketed histograms. Pure: the measuring loop
(bench/measure/soak.py) feeds it what the workers report and takes its
rows, one a second, to stream to disk.

A second's latency percentiles are exact (nearest rank over the tasks
that finished in it, which the tally holds only until the second is
written); the whole run's come from HDR histograms (the hdrhistogram
package: microseconds, 2 significant digits, so buckets about 1% wide) and
a percentile is the highest value of its bucket, within 1% above the true
value (capped by the exact maximum, so p99 never exceeds max); the maximum
and the mean are kept exact beside them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hdrh.histogram import HdrHistogram

from bench.analysis.openloop import Tail
from bench.analysis.stats import PERCENTILES, percentile
from bench.results.schema import Distribution

HISTOGRAM_RATIO = 1.01  # the most a percentile reads above the true value (2 significant digits)
SIGNIFICANT_DIGITS = 2
UNIT_S = 1e-6  # the histograms count microseconds: a latency below 1 us counts as 1 us
LONGEST_S = 7 * 24 * 3600.0  # the longest latency counted as itself; a longer one counts as this
_HIGHEST = round(LONGEST_S / UNIT_S)
DIGITS = 6


class LogHistogram:
    """Latencies (s) in an HDR histogram, with their exact count, total and
    maximum beside it."""

    def __init__(self) -> None:
        self.hdr = HdrHistogram(1, _HIGHEST, SIGNIFICANT_DIGITS)
        self.n = 0
        self.total = 0.0
        self.max: float | None = None

    def add(self, value: float) -> None:
        self.hdr.record_value(min(max(1, round(value / UNIT_S)), _HIGHEST))
        self.n += 1
        self.total += value
        self.max = value if self.max is None else max(self.max, value)

    def percentile(self, p: float) -> float | None:
        """The highest value of the bucket holding the value at p% (HDR's
        own nearest rank), at most the maximum."""
        if not self.n or self.max is None:
            return None
        return min(self.hdr.get_value_at_percentile(p) * UNIT_S, self.max)

    def tail(self) -> Tail:
        """Its percentiles to p99.9, as an open-loop run's `Tail` (whose words say "exact": these are
        within 1% above)."""
        mean = self.total / self.n if self.n else None
        p50, p90, p99, p999 = (self.percentile(p) for p in (50, 90, 99, 99.9))
        return Tail(p50, p90, p99, p999, self.max, mean, self.n)

    def distribution(self) -> Distribution:
        if not self.n:
            return Distribution(None, None, None, None, None)
        p50, p90, p99 = (self.percentile(p) for p in PERCENTILES)
        return Distribution(p50, p90, p99, self.max, self.total / self.n)


class SoakTally:
    """What a soak keeps: seconds count from `t0` (s, monotonic, the
    release of its first tasks)."""

    def __init__(self, t0: float, window: tuple[float, float] | None = None):
        self.t0 = t0
        # an open loop's measured window (monotonic s): the completions in it, and what was in flight at its end
        self.window = window
        self.window_completions = 0
        self.in_flight_at_window_end: int | None = None
        self.wait, self.service, self.sojourn = LogHistogram(), LogHistogram(), LogHistogram()
        self.succeeded = self.failed = 0
        self.counted_succeeded = self.counted_failed = 0  # of the tasks in the whole run's latency
        self.first_error: str | None = None
        self.first_start: float | None = None
        self.last_finish: float | None = None
        self.done: dict[tuple[int, int], int] = {}  # (node, pid) -> tasks completed
        self._seconds: dict[int, dict[str, Any]] = {}  # second -> its completions, latencies, last in-flight count
        self._written = 0  # seconds written so far
        self._in_flight = 0  # at the end of the last second written
        self.stall_seconds = 0  # seconds written in which nothing completed while tasks were in flight
        self.longest_stall_s = 0  # the most of them in a row
        self._stalled = 0  # the current run of them
        self.stall_stretches = 0  # runs of them in a row

    def finished(self, published: float, record: Mapping[str, Any], counted: bool = True) -> None:
        """A task the workers reported (a raw record: started, finished,
        state, pid, node, error), published at `published` (an open loop's:
        scheduled); `counted`: in the whole run's latency (an open loop's
        warm-up is not)."""
        started, finished = record["started"], record["finished"]
        ok = record.get("state") == "SUCCESS"
        if ok:
            self.succeeded += 1
        else:
            self.failed += 1
            self.first_error = self.first_error or record.get("error")
        key = (record.get("node", 0), record["pid"])
        self.done[key] = self.done.get(key, 0) + 1
        if counted:
            self.counted_succeeded += ok
            self.counted_failed += not ok
            self.wait.add(started - published)
            self.service.add(finished - started)
            self.sojourn.add(finished - published)
        self.first_start = started if self.first_start is None else min(self.first_start, started)
        self.last_finish = finished if self.last_finish is None else max(self.last_finish, finished)
        if self.window is not None and self.window[0] <= finished < self.window[1]:
            self.window_completions += 1
        second = self._second(finished)
        second["completions"] += 1
        second["wait"].append(started - published)
        second["sojourn"].append(finished - published)

    def in_flight(self, t: float, n: int) -> None:
        """`n` tasks were published and not finished at `t` (the last count
        of a second is its end's)."""
        self._second(t)["in_flight"] = n
        if self.window is not None and t >= self.window[1] and self.in_flight_at_window_end is None:
            self.in_flight_at_window_end = n

    def queue_depth(self, t: float, n: int | None) -> None:
        """The broker held `n` ready messages of the run's queue at `t` (the
        last answer of a second is its end's; None: it did not answer)."""
        self._second(t)["queue_depth"] = n

    def _second(self, t: float) -> dict[str, Any]:
        k = max(self._written, int(t - self.t0))  # a late report goes to the first second not yet written
        return self._seconds.setdefault(k, _empty())

    def rows_before(self, t: float) -> list[dict[str, Any]]:
        """The rows of every second that ended before `t`, in order, each
        written once (the caller leaves a lag for reports still coming)."""
        rows = []
        while self.t0 + self._written + 1 <= t:
            rows.append(self._row(self._seconds.pop(self._written, None)))
            self._written += 1
        return rows

    def _row(self, second: dict[str, Any] | None) -> dict[str, Any]:
        second = second or _empty()
        before = self._in_flight
        after = second["in_flight"] if second["in_flight"] is not None else before
        self._in_flight = after
        row: dict[str, Any] = {"t_s": self._written, "completions": second["completions"], "in_flight": after}
        if second["queue_depth"] is not None:
            row["queue_depth"] = second["queue_depth"]
        for name in ("wait", "sojourn"):
            ordered = sorted(second[name])
            row[f"{name}_p50_s"] = _round(percentile(ordered, 50))
            row[f"{name}_p99_s"] = _round(percentile(ordered, 99))
            row[f"{name}_max_s"] = _round(ordered[-1]) if ordered else None
        row["stall"] = second["completions"] == 0 and before > 0 and after > 0
        self._stalled = self._stalled + 1 if row["stall"] else 0
        self.stall_stretches += self._stalled == 1
        self.stall_seconds += row["stall"]
        self.longest_stall_s = max(self.longest_stall_s, self._stalled)
        return row

    @property
    def seconds(self) -> int:
        """Rows written so far."""
        return self._written


def _empty() -> dict[str, Any]:
    return {"completions": 0, "wait": [], "sojourn": [], "in_flight": None, "queue_depth": None}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)

"""Statistics of an open-loop run: latency from each task's *scheduled*
send time, the producer's proof that it kept the schedule, and offered
against achieved load. Pure functions over per-task times on the host's
monotonic clock (seconds).

Which tasks count: those scheduled inside the measured window
[window_start, window_end), i.e. after the warm-up and before the schedule
ends. Each counts with its whole latency, however long after the window it
finished (dropping the ones still queued at the end would hide exactly the
slowest tasks of an overloaded point). The drain after the window (no new
arrivals) is left out of the rates: the achieved completion rate counts
completions inside the window only.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

TAIL_PERCENTILES = (50, 90, 99, 99.9)
# The producer kept the schedule when it sent at least this share of the
# offered rate and its send lag p99 stayed under the bound; otherwise the
# arrival process was not the one offered, and the run is producer-limited.
MIN_SEND_RATE_SHARE = 0.99
SEND_LAG_P99_BOUND_S = 0.020  # measured here: ~10 ms p99 wake-up lag at 0.5-4k tasks/s on 2 busy cores


@dataclass(frozen=True)
class OpenTask:
    """One task of the schedule, as the producer and the worker saw it."""

    id: str
    scheduled: float  # s, monotonic: when the schedule meant it to be sent
    sent: float | None  # s, monotonic: when the producer's publish returned; None: never sent
    started: float | None  # s, monotonic: the worker began it; None: never reported
    finished: float | None  # s, monotonic: the worker finished it
    state: str | None  # Celery state of its first report; None: never reported


@dataclass(frozen=True)
class Tail:
    """Exact nearest-rank percentiles of all recorded values, seconds."""

    p50: float | None
    p90: float | None
    p99: float | None
    p999: float | None  # p99.9
    max: float | None
    mean: float | None
    n: int  # values


def exact_percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest rank, as stats.percentile, with the rank computed exactly:
    in floats 99.9 / 100 * 1000 is 999.0000000000001, whose ceiling would
    make p99.9 of 1000 values the maximum."""
    rank = max(1, math.ceil(Fraction(str(p)) * len(sorted_values) / 100))
    return sorted_values[rank - 1]


def tail(values: Sequence[float]) -> Tail:
    ordered = sorted(values)
    if not ordered:
        return Tail(None, None, None, None, None, None, 0)
    p50, p90, p99, p999 = (exact_percentile(ordered, p) for p in TAIL_PERCENTILES)
    return Tail(p50, p90, p99, p999, ordered[-1], math.fsum(ordered) / len(ordered), len(ordered))


@dataclass(frozen=True)
class OpenLoopSummary:
    offered_rate_per_s: float  # the rate asked for, tasks/s
    window_s: float  # length of the measured window, s
    scheduled: int  # tasks scheduled in the window
    counted: int  # of those, finished with SUCCESS: the latency values
    not_finished: int  # scheduled in the window, never reported (or never sent)
    failed: int  # scheduled in the window, reported with a state other than SUCCESS
    warmup_tasks: int  # scheduled before the window: run, not counted
    wait_s: Tail  # start - scheduled
    service_s: Tail  # end - start
    sojourn_s: Tail  # end - scheduled: what a caller who meant to send at `scheduled` waits
    sojourn_from_sent_s: Tail  # end - sent: for reference only, it hides a stalled producer
    send_lag_s: Tail  # sent - scheduled, of the window's tasks
    achieved_send_rate_per_s: float | None  # the window's tasks / the time it took to send them
    send_rate_share: float | None  # achieved send rate / the schedule's own rate in the window
    achieved_completion_rate_per_s: float  # completions inside the window / window_s
    backlog_at_end: int  # sent by the window's end, not yet started at it
    drain_s: float | None  # window end -> the last task's end; 0 when nothing was left
    producer_limited: bool  # the schedule was not kept: not a latency result
    producer_reason: str | None  # why, in words


def summarize(
    tasks: Sequence[OpenTask], window_start: float, window_end: float, offered_rate_per_s: float
) -> OpenLoopSummary:
    """The open-loop summary of `tasks` (every task of the schedule, warm-up
    included) for the measured window [window_start, window_end)."""
    window_s = window_end - window_start
    inside = [t for t in tasks if window_start <= t.scheduled < window_end]
    # (scheduled, sent, started, finished) of the window's tasks that succeeded
    done = [
        (t.scheduled, t.sent, t.started, t.finished)
        for t in inside
        if t.state == "SUCCESS" and t.started is not None and t.finished is not None
    ]
    failed = sum(1 for t in inside if t.state is not None and t.state != "SUCCESS")
    lags = [t.sent - t.scheduled for t in inside if t.sent is not None]
    sent = [t.sent for t in inside if t.sent is not None]
    send_rate = share = None
    if inside and len(sent) == len(inside):
        # On schedule, the last send lands just before the window ends; a
        # late producer stretches the span, and the rate falls with it.
        span = max(window_s, max(sent) - window_start)
        send_rate = len(inside) / span
        share = window_s / span
    elif inside:
        share = 0.0  # tasks of the schedule were never sent
    completed_inside = sum(1 for t in tasks if t.finished is not None and window_start <= t.finished < window_end)
    backlog = sum(
        1
        for t in tasks
        if t.sent is not None and t.sent < window_end and (t.started is None or t.started >= window_end)
    )
    ends = [t.finished for t in tasks if t.finished is not None]
    drain = max(0.0, max(ends) - window_end) if ends else None
    lag = tail(lags)
    limited, reason = producer_verdict(share, lag.p99, len(sent), len(inside))
    return OpenLoopSummary(
        offered_rate_per_s=offered_rate_per_s,
        window_s=window_s,
        scheduled=len(inside),
        counted=len(done),
        not_finished=sum(1 for t in inside if t.state is None),
        failed=failed,
        warmup_tasks=sum(1 for t in tasks if t.scheduled < window_start),
        wait_s=tail([started - scheduled for scheduled, _, started, _ in done]),
        service_s=tail([finished - started for _, _, started, finished in done]),
        sojourn_s=tail([finished - scheduled for scheduled, _, _, finished in done]),
        sojourn_from_sent_s=tail([finished - sent for _, sent, _, finished in done if sent is not None]),
        send_lag_s=lag,
        achieved_send_rate_per_s=send_rate,
        send_rate_share=share,
        achieved_completion_rate_per_s=completed_inside / window_s if window_s > 0 else math.nan,
        backlog_at_end=backlog,
        drain_s=drain,
        producer_limited=limited,
        producer_reason=reason,
    )


def producer_verdict(
    send_rate_share: float | None, lag_p99_s: float | None, sent: int, scheduled: int
) -> tuple[bool, str | None]:
    """(producer_limited, why): the run's offered load was not the one asked
    for when a task was never sent, the achieved send rate is more than 1%
    under the schedule's, or the send lag p99 is above the bound."""
    if scheduled == 0:
        return True, "no task was scheduled in the measured window"
    if sent < scheduled:
        return True, f"only {sent} of the {scheduled} tasks of the window were sent"
    if send_rate_share is not None and send_rate_share < MIN_SEND_RATE_SHARE:
        return True, (
            f"the producer sent at {100 * send_rate_share:.1f}% of the offered rate "
            f"(under {100 * MIN_SEND_RATE_SHARE:g}%)"
        )
    if lag_p99_s is not None and lag_p99_s > SEND_LAG_P99_BOUND_S:
        return True, (
            f"send lag p99 {lag_p99_s * 1000:.1f} ms is above the bound of {SEND_LAG_P99_BOUND_S * 1000:g} ms"
        )
    return False, None


def tail_fields(prefix: str, dist: Tail) -> dict[str, float | None]:
    """Flat keys with their unit: sojourn_p50_s ... sojourn_p999_s, sojourn_max_s."""
    return {
        f"{prefix}_p50_s": dist.p50,
        f"{prefix}_p90_s": dist.p90,
        f"{prefix}_p99_s": dist.p99,
        f"{prefix}_p999_s": dist.p999,
        f"{prefix}_max_s": dist.max,
        f"{prefix}_mean_s": dist.mean,
    }


def as_fields(s: OpenLoopSummary) -> dict[str, Any]:
    """The `open_loop` block of a result document."""
    out = {
        "offered_rate_per_s": s.offered_rate_per_s,
        "window_s": s.window_s,
        "counted": (
            "tasks scheduled in the measured window (after the warm-up, before the schedule's end), each "
            "with its whole latency; completions after the window count for latency, not for the rates"
        ),
        "tasks": {
            "scheduled": s.scheduled,
            "counted": s.counted,
            "not_finished": s.not_finished,
            "failed": s.failed,
            "warmup": s.warmup_tasks,
        },
        "latency_from": "scheduled send time",
        **tail_fields("wait", s.wait_s),
        **tail_fields("service", s.service_s),
        **tail_fields("sojourn", s.sojourn_s),
        **tail_fields("sojourn_from_sent", s.sojourn_from_sent_s),
        "send_lag_p50_s": s.send_lag_s.p50,
        "send_lag_p99_s": s.send_lag_s.p99,
        "send_lag_max_s": s.send_lag_s.max,
        "send_lag_p99_bound_s": SEND_LAG_P99_BOUND_S,
        "achieved_send_rate_per_s": s.achieved_send_rate_per_s,
        "send_rate_share": s.send_rate_share,
        "achieved_completion_rate_per_s": s.achieved_completion_rate_per_s,
        "backlog_at_end": s.backlog_at_end,
        "drain_s": s.drain_s,
        "producer_limited": s.producer_limited,
        "producer_reason": s.producer_reason,
    }
    return out

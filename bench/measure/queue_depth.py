"""A worker's throughput counted from outside, by the depth of its queue:
for the reference's pass without task events (bench/measure/reference.py),
where nothing of ours is in the worker and it sends nothing either.

The whole batch waits in a run-unique queue before the worker starts. A
thread of the harness asks the broker for the queue's ready-message count
every POLL_S, on a connection of its own, through kombu (a passive
queue_declare: on AMQP the ready messages, unacknowledged ones excluded;
on Redis kombu sums the lengths of the queue's priority lists, and a queue
whose lists are all empty does not exist, which reads as 0), and stamps
each answer with its own clock (time.monotonic).

    batch published -> poller started -> plain worker (no -E) started ->
    until the queue is empty (or a stall, a timeout, the worker's exit) ->
    worker stopped -> the steady slope (`steady_rate`) and what else the
    depth did (`moves`: rises are redeliveries, pauses are idle gaps)

Counting completions by polling the queue is what METHOD.md forbids for
the harness's own figures; here it is the point: it is the only count that
needs nothing inside the worker and nothing sent by it. What it can see is
a rate and the depth's own moves: no per-task times, no accounting (the
events pass of the reference does those).
"""

import contextlib
import itertools
import math
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqp.exceptions import ChannelError as AmqpChannelError
from celery import Celery
from kombu.exceptions import ChannelError

from bench.analysis.health import Context, LogEvidence, log_evidence
from bench.errors import Interrupted
from bench.harness import plain, signals
from bench.harness.broker import Broker
from bench.harness.worker import READY_TIMEOUT_S, last_error_line
from bench.harness.worker import stop as stop_worker
from bench.measure import load
from bench.measure.config import RunConfig
from bench.measure.crew import read_log

POLL_S = 0.005  # between two questions to the broker
WATCH_S = 0.02  # between two looks at the samples
TRIM = 0.1  # the steady window: from the depth's crossing of (1 - TRIM) of the batch to its crossing of TRIM
KEEP_SAMPLES = 400  # at most this many (t, depth) samples go into the document
# A still depth while messages wait, longer than MIN_PAUSE_S and PAUSE_FACTOR x
# the median time between the depth's moves: a pause (an idle gap).
MIN_PAUSE_S = 1.0
PAUSE_FACTOR = 10.0


@dataclass(frozen=True)
class DepthRate:
    """The steady-state rate at which messages left the queue."""

    steady_throughput_per_s: float | None  # messages/s between the two crossings; None: no steady window
    window_s: float | None  # s, between the two crossings
    from_depth: int | None  # messages in the queue at the window's start (the first at or under the upper level)
    to_depth: int | None  # messages in the queue at its end (the first at or under the lower level)
    start_s: float | None  # s, the window's start, on the samples' clock
    end_s: float | None  # s, its end
    method: str  # how, in words (the document carries it)


METHOD = (
    "crossings: the first samples with the queue's depth at or under the upper level, min(90% of the batch, "
    "batch - prefetch count - 1), and at or under 10% of the batch; rate = (depth at the first - depth at the "
    "second) / (time between them)"
)


def first_at_or_under(samples: Sequence[tuple[float, int]], level: float) -> tuple[float, int] | None:
    """The first (t, depth) sample with the depth at or under `level`; None: none."""
    return next(((t, depth) for t, depth in samples if depth <= level), None)


def steady_rate(samples: Sequence[tuple[float, int]], batch: int, prefetch: int | None) -> DepthRate:
    """The rate the queue drained at in steady state, from (t, depth)
    samples of a batch of `batch` messages published before the worker
    started.

    A worker takes its whole prefetch window when it starts (prefetch
    count = multiplier x concurrency; per child process for prefork, so
    `prefetch` is the worker's total), a drop of the depth that is no task
    completing: at once (then it falls between two samples and the window
    below starts after it anyway) or one message at a time over tens of ms
    as the worker comes up (then a level inside it would count the rest of
    the grab as completions). After it, in steady state, one message leaves the
    queue per task completed (the window stays full), so the slope of the
    depth is the completion rate. The window starts only once the depth has
    fallen by more than the prefetch window: at the first sample at or
    under the upper level, min((1 - TRIM) x batch, batch - prefetch - 1); it
    ends at the first sample at or under TRIM x batch (the tail, where the
    queue runs empty and the window no longer refills, is left out, like
    `run`'s steady state over 10%-90% of completions). The rate is the
    messages that left between those two samples over the time between
    them: where the depth falls in bursts (the 2.0 s idle gaps), the window
    runs from one burst to another and counts the bursts after its start,
    whole periods, rather than levels that fall inside a step. Each sample
    is late by up to a poll interval, both ends alike. None for the rate
    when the batch is too small for the prefetch window (the upper level is
    not above the lower), or the depth never reached a level (a stall)."""
    upper = (1 - TRIM) * batch
    if prefetch is not None:
        upper = min(upper, batch - prefetch - 1)
    lower = TRIM * batch
    none = DepthRate(None, None, None, None, None, None, METHOD)
    if upper <= lower:
        return none
    start, end = first_at_or_under(samples, upper), first_at_or_under(samples, lower)
    if start is None or end is None or end[0] <= start[0] or end[1] >= start[1]:
        return none
    window = end[0] - start[0]
    return DepthRate((start[1] - end[1]) / window, window, start[1], end[1], start[0], end[0], METHOD)


@dataclass(frozen=True)
class DepthMoves:
    """What the depth did besides falling: the misbehaviour it can show."""

    rose_by: int  # messages: the sum of every rise of the depth (put back into the queue: redelivered)
    pauses_s: tuple[float, ...]  # s, each time the depth stood still while messages waited, past the threshold


def moves(samples: Sequence[tuple[float, int]], min_pause_s: float = MIN_PAUSE_S) -> DepthMoves:
    """The rises of the depth (nothing else publishes to the run's queue,
    so a rise is messages put back: a redelivery), and its pauses: from
    the first fall to the queue's emptying, spans in which it did not move
    for longer than `min_pause_s` and than PAUSE_FACTOR x the median time
    between two of its moves (an idle gap while work waits). The median,
    not the mean rate: a worker that takes 8 messages at once every 2 s
    moves every few ms between its pauses, and its mean interval (0.25 s)
    would hide them."""
    rose = sum(max(b[1] - a[1], 0) for a, b in itertools.pairwise(samples))
    start = next((i for i, s in enumerate(samples) if s[1] < samples[0][1]), None) if samples else None
    if start is None:
        return DepthMoves(rose, ())
    stills = []  # s, each time the depth stood still before it moved, while messages waited
    since = samples[start][0]
    for (_t0, d0), (t1, d1) in itertools.pairwise(samples[start:]):
        if d0 == 0:
            break
        if d1 != d0:
            stills.append(t1 - since)
            since = t1
    threshold = max(min_pause_s, PAUSE_FACTOR * statistics.median(stills)) if stills else min_pause_s
    return DepthMoves(rose, tuple(round(p, 3) for p in stills if p > threshold))


def thinned(samples: Sequence[tuple[float, int]], keep: int = KEEP_SAMPLES) -> list[tuple[float, int]]:
    """At most about `keep` samples: every change of the depth when there
    are few enough, else evenly spaced ones, always with the first and last."""
    changes = [s for i, s in enumerate(samples) if i == 0 or s[1] != samples[i - 1][1] or i == len(samples) - 1]
    if len(changes) <= keep:
        return changes
    step = math.ceil(len(changes) / keep)
    out = changes[::step]
    if out[-1] != changes[-1]:
        out.append(changes[-1])
    return out


def ready_count(conn, channel, queue: str) -> tuple[int, Any]:
    """(the queue's ready messages, the channel to ask next time)."""
    try:
        return channel.queue_declare(queue=queue, passive=True).message_count, channel
    except (ChannelError, AmqpChannelError):
        # Redis: the queue's lists are all gone, it is empty, and the channel
        # is fine: keep it (a new one a second kept a client each, 30 KB/s
        # in a soak whose queue stayed empty). AMQP: the channel is closed
        # after a 404; the queue exists until tidy, but take a new channel.
        if conn.transport.driver_type == "redis":
            return 0, channel
        with contextlib.suppress(Exception):
            channel.close()
        return 0, conn.channel()


class DepthProbe:
    """The queue's ready-message count when asked (a soak's once a second),
    on a connection of its own; None once the broker does not answer."""

    def __init__(self, app: Celery, queue: str):
        self.queue = queue
        self.conn = app.connection_for_read()
        self.channel: Any = None

    def read(self) -> int | None:
        try:
            if self.channel is None:
                self.conn.ensure_connection(max_retries=1)
                self.channel = self.conn.channel()
            depth, self.channel = ready_count(self.conn, self.channel, self.queue)
            return depth
        except Exception:  # the broker went: the soak's own watch reports that
            self.channel = None
            return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.release()


class DepthWatch:
    """The queue's ready-message count on a thread, every POLL_S, on a
    connection of its own (`app.connection_for_read()`): (monotonic s,
    depth) samples. `failure` holds what ended it early."""

    def __init__(self, app: Celery, queue: str, poll_s: float = POLL_S, clock: Callable[[], float] = time.monotonic):
        self.app = app
        self.queue = queue
        self.poll_s = poll_s
        self.clock = clock
        self.samples: list[tuple[float, int]] = []
        self.lock = threading.Lock()
        self.failure: Exception | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first = threading.Event()

    def _run(self):
        try:
            with self.app.connection_for_read() as conn:
                conn.ensure_connection(max_retries=2)
                channel = conn.channel()
                try:
                    while not self._stop.is_set():
                        depth, channel = ready_count(conn, channel, self.queue)
                        with self.lock:
                            self.samples.append((self.clock(), depth))
                        self._first.set()
                        self._stop.wait(self.poll_s)
                finally:
                    channel.close()
        except Exception as exc:  # reported by the main thread
            self.failure = exc
        finally:
            self._first.set()

    def start(self, timeout_s: float = 10.0) -> "DepthWatch":
        """Start polling; returns once the first sample is in (or it failed)."""
        self._thread = threading.Thread(target=self._run, name="celery-bench-depth", daemon=True)
        self._thread.start()
        self._first.wait(timeout_s)
        return self

    def snapshot(self) -> list[tuple[float, int]]:
        with self.lock:
            return list(self.samples)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


# --- The pass: a plain worker without events, counted by its queue's depth ---


@dataclass(frozen=True)
class DepthPass:
    """The plain worker without task events, counted by its queue's depth."""

    outcome: str  # complete (the queue ran empty) | stalled | worker exited | broker lost | timed out | interrupted
    detail: str  # why, in words ("" when complete)
    command: tuple[str, ...]  # the worker's command line (no -E), broker URL redacted
    rate: DepthRate  # the steady-state rate and how it was found
    moves: DepthMoves  # rises (redelivered) and pauses (idle while work waited) of the depth
    batch: int  # messages published to its queue
    prefetch_count: int | None  # the prefetch window the steady window waited out, messages
    samples: tuple[tuple[float, int], ...]  # (s from the first sample, depth), thinned
    poll_s: float  # s between two samples, asked for
    sample_count: int  # samples taken
    log: LogEvidence | None = None  # what the worker's log said of its acks and its broker connection


def prefetch_count(context: Context) -> int:
    """The worker's prefetch window, messages: slots x multiplier (Celery's
    default multiplier, 4, when none was set); per child for prefork, whose
    slots are its children, so this is the worker's total. Under
    worker_disable_prefetch a worker takes a message only for a free slot:
    its slots."""
    if context.disable_prefetch:
        return context.slots
    multiplier = context.prefetch_multiplier if context.prefetch_multiplier is not None else 4
    return context.slots * max(multiplier, 1)


DEPTH_WORDS = load.WatchWords(
    "the queue's depth did not move in the last {quiet_s:.0f} s", "the queue did not drain within {timeout_s:.0f} s"
)


def _watch_depth(depth, batch, worker, broker_alive, stall_s, timeout_s, boot_s=READY_TIMEOUT_S, progress=None):
    """Until the queue is empty, or the worker exits, the broker goes, the
    depth does not move for `stall_s` (`boot_s` more before its first drop:
    the worker is booting), or `timeout_s` (plus the boot) passes. Every
    wait is bounded. Returns (outcome, detail)."""
    watching = load.Watch(DEPTH_WORDS, stall_s, timeout_s, boot_s)
    last = None
    try:
        while True:
            got = depth.snapshot()
            now = time.monotonic()
            current = got[-1][1] if got else None
            if current is not None and current != last:
                last = current
                watching.news(now)
                if progress:
                    progress(max(batch - current, 0), batch)
            if current == 0:
                return "complete", ""
            if depth.failure is not None:
                return "broker lost", f"the queue's depth could not be read: {depth.failure}"
            booting = current is None or current >= batch
            ended = watching.ended(worker, broker_alive, now, booting)
            if ended:
                return ended
            signals.raise_if_stopping()
            time.sleep(WATCH_S)
    except (KeyboardInterrupt, Interrupted):
        return "interrupted", "interrupted by a signal"


def depth_pass(
    cfg: RunConfig,
    app: Celery,
    broker: Broker,
    spec: plain.PlainSpec,
    args: Any,
    calls: load.Calls | None,
    limits: tuple[float, float],
    prefetch: int | None,
    work: Path,
    progress: load.Progress | None,
) -> DepthPass:
    """The reference's first pass: the batch published to the worker's
    queue, its depth polled, the plain worker of `spec` (no -E) started,
    watched until the queue is empty (the measured part is over: what is
    still prefetched does not count), stopped with its tree. `limits`:
    (stall, timeout) s; `prefetch`: the worker's prefetch window."""
    stall_s, timeout_s = limits
    depth = DepthWatch(app, spec.queue)
    worker = None
    outcome, detail = "not measured", ""
    try:
        load.declare(app, spec.queue)
        load.publish(app, spec.queue, cfg.spec.task, args, cfg.tasks, calls)
        depth.start()
        worker = plain.start(spec, work / "depth.log", work / "tmp")
        alive = broker.watch()
        outcome, detail = _watch_depth(depth, cfg.tasks, worker, alive, stall_s, timeout_s, progress=progress)
    finally:
        try:
            if worker is not None:
                stop_worker(worker)
        finally:
            depth.stop()
    if outcome not in ("complete", "interrupted") and not detail:
        detail = last_error_line(work / "depth.log")
    log = log_evidence([read_log(work / "depth.log")]) if worker is not None else None
    samples = depth.snapshot()
    origin = samples[0][0] if samples else 0.0
    relative = [(t - origin, d) for t, d in samples]
    rate = steady_rate(relative, cfg.tasks, prefetch)
    return DepthPass(
        outcome=outcome,
        detail=detail,
        command=plain.redacted_argv(spec, broker),
        rate=rate,
        moves=moves(relative),
        batch=cfg.tasks,
        prefetch_count=prefetch,
        samples=tuple((round(t, 4), d) for t, d in thinned(relative)),
        poll_s=depth.poll_s,
        sample_count=len(samples),
        log=log,
    )


def depth_json(depth: DepthPass | None) -> dict[str, Any] | None:
    """The pass without events: its rate, how it was found, and the depth."""
    if depth is None:
        return None
    r = depth.rate
    return {
        "status": {"outcome": depth.outcome, "detail": depth.detail},
        "command": list(depth.command),
        "steady_throughput_per_s": r.steady_throughput_per_s,
        "window_s": r.window_s,
        "from_depth": r.from_depth,
        "to_depth": r.to_depth,
        "start_s": r.start_s,
        "end_s": r.end_s,
        "method": r.method,
        "rose_by": depth.moves.rose_by,
        "pauses_s": list(depth.moves.pauses_s),
        "batch": depth.batch,
        "prefetch_count": depth.prefetch_count,
        "poll_s": depth.poll_s,
        "sample_count": depth.sample_count,
        "ack_failures": len(depth.log.ack_failures) if depth.log else None,
        "reconnects": depth.log.reconnects if depth.log else None,
        "redis_pool_exhausted": depth.log.pool_exhausted if depth.log else None,
        "samples": {
            "time_origin": "the first sample (monotonic clock of this host)",
            "t_s": [t for t, _ in depth.samples],
            "depth": [d for _, d in depth.samples],
        },
    }

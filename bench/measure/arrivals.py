"""Where a soak's tasks come from (bench/measure/soak.py): a closed loop
keeps a backlog topped up; an open loop's producer process sends a
schedule, streaming (bench/measure/producer.py `produce_stream`). Either
way the state kept is bounded by what is in flight, not by the run's
length, but for the open loop's one bit a task. And the open-loop soak's
`schedule` and `open_loop` blocks of the run document, from its counts and
histograms."""

import contextlib
import dataclasses
import itertools
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from kombu.exceptions import OperationalError

from bench.analysis.health import EXAMPLES  # task ids kept of the tasks run twice and of the lost
from bench.analysis.openloop import SEND_LAG_P99_BOUND_S, producer_verdict, tail_fields
from bench.analysis.soak import SoakTally
from bench.errors import RunFailed
from bench.harness import broker as broker_mod
from bench.harness import scratch, signals
from bench.measure import load, producer
from bench.measure.schedule import Schedule
from bench.results.schema import RunResult, RunStatus


def _test_and_set(bits: bytearray, i: int) -> bool:
    """Whether bit `i` was set; set it (the array grows as needed)."""
    byte, bit = divmod(i, 8)
    if byte >= len(bits):
        bits.extend(bytes(byte + 1 - len(bits) + 4096))
    was = bool(bits[byte] & (1 << bit))
    bits[byte] |= 1 << bit
    return was


class Repeats:
    """The tasks reported again after their first report, by their number:
    one bit a task (set when it first repeats), the count of reports beyond
    each first, and the first few ids."""

    def __init__(self) -> None:
        self.bits = bytearray()
        self.tasks = 0  # tasks reported more than once
        self.runs = 0  # reports beyond each task's first
        self.examples: list[str] = []

    def add(self, i: int, task_id: str) -> None:
        self.runs += 1
        if not _test_and_set(self.bits, i):
            self.tasks += 1
            if len(self.examples) < EXAMPLES:
                self.examples.append(task_id)


class Arrivals(Protocol):
    """Where a soak's tasks come from: kept topped up (ClosedLoop) or sent on
    a schedule by the producer (OpenLoop). Either numbers its tasks (the
    run's prefix and an index), so a report of a task already reported is
    known as one, in bounded state."""

    published: int  # tasks sent so far
    missing: int  # tasks sent and never reported (once finished)
    lost_examples: tuple[str, ...]  # the first of those (once finished)
    repeats: Repeats

    def take(self, raw: Mapping[str, Any]) -> float | None:
        """The time a reported task's latency counts from (monotonic s); None: not one of ours, or seen."""

    def counted(self, origin: float) -> bool:
        """Whether a task sent at `origin` counts in the whole run's latency."""

    def send(self, now: float, ending: bool) -> str | None:
        """Keep the arrivals going; why they cannot, or None."""

    def in_flight(self) -> int: ...

    def over(self, now: float) -> bool:
        """Every task is sent and reported."""

    def finish(self) -> producer.Streamed | None: ...


class ClosedLoop:
    """Keeps `backlog` tasks published and not finished: one sent as one finishes."""

    def __init__(self, app: Any, queue: str, task: str, args: Any, backlog: int):
        self.app, self.queue, self.task, self.args, self.backlog = app, queue, task, args, backlog
        self.prefix = f"{queue}-"
        self._ids = (f"{self.prefix}{i}" for i in itertools.count())
        self.outstanding = load.publish(app, queue, task, args, backlog, ids=self._ids)
        self.published = len(self.outstanding)
        self.missing = 0
        self.lost_examples: tuple[str, ...] = ()
        self.repeats = Repeats()

    def take(self, raw: Mapping[str, Any]) -> float | None:
        task_id = raw["id"]
        origin = self.outstanding.pop(task_id, None)
        if origin is None and task_id.startswith(self.prefix):  # sent, and reported before: run again
            self.repeats.add(int(task_id[len(self.prefix) :]), task_id)
        return origin

    def counted(self, origin: float) -> bool:
        return True

    def send(self, now: float, ending: bool) -> str | None:
        if ending or len(self.outstanding) >= self.backlog:
            return None
        try:
            more = load.publish(
                self.app, self.queue, self.task, self.args, self.backlog - len(self.outstanding), ids=self._ids
            )
        except (OSError, OperationalError) as exc:  # the broker went
            return f"a task could not be sent: {exc}"
        self.outstanding.update(more)
        self.published += len(more)
        return None

    def in_flight(self) -> int:
        return len(self.outstanding)

    def over(self, now: float) -> bool:
        return not self.outstanding

    def finish(self) -> None:
        self.missing = len(self.outstanding)
        self.lost_examples = tuple(sorted(self.outstanding, key=lambda t: int(t[len(self.prefix) :]))[:EXAMPLES])


class OpenLoop:
    """The producer process sends the schedule (task i's id: the run's
    prefix and i); a task's latency counts from its scheduled send time,
    which its message carries. In flight: the tasks due by now (the same
    seeded schedule, walked here as time passes) and not reported, so a
    producer that falls behind shows as work waiting, as it is for a
    caller. What it keeps: one bit a task sent (which reported), 45 KiB an
    hour at 100 tasks/s."""

    def __init__(self, workdir: Path, popen: Any, prefix: str, t0: float, schedule: Schedule):
        self.workdir, self.popen, self.prefix, self.t0 = workdir, popen, prefix, t0
        self.window_start = t0 + schedule.warmup_s
        self.seen = bytearray()
        self.reported = 0
        self.published = 0
        self.missing = 0
        self.lost_examples: tuple[str, ...] = ()
        self.repeats = Repeats()
        self.streamed: producer.Streamed | None = None
        self._offsets = schedule.iter_offsets()
        self._next_due = next(self._offsets, None)
        self.due = 0  # tasks of the schedule due by the last send()

    @classmethod
    @contextlib.contextmanager
    def started(
        cls, broker: broker_mod.Broker, queue: str, task: str, args: Any, schedule: Schedule
    ) -> Iterator["OpenLoop"]:
        """Start the producer; yield the OpenLoop once its t0 is known."""
        workdir = scratch.make("producer")
        prefix = f"{queue}-"
        try:
            with producer.running(
                broker.url, queue, task, args, schedule, workdir, id_prefix=prefix, stream=True
            ) as popen:
                t0 = _wait_t0(workdir, popen)
                yield cls(workdir, popen, prefix, t0, schedule)
        finally:
            scratch.remove(workdir)

    def take(self, raw: Mapping[str, Any]) -> float | None:
        task_id = raw["id"]
        if not task_id.startswith(self.prefix):
            return None
        i = int(task_id[len(self.prefix) :])
        if _test_and_set(self.seen, i):
            self.repeats.add(i, task_id)
            return None  # run again: its first report counted
        self.reported += 1
        return raw.get("scheduled", self.t0)

    def counted(self, origin: float) -> bool:
        return origin >= self.window_start

    def send(self, now: float, ending: bool) -> str | None:
        self.published = producer.sent_so_far(self.workdir)
        while self._next_due is not None and self.t0 + self._next_due <= now:
            self.due += 1
            self._next_due = next(self._offsets, None)
        if self.popen.poll() not in (None, 0):
            return f"the producer stopped{producer.log_tail(self.workdir)}"
        return None

    def in_flight(self) -> int:
        return max(0, max(self.due, self.published) - self.reported)

    def over(self, now: float) -> bool:
        if self.popen.poll() is None:
            return False
        self.published = producer.sent_so_far(self.workdir)  # its last word, written as it ended
        return self.reported >= self.published

    def finish(self) -> producer.Streamed | None:
        with contextlib.suppress(RunFailed):
            self.streamed = producer.read_streamed(self.workdir)
            self.published = self.streamed.sent
        self.missing = max(0, self.published - self.reported)
        if self.missing:
            seen = self.seen

            def reported(i: int) -> bool:
                return i // 8 < len(seen) and bool(seen[i // 8] & (1 << i % 8))

            unseen = (i for i in range(self.published) if not reported(i))
            self.lost_examples = tuple(f"{self.prefix}{i}" for i in itertools.islice(unseen, EXAMPLES))
        return self.streamed


def _wait_t0(workdir: Path, popen: Any, timeout_s: float = 30.0) -> float:
    """The schedule's origin, once the producer has connected and set it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            return float((workdir / "producer-t0").read_text())
        if popen.poll() is not None:
            break
        signals.raise_if_stopping()
        time.sleep(producer.POLL_S)
    raise RunFailed(f"the producer did not start its schedule{producer.log_tail(workdir)}")


def open_soak_result(result: RunResult, schedule: Schedule, sent: producer.Streamed, tally: SoakTally) -> RunResult:
    """The result of an open-loop soak with its `schedule` and `open_loop`
    blocks (the keys an open-loop run's have: bench/analysis/openloop.py
    `as_fields`), from the producer's counts and the tally's histograms;
    a producer that did not keep the schedule makes it `producer-limited`."""
    start, end = schedule.window
    window_start, window_end = sent.t0 + start, sent.t0 + end
    share = send_rate = None
    if sent.window_scheduled and sent.window_last_sent is not None:
        span = max(schedule.duration_s, sent.window_last_sent - window_start)
        send_rate, share = sent.window_scheduled / span, schedule.duration_s / span
    limited, reason = producer_verdict(share, sent.lag_p99_s, sent.window_scheduled, sent.window_scheduled)
    counted = tally.counted_succeeded
    block: dict[str, Any] = {
        "offered_rate_per_s": schedule.rate_per_s,
        "window_s": schedule.duration_s,
        "counted": (
            "tasks scheduled in the measured window (after the warm-up), each with its whole latency, from "
            "histograms with buckets 1% wide (a soak keeps no task record)"
        ),
        "tasks": {
            "scheduled": sent.window_scheduled,
            "counted": counted,
            "not_finished": max(0, sent.window_scheduled - counted - tally.counted_failed),
            "failed": tally.counted_failed,
            "warmup": max(0, sent.sent - sent.window_scheduled),
        },
        "latency_from": "scheduled send time",
        **tail_fields("wait", tally.wait.tail()),
        **tail_fields("service", tally.service.tail()),
        **tail_fields("sojourn", tally.sojourn.tail()),
        # the worker sees the scheduled time only (a soak keeps no send time per task)
        **{f"sojourn_from_sent_{p}_s": None for p in ("p50", "p90", "p99", "p999", "max", "mean")},
        "send_lag_p50_s": sent.lag_p50_s,
        "send_lag_p99_s": sent.lag_p99_s,
        "send_lag_max_s": sent.lag_max_s,
        "send_lag_p99_bound_s": SEND_LAG_P99_BOUND_S,
        "achieved_send_rate_per_s": send_rate,
        "send_rate_share": share,
        "achieved_completion_rate_per_s": tally.window_completions / schedule.duration_s,
        # not started by then is not known without task records: what was sent and not finished at its end
        "backlog_at_end": None,
        "in_flight_at_end": tally.in_flight_at_window_end,
        "drain_s": None if tally.last_finish is None else max(0.0, tally.last_finish - window_end),
        "producer_limited": limited,
        "producer_reason": reason,
    }
    status = result.status
    if status.state == "ok" and limited:
        status = RunStatus(
            "producer-limited",
            f"producer-limited: {reason}; the latencies are not a result at this rate",
            status.outcome,
        )
    queue_mode = (
        f"open-loop soak: {schedule.arrival} arrivals at {schedule.rate_per_s:g}/s, {schedule.warmup_s:g} s "
        f"warm-up then {schedule.duration_s:g} s, sent by a producer process"
    )
    schedule_block = {
        **schedule.describe(),
        "window_s": [start, end],
        "time_origin": "t0 of the schedule (its first deadline); the series' origin too",
    }
    return dataclasses.replace(
        result,
        status=status,
        config=dataclasses.replace(result.config, queue_mode=queue_mode),
        schedule=schedule_block,
        open_loop=block,
    )

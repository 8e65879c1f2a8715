"""The open-loop producer: a process of its own that sends the schedule's
tasks at their absolute deadlines and records when each really went out.

The harness starts it from its main thread, tied to it (it dies with the
harness), with a spec file; the producer writes its result file when the
schedule is done, or on SIGTERM with what it sent so far:

    python -m bench.measure.producer SPEC.json OUT.json

Pacing: task i is due at t0 + offset_i (absolute, monotonic). The producer
sleeps until that deadline, never for a fixed interval, so the time a send
takes never pushes the tasks after it. A late producer sends at once (it
never skips a task) and every task carries its *scheduled* time in the
message header `bench_scheduled`, so latency is measured from when the
task was meant to go, however late it went (no coordinated omission).
"""

import contextlib
import json
import math
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kombu import serialization
from kombu.utils.json import dumps as json_dumps
from kombu.utils.uuid import uuid

from bench.analysis.soak import LogHistogram
from bench.errors import Interrupted, RunFailed
from bench.harness import signals
from bench.harness.process import stop_tree, tied_to_us
from bench.measure.load import client_app
from bench.measure.schedule import Schedule

HEADER = "bench_scheduled"
START_DELAY_S = 0.2  # t0 is this far after the producer is connected: the first deadline is never already late
POLL_S = 0.02
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class Sent:
    """What the producer did: one entry per task of the schedule it reached."""

    t0: float  # s, monotonic: the schedule's origin
    ids: list[str]  # task ids, in schedule order
    scheduled: list[float]  # s, monotonic: each task's deadline
    sent: list[float]  # s, monotonic: when its publish returned
    error: str | None  # why the producer stopped early; None: it sent the whole schedule


@dataclass(frozen=True)
class Streamed:
    """What a soak's producer did, in a size that does not grow with the
    schedule: task i's id is the spec's id_prefix followed by i."""

    t0: float  # s, monotonic: the schedule's origin
    sent: int  # tasks sent: indexes 0 .. sent - 1
    window_scheduled: int  # of them, the tasks scheduled in the measured window (after the warm-up)
    window_last_sent: float | None  # s, monotonic: when the window's last task went out
    lag_p50_s: float | None  # sent - scheduled, of the window's tasks (histogram buckets 1% wide)
    lag_p99_s: float | None
    lag_max_s: float | None
    error: str | None  # why the producer stopped early; None: it sent the whole schedule


# --- Harness side -------------------------------------------------------------


@contextlib.contextmanager
def running(
    broker_url: str,
    queue: str,
    task: str,
    args: Any,
    schedule: Schedule,
    workdir: Path,
    id_prefix: str = "",
    calls: Sequence[tuple[str, Any, Any, str, float | None]] | None = None,
    stream: bool = False,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start the producer for `schedule`; yield its Popen; stop it (and
    everything under it) on the way out. `id_prefix` starts every task id
    (agents count a run's records by it). `calls` (a traffic mix): the
    (task name, args, kwargs, queue, countdown s or None) of each arrival of the schedule, in its order,
    instead of `task` and `args` for all. `stream` (a soak): task i's id is
    `id_prefix` + i, the producer keeps counts only (produce_stream) and
    says how many it sent so far (sent_so_far)."""
    spec_path, out_path = workdir / "producer-spec.json", workdir / "producer-out.json"
    spec_path.write_text(
        json.dumps(
            {
                "broker_url": broker_url,
                "queue": queue,
                "task": task,
                "args": args,
                "t0_path": str(workdir / "producer-t0"),
                "id_prefix": id_prefix,
                "calls": None if calls is None else [list(call) for call in calls],
                "progress_path": str(workdir / "producer-progress") if stream else None,
                **schedule.describe(),
            }
        )
    )
    with (workdir / "producer.log").open("wb") as log, signals.forking():
        popen = subprocess.Popen(
            [sys.executable, "-m", "bench.measure.producer", str(spec_path), str(out_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=tied_to_us(),  # dies with the harness, however it dies
        )
    try:
        yield popen
    finally:
        stop_tree(popen, grace_s=STOP_GRACE_S)


def wait(
    popen: subprocess.Popen[bytes],
    workdir: Path,
    timeout_s: float,
    alive_checks: Iterable[tuple[str, Callable[[], bool]]],
    during: Callable[[float], object] | None = None,
) -> None:
    """Wait for the producer to finish the schedule; RunFailed when it exits
    with an error, something it needs died, or `timeout_s` passed.
    `alive_checks` is [(name, callable)]; `during(t0)` is called every poll
    once the producer has set the schedule's origin t0 (monotonic s)."""
    deadline = time.monotonic() + timeout_s
    t0 = None
    t0_path = workdir / "producer-t0"
    try:
        while popen.poll() is None:
            for name, alive in alive_checks:
                if not alive():
                    raise RunFailed(f"{name} while the producer was sending")
            if time.monotonic() > deadline:
                raise RunFailed(f"the producer did not finish its schedule within {timeout_s:.0f} s")
            if t0 is None and t0_path.exists():
                with contextlib.suppress(ValueError):
                    t0 = float(t0_path.read_text())
            if during is not None and t0 is not None:
                during(t0)
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        raise Interrupted("interrupted while the producer was sending") from None


def read(workdir: Path, with_log: bool = True) -> Sent:
    """The producer's result; RunFailed (with its log's last line) when it wrote none."""
    out_path = workdir / "producer-out.json"
    try:
        raw = json.loads(out_path.read_text())
    except (OSError, ValueError):
        raise RunFailed(f"the producer wrote no result{log_tail(workdir) if with_log else ''}") from None
    return Sent(raw["t0"], raw["ids"], raw["scheduled"], raw["sent"], raw["error"])


def read_streamed(workdir: Path) -> Streamed:
    """A soak producer's result (produce_stream); RunFailed when it wrote none."""
    try:
        raw = json.loads((workdir / "producer-out.json").read_text())
        return Streamed(**raw)
    except (OSError, ValueError, TypeError):
        raise RunFailed(f"the producer wrote no result{log_tail(workdir)}") from None


def sent_so_far(workdir: Path) -> int:
    """How many tasks a soak's producer has sent (at its last word, at most
    PROGRESS_EVERY_S old); 0 before its first."""
    try:
        return int((workdir / "producer-progress").read_text())
    except (OSError, ValueError):
        return 0


def log_tail(workdir: Path) -> str:
    """': ' and the producer log's last line, or nothing."""
    with contextlib.suppress(OSError):
        lines = (workdir / "producer.log").read_text(errors="replace").strip().splitlines()
        return f": {lines[-1]}" if lines else ""
    return ""


# --- Producer side (its own process) -------------------------------------------


class _Stop(Exception):
    pass


def _on_term(_signum, _frame):
    raise _Stop


def _call(spec: Mapping[str, Any], index: int) -> tuple[str, Any, dict[str, Any], str, float | None]:
    """(task name, args, kwargs, queue, countdown) of the schedule's `index`-th arrival."""
    calls = spec.get("calls")
    if calls is None:
        return spec["task"], spec["args"], {}, spec["queue"], None
    task, args, kwargs, queue, countdown = calls[index]
    return task, args, kwargs or {}, queue, countdown


class _CelerySender:
    """Any broker: Celery's own send_task, one message at a time."""

    def __init__(self, app, producer, spec):
        self.app, self.producer, self.spec = app, producer, spec

    def send(self, batch: Sequence[tuple[str, float, int]]) -> None:
        for task_id, deadline, index in batch:
            task, args, kwargs, queue, countdown = _call(self.spec, index)
            self.app.send_task(
                task,
                args=args,
                kwargs=kwargs,
                countdown=countdown,
                queue=queue,
                task_id=task_id,
                producer=self.producer,
                headers={HEADER: deadline},
            )


class _RedisSender:
    """The Redis transport, about three times faster than send_task on a
    small machine: the message Celery would send (protocol 2, as built by
    Celery and kombu for one task) is made once as a template; each task
    gets its own id, delivery tag and header, and the tasks due together go
    in one pipelined round trip. kombu's own publish makes a new client per
    message (kombu/transport/redis.py `_put`), which is what this saves."""

    def __init__(self, app, producer, spec):
        self.app, self.spec, self.channel = app, spec, producer.channel
        self.client = producer.channel.client
        # one per distinct (task, args, kwargs, queue): a mix has several
        self.templates: dict[str, tuple[dict[str, Any], str]] = {}

    def template(self, index: int) -> tuple[dict[str, Any], str]:
        """(the message, its queue) of the `index`-th arrival, but for its id."""
        task, args, kwargs, queue, _ = _call(self.spec, index)
        key = json_dumps([task, args, kwargs, queue])
        if key not in self.templates:
            headers, props, body, _ = self.app.amqp.as_task_v2("template", task, args=args, kwargs=kwargs)
            ctype, encoding, data = serialization.dumps(body, serializer="json")
            template = self.channel.prepare_message(data, 0, ctype, encoding, headers, dict(props, delivery_mode=2))
            self.channel._inplace_augment_message(template, "", queue)
            self.templates[key] = (template, queue)
        return self.templates[key]

    def send(self, batch: Sequence[tuple[str, float, int]]) -> None:
        with self.client.pipeline(transaction=False) as pipe:
            for task_id, deadline, index in batch:
                template, queue = self.template(index)
                msg = dict(template)
                msg["headers"] = {**template["headers"], "id": task_id, "root_id": task_id, HEADER: deadline}
                msg["properties"] = {**template["properties"], "correlation_id": task_id, "delivery_tag": uuid()}
                pipe.lpush(queue, json_dumps(msg))
            pipe.execute()


MAX_BATCH = 200  # tasks due at once (a late producer catching up) sent in one round trip
PROGRESS_EVERY_S = 0.5  # a soak's producer writes how many it sent this often


def produce(
    spec: Mapping[str, Any],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> Sent:
    """Send every task of `spec`'s schedule at its deadline; return Sent."""
    ids: list[str] = []
    scheduled: list[float] = []
    sent: list[float] = []

    def record(batch: Sequence[tuple[str, float, int]], done: float) -> None:
        for task_id, deadline, _index in batch:
            ids.append(task_id)
            scheduled.append(deadline)
            sent.append(done)

    t0, error = _send_schedule(spec, record, clock, sleep)
    return Sent(t0, ids, scheduled, sent, error)


def produce_stream(
    spec: Mapping[str, Any],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> Streamed:
    """Send `spec`'s schedule as produce() does, keeping counts and a
    histogram of the send lag instead of every task's times, and writing
    how many were sent to spec["progress_path"] every PROGRESS_EVERY_S."""
    counts = _StreamCounts(spec["warmup_s"], Path(spec["progress_path"]))
    t0, error = _send_schedule(spec, counts.record, clock, sleep, sequential=True, started=counts.start)
    _write_atomic(counts.progress, str(counts.sent))
    lag = counts.lag
    return Streamed(t0, counts.sent, counts.window, counts.last, lag.percentile(50), lag.percentile(99), lag.max, error)


class _StreamCounts:
    """What produce_stream keeps: counts, the window's last send, a lag histogram."""

    def __init__(self, window_start_s: float, progress: Path):
        self.window_start_s, self.progress = window_start_s, progress
        self.lag = LogHistogram()
        self.t0 = 0.0
        self.sent = self.window = 0
        self.last: float | None = None
        self.written = -math.inf  # when the progress file was last written

    def start(self, t0: float) -> None:
        self.t0 = t0

    def record(self, batch: Sequence[tuple[str, float, int]], done: float) -> None:
        for _task_id, deadline, _index in batch:
            if deadline - self.t0 >= self.window_start_s:
                self.window += 1
                self.last = done
                self.lag.add(max(0.0, done - deadline))
        self.sent += len(batch)
        if done - self.written >= PROGRESS_EVERY_S:
            _write_atomic(self.progress, str(self.sent))
            self.written = done


def _send_schedule(
    spec: Mapping[str, Any],
    record: Callable[[Sequence[tuple[str, float, int]], float], None],
    clock: Callable[[], float],
    sleep: Callable[[float], object],
    sequential: bool = False,
    started: Callable[[float], None] | None = None,
) -> tuple[float, str | None]:
    """Send every task of `spec`'s schedule at its deadline, calling
    `record(batch, send time)` after each round trip; (t0, error or None).
    Task ids: id_prefix + a uuid, or + the task's index (`sequential`)."""
    schedule = Schedule(spec["rate_per_s"], spec["arrival"], spec["warmup_s"], spec["duration_s"], spec["seed"])
    prefix = spec.get("id_prefix", "")
    error = None
    t0 = 0.0
    app = client_app(_Broker(spec["broker_url"]))
    try:
        with app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=2)
            for queue in dict.fromkeys([spec["queue"], *(call[3] for call in spec.get("calls") or ())]):
                app.amqp.queues[queue].bind(producer.channel).declare()
            # a countdown makes each message's ETA its own: Celery builds those
            countdowns = any(call[4] is not None for call in spec.get("calls") or ())
            fast = producer.connection.transport.driver_type == "redis" and not countdowns
            sender = (_RedisSender if fast else _CelerySender)(app, producer, spec)
            t0 = clock() + START_DELAY_S
            if started is not None:
                started(t0)
            if spec.get("t0_path"):  # the harness learns t0 before the first send
                Path(spec["t0_path"]).write_text(repr(t0))
            offsets = schedule.iter_offsets()
            due, i = next(offsets, None), 0
            while due is not None:
                delay = t0 + due - clock()
                if delay > 0:
                    sleep(delay)
                # Every task already due goes now: a late producer catches up
                # without skipping any, and each keeps its own deadline.
                now = clock()
                batch: list[tuple[str, float, int]] = []  # (task id, its deadline, its index in the schedule)
                while due is not None and t0 + due <= now and len(batch) < MAX_BATCH:
                    batch.append((f"{prefix}{i}" if sequential else prefix + uuid(), t0 + due, i))
                    due, i = next(offsets, None), i + 1
                sender.send(batch)
                record(batch, clock())  # the tasks of one round trip share its end as their send time
    except _Stop:
        error = "stopped by the harness"
    except Exception as exc:  # the broker went away, a publish failed
        error = f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(Exception):
            app.close()
    return t0, error


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


@dataclass(frozen=True)
class _Broker:
    url: str


def main(argv: Sequence[str]) -> int:
    signal.signal(signal.SIGTERM, _on_term)
    spec_path, out_path = Path(argv[0]), Path(argv[1])
    spec = json.loads(spec_path.read_text())
    result = produce_stream(spec) if spec.get("progress_path") else produce(spec)
    _write_atomic(out_path, json.dumps(asdict(result)))
    return 0 if result.error is None else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

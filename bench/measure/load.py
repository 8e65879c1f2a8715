"""The load: publish batches of tasks, hold the measured batch in its queue
until it is all there, release it to the worker, and watch it complete."""

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import redis
from celery import Celery
from kombu.utils.uuid import uuid

from bench.analysis.stats import TaskRecord
from bench.errors import Interrupted, RunFailed
from bench.harness import signals
from bench.harness.broker import Broker
from bench.harness.worker_entry import WAKEUP_TASK

CONTROL_TIMEOUT_S = 10.0
POLL_S = 0.02
# After this long without news, a watch that can tell lost tasks asks whether every task it waits for is
# lost for good (started by a process that died: an OOM kill), at most this often.
LOST_CHECK_S = 1.0


class Reachable(Protocol):
    """A broker as a client reaches it: a Broker, or the producer's own record of one."""

    @property
    def url(self) -> str: ...


def client_app(broker: Reachable, serializer: str = "json") -> Celery:
    """The harness's own Celery app: it only publishes, by task name, and
    keeps no results (a result backend on the client side would subscribe to
    every task's result and load the harness). `serializer`: the user's
    app's task_serializer, so its worker accepts what is sent."""
    app = Celery("celery-bench-client", set_as_current=False)
    app.conf.update(
        broker_url=broker.url,
        result_backend=None,
        task_serializer=serializer,
        accept_content=["json"],
        broker_connection_timeout=5,
        broker_connection_max_retries=2,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
    )
    return app


def declare(app: Celery, queue_name: str) -> None:
    """Create the queue now, so messages published before any consumer
    exists are kept (AMQP drops messages routed to no queue)."""
    with app.connection_for_write() as conn:
        app.amqp.queues[queue_name].bind(conn.default_channel).declare()


def tidy(app: Celery, broker: Broker, run_prefix: str, nodenames: Iterable[str]) -> None:
    """Leave the broker as the run found it: remove the run's queues (names
    starting with `run_prefix`), the exchanges Celery made for them, and
    every trace kombu keeps of them and of the run's workers and control
    replies (on Redis: the `_kombu.binding*` tables). Redis drops a set or
    a sorted set once its last member is gone, so shared tables that the
    run only added members to disappear again when they were not there
    before."""
    delete_queues(app, *[name for name in app.amqp.queues if name.startswith(run_prefix)])
    if broker.kind == "redis":
        _tidy_redis(broker.url, (run_prefix, *nodenames, app.control.mailbox.oid))


def delete_queues(app: Celery, *names: str) -> None:
    """Remove queues and the direct exchange Celery made for each (AMQP keeps
    it otherwise; on Redis it is only a binding table, which `tidy` removes)."""
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for name in names:
            app.amqp.queues[name].bind(channel).delete()
            if conn.transport.driver_type == "amqp":
                channel.exchange_delete(name)


def _tidy_redis(url, traces):
    client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    deadlines = None
    try:
        for key in client.scan_iter(match="*", count=1000):
            name = key.decode(errors="replace")
            if any(name.startswith(t) or name.startswith(f"_kombu.binding.{t}") for t in traces):
                client.delete(key)
            elif name.startswith(("_kombu.binding.", "_kombu.binding_permanent.")):
                stale = [m for m in client.smembers(key) if any(t.encode() in m for t in traces)]
                if stale:
                    client.srem(key, *stale)
            elif name == "_kombu.binding_deadlines":
                deadlines = key
                continue
            elif any(t in name for t in traces):  # e.g. a reply queue's priority lists
                client.delete(key)
        _tidy_unacked(client, traces)
        if deadlines is not None:
            # Expiry deadlines of binding tables (the control replies'): an
            # entry whose table is gone keeps nothing alive.
            # redis-py types a reply as any shape; without decode_responses this one is bytes
            members = cast(list[bytes], client.zrange(deadlines, 0, -1))
            gone = [m for m in members if not client.exists(b"_kombu.binding." + m)]
            if gone:
                client.zrem(deadlines, *gone)
    finally:
        client.close()


def _tidy_unacked(client, traces):
    """Remove the run's messages from kombu's `unacked` hash and its index:
    a worker stopped with acks still pending (task_acks_late) leaves them
    there, and kombu would restore them, an hour later, into a queue named
    after the run."""
    stale = []
    for tag, raw in client.hscan_iter("unacked", count=1000):
        with contextlib.suppress(ValueError, TypeError, IndexError):
            _message, exchange, routing_key = json.loads(raw)
            if any(str(name).startswith(t) for t in traces for name in (exchange, routing_key)):
                stale.append(tag)
    for start in range(0, len(stale), 500):
        chunk = stale[start : start + 500]
        client.hdel("unacked", *chunk)
        client.zrem("unacked_index", *chunk)


# Called with (tasks done, tasks in all) as a batch progresses
Progress = Callable[[int, int], object]
# A user's task's arguments of its i-th call: (args, kwargs)
Calls = Callable[[int], tuple[Any, Mapping[str, Any] | None]]


def publish(
    app: Celery,
    queue: str,
    task_name: str,
    args: Any,
    count: int,
    calls: Calls | None = None,
    ids: Iterator[str] | None = None,
) -> dict[str, float]:
    """Send `count` tasks; returns {task id: publish time (monotonic s)}.
    `calls` (a user's task): a function of the task's index giving its
    (args, kwargs), used instead of `args`. `ids`: the task ids to give
    them (a soak numbers its tasks); None: fresh UUIDs. The queue is
    explicit, so the app's task_routes do not move the measured tasks
    elsewhere."""
    published = {}
    with app.producer_or_acquire() as producer:
        for i in range(count):
            call_args, call_kwargs = calls(i) if calls is not None else (args, None)
            task_id = uuid() if ids is None else next(ids)
            published[task_id] = time.monotonic()
            app.send_task(
                task_name, args=call_args, kwargs=call_kwargs, queue=queue, task_id=task_id, producer=producer
            )
    return published


def release(app: Celery, queue: str, nodenames: Iterable[str], idle_queues: Iterable[str]) -> None:
    """Tell every worker to start consuming `queue` (the pre-filled batch):
    one broadcast to all the nodes, so they are released together.

    Over Redis, a worker blocked in BRPOP on its idle queue adds the new
    queue only when that BRPOP returns, after up to a second; one task on
    each worker's own idle queue ends the wait at once: the harness's own
    wake-up task, which its worker entry point registers in any app. It runs
    before the first measured task is fetched, so outside the measured
    window."""
    nodenames, idle_queues = list(nodenames), list(idle_queues)
    replies = app.control.add_consumer(queue, destination=nodenames, reply=True, timeout=CONTROL_TIMEOUT_S)
    answered = {}
    for reply in replies or []:
        answered.update(reply)
    for nodename in nodenames:
        answer = answered.get(nodename, {})
        if "error" in answer:
            raise RunFailed(f"the worker {nodename} refused to consume {queue}: {answer['error']}")
    missing = [n for n in nodenames if "ok" not in answered.get(n, {})]
    if missing:
        raise RunFailed(
            f"{len(missing)} of {len(nodenames)} worker(s) did not answer add_consumer "
            f"within {CONTROL_TIMEOUT_S:.0f} s: {', '.join(missing)}"
        )
    for idle_queue in idle_queues:
        app.send_task(WAKEUP_TASK, queue=idle_queue)


@dataclass(frozen=True)
class WatchWords:
    """How a watch loop says it stalled and timed out, in the words of what
    it watches: format strings of quiet_s (s since the last news), stall_s
    and timeout_s (its limits, the boot allowance included)."""

    stalled: str
    timed_out: str


class Watched(Protocol):
    """The workers a watch loop watches: a Worker, or a crew's Nodes."""

    def exited(self) -> bool: ...
    def last_error(self) -> str: ...


class Watch:
    """The bounds of one watch loop, and the checks every one makes (the
    batch's here, the reference's two passes), in this order: the worker
    exited, the broker went, nothing new for `stall_s` (`boot_s` more while
    the worker boots), over `timeout_s` (plus `boot_s`) since the start."""

    def __init__(self, words: WatchWords, stall_s: float, timeout_s: float, boot_s: float = 0.0):
        self.words, self.stall_s, self.timeout_s, self.boot_s = words, stall_s, timeout_s, boot_s
        self.start = self.last_news = time.monotonic()

    def news(self, now: float) -> None:
        self.last_news = now

    def ended(
        self, worker: Watched, broker_alive: Callable[[], bool], now: float, booting: bool = False
    ) -> tuple[str, str] | None:
        """(outcome, detail) of the first check that holds, else None."""
        if worker.exited():
            return "worker exited", worker.last_error()
        if not broker_alive():
            return "broker lost", "the embedded broker exited"
        quiet_s, stall_s = now - self.last_news, self.stall_s + (self.boot_s if booting else 0.0)
        if quiet_s > stall_s:
            return "stalled", self.words.stalled.format(quiet_s=quiet_s, stall_s=stall_s)
        timeout_s = self.timeout_s + self.boot_s
        if now - self.start > timeout_s:
            return "timed out", self.words.timed_out.format(timeout_s=timeout_s)
        return None


BATCH_WORDS = WatchWords("no task finished in the last {stall_s:.0f} s", "the batch took over {timeout_s:.0f} s")


@dataclass
class Batch:
    """The watch over one published batch; `records` holds what arrived,
    even when the watch ends early, so nothing measured is lost."""

    published: dict[str, float]  # task id -> publish time (monotonic s)
    records: list[TaskRecord] = field(default_factory=list)  # in arrival order
    outcome: str = "running"  # complete | lost | stalled | worker exited | broker lost | timed out | interrupted
    detail: str = ""
    # Ids of tasks cut off mid-run with no outcome (Celery's task_postrun with no state: a cold shutdown
    # cancelled them); not an end: such a task may be delivered again and run to its end
    cut: list[str] = field(default_factory=list)


class Reader(Protocol):
    """Where the workers' task records arrive (observe.RecordReader, NodeReaders)."""

    def read_new(self) -> list[dict[str, Any]]: ...


def watch(
    batch: Batch,
    reader: Reader,
    worker: Watched,
    broker_alive: Callable[[], bool],
    stall_s: float,
    timeout_s: float,
    progress: Progress | None = None,
    lost: Callable[[set[str]], bool] | None = None,
    tick: Callable[[float], object] | None = None,
) -> Batch:
    """Collect the batch's records until every task has reported, or until
    nothing new came for `stall_s` (tasks lost), the worker or the broker
    died, or `timeout_s` passed. Every wait here is bounded. `lost(pending)`:
    whether every task still pending is lost for good (asked after
    LOST_CHECK_S without news, at most that often): the batch then ends
    at once, `lost`, without waiting out the stall. `tick(now)`: called at
    every turn of the loop (a run's deploy events are done from it)."""
    pending = set(batch.published)
    watching = Watch(BATCH_WORDS, stall_s, timeout_s)
    asked = watching.start
    try:
        while pending:
            fresh = 0
            for raw in reader.read_new():
                if raw["id"] not in batch.published:
                    continue
                if raw.get("state") is None:
                    batch.cut.append(raw["id"])
                    continue
                batch.records.append(
                    TaskRecord(
                        id=raw["id"],
                        published=batch.published[raw["id"]],
                        started=raw["started"],
                        finished=raw["finished"],
                        state=raw["state"],
                        pid=raw["pid"],
                        error=raw.get("error"),
                        node=raw.get("node", 0),
                        cpu_s=raw.get("cpu_s"),
                        rss_bytes=raw.get("rss_bytes"),
                        redelivered=bool(raw.get("redelivered")),
                    )
                )
                if raw["id"] in pending:
                    pending.discard(raw["id"])
                    fresh += 1
            now = time.monotonic()
            if tick is not None:
                tick(now)
            if fresh:
                watching.news(now)
                if progress:
                    progress(len(batch.published) - len(pending), len(batch.published))
                continue
            ended = watching.ended(worker, broker_alive, now)
            if ended:
                batch.outcome, batch.detail = ended
                return batch
            if lost is not None and now - max(watching.last_news, asked) >= LOST_CHECK_S:
                asked = now
                if lost(pending):
                    batch.outcome = "lost"
                    n = len(pending)
                    by = "a process" if n == 1 else "processes"
                    batch.detail = f"{n} task{'s' if n > 1 else ''} left, started by {by} that died"
                    return batch
            signals.raise_if_stopping()
            time.sleep(POLL_S)
    except (KeyboardInterrupt, Interrupted):
        batch.outcome, batch.detail = "interrupted", "interrupted by a signal"
        return batch
    batch.outcome = "complete"
    return batch

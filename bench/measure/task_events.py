"""Celery's task events, as the reference's pass with -E counts them:
an EventReceiver subscribed on a thread before the worker starts (proved
by a probe event of our own), the events turned into one record per
execution (pure), and the figures `run` reports computed from them.

Every time is on the worker's clock: task-started (threads, gevent,
eventlet, solo: in the task's own thread or greenlet just before it runs;
prefork: in the main process, when it learns that a child accepted the
task) and task-succeeded/task-failed (once the result is known; prefork:
in the main process).
"""

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.events import EventReceiver

from bench.analysis import stats
from bench.analysis.stats import TaskRecord
from bench.errors import RunFailed
from bench.harness import signals
from bench.results.schema import TaskCounts

TERMINAL = {"task-succeeded": "SUCCESS", "task-failed": "FAILURE"}
PROBE_EVENT = "celery-bench-probe"  # sent to our own receiver: it is subscribed once it sees one
SUBSCRIBE_TIMEOUT_S = 10.0
EVENT_TYPES = ("task-started", *TERMINAL)


# --- From events to records (pure) ------------------------------------------


@dataclass(frozen=True)
class Executions:
    """The task events of one batch, as one record per execution."""

    records: tuple[TaskRecord, ...]  # one per task-succeeded/failed, in event order
    started_more_than_once: int  # task ids with two or more task-started events (run twice)
    never_finished: int  # task ids started but with no terminal event
    lag_s: tuple[float, ...]  # local receive time - event timestamp, per terminal event, s


def executions(events: Sequence[Mapping], published: Mapping[str, float]) -> Executions:
    """Records from Celery task events (dicts with type, uuid, timestamp,
    and pid, runtime, exception where the event has them), for the task
    ids of `published` (id -> publish time, on the events' clock). A
    record starts at the latest task-started of its id before its end
    (else its end minus Celery's own runtime) and ends at its terminal
    event; a terminal event for a task already finished is a duplicate."""
    starts: dict[str, list] = {}
    records = []
    lag = []
    finished_ids = set()
    for event in sorted(events, key=lambda e: e["timestamp"]):
        task_id = event.get("uuid")
        if not isinstance(task_id, str) or task_id not in published:
            continue
        kind = event["type"]
        if kind == "task-started":
            starts.setdefault(task_id, []).append(event)
            continue
        if kind not in TERMINAL:
            continue
        ended = event["timestamp"]
        before = [s for s in starts.get(task_id, ()) if s["timestamp"] <= ended]
        begun = before[-1] if before else None
        started = begun["timestamp"] if begun else ended - float(event.get("runtime") or 0.0)
        records.append(
            TaskRecord(
                id=task_id,
                published=published[task_id],
                started=started,
                finished=ended,
                state=TERMINAL[kind],
                pid=int((begun or {}).get("pid") or event.get("pid") or 0),
                error=event.get("exception") if kind == "task-failed" else None,
            )
        )
        finished_ids.add(task_id)
        if event.get("local_received") is not None:
            lag.append(event["local_received"] - ended)
    twice = sum(1 for s in starts.values() if len(s) > 1)
    never = sum(1 for task_id in starts if task_id not in finished_ids)
    return Executions(tuple(records), twice, never, tuple(lag))


# --- The summary ------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceSummary:
    """What the reference measured, by Celery's task events."""

    throughput_per_s: float | None  # succeeded / (last success - first start), tasks/s; None: none done
    steady_throughput_per_s: float | None  # tasks/s between 10% and 90% of completions
    window_s: float | None  # s, first start to last end
    tasks: TaskCounts  # published = succeeded + failed + missing; duplicates: finished more than once
    started_more_than_once: int  # task ids started twice or more (a task run twice)
    max_concurrency: int | None  # tasks running at the same instant, most
    mean_concurrency: float | None  # tasks in flight on average over the window
    processes_used: int | None  # distinct pids in the events
    event_lag_p50_s: float | None  # s, local receive time - event timestamp, median
    event_lag_max_s: float | None  # s, most
    worker_cpu_s: float | None = None  # CPU s of the worker tree, first task event to the last (complete runs)
    worker_cpu_per_task_s: float | None = None  # worker_cpu_s / tasks succeeded, s (its task events included)


def summarize(execs: Executions, published: Mapping[str, float]) -> ReferenceSummary:
    """The figures `run` reports, over the first report of each task."""
    counts = stats.account(published, execs.records)
    first = _first_reports(execs.records)
    done = [r for r in first if r.state == "SUCCESS"]
    conc = stats.concurrency(done) if done else None
    lag = sorted(execs.lag_s)
    return ReferenceSummary(
        throughput_per_s=_throughput(first),
        steady_throughput_per_s=stats.steady_throughput(done),
        window_s=(lambda w: w[1] - w[0])(stats.window(first)) if first else None,
        tasks=counts,
        started_more_than_once=execs.started_more_than_once,
        max_concurrency=conc.max if conc else None,
        mean_concurrency=conc.mean if conc else None,
        processes_used=len({r.pid for r in first if r.pid}) or None,
        event_lag_p50_s=stats.percentile(lag, 50),
        event_lag_max_s=lag[-1] if lag else None,
    )


def _first_reports(records):
    seen, out = set(), []
    for r in records:
        if r.id not in seen:
            seen.add(r.id)
            out.append(r)
    return out


def _throughput(first):
    """Tasks succeeded over the first start to the last success."""
    done = [r for r in first if r.state == "SUCCESS"]
    if not done:
        return None
    begin = min(r.started for r in first)
    end = max(r.finished for r in done)
    return len(done) / (end - begin) if end > begin else None


# --- The events, received on a thread ----------------------------------------


class EventWatch:
    """Celery's event receiver on a thread, collecting task events; its
    queue is named with the run's prefix, so `load.tidy` removes its
    traces. Subscribed (proved by a probe event of our own) before
    `start` returns."""

    def __init__(self, app: Celery, queue_prefix: str):
        self.app = app
        self.queue_prefix = queue_prefix.rstrip(".")
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.online = threading.Event()
        self.failure: Exception | None = None
        self._stop = False
        self._thread: threading.Thread | None = None
        self._node = f"probe-{time.monotonic_ns()}"

    def _on_event(self, event):
        kind = event.get("type")
        if kind == PROBE_EVENT:
            if event.get("node") == self._node:
                self.subscribed.set()
        elif kind == "worker-online":
            self.online.set()
        elif kind in EVENT_TYPES:
            with self.lock:
                self.events.append(event)

    def _run(self):
        try:
            with self.app.connection_for_read() as conn:
                receiver = EventReceiver(
                    conn, handlers={"*": self._on_event}, app=self.app, queue_prefix=self.queue_prefix
                )
                receiver.should_stop = False
                self.receiver = receiver
                receiver.should_stop = self._stop
                for _ in receiver.consume(limit=None, timeout=None, safety_interval=0.1, wakeup=False):
                    pass
        except Exception as exc:  # reported by the main thread
            self.failure = exc

    def start(self) -> "EventWatch":
        self._thread = threading.Thread(target=self._run, name="celery-bench-events", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT_S
        with self.app.connection_for_write() as conn:
            dispatcher = self.app.events.Dispatcher(conn, enabled=True)
            while not self.subscribed.wait(0.1):
                if self.failure is not None:
                    raise RunFailed(f"the event receiver failed: {self.failure}")
                if time.monotonic() > deadline:
                    raise RunFailed(f"the event receiver did not subscribe within {SUBSCRIBE_TIMEOUT_S:.0f} s")
                signals.raise_if_stopping()
                dispatcher.send(PROBE_EVENT, node=self._node)
            dispatcher.close()
        return self

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events)

    def stop(self) -> None:
        self._stop = True
        receiver = getattr(self, "receiver", None)
        if receiver is not None:
            receiver.should_stop = True
        if self._thread is not None:
            self._thread.join(timeout=5)

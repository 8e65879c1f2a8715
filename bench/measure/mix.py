"""A traffic mix on the harness's side (issue 24): the tasks of a drained
batch or of an open-loop schedule, each with its class, and the run's
result with its per-class figures (bench/analysis/classes.py).

The class of every task is known when it is sent (its id), so the workers
record nothing of classes: only, for a mix, when their consumer received
each task (bench/harness/recorder.py, BENCH_RECORD_RECEIVED)."""

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from celery import Celery
from kombu.utils.uuid import uuid

from bench.analysis import classes
from bench.analysis.stats import TaskRecord
from bench.measure import load
from bench.measure.schedule import Schedule
from bench.measure.traffic import Call, Traffic
from bench.results.schema import RunResult


def batch_calls(traffic: Traffic, n: int, stream: str = "batch") -> list[Call]:
    """The `n` tasks of a drained batch (or a warm-up: its own `stream`)."""
    return traffic.calls(traffic.drained(n, stream), stream)


def schedule_calls(traffic: Traffic, schedule: Schedule) -> list[Call]:
    """The task of each arrival of `schedule`, in its order."""
    return traffic.calls(traffic.marked(len(schedule.offsets()), schedule.arrival), "open")


def lane_queues(traffic: Traffic, queue: str) -> list[str]:
    """The queue of each of the mix's lanes: `queue` for the first (the
    default, or the one shared queue), `queue`.NAME for each named one."""
    return [queue if i == 0 else f"{queue}.{lane}" for i, lane in enumerate(traffic.lanes)]


def publish(app: Celery, queues: Sequence[str], traffic: Traffic, calls: Sequence[Call]) -> dict[str, float]:
    """Send `calls` in order, each to its lane's queue of `queues` (with
    its countdown, if it has one); {task id: publish time}, in that order."""
    published = {}
    with app.producer_or_acquire() as producer:
        for call in calls:
            task_id = uuid()
            published[task_id] = time.monotonic()
            app.send_task(
                call.task,
                args=call.args,
                kwargs=call.kwargs,
                countdown=call.countdown_s,
                queue=queues[traffic.lane_of(call.klass)],
                task_id=task_id,
                producer=producer,
            )
    return published


def due(ids: Iterable[str], calls: Sequence[Call], origins: Mapping[str, float]) -> dict[str, float]:
    """{task id: when it was meant to start}: its origin (publish, or the
    scheduled send), plus its countdown if it was sent with one."""
    return {task_id: origins[task_id] + (call.countdown_s or 0.0) for task_id, call in zip(ids, calls, strict=True)}


def release(
    app: Celery, queues: Sequence[str], traffic: Traffic, nodenames: Sequence[str], idle: Sequence[str]
) -> None:
    """Release each lane's queue to its workers (node i consumes lane i
    mod the lanes); the one queue to every worker under shared routing."""
    for lane, nodes in enumerate(traffic.lane_nodes(len(nodenames))):
        load.release(app, queues[lane], [nodenames[n] for n in nodes], [idle[n] for n in nodes])


def class_of(traffic: Traffic, ids: Iterable[str], calls: Sequence[Call]) -> dict[str, str]:
    """{task id: its class's name}, `ids` in the order of `calls`."""
    return {task_id: traffic.classes[call.klass].name for task_id, call in zip(ids, calls, strict=True)}


def task_lanes(
    traffic: Traffic, task_class: Mapping[str, str], slots_per_worker: int, workers: int
) -> tuple[dict[str, int], tuple[int, ...]] | None:
    """Under dedicated routing, ({task id: its lane}, each lane's slots: its
    workers'), for the health check's late starts; None under shared routing."""
    if traffic.routing == "shared":
        return None
    lane_of = {c.name: traffic.lane_of(i) for i, c in enumerate(traffic.classes)}
    slots = tuple(slots_per_worker * len(nodes) for nodes in traffic.lane_nodes(workers))
    return {task_id: lane_of[name] for task_id, name in task_class.items()}, slots


def first_received(raws: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """{task id: when a worker's consumer first received it}."""
    out: dict[str, float] = {}
    for raw in raws:
        out.setdefault(raw["id"], raw["received"])
    return out


def add_classes(
    result: RunResult,
    traffic: Traffic,
    task_class: Mapping[str, str],
    origins: Mapping[str, float],
    records: Sequence[TaskRecord],
    received: Mapping[str, float],
    slots_per_worker: int,
    workers: int,
    window: tuple[float, float] | None = None,
) -> RunResult:
    """The result with the mix (`traffic`), each sample's class, and the
    figures per class: a drained batch's as `classes`, an open-loop run's
    (`window`: its measured window, monotonic) in its `open_loop` block. A
    task waited while a slot was free only where a worker of its own
    queue had one (`slots_per_worker` x the workers of each lane)."""
    lane_slots = [slots_per_worker * len(nodes) for nodes in traffic.lane_nodes(workers)]
    reports: dict[str, tuple[float, float, str]] = {}
    for rec in records:
        reports.setdefault(rec.id, (rec.started, rec.finished, rec.state))
    lane_of = {c.name: traffic.lane_of(i) for i, c in enumerate(traffic.classes)}
    tasks = classes.class_tasks(task_class, origins, reports, received, lane_of)
    fields = classes.class_fields(tasks, traffic.names, lane_slots, window)
    samples = result.samples
    if samples is not None:
        samples = dataclasses.replace(samples, task_class=tuple(task_class.get(r.id, "") for r in records))
    described = {**traffic.describe(), "free_wait_min_s": classes.FREE_WAIT_MIN_S}
    if window is None:
        return dataclasses.replace(result, samples=samples, traffic=described, classes=fields)
    open_loop = {**(result.open_loop or {}), "classes": fields}
    return dataclasses.replace(result, samples=samples, traffic=described, open_loop=open_loop)

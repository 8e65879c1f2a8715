"""A traffic mix on the harness's side (issue 24): the tasks of a drained
batch or of an open-loop schedule, each with its class, and the run's
result with its per-class figures (bench/analysis/classes.py).

The class of every task is known when it is sent (its id), so the workers
record nothing of classes: only, for a mix, when their consumer received
each task (bench/harness/recorder.py, BENCH_RECORD_RECEIVED)."""

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from celery import Celery

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


def publish(app: Celery, queue: str, calls: Sequence[Call]) -> dict[str, float]:
    """Send `calls` in order; {task id: publish time}, in that order."""
    return load.publish(
        app,
        queue,
        "",
        None,
        len(calls),
        calls=lambda i: (calls[i].args, calls[i].kwargs),
        names=[c.task for c in calls],
    )


def class_of(traffic: Traffic, ids: Iterable[str], calls: Sequence[Call]) -> dict[str, str]:
    """{task id: its class's name}, `ids` in the order of `calls`."""
    return {task_id: traffic.classes[call.klass].name for task_id, call in zip(ids, calls, strict=True)}


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
    slots: int,
    window: tuple[float, float] | None = None,
) -> RunResult:
    """The result with the mix (`traffic`), each sample's class, and the
    figures per class: a drained batch's as `classes`, an open-loop run's
    (`window`: its measured window, monotonic) in its `open_loop` block."""
    reports: dict[str, tuple[float, float, str]] = {}
    for rec in records:
        reports.setdefault(rec.id, (rec.started, rec.finished, rec.state))
    tasks = classes.class_tasks(task_class, origins, reports, received)
    fields = classes.class_fields(tasks, traffic.names, slots, window)
    samples = result.samples
    if samples is not None:
        samples = dataclasses.replace(samples, task_class=tuple(task_class.get(r.id, "") for r in records))
    described = {**traffic.describe(), "free_wait_min_s": classes.FREE_WAIT_MIN_S}
    if window is None:
        return dataclasses.replace(result, samples=samples, traffic=described, classes=fields)
    open_loop = {**(result.open_loop or {}), "classes": fields}
    return dataclasses.replace(result, samples=samples, traffic=described, open_loop=open_loop)

"""One point under open-loop load: tasks arrive on a schedule at the
offered rate, sent by a producer process of its own.

    worker ready (consuming the run's queue) -> producer: warm-up + window
    at the rate, each task at its deadline -> watch until every task has
    reported (the drain) -> statistics from the *scheduled* send times ->
    result document (written at once, even for a failed run)
"""

import contextlib
import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bench.analysis import openloop
from bench.analysis.stats import TaskRecord
from bench.errors import RunFailed
from bench.harness import machine, scratch
from bench.harness.broker import Broker
from bench.measure import load, mix, producer
from bench.measure.config import RunConfig
from bench.measure.crew import Crew
from bench.measure.memory import ProcessSampler, interval_for
from bench.measure.observe import ResourceSampler
from bench.measure.result import SAMPLE_DIGITS, observed_batch
from bench.measure.runner import (
    Measured,
    NotMeasured,
    conclude,
    new_run_id,
    read_settings,
    settings_of,
    time_limits,
    with_report,
    worker_spec,
)
from bench.measure.schedule import Schedule
from bench.results.schema import Distribution, Latency, RunResult, RunStatus, utc_now
from bench.workloads import ceiling

# The producer's schedule plus this much before the harness calls it stuck.
PRODUCER_SLACK_S = 30.0


def measure(
    cfg: RunConfig,
    broker: Broker,
    stub_address: str | None = None,
    progress: load.Progress | None = None,
    during: Callable[[float], object] | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
    describe: Callable[[], dict[str, Any]] = machine.describe,
) -> Measured:
    """Measure `cfg` (which has a schedule) in a fresh worker; write its
    result and return it with its path. A producer-limited run is returned
    with that state (the caller exits 1); RunFailed (after writing) when
    tasks went missing or failed, NotMeasured when the run failed before
    the schedule started, Interrupted (after writing) on a signal.
    `during(t0)` is called while the producer sends (tests pause things)."""
    schedule = cfg.schedule
    assert schedule is not None  # an open-loop config (build_run_config with a rate)
    workload = cfg.spec
    started = clock()
    run_id = new_run_id(started)
    queue = f"celery-bench.{run_id}.open"
    # every worker consumes its queue from the start: the one queue, or its lane's under dedicated routing
    lanes = [queue] if cfg.traffic is None else mix.lane_queues(cfg.traffic, queue)
    specs = [
        worker_spec(cfg, run_id, lanes[i % len(lanes)], node=None if cfg.workers == 1 else i)
        for i in range(cfg.workers)
    ]
    args = workload.args(cfg.task_ms, stub_address) if cfg.traffic is None else None
    calls = None if cfg.traffic is None else mix.schedule_calls(cfg.traffic, schedule)
    stall_s, timeout_s = time_limits(cfg)
    load_before = os.getloadavg()
    workdir = scratch.make("producer")
    app = load.client_app(broker)
    batch = None
    reported = None
    logs = []
    try:
        crew = Crew(specs, broker)
        try:
            nodes, reader = crew.nodes, crew.reader
            try:
                crew.wait_ready()
                reported = read_settings(cfg, broker, app, [spec.nodename for spec in specs])
            except RunFailed as exc:
                raise NotMeasured(str(exc), crew.logs(), getattr(exc, "reported", reported)) from exc
            sampler = ResourceSampler([p.pid for p in nodes.procs], broker.current_pid, cfg.cores).start()
            memory = ProcessSampler([p.pid for p in nodes.procs], interval_for(cfg)).start()
            alive = [
                ("the worker exited", lambda: not nodes.exited()),
                ("broker lost: the embedded broker exited", broker.watch()),
            ]
            task = workload.task
            sends = None
            if calls is not None and cfg.traffic is not None:
                sends = [(c.task, c.args, c.kwargs, lanes[cfg.traffic.lane_of(c.klass)], c.countdown_s) for c in calls]
            elif cfg.user_task is not None:  # a user's task: its calls in turn, cycled
                user = cfg.user_task
                made = (user.call(i) for i in range(len(schedule.offsets())))
                sends = [(user.task, list(call.args), dict(call.kwargs), queue, None) for call in made]
            with producer.running(broker.url, queue, task, args, schedule, workdir, calls=sends) as popen:
                total_s = schedule.warmup_s + schedule.duration_s + producer.START_DELAY_S
                producer.wait(popen, workdir, total_s + PRODUCER_SLACK_S, alive, during)
            sent = producer.read(workdir)
            if sent.error is not None:
                raise NotMeasured(f"the producer stopped: {sent.error}", crew.logs(), reported)
            batch = load.Batch(dict(zip(sent.ids, sent.scheduled, strict=True)))
            tap = _HeaderTap(reader)
            load.watch(batch, tap, nodes, broker.watch(), stall_s, timeout_s, progress)
            resources = sampler.stop()
            series = memory.stop()
            # a mix's reservations: read while the workers' record directories are there
            received = mix.first_received(reader.received()) if cfg.traffic is not None else {}
            logs = crew.logs()  # before the workers (and their logs) go
        finally:
            crew.stop()
    finally:
        # Also after a failure or a signal: the user's broker is left as it was.
        if batch is None or batch.outcome != "broker lost":
            with contextlib.suppress(Exception):  # tidy-up only; the broker may be gone
                load.tidy(app, broker, f"celery-bench.{run_id}.", [spec.nodename for spec in specs])
        app.close()
        scratch.remove(workdir)

    # A mix's class of each task sent (the producer sends the schedule in order, and stops only with an error)
    classes, task_lanes = None, None
    if cfg.traffic is not None and calls is not None:
        classes = mix.class_of(cfg.traffic, sent.ids, calls[: len(sent.ids)])
        task_lanes = mix.task_lanes(cfg.traffic, classes, cfg.slots // cfg.workers, cfg.workers)
    observed = observed_batch(batch, resources, load_before, task_class=classes, lanes=task_lanes, memory=series)
    bound = ceiling(workload, cfg.pool, cfg.concurrency, cfg.task_ms, cfg.cores, cfg.workers, cfg.cpu_limit)
    settings = with_report(settings_of(cfg, broker), reported)

    def extend(result: RunResult) -> RunResult:
        result = add_open_loop(result, schedule, sent, batch.records, tap.headers)
        if cfg.traffic is None or calls is None or classes is None:
            return result
        window = (sent.t0 + schedule.window[0], sent.t0 + schedule.window[1])
        task_class = classes
        # a countdown's wait counts from its ETA
        origins = mix.due(sent.ids, calls[: len(sent.ids)], dict(zip(sent.ids, sent.scheduled, strict=True)))
        slots_each = cfg.slots // cfg.workers
        return mix.add_classes(
            result, cfg.traffic, task_class, origins, batch.records, received, slots_each, cfg.workers, window
        )

    return conclude(
        cfg,
        run_id,
        started,
        settings,
        bound,
        observed,
        logs,
        clock,
        describe,
        extend=extend,
    )


class _HeaderTap:
    """A RecordReader that also keeps each task's `bench_scheduled` header
    as the worker saw it, to check it against the producer's schedule."""

    def __init__(self, reader):
        self.reader = reader
        self.headers = {}  # task id -> scheduled send time from the message header

    def read_new(self) -> list[dict[str, Any]]:
        raws = self.reader.read_new()
        for raw in raws:
            if "scheduled" in raw:
                self.headers.setdefault(raw["id"], raw["scheduled"])
        return raws


def header_check(sent: producer.Sent, headers: Mapping[str, float]) -> dict[str, int]:
    """How many tasks' header, as the worker read it, equals the scheduled
    time the producer recorded: the header is the time latency counts from."""
    scheduled = dict(zip(sent.ids, sent.scheduled, strict=True))
    matched = sum(1 for task_id, t in headers.items() if scheduled.get(task_id) == t)
    return {"matched": matched, "mismatched": len(headers) - matched}


def open_tasks(sent: producer.Sent, records: Iterable[TaskRecord]) -> list[openloop.OpenTask]:
    """One OpenTask per task of the schedule, with its first report."""
    first: dict[str, TaskRecord] = {}
    for rec in records:
        first.setdefault(rec.id, rec)
    out = []
    for task_id, scheduled, sent_at in zip(sent.ids, sent.scheduled, sent.sent, strict=True):
        report = first.get(task_id)
        out.append(
            openloop.OpenTask(
                id=task_id,
                scheduled=scheduled,
                sent=sent_at,
                started=report.started if report else None,
                finished=report.finished if report else None,
                state=report.state if report else None,
            )
        )
    return out


def _distribution(tail):
    return Distribution(tail.p50, tail.p90, tail.p99, tail.max, tail.mean)


def add_open_loop(
    result: RunResult,
    schedule: Schedule,
    sent: producer.Sent,
    records: Sequence[TaskRecord],
    headers: Mapping[str, float],
) -> RunResult:
    """The run's result with the schedule, the per-task scheduled and sent
    times and the `open_loop` summary; its summary's latency becomes the
    measured window's (from the scheduled send times), its queue mode says
    open loop, and a run whose producer did not keep the schedule is
    `producer-limited`."""
    start, end = schedule.window
    summary = openloop.summarize(open_tasks(sent, records), sent.t0 + start, sent.t0 + end, schedule.rate_per_s)
    block = openloop.as_fields(summary)
    block["scheduled_header"] = header_check(sent, headers)
    schedule_block = {
        **schedule.describe(),
        "window_s": [start, end],
        "time_origin": "t0 of the schedule (its first deadline); the samples' origin too",
        "scheduled_s": [round(t - sent.t0, SAMPLE_DIGITS) for t in sent.scheduled],
        "sent_s": [round(t - sent.t0, SAMPLE_DIGITS) for t in sent.sent],
    }
    queue_mode = (
        f"open loop: {schedule.arrival} arrivals at {schedule.rate_per_s:g}/s, {schedule.warmup_s:g} s "
        f"warm-up then a {schedule.duration_s:g} s window, sent by a producer process"
    )
    latency = Latency(
        wait_s=_distribution(summary.wait_s),
        service_s=_distribution(summary.service_s),
        sojourn_s=_distribution(summary.sojourn_s),
    )
    status = result.status
    if status.state == "ok" and summary.producer_limited:
        status = RunStatus(
            "producer-limited",
            f"producer-limited: {summary.producer_reason}; the latencies are not a result at this rate",
            status.outcome,
        )
    return dataclasses.replace(
        result,
        status=status,
        config=dataclasses.replace(result.config, queue_mode=queue_mode),
        summary=None if result.summary is None else dataclasses.replace(result.summary, latency=latency),
        schedule=schedule_block,
        open_loop=block,
    )

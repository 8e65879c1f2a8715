"""A soak: `run --duration 10m` without `--rate`. A closed loop keeps
`--backlog` tasks published and not finished for the duration (the worker
never starves, the queue never grows), then drains them. Its state is
bounded whatever its length (analysis/soak.py): no task record is kept;
one row a second is streamed to the series file beside the run document
as each second ends (a lag of ROW_LAG_S for reports still coming), with
each worker process's memory and the harness's own; the whole run's
latency comes from histograms, its memory growth from the samples, which
carry each process's count of completed tasks.

    warm-up -> fill the backlog -> release -> top it up as tasks finish,
    a row a second -> stop topping up at the duration -> drain -> result
"""

import contextlib
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from bench.analysis.health import log_evidence
from bench.analysis.memory import Snapshot, memory_growth
from bench.analysis.series import drift, recycle_seconds
from bench.analysis.soak import SoakTally
from bench.analysis.soak_health import Counted, diagnose_counted
from bench.errors import Interrupted, RunFailed
from bench.harness import broker as broker_mod
from bench.harness import machine, signals
from bench.measure import load
from bench.measure.arrivals import Arrivals, ClosedLoop, OpenLoop, open_soak_result
from bench.measure.config import RunConfig
from bench.measure.crew import keep_logs
from bench.measure.memory import ProcessSampler, interval_for
from bench.measure.observe import ResourceSampler
from bench.measure.queue_depth import DepthProbe
from bench.measure.result import CEILING_TOLERANCE, health_context, run_metadata
from bench.measure.runner import (
    FailedRun,
    Measured,
    NotMeasured,
    call_args,
    launch,
    read_settings,
    result_path,
    settings_of,
    time_limits,
    with_oom,
    with_report,
)
from bench.results.io import write_run
from bench.results.schema import (
    Latency,
    RunResult,
    RunStatus,
    RunSummary,
    Samples,
    SeriesFigures,
    TaskCounts,
    utc_now,
)
from bench.workloads import ceiling

ROW_LAG_S = 2.0  # s: a second's row is written this long after it ends (reports still coming in)
SOAK_WORDS = load.WatchWords("no task finished in the last {stall_s:.0f} s", "the soak took over {timeout_s:.0f} s")
TIME_ORIGIN = "a soak keeps no per-task samples: its series file has them second by second"


def measure(
    cfg: RunConfig,
    broker: broker_mod.Broker,
    stub_address: str | None = None,
    progress: load.Progress | None = None,
    clock: Callable[[], datetime] = utc_now,
    describe: Callable[[], dict[str, Any]] = machine.describe,
) -> Measured:
    """Soak one point in a fresh worker; write its series and its result
    document. Raises NotMeasured before the window, FailedRun (after
    writing) when tasks failed or went missing, Interrupted (after writing
    what was measured) on a signal."""
    assert cfg.soak_s is not None  # a soak's config (build_run_config: --duration without --rate)
    load_before = os.getloadavg()
    launched = launch(cfg, broker, stub_address, clock)
    nodes, reader, app = launched.crew.nodes, launched.crew.reader, launched.app
    queue = f"{launched.prefix}measured"
    args, _ = call_args(cfg, stub_address)
    stall_s, _ = time_limits(cfg)
    path = result_path(cfg, launched.run_id)
    series_path = path.with_name(f"{path.stem}.series.jsonl")
    reported = None
    try:
        try:
            launched.crew.wait_ready()
            if launched.warm is not None:
                warm = launched.warm
                load.watch(warm, reader, nodes, broker.watch(), stall_s, stall_s * 10)
                if warm.outcome != "complete":
                    raise RunFailed(f"the warm-up batch did not complete ({warm.outcome}: {warm.detail})")
            reported = read_settings(cfg, broker, app, [s.nodename for s in launched.specs])
        except RunFailed as exc:
            reason = with_oom(str(exc), launched.crew.cgroups(), cfg.memory_limit)
            raise NotMeasured(reason, launched.crew.logs(), getattr(exc, "reported", reported)) from exc
        load.declare(app, queue)
        pids = [p.pid for p in nodes.procs]
        resources_sampler = ResourceSampler(pids, broker.current_pid, cfg.quota_cores).start()
        depth = DepthProbe(app, queue)
        nodenames, idle_queues = [s.nodename for s in launched.specs], [s.queue for s in launched.specs]
        with contextlib.ExitStack() as stack:
            arrivals: Arrivals
            if cfg.schedule is None:  # the backlog waits in the queue, released at once
                arrivals = ClosedLoop(app, queue, cfg.spec.task, args, cfg.tasks)
                load.release(app, queue, nodenames, idle_queues)
                tally = SoakTally(time.monotonic())
            else:  # the workers consume the empty queue, then the producer starts the schedule
                load.release(app, queue, nodenames, idle_queues)
                arrivals = stack.enter_context(OpenLoop.started(broker, queue, cfg.spec.task, args, cfg.schedule))
                start, end = cfg.schedule.window
                tally = SoakTally(arrivals.t0, (arrivals.t0 + start, arrivals.t0 + end))
            memory = ProcessSampler(pids, interval_for(cfg), counts=lambda: tally.done).start()
            with series_path.open("w") as out:
                outcome, detail = _loop(cfg, tally, arrivals, reader, nodes, broker, memory, depth, out, progress)
            sent = arrivals.finish()
        depth.close()
        resources = resources_sampler.stop()
        series = memory.stop()
        logs = launched.crew.logs()
    finally:
        launched.finish(broker)

    settings = with_report(settings_of(cfg, broker), reported)
    bound = ceiling(cfg.spec, cfg.pool, cfg.concurrency, cfg.task_ms, cfg.cores, cfg.workers, cfg.cpu_limit)
    published, missing = arrivals.published, arrivals.missing
    first, last = tally.first_start, tally.last_finish
    window = last - first if first is not None and last is not None else None
    rate = tally.succeeded / window if window else None
    efficiency = rate / bound.per_s if rate is not None and bound.per_s else None
    growth = memory_growth(series)
    counted = Counted(
        repeated=arrivals.repeats.tasks,
        extra_runs=arrivals.repeats.runs,
        repeated_examples=tuple(arrivals.repeats.examples),
        lost=missing,
        lost_examples=arrivals.lost_examples,
        stall_seconds=tally.stall_seconds,
        stall_stretches=tally.stall_stretches,
        longest_stall_s=tally.longest_stall_s,
        recycles=growth.recycles,
    )
    log = log_evidence([text for _node, text in logs]) if logs else None
    summary = RunSummary(
        throughput_per_s=rate,
        ceiling_per_s=bound.per_s,
        ceiling_basis=bound.basis,
        efficiency=efficiency,
        above_ceiling=efficiency is not None and efficiency > 1 + CEILING_TOLERANCE,
        window_s=window,
        tasks=TaskCounts(published, tally.succeeded, tally.failed, missing),
        latency=Latency(tally.wait.distribution(), tally.service.distribution(), tally.sojourn.distribution()),
        load_average_before=tuple(load_before),
        resources=resources,
        memory_growth=growth,
        health=diagnose_counted(counted, health_context(settings, outcome, log)),
        series=SeriesFigures(
            series_path.name,
            tally.seconds,
            tally.stall_seconds,
            tally.longest_stall_s,
            *drift(_rows(series_path, "completions"), tally.seconds),
            **recycle_seconds(_rows(series_path), tally.seconds),
        ),
    )
    result = RunResult(
        status=_status(outcome, detail, summary, tally.first_error),
        config=settings,
        metadata=run_metadata(describe(), launched.started, clock()),
        summary=summary,
        samples=Samples(time_origin=TIME_ORIGIN),
        run_id=launched.run_id,
    )
    if cfg.schedule is not None and sent is not None:
        result = open_soak_result(result, cfg.schedule, sent, tally)
    if result.status.state != "ok" and logs:
        result = dataclasses.replace(result, worker_log=keep_logs(path, logs))
    path = write_run(path, result)
    if outcome == "interrupted":
        raise Interrupted(f"interrupted; what was measured is in {path}")
    if result.status.state == "failed":
        raise FailedRun(f"{result.status.reason} (result kept in {path})", Measured(result, path))
    return Measured(result, path)


def _loop(cfg, tally, arrivals, reader, nodes, broker, memory, depth, out, progress):
    """Keep the arrivals going until the duration is over, then drain; a row
    a second to `out`, with the broker's queue depth. (outcome, detail)."""
    end_at = tally.t0 + cfg.soak_s
    if cfg.schedule is not None:  # an open loop's duration counts after its warm-up
        end_at = tally.t0 + cfg.schedule.warmup_s + cfg.schedule.duration_s
    stall_s, _ = time_limits(cfg)
    watching = load.Watch(SOAK_WORDS, stall_s, end_at - tally.t0 + 10 * stall_s)
    alive = broker.watch()
    outcome, detail = "running", ""  # until the loop ends
    asked = -1  # the last second the broker was asked its queue's depth
    try:
        while True:
            fresh = 0
            for raw in reader.read_new():
                origin = arrivals.take(raw)
                if origin is None or raw.get("state") is None:
                    continue
                tally.finished(origin, raw, counted=arrivals.counted(origin))
                fresh += 1
            now = time.monotonic()
            if fresh or not arrivals.in_flight():  # an idle open loop waits for arrivals, it is not stalled
                watching.news(now)
            failure = arrivals.send(now, ending=now >= end_at)
            if failure is not None:
                outcome, detail = ("broker lost" if "could not be sent" in failure else "producer stopped"), failure
                break
            tally.in_flight(now, arrivals.in_flight())
            if int(now - tally.t0) != asked:
                asked = int(now - tally.t0)
                tally.queue_depth(now, depth.read())
            rows = tally.rows_before(now - ROW_LAG_S)
            _write(out, rows, memory.recent, tally.t0)
            show_row = getattr(progress, "row", None)  # a live view (commands/run.py soak_view) shows the last
            if rows and show_row is not None:
                show_row(rows[-1])
            if progress is not None and fresh:
                progress(min(int(now - tally.t0), int(end_at - tally.t0)), int(end_at - tally.t0))
            if now >= end_at and arrivals.over(now):
                outcome, detail = "complete", ""
                break
            ended = watching.ended(nodes, alive, now)
            if ended:
                outcome, detail = ended
                break
            signals.raise_if_stopping()
            time.sleep(load.POLL_S * 5)
    except (KeyboardInterrupt, Interrupted):
        outcome, detail = "interrupted", "interrupted by a signal"
    last = tally.last_finish if tally.last_finish is not None else time.monotonic()
    _write(out, tally.rows_before(math.floor(last - tally.t0) + 1 + tally.t0), memory.recent, tally.t0)
    return outcome, detail


def _write(out: IO[str], rows: list[dict[str, Any]], recent: Iterable[Snapshot], t0: float) -> None:
    """Stream `rows` to the series file, each with the memory of the last
    sample in its second (of the sampler's recent ones; seconds from `t0`)."""
    samples = list(recent)
    for row in rows:
        inside = [s for s in samples if row["t_s"] <= s.t - t0 < row["t_s"] + 1]
        if inside:
            row["memory"] = [
                {"pid": r.pid, "node": r.node, "main": r.main, "rss_bytes": r.rss, "uss_bytes": r.uss}
                for r in inside[-1].readings
            ]
            own = inside[-1].harness
            if own is not None:
                row["harness_rss_bytes"], row["harness_uss_bytes"] = own.rss, own.uss
        out.write(json.dumps(row, allow_nan=False) + "\n")
    if rows:
        out.flush()


def _rows(path: Path, key: str | None = None) -> Iterator[Any]:
    """The series file's rows (or each row's `key`), read a line at a time."""
    with path.open() as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                yield row if key is None else row[key]


def _status(outcome: str, detail: str | None, summary: RunSummary, first_error: str | None) -> RunStatus:
    tasks = summary.tasks
    if outcome == "interrupted":
        return RunStatus("interrupted", "interrupted by a signal", outcome)
    if outcome != "complete" or tasks.failed or tasks.missing:
        reason = f"{tasks.failed} failed and {tasks.missing} missing of {tasks.published} tasks ({outcome}"
        reason += f": {detail})" if detail else ")"
        if first_error:
            reason += f"; first error: {first_error}"
        return RunStatus("failed", reason, outcome)
    if summary.above_ceiling:
        return RunStatus("failed", "measured above the physical ceiling: a harness bug, please report it", outcome)
    return RunStatus("ok", None, outcome)

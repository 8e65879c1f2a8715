"""The result of one run, built from what was observed: pure functions over
the task records, the resources and the facts of the run (no clock, no
machine, no broker: the caller passes them), so a whole document can be
checked against a golden file."""

from dataclasses import dataclass

from bench.analysis import stats
from bench.results.schema import (
    BrokerInfo,
    Metadata,
    Placement,
    Resources,
    RunResult,
    RunSettings,
    RunStatus,
    RunSummary,
    Samples,
    TaskError,
    utc_text,
)
from bench.workloads import WORKLOADS, Ceiling

# Above the ceiling by more than this is a harness bug (the slack covers the
# clock's resolution only).
CEILING_TOLERANCE = 1e-3
SAMPLE_DIGITS = 6  # microseconds: finer than any clock the tasks read
QUEUE_MODE = "pre-filled: the batch is queued, then released to the worker"


@dataclass(frozen=True)
class Observed:
    """What watching the measured batch gave."""

    published: dict  # task id -> publish time, s (monotonic)
    records: list  # TaskRecords, as the workers reported them (repeats included)
    outcome: str  # complete | interrupted | stalled | worker exited | broker lost | timeout
    detail: str | None  # more words on the outcome
    resources: Resources | None  # None: not sampled
    load_before: tuple[float, ...]  # 1, 5, 15-minute load average before the run


def first_reports(records):
    """The first report of each task, in report order."""
    firsts = {}
    for rec in records:
        firsts.setdefault(rec.id, rec)
    return list(firsts.values())


def summarize_run(observed: Observed, bound: Ceiling) -> RunSummary:
    """The run's numbers, over the first report of each successful task."""
    tally = stats.account(observed.published, observed.records)
    done = [r for r in first_reports(observed.records) if r.state == "SUCCESS"]
    rate = stats.throughput(done)
    conc = stats.concurrency(done)
    efficiency = rate / bound.per_s if rate is not None and bound.per_s else None
    first, last = stats.window(done) if done else (None, None)
    return RunSummary(
        throughput_per_s=rate,
        steady_throughput_per_s=stats.steady_throughput(done),
        ceiling_per_s=bound.per_s,
        ceiling_basis=bound.basis,
        efficiency=efficiency,
        above_ceiling=efficiency is not None and efficiency > 1 + CEILING_TOLERANCE,
        window_s=None if first is None else last - first,
        tasks=tally,
        latency=stats.latency(done),
        max_concurrency=conc.max,
        mean_concurrency=conc.mean,
        processes_used=len({r.pid for r in done}),
        load_average_before=tuple(observed.load_before),
        resources=observed.resources,
    )


def decide_status(outcome, detail, summary: RunSummary, first_error=None) -> RunStatus:
    """ok, or why not: interrupted; failed when a task failed or went
    missing or the batch did not complete; failed when the throughput is
    above the physical ceiling (a harness bug, never a result)."""
    tasks = summary.tasks
    if outcome == "interrupted":
        return RunStatus("interrupted", "interrupted by a signal", outcome)
    if not tasks.complete or outcome != "complete":
        reason = (
            f"{tasks.failed} failed and {tasks.missing} missing of {tasks.published} tasks"
            f" ({outcome}{': ' + detail if detail else ''})"
        )
        if first_error:
            reason += f"; first error: {first_error}"
        return RunStatus("failed", reason, outcome)
    if summary.above_ceiling:
        reason = (
            f"measured {summary.throughput_per_s:.1f} tasks/s is above the physical ceiling of "
            f"{summary.ceiling_per_s:.1f} tasks/s: a harness bug, please report it"
        )
        return RunStatus("failed", reason, outcome)
    return RunStatus("ok", None, outcome)


def compact_samples(published, records) -> Samples:
    """The raw per-task records as columns, times in seconds from the first
    publish of the batch; tasks that never reported are listed by id."""
    t0 = min(published.values()) if published else 0.0
    seen = {r.id for r in records}

    def rel(t):
        return round(t - t0, SAMPLE_DIGITS)

    return Samples(
        time_origin="first publish of the measured batch",
        published_s=tuple(rel(r.published) for r in records),
        started_s=tuple(rel(r.started) for r in records),
        finished_s=tuple(rel(r.finished) for r in records),
        pid=tuple(r.pid for r in records),
        state=tuple(r.state for r in records),
        errors=tuple(TaskError(r.id, r.error) for r in records if r.error)[:100],
        missing_ids=tuple(sorted(set(published) - seen))[:100],
    )


def run_settings(cfg, broker: BrokerInfo, result_backend, placement: Placement | None) -> RunSettings:
    """The run's `config`: its RunConfig, the broker and where it ran.
    `result_backend`: the backend URL, redacted, or "none"."""
    return RunSettings(
        pool=cfg.pool,
        concurrency=cfg.concurrency,
        slots=cfg.slots,
        workload=cfg.workload,
        task=WORKLOADS[cfg.workload].task,
        task_ms=cfg.task_ms,
        tasks=cfg.tasks,
        warmup=cfg.warmup,
        prefetch_multiplier=cfg.prefetch_multiplier,
        acks_late=False,
        serializer="json",
        result_backend=result_backend,
        worker_loglevel=cfg.loglevel,
        queue_mode=QUEUE_MODE,
        cores=cfg.cores,
        placement=placement,
        broker=broker,
    )


def run_metadata(machine_facts, started, ended) -> Metadata:
    """The run's metadata: the machine (machine.describe()) and its UTC start
    and end (datetimes, from the runner's clock)."""
    return Metadata(**machine_facts, started_utc=utc_text(started), ended_utc=utc_text(ended))


def build_result(settings: RunSettings, bound: Ceiling, observed: Observed, run_id, metadata: Metadata) -> RunResult:
    """The whole result document of a measured run."""
    summary = summarize_run(observed, bound)
    first_error = next((r.error for r in first_reports(observed.records) if r.error), None)
    return RunResult(
        status=decide_status(observed.outcome, observed.detail, summary, first_error),
        config=settings,
        metadata=metadata,
        summary=summary,
        samples=compact_samples(observed.published, observed.records),
        run_id=run_id,
    )


def not_measured(settings: RunSettings, reason, metadata: Metadata) -> RunResult:
    """The result of a run that failed before anything was measured."""
    return RunResult(RunStatus("failed", reason, "not measured"), settings, metadata)

"""The result of one run, built from what was observed: pure functions over
the task records, the resources and the facts of the run (no clock, no
machine, no broker: the caller passes them), so a whole document can be
checked against a golden file."""

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bench.analysis import stats
from bench.analysis.health import Context, LogEvidence, diagnose
from bench.analysis.memory import MemorySeries, memory_growth
from bench.measure.config import RunConfig
from bench.output.health import oom_words
from bench.results import schema
from bench.workloads import CPU_ATTRIBUTION, Ceiling, cpu_attribution

# Above the ceiling by more than this is a harness bug (the slack covers the
# clock's resolution only).
CEILING_TOLERANCE = 1e-3
SAMPLE_DIGITS = 6  # microseconds: finer than any clock the tasks read
QUEUE_MODE = "pre-filled: the batch is queued, then released to the worker"


@dataclass(frozen=True)
class Observed:
    """What watching the measured batch gave."""

    published: dict[str, float]  # task id -> publish time, s (monotonic)
    records: list[stats.TaskRecord]  # as the workers reported them (repeats included)
    outcome: str  # complete | interrupted | stalled | worker exited | broker lost | timeout
    detail: str | None  # more words on the outcome
    resources: schema.Resources | None  # None: not sampled
    load_before: tuple[float, ...]  # 1, 5, 15-minute load average before the run
    limits: schema.LimitFigures | None = None  # what the workers' cgroups counted; None: no limits set
    deploy: schema.DeployFigures | None = None  # the run's deploy event and what it cost; None: none asked
    deploy_counts: tuple[int, int, int] | None = None  # (lost, redelivered, interrupted) under a deploy event
    task_class: Mapping[str, str] | None = None  # a traffic mix: each task's class (id -> name); None: no mix
    # dedicated routing: ({task id: its lane}, each lane's slots) (mix.task_lanes); None: one queue for all
    lanes: tuple[Mapping[str, int], tuple[int, ...]] | None = None
    memory: MemorySeries | None = None  # every worker process's memory over the window; None: not sampled


class Watched(Protocol):
    """A batch watched to its end (load.Batch): what Observed takes of it."""

    @property
    def published(self) -> dict[str, float]: ...
    @property
    def records(self) -> list[stats.TaskRecord]: ...
    @property
    def outcome(self) -> str: ...
    @property
    def detail(self) -> str | None: ...


def observed_batch(
    batch: Watched, resources: schema.Resources | None, load_before: tuple[float, ...], **more: Any
) -> Observed:
    """What watching `batch` gave, with the resources sampled over it and
    the load before it; `more`: Observed's other fields."""
    return Observed(batch.published, batch.records, batch.outcome, batch.detail, resources, load_before, **more)


def first_reports(records: Iterable[stats.TaskRecord]) -> list[stats.TaskRecord]:
    """The first report of each task, in report order."""
    firsts: dict[str, stats.TaskRecord] = {}
    for rec in records:
        firsts.setdefault(rec.id, rec)
    return list(firsts.values())


def health_context(
    settings: schema.RunSettings,
    outcome: str | None = None,
    log: LogEvidence | None = None,
    oom_kills: int = 0,
    broker_restarted: bool = False,
    task_class: Mapping[str, str] | None = None,
    lanes: tuple[Mapping[str, int], tuple[int, ...]] | None = None,
) -> Context:
    """What the health check must know of the run: its pool, slots, acks
    and prefetch, broker, the pool processes it expects (prefork: -c per
    worker; the other pools run their tasks in the worker's own process),
    how watching the batch ended (`outcome`, Observed's), what the
    workers' log said (`log`; None: not read), and the OOM kills their
    cgroups counted (`oom_kills`), whether the broker was restarted, and a
    traffic mix's class of each task (`task_class`) and, under dedicated
    routing, its lane and each lane's slots (`lanes`)."""
    # A run document always records its pool, -c and slots (older ones: None, read as prefork -c 1)
    concurrency = settings.concurrency or 1
    per_worker = concurrency if settings.pool == "prefork" else 1
    return Context(
        pool=settings.pool or "prefork",
        concurrency=concurrency,
        slots=settings.slots or concurrency * (settings.workers or 1),
        acks_late=bool(settings.acks_late),
        prefetch_multiplier=settings.prefetch_multiplier,
        broker_kind=settings.broker.kind if settings.broker is not None else None,
        max_tasks_per_child=settings.max_tasks_per_child or 0,
        max_memory_per_child_kib=settings.max_memory_per_child_kib or 0,
        processes=per_worker * (settings.workers or 1),
        outcome=outcome,
        log=log,
        oom_kills=oom_kills,
        broker_restarted=broker_restarted,
        disable_prefetch=bool(settings.disable_prefetch),
        task_class=task_class,
        task_lane=lanes[0] if lanes is not None else None,
        lane_slots=lanes[1] if lanes is not None else (),
    )


def summarize_run(
    observed: Observed, bound: Ceiling, pool: str | None = None, workers: int = 1, context: Context | None = None
) -> schema.RunSummary:
    """The run's numbers, over the first report of each successful task
    (`workers`: the worker nodes, whose tasks are counted apart), and its
    health over every report (`context`: the run's, see health_context;
    None: not diagnosed). An estimated ceiling (a user's task, from its
    profile) that the run passes is a warning (the profile ran slower), not
    a harness bug."""
    tally = stats.account(observed.published, observed.records)
    done = [r for r in first_reports(observed.records) if r.state == "SUCCESS"]
    rate = stats.throughput(done)
    conc = stats.concurrency(done)
    efficiency = rate / bound.per_s if rate is not None and bound.per_s else None
    first, last = stats.window(done) if done else (None, None)
    above = efficiency is not None and efficiency > 1 + CEILING_TOLERANCE
    attribution = cpu_attribution(pool) if pool is not None else None
    task_cpu = None
    if attribution is not None:
        worker_cpu_s = observed.resources.worker_cpu_s if observed.resources else None
        found = stats.task_cpu(done, attribution, worker_cpu_s)
        task_cpu = schema.TaskCPU(**vars(found), basis=CPU_ATTRIBUTION[attribution])
    return schema.RunSummary(
        throughput_per_s=rate,
        steady_throughput_per_s=stats.steady_throughput(done),
        ceiling_per_s=bound.per_s,
        ceiling_basis=bound.basis,
        efficiency=efficiency,
        above_ceiling=above and not bound.estimated,
        ceiling_estimated=bound.estimated,
        above_estimated_ceiling=above and bound.estimated,
        task_cpu=task_cpu,
        window_s=None if first is None or last is None else last - first,
        tasks=tally if observed.deploy_counts is None else _with_losses(tally, *observed.deploy_counts),
        latency=stats.latency(done),
        max_concurrency=conc.max,
        mean_concurrency=conc.mean,
        processes_used=len({r.pid for r in done}),
        tasks_per_worker=tuple(sum(1 for r in done if r.node == i) for i in range(workers)),
        load_average_before=tuple(observed.load_before),
        resources=observed.resources,
        limits=observed.limits,
        deploy=observed.deploy,
        health=None if context is None else diagnose(observed.published, observed.records, context),
        # every execution kept what it leaked, a repeat's too
        memory_growth=None if observed.memory is None else memory_growth(observed.memory, observed.records),
    )


def _with_losses(tally: schema.TaskCounts, lost: int, redelivered: int, interrupted: int) -> schema.TaskCounts:
    return dataclasses.replace(tally, lost=lost, redelivered=redelivered, interrupted=interrupted)


# How a batch under a deploy event may end with its losses as the result: every task done, or the rest
# lost for good (started by a process that died), or none back within the stall (held by a dead worker).
DEPLOY_RESULTS = ("complete", "lost", "stalled")


def decide_status(
    outcome: str, detail: str | None, summary: schema.RunSummary, first_error: str | None = None, oom: str | None = None
) -> schema.RunStatus:
    """ok, or why not: interrupted; failed when a task failed or went
    missing or the batch did not complete; failed when the throughput is
    above the physical ceiling (a harness bug, never a result). `oom`: the
    run's OOM kills in words, said in a failure's reason. Under a deploy
    event, tasks lost or run twice are what is measured, not a failure;
    a batch that ended before its event is."""
    tasks = summary.tasks
    if outcome == "interrupted":
        return schema.RunStatus("interrupted", "interrupted by a signal", outcome)
    deploy = summary.deploy
    if deploy is not None and not deploy.events:
        return schema.RunStatus(
            "failed",
            f"the batch ended ({outcome}) before {deploy.asked}: nothing was struck; give more --tasks",
            outcome,
        )
    deployed = deploy is not None and outcome in DEPLOY_RESULTS and not tasks.failed
    if not deployed and (not tasks.complete or outcome != "complete"):
        reason = (
            f"{tasks.failed} failed and {tasks.missing} missing of {tasks.published} tasks"
            f" ({outcome}{': ' + detail if detail else ''})"
        )
        if first_error:
            reason += f"; first error: {first_error}"
        twice = summary.health.of("duplicates") if summary.health is not None else None
        if twice is not None:  # the failure line is all a failed run prints: it names these too
            reason += f"; {twice.count} ran twice"
        if oom:
            reason += f"; {oom}"
        return schema.RunStatus("failed", reason, outcome)
    if summary.above_ceiling:
        reason = (
            f"measured {summary.throughput_per_s:.1f} tasks/s is above the physical ceiling of "
            f"{summary.ceiling_per_s:.1f} tasks/s: a harness bug, please report it"
        )
        return schema.RunStatus("failed", reason, outcome)
    return schema.RunStatus("ok", None, outcome)


def compact_samples(published: Mapping[str, float], records: Sequence[stats.TaskRecord]) -> schema.Samples:
    """The raw per-task records as columns, times in seconds from the first
    publish of the batch; tasks that never reported are listed by id."""
    t0 = min(published.values()) if published else 0.0
    seen = {r.id for r in records}

    def rel(t: float) -> float:
        return round(t - t0, SAMPLE_DIGITS)

    return schema.Samples(
        time_origin="first publish of the measured batch",
        published_s=tuple(rel(r.published) for r in records),
        started_s=tuple(rel(r.started) for r in records),
        finished_s=tuple(rel(r.finished) for r in records),
        pid=tuple(r.pid for r in records),
        node=tuple(r.node for r in records),
        state=tuple(r.state for r in records),
        errors=tuple(schema.TaskError(r.id, r.error) for r in records if r.error)[:100],
        missing_ids=tuple(sorted(set(published) - seen))[:100],
        cpu_s=tuple(None if r.cpu_s is None else round(r.cpu_s, SAMPLE_DIGITS) for r in records),
        # recorded by `profile` only
        rss_bytes=tuple(r.rss_bytes for r in records) if any(r.rss_bytes is not None for r in records) else None,
    )


def run_settings(
    cfg: RunConfig, broker: schema.BrokerInfo, result_backend: str | None, placement: schema.Placement | None
) -> schema.RunSettings:
    """The run's `config`: its RunConfig, the broker and where it ran.
    `result_backend`: the backend URL, redacted, or "none"."""
    app = _user_task_settings(cfg, broker, result_backend)
    return schema.RunSettings(
        pool=cfg.pool,
        concurrency=cfg.concurrency,
        workers=cfg.workers,
        slots=cfg.slots,
        workload=cfg.workload,
        task=cfg.spec.task,
        task_ms=cfg.task_ms,
        tasks=cfg.tasks,
        warmup=cfg.warmup,
        prefetch_multiplier=app.pop("prefetch_multiplier", cfg.prefetch_multiplier),
        # --vary acks_late sets it on the worker's command line, which wins over the app
        acks_late=app.pop("acks_late", False) or cfg.acks_late,
        max_tasks_per_child=cfg.max_tasks_per_child,
        max_memory_per_child_kib=cfg.max_memory_per_child_kib,
        serializer=app.pop("serializer", "json"),
        result_backend=result_backend,
        worker_loglevel=cfg.loglevel,
        queue_mode=QUEUE_MODE,
        cores=cfg.quota_cores,
        placement=placement,
        broker=broker,
        # as acks_late: the harness's when it sets it, else the app's own (a user's task) or Celery's
        reject_on_worker_lost=app.pop("reject_on_worker_lost", False) or cfg.reject_on_worker_lost,
        # Celery's 0 unless set; a user's app's own is known once its workers report it (runner.with_report)
        soft_shutdown_timeout=_soft_shutdown_timeout(cfg),
        visibility_timeout=cfg.visibility_timeout,
        remap_sigterm=cfg.remap_sigterm,
        optimization=cfg.optimization,
        # as reject_on_worker_lost: the harness's when it sets it, else the app's own or Celery's
        disable_prefetch=app.pop("disable_prefetch", False) or cfg.disable_prefetch,
        eta_task_limit=_either(cfg.eta_task_limit, app.pop("eta_task_limit", None)),
        leak_kib=cfg.leak_kib,
        stuck=_stuck(cfg),
        soak=None if cfg.soak_s is None else schema.SoakSettings(cfg.soak_s, None if cfg.open_loop else cfg.tasks),
        **app,
    )


def _stuck(cfg: RunConfig) -> schema.StuckTasks | None:
    """The stuck workload's draw over the measured batch; None: another workload."""
    drawn, blocked_ms = cfg.stuck_tasks, cfg.longest_task_ms
    if cfg.stuck_p is None or drawn is None or blocked_ms is None:
        return None
    return schema.StuckTasks(p=cfg.stuck_p, blocked_ms=blocked_ms, seed=cfg.stuck_seed, tasks=sum(drawn))


def _either(given, own):
    """The harness's setting where it gives one, else the app's own."""
    return given if given is not None else own


def _soft_shutdown_timeout(cfg: RunConfig) -> float | None:
    if cfg.soft_shutdown_timeout is not None:
        return cfg.soft_shutdown_timeout
    return None if cfg.user_task is not None else 0.0


def _user_task_settings(cfg, broker: schema.BrokerInfo, result_backend):
    """For a user's app: its own settings, what the harness overrode, and
    the task's description (secrets redacted); {} for the built-in workloads."""
    if cfg.user_task is None:
        return {}
    settings = dict(cfg.app_info.settings) if cfg.app_info is not None else {}
    overrides = {"queue": "the run's own warm-up and measured queues", "node_name": True, "pool": cfg.pool}
    overrides["concurrency"] = cfg.concurrency
    if cfg.prefetch_multiplier is not None:
        overrides["prefetch_multiplier"] = cfg.prefetch_multiplier
    if not cfg.broker_from_app:
        overrides.update(broker_url=broker.url, result_backend=result_backend)
    prefetch = cfg.prefetch_multiplier
    if prefetch is None:
        prefetch = settings.get("worker_prefetch_multiplier")
    if cfg.broker_from_app:
        source = "the app's own (--broker from-app)"
    else:
        source = "--broker" if cfg.broker_url else "the harness's private broker"
    profile = {"cpu_s": cfg.task_profile[0], "wait_s": cfg.task_profile[1]} if cfg.task_profile else None
    return {
        "prefetch_multiplier": prefetch,
        "acks_late": bool(settings.get("task_acks_late")),
        "reject_on_worker_lost": bool(settings.get("task_reject_on_worker_lost")),
        "disable_prefetch": bool(settings.get("worker_disable_prefetch")),
        "eta_task_limit": settings.get("worker_eta_task_limit"),
        "serializer": settings.get("task_serializer"),
        "user_task": cfg.user_task.to_json(),
        "app_settings": settings,
        "harness_overrides": overrides,
        "broker_source": source,
        "task_profile": profile,
    }


def run_metadata(machine_facts: Mapping[str, Any], started: dt.datetime, ended: dt.datetime) -> schema.Metadata:
    """The run's metadata: the machine (machine.describe()) and its UTC start
    and end (datetimes, from the runner's clock)."""
    return schema.Metadata(**machine_facts, started_utc=schema.utc_text(started), ended_utc=schema.utc_text(ended))


def build_result(
    settings: schema.RunSettings,
    bound: Ceiling,
    observed: Observed,
    run_id: str,
    metadata: schema.Metadata,
    log: LogEvidence | None = None,
) -> schema.RunResult:
    """The whole result document of a measured run (`log`: what the
    workers' log said, for its health)."""
    kills = (observed.limits.oom_kills or 0) if observed.limits is not None else 0
    restarted = observed.deploy is not None and any(e.kind == "broker_restart" for e in observed.deploy.events)
    context = health_context(settings, observed.outcome, log, kills, restarted, observed.task_class, observed.lanes)
    summary = summarize_run(observed, bound, settings.pool, settings.workers, context)
    first_error = next((r.error for r in first_reports(observed.records) if r.error), None)
    memory_limit = settings.limits.memory_limit_bytes if settings.limits is not None else None
    return schema.RunResult(
        status=decide_status(
            observed.outcome, observed.detail, summary, first_error, oom_words(summary.limits, memory_limit)
        ),
        config=settings,
        metadata=metadata,
        summary=summary,
        samples=compact_samples(observed.published, observed.records),
        run_id=run_id,
    )


def not_measured(settings: schema.RunSettings, reason: str, metadata: schema.Metadata) -> schema.RunResult:
    """The result of a run that failed before anything was measured."""
    return schema.RunResult(schema.RunStatus("failed", reason, "not measured"), settings, metadata)

"""A sweep's summary from its repeats: each point's PointSummary over its
runs (the median and its CI, latency and resources, health, deploy
figures, warnings) and the sweep's SweepSummary. Pure; what the numbers say
is analyzed in summary.py."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from bench.analysis.accuracy import with_predictions
from bench.analysis.groups import plural
from bench.analysis.health import KINDS, KNOWN_CAUSES, as_asked
from bench.analysis.mix import class_estimates
from bench.analysis.stats import bootstrap_median, median
from bench.results.schema import (
    DeploySummary,
    Metadata,
    PointSummary,
    Resources,
    RunResult,
    SweepSummary,
    ThroughputEstimate,
    sweep_settings_from_json,
)


class PlannedPoint(Protocol):
    """A point of a sweep's plan as its files hold it (bench.sweep.point.Point.stored())."""

    @property
    def pool(self) -> str: ...
    @property
    def concurrency(self) -> int: ...
    @property
    def workload(self) -> str: ...
    @property
    def task_ms(self) -> float | None: ...
    @property
    def cpus(self) -> tuple[int, ...] | None: ...
    @property
    def cores(self) -> float: ...
    @property
    def tasks(self) -> int: ...
    @property
    def warmup(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def workers(self) -> int: ...
    @property
    def settings(self) -> tuple[tuple[str, str], ...]: ...


def summarize_point(point: PlannedPoint, attempts: Sequence[tuple[Path, RunResult]], ci_target: float) -> PointSummary:
    """One point's summary over its ok repeats. `point`: the planned point
    (its pool, concurrency, workload, task_ms, cpus, cores, tasks, warmup,
    key, workers, settings: broker URLs already redacted); `attempts`: its
    finished repeats as (path, RunResult)."""
    ok = [r for _, r in attempts if r.ok]
    failed = [r for _, r in attempts if not r.ok]
    planned = PointSummary(
        pool=point.pool,
        concurrency=point.concurrency,
        workload=point.workload,
        task_ms=point.task_ms,
        cpus=point.cpus,
        cores=point.cores,
        tasks=point.tasks,
        warmup=point.warmup,
        key=point.key,
        workers=point.workers,
        settings=tuple(point.settings),
        host_count=getattr(point, "host_count", None),
        task=getattr(point, "task", None),
        profile=getattr(point, "profile", None),
        repeats=len(ok),
        failed_repeats=len(failed),
    )
    planned = _with_health(planned, [r for _, r in attempts])
    limited = [r.config.limits for _, r in attempts if r.config is not None and r.config.limits is not None]
    planned = replace(
        planned,
        deploy=deploy_summary([r for _, r in attempts]),
        memory_limit=next((lim.memory_limit_bytes for lim in limited if lim.memory_limit_bytes is not None), None),
    )
    warnings = []
    if failed:
        warnings.append(f"{plural(len(failed), 'repeat')} failed: {failed[0].status.reason}")
    if planned.repeats_with_findings:
        warnings.append(health_warning(planned, [r for _, r in attempts]))
    if not ok:
        return replace(planned, warnings=tuple(warnings))
    planned, cores_warnings = _on_the_hosts_cores(planned, ok)
    warnings += cores_warnings
    runs = [r.summary for r in ok if r.summary is not None]
    values = tuple(s.throughput_per_s for s in runs if s.throughput_per_s is not None)
    assert len(values) == len(ok)  # an ok run has its summary, with its throughput
    est = bootstrap_median(values)
    if est.unstable:
        warnings.append(f"unstable: coefficient of variation {est.cv:.0%} across repeats")
    if est.ci_rel_width is not None and est.ci_rel_width > ci_target:
        warnings.append(
            f"wide: the 95% CI spans {est.ci_rel_width:.0%} of the median after {plural(len(values), 'repeat')}"
        )
    ceiling = runs[0].ceiling_per_s
    resources = [s.resources or Resources() for s in runs]
    limits = ok[0].config.limits
    return replace(
        planned,
        warnings=tuple(warnings),
        cpu_limit=limits.cpu_limit_cores if limits is not None else None,
        throughput=ThroughputEstimate(
            median_per_s=est.median,
            ci95_low_per_s=est.ci_low,
            ci95_high_per_s=est.ci_high,
            cv=est.cv,
            unstable=est.unstable,
            values_per_s=values,
        ),
        ceiling_per_s=ceiling,
        ceiling_basis=runs[0].ceiling_basis,
        efficiency=est.median / ceiling if ceiling else None,
        steady_throughput_per_s=median(s.steady_throughput_per_s for s in runs),
        wait_p50_s=median(s.latency.wait_s.p50 for s in runs),
        wait_p99_s=median(s.latency.wait_s.p99 for s in runs),
        service_p50_s=median(s.latency.service_s.p50 for s in runs),
        service_p99_s=median(s.latency.service_s.p99 for s in runs),
        sojourn_p50_s=median(s.latency.sojourn_s.p50 for s in runs),
        sojourn_p99_s=median(s.latency.sojourn_s.p99 for s in runs),
        mean_concurrency=median(s.mean_concurrency for s in runs),
        max_concurrency=median(s.max_concurrency for s in runs),
        worker_cpu_cores=median(r.worker_cpu_cores for r in resources),
        worker_main_cpu_cores=median(
            r.worker_main_cpu_s / r.window_s for r in resources if r.worker_main_cpu_s is not None and r.window_s
        ),
        worker_uss_peak_bytes=median(r.worker_uss_peak_bytes for r in resources),
        worker_pss_peak_bytes=median(r.worker_pss_peak_bytes for r in resources),
        worker_rss_peak_bytes=median(r.worker_rss_peak_bytes for r in resources),
        load_average_1m_before=median(s.load_average_before[0] for s in runs if s.load_average_before),
        classes=_mix_classes(ok),
        recycles=median(s.memory_growth.recycles for s in runs if s.memory_growth is not None),
        tree_kib_per_task=median(s.memory_growth.tree.kib_per_task for s in runs if s.memory_growth is not None),
    )


def _mix_classes(ok):
    """A traffic mix's classes over the point's ok drained repeats; None: no mix."""
    mixed = [r for r in ok if r.traffic is not None and r.classes is not None]
    if not mixed:
        return None
    return class_estimates(mixed[0].traffic["classes"], [r.classes for r in mixed])


def deploy_summary(results: Sequence[RunResult]) -> DeploySummary | None:
    """What the deploy event of a point's repeats cost (failed ones
    included: a lost task is a result, not a failure); None: no event asked."""
    deployed = [r.summary for r in results if r.summary is not None and r.summary.deploy is not None]
    if not deployed:
        return None
    struck = [s for s in deployed if s.deploy is not None and s.deploy.events]
    events = [e for s in struck if s.deploy is not None for e in s.deploy.events]

    def total(name: str) -> int:
        return sum(getattr(s.tasks, name) or 0 for s in struck)

    return DeploySummary(
        asked=deployed[0].deploy.asked if deployed[0].deploy is not None else None,
        repeats=len(struck),
        lost=total("lost"),
        ran_twice=total("duplicates"),
        redelivered=total("redelivered"),
        interrupted=total("interrupted"),
        recovery_s=median(e.recovery_s for e in events if e.recovered),
        not_recovered=sum(1 for e in events if e.recovered is False),
        drain_s=median(e.drain_s for e in events if e.drain_s is not None),
        forced=sum(1 for e in events if e.forced),
    )


def _with_health(planned, results):
    """The point with its health over every repeat that was diagnosed
    (failed ones included): tasks run twice and lost summed, the repeats
    with any finding, and each kind's count summed; Celery's misbehaviour
    only (Health.misbehaviour: tasks left when the harness stopped waiting
    are its failed repeats' reason, not losses). Unchanged when none was
    diagnosed (older files)."""
    healths = [r.summary.health for r in results if r.summary is not None and r.summary.health is not None]
    if not healths:
        return planned
    totals = {kind: sum(f.count for h in healths for f in h.misbehaviour if f.kind == kind) for kind in KINDS}
    return replace(
        planned,
        duplicates=totals["duplicates"],
        lost=totals["lost"],
        repeats_with_findings=sum(1 for h in healths if h.misbehaviour),
        findings=tuple((kind, n) for kind, n in totals.items() if n),
    )


_FOUND_WORDS = {  # a kind's summed count, in words
    "duplicates": lambda n: f"{plural(n, 'task')} run twice",
    "lost": lambda n: f"{plural(n, 'task')} lost",
    "ack_failures": lambda n: f"{plural(n, 'acknowledgement')} failed",
    "reconnects": lambda n: f"{plural(n, 'broker reconnection')}",
    "idle_gaps": lambda n: f"{plural(n, 'idle gap')} while tasks were queued",
    "stalls": lambda n: plural(n, "stall"),
    "restarts": lambda n: f"{plural(n, 'pool process', 'pool processes')} replaced",
    "late_starts": lambda n: f"{plural(n, 'task')} started late",
}


def health_warning(point: PointSummary, results: Sequence[RunResult]) -> str:
    """A point's health as one warning: in how many repeats Celery
    misbehaved, what it did summed over them, a steady period of idle gaps,
    and the likely causes with their references."""
    healths = [r.summary.health for r in results if r.summary is not None and r.summary.health is not None]
    found = []
    for kind, n in point.findings:
        words = _FOUND_WORDS[kind](n)
        periods = [f.period_s for h in healths if (f := h.of(kind)) is not None and f.period_s is not None]
        if periods:
            words += f" (every {median(periods):.2f} s)"
        found.append(words)
    causes = []
    for h in healths:
        for f in h.misbehaviour:
            if f.cause is not None and f.cause not in causes:
                causes.append(f.cause)
    likely = "; ".join(
        KNOWN_CAUSES[c].label + (f" ({', '.join(KNOWN_CAUSES[c].refs)})" if KNOWN_CAUSES[c].refs else "")
        for c in causes
    )
    counted = plural(len(healths), "repeat")
    if point.deploy is not None and point.deploy.repeats:  # the harness struck: not Celery's doing alone
        text = f"under its deploy event ({point.deploy.asked}), in {point.repeats_with_findings} of {counted}: "
    elif as_asked(f.cause for h in healths for f in h.misbehaviour):
        text = f"as its settings ask, in {point.repeats_with_findings} of {counted}: "
    else:
        text = f"Celery misbehaved in {point.repeats_with_findings} of {counted}: "
    text += ", ".join(found)
    return text + (f"; likely cause: {likely}" if likely else "")


def _on_the_hosts_cores(planned, ok):
    """A point whose workers ran on agents (--hosts) is judged on the cores
    of those hosts: the fewest any of them had (the 2x-cores line of the
    verdict and the figures), on as many hosts as it ran on (its ceiling
    sums over them). Warned: hosts that differ in cores, and hosts with
    other cores than the plan's, whose default -c values were chosen for
    its own (a sweep planned before its agents were asked)."""
    hosts = {h.cores for r in ok for h in (r.hosts or ())}
    if not hosts:
        return planned, []
    cores = min(hosts)
    on_hosts = max(len(r.hosts or ()) for r in ok)  # a point's repeats all run on the same agents
    warnings = []
    if len(hosts) > 1:
        listed = ", ".join(f"{c:g}" for c in sorted(hosts))
        warnings.append(f"its hosts differ in cores ({listed}): judged on the fewest, {cores:g}")
    if planned.cores is not None and cores != planned.cores:
        warnings.append(
            f"planned for {plural(planned.cores, 'usable core')}, run on hosts with {cores:g}: "
            "judged on theirs, but the sweep's -c values were chosen for the plan's"
        )
    return replace(planned, cores=cores, on_hosts=on_hosts), warnings


def summarize_sweep(
    config: Mapping[str, Any], metadata: Metadata | None, status: str | None, points: Iterable[PointSummary]
) -> SweepSummary:
    """A sweep's summary from its points' summaries; `config` is the
    sweep's config as stored (its JSON), `metadata` the manifest's; each
    point with the model's prediction (accuracy.with_predictions)."""
    return SweepSummary(sweep_settings_from_json(config), metadata, status, with_predictions(list(points)))

"""What a sweep's numbers say: the verdict per pool x workload, the USL fit
per curve, and the warnings a reader must see. Pure, from a sweep's summary."""

from dataclasses import dataclass, replace

from bench.analysis.groups import groups
from bench.analysis.model import USLFit, fit_usl
from bench.analysis.stats import bootstrap_median, median
from bench.analysis.verdict import Verdict, verdicts
from bench.results.schema import (
    PointSummary,
    Resources,
    SweepSummary,
    ThroughputEstimate,
    sweep_settings_from_json,
)


@dataclass(frozen=True)
class Analysis:
    verdicts: dict  # {figure key: {pool: Verdict}}
    fits: dict  # {figure key: {pool: USLFit}}
    warnings: list  # "point: what is wrong", for every point that needs a second look


def analyze(summary):
    """The analysis of a SweepSummary."""
    fits: dict[str, dict[str, USLFit]] = {}
    for key, curves in groups(summary).items():
        for pool, curve in curves.items():
            if pool == "solo":
                fits.setdefault(key, {})[pool] = USLFit(False, "solo runs at -c 1 only")
                continue
            fits.setdefault(key, {})[pool] = fit_usl(curve.c, curve.medians())
    warnings = []
    for point in summary.points:
        for text in point.warnings:
            warnings.append(f"{point.key}: {text}")
        efficiency = point.efficiency
        if efficiency is not None and efficiency > 1:
            if point.task is not None:  # a user's task: the ceiling is estimated from its profile
                warnings.append(f"{point.key}: above its ceiling estimated from the profile ({efficiency:.1%})")
            else:
                warnings.append(f"{point.key}: above its physical ceiling ({efficiency:.1%}): a harness bug")
    found: dict[str, dict[str, Verdict]] = verdicts(summary)
    return Analysis(found, fits, warnings)


def summarize_point(point, attempts, ci_target) -> PointSummary:
    """One point's summary over its ok repeats. `point`: the planned point
    (its pool, concurrency, workload, task_ms, cpus, cores, tasks, warmup,
    key); `attempts`: its finished repeats as (path, RunResult)."""
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
        task=getattr(point, "task", None),
        profile=getattr(point, "profile", None),
        repeats=len(ok),
        failed_repeats=len(failed),
    )
    warnings = []
    if failed:
        warnings.append(f"{len(failed)} repeat(s) failed: {failed[0].status.reason}")
    if not ok:
        return replace(planned, warnings=tuple(warnings))
    values = tuple(r.summary.throughput_per_s for r in ok)
    est = bootstrap_median(values)
    if est.unstable:
        warnings.append(f"unstable: coefficient of variation {est.cv:.0%} across repeats")
    if est.ci_rel_width is not None and est.ci_rel_width > ci_target:
        warnings.append(f"wide: the 95% CI spans {est.ci_rel_width:.0%} of the median after {len(values)} repeats")
    runs = [r.summary for r in ok]
    ceiling = runs[0].ceiling_per_s
    resources = [s.resources or Resources() for s in runs]
    return replace(
        planned,
        warnings=tuple(warnings),
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
        worker_uss_peak_bytes=median(r.worker_uss_peak_bytes for r in resources),
        worker_pss_peak_bytes=median(r.worker_pss_peak_bytes for r in resources),
        worker_rss_peak_bytes=median(r.worker_rss_peak_bytes for r in resources),
        load_average_1m_before=median(s.load_average_before[0] for s in runs if s.load_average_before),
    )


def summarize_sweep(config, metadata, status, points) -> SweepSummary:
    """A sweep's summary from its points' summaries; `config` is the
    sweep's config as stored (its JSON), `metadata` the manifest's."""
    return SweepSummary(sweep_settings_from_json(config), metadata, status, tuple(points))

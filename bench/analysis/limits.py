"""Under limits like a pod's, which -c is best, and would Celery's
default have been it? Celery's default -c is os.cpu_count(), which ignores
a CPU quota (celery/celery#10320): a worker limited to half a core still
starts as many processes as the machine has cores, and under a memory
limit those processes may not fit (the OOM killer takes them). Pure, from
a sweep's summary and its analysis."""

from dataclasses import dataclass

from bench.analysis.groups import curve_name, group_key, group_label, measured_points
from bench.analysis.summary import Analysis
from bench.analysis.verdict import MIN_EFFECT, Best
from bench.results.sweep_records import PointSummary, SweepSummary


@dataclass(frozen=True)
class UnderLimit:
    """One curve measured under limits: its best -c and Celery's default's."""

    workload: str  # the curve's figure, for people ("cpu 20 ms")
    curve: str  # its name: the pool and its variant ("prefork [cpu_limit=0.5]")
    cpu_limit: float | None  # cores, each worker's quota; None: none
    best: Best  # the best -c of the curve
    default_c: int  # Celery's default -c here: the machine's os.cpu_count()
    default_per_s: float | None  # its median throughput, tasks/s; None: that -c was not measured
    default_is_best: bool | None  # None: the default -c was not measured
    memory_limit: int | None = None  # bytes, each worker's memory limit; None: none
    default_failed: str | None = None  # why every repeat of the default -c failed ("OOM-killed"); None: it did not

    @property
    def words(self) -> str:
        """Whether Celery's default would have been the best, in words."""
        if self.default_failed is not None:
            return f"no: Celery's default -c {self.default_c} failed every repeat ({self.default_failed})"
        if self.default_is_best is None:
            return f"-c {self.default_c} (Celery's default) was not measured"
        if self.best.flat:
            return f"as good: no -c stands out (flat), Celery's default -c {self.default_c} neither"
        if self.best.c == self.default_c:
            return f"yes: Celery's default -c {self.default_c} is the best"
        if self.default_is_best:
            return f"as good: Celery's default -c {self.default_c} is within the noise of the best"
        assert self.default_per_s is not None  # measured ...
        assert self.best.per_s  # ... and below the best
        loss = 1 - self.default_per_s / self.best.per_s
        return f"no: Celery's default -c {self.default_c} gives {self.default_per_s:.1f}/s, {loss:.0%} less"


def _within_noise(point: PointSummary, best: Best) -> bool:
    """A point as good as the best: a flat curve's, or at least
    (1 - MIN_EFFECT) of the best's median (the verdict's minimum effect)."""
    if best.flat:
        return True
    if point.throughput is None or best.per_s is None:
        return False
    return point.throughput.median_per_s >= best.per_s * (1 - MIN_EFFECT)


def _failure(point: PointSummary) -> str | None:
    """Why every repeat of a point failed, in a few words; None: one did not."""
    if point.repeats or not point.failed_repeats:
        return None
    return "OOM-killed" if any("OOM-killed" in w for w in point.warnings) else "see its warnings"


def _limited(point: PointSummary) -> bool:
    return (point.cpu_limit is not None or point.memory_limit is not None) and point.pool != "solo"


def under_limits(summary: SweepSummary, analysis: Analysis) -> list[UnderLimit]:
    """Every curve whose points ran under a CPU quota or a memory limit
    (point.cpu_limit, point.memory_limit), in plan order, with its best -c
    and whether Celery's default (the sweep's machine's cpu_count) would
    have been it: as good, or not, or failed (OOM-killed) where a point
    whose every repeat failed is left out of the curve."""
    default_c = summary.metadata.cpu_count if summary.metadata is not None else None
    out: dict[tuple[str, str], UnderLimit] = {}
    every = [p for p in summary.points if _limited(p)]
    for point in (p for p in measured_points(summary) if _limited(p)):
        key = group_key(point)
        name = curve_name(point)
        if (key, name) in out or default_c is None or name not in analysis.bests.get(key, {}):
            continue
        best = analysis.bests[key][name]
        at_default = next(
            (p for p in every if (group_key(p), curve_name(p)) == (key, name) and p.concurrency == default_c),
            None,
        )  # fmt: skip
        failed = _failure(at_default) if at_default is not None else None
        measured = at_default is not None and at_default.throughput is not None
        out[key, name] = UnderLimit(
            workload=group_label(point),
            curve=name,
            cpu_limit=point.cpu_limit,
            best=best,
            default_c=default_c,
            default_per_s=at_default.median_per_s if measured and at_default is not None else None,
            default_is_best=_within_noise(at_default, best) if measured and at_default is not None else None,
            memory_limit=point.memory_limit,
            default_failed=failed,
        )
    return list(out.values())

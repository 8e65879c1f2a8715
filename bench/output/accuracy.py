"""The worker model beside what was measured, for report.md: each predicted
point's throughput beside its measured median and the error, and per pool
the median absolute error and the worst point. The numbers are the points'
own (`predicted_per_s`, filled in by analysis/accuracy.py); the words are
here."""

from collections.abc import Sequence
from statistics import median

from bench.analysis.accuracy import GOOD, PointError
from bench.output.sweep_terminal import _rate
from bench.results.sweep_records import PointSummary, SweepSummary


def is_input(point: PointSummary) -> bool:
    """A point the model's inputs come from, whose prediction would test
    nothing: a no-op point (Celery's per-task cost) or a task's solo point
    (its C and W). analysis/accuracy.py leaves the same points out."""
    return point.workload == "noop" or point.pool == "solo"


def error_of(point: PointSummary) -> PointError | None:
    """The point's prediction against its median; None when it has no
    prediction or no median."""
    measured = point.median_per_s
    if point.predicted_per_s is None or not measured:
        return None
    return PointError(point.key, point.workload, point.pool, point.concurrency, point.predicted_per_s, measured)


def _pct(value: float) -> str:
    """A signed percent, "+3.2%"; "0.0%" for what rounds to nothing (never "-0.0%")."""
    text = f"{value:+.1%}"
    return "0.0%" if text in ("+0.0%", "-0.0%") else text


def pool_line(pool: str, points: Sequence[PointSummary]) -> str:
    """One pool's line: the median absolute error over its tested points,
    how many are within GOOD, and the worst."""
    tested = [(p, e) for p in points if not is_input(p) and (e := error_of(p)) is not None]
    if not tested:
        return f"- {pool}: no point to test (its points are the model's inputs, or unmeasured)"
    typical = median(abs(e.error) for _, e in tested)
    within = sum(abs(e.error) <= GOOD for _, e in tested)
    worst, error = max(tested, key=lambda pe: abs(pe[1].error))
    return (
        f"- {pool}: median absolute error {typical:.1%} over {len(tested)} points, {within} within {GOOD:.0%}; "
        f"worst `{worst.name}`: predicted {_rate(error.predicted_per_s)}/s, measured {_rate(error.measured_per_s)}/s "
        f"({_pct(error.error)})"
    )


def _row(point: PointSummary) -> str:
    found = error_of(point)
    error = "-" if found is None else _pct(found.error)
    if is_input(point):
        error += " (input)"
    return f"| `{point.name}` | {_rate(point.predicted_per_s)} | {_rate(point.median_per_s)} | {error} |"


def model_section(summary: SweepSummary) -> list[str]:
    """report.md's lines on the model, when some point has a prediction
    that tests it; none otherwise (older sweeps, a task with no no-op
    points; a sweep whose only predictions are of its no-op points, the
    task having no solo point, would show the model its own inputs)."""
    predicted = [p for p in summary.points if p.predicted_per_s is not None]
    if all(is_input(p) for p in predicted):
        return []
    task = "its profile" if any(p.profile for p in predicted) else "its solo -c 1 point"
    pools = list(dict.fromkeys(p.pool for p in predicted))
    return [
        "## The model",
        "",
        "Each point's throughput as predicted by a closed queueing network of the worker, solved by exact Mean "
        "Value Analysis: Celery's per-task cost from this sweep's no-op points, the task's CPU and waiting "
        f"(C and W) from {task} (see docs/advise.md); drawn dashed in the throughput figures. Error: predicted / "
        "measured median - 1 (+10%: the model 10% too high); the points the model's inputs come from are marked "
        "(input) and left out of the lines per pool.",
        "",
        *[pool_line(pool, [p for p in predicted if p.pool == pool]) for pool in pools],
        "",
        "| point | predicted (tasks/s) | measured median (tasks/s) | error |",
        "|---|---|---|---|",
        *[_row(p) for p in predicted],
        "",
    ]

"""Results in the formats CI tools already read (`python -m bench export`):

- github-action-benchmark's custom tools: `customBiggerIsBetter` and
  `customSmallerIsBetter` take a JSON list of {"name", "unit", "value"},
  with optional "range" (a string such as "± 1.2") and "extra" (text shown
  in the tooltip). A list holds one direction, so throughput (bigger is
  better) and latency (smaller is better) are two documents.
- Bencher Metric Format (BMF, bencher.dev/docs/reference/bencher-metric-format):
  {benchmark: {measure: {"value", "lower_value"?, "upper_value"?}}}; one
  document holds every measure. Throughput is Bencher's built-in
  `throughput` measure (ops/s); latency has measures of its own.

A benchmark is a point: a sweep point's key (`sleep-50ms-gevent-c16`), or
a run's pool, -c and workload, prefixed by the side for an A/B.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.results.schema import RunResult
from bench.results.sweep_records import SweepSummary

FORMATS = ("github-action-benchmark", "bmf")


@dataclass(frozen=True)
class Metric:
    """One number of one point, as the exports carry it."""

    benchmark: str  # the point's name
    measure: str  # throughput | steady-throughput | sojourn-p99 | wait-p99
    unit: str  # tasks/s | ms
    value: float
    lower: float | None = None  # the 95% CI's bounds, where there is one
    upper: float | None = None
    bigger_is_better: bool = True
    extra: str = ""  # what it was measured over, in words


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def sweep_metrics(summary: SweepSummary, prefix: str = "") -> list[Metric]:
    """Each measured point's median throughput (with its bootstrap 95% CI),
    its steady state, and its p99 sojourn and wait (medians over repeats)."""
    out = []
    for point in summary.points:
        if point.throughput is None:
            continue  # no successful repeat: nothing to export
        name = prefix + point.key
        t = point.throughput
        repeats = f"median of {point.repeats} repeats"
        ci = f"{repeats}; 95% CI of the median" if t.ci95_low_per_s is not None else repeats
        out.append(Metric(name, "throughput", "tasks/s", t.median_per_s, t.ci95_low_per_s, t.ci95_high_per_s, extra=ci))
        if point.steady_throughput_per_s is not None:
            out.append(Metric(name, "steady-throughput", "tasks/s", point.steady_throughput_per_s, extra=repeats))
        for measure, seconds in (("sojourn-p99", point.sojourn_p99_s), ("wait-p99", point.wait_p99_s)):
            value = _ms(seconds)
            if value is not None:
                out.append(Metric(name, measure, "ms", value, bigger_is_better=False, extra=repeats))
    return out


def run_metrics(result: RunResult, prefix: str = "") -> list[Metric]:
    """A run's throughput, steady state and p99 sojourn and wait."""
    config, summary = result.config, result.summary
    if summary is None or summary.throughput_per_s is None:
        return []
    name = prefix + f"{config.workload}-{config.pool}-c{config.concurrency}"
    tasks = f"one run of {summary.tasks.published} tasks"
    out = [Metric(name, "throughput", "tasks/s", summary.throughput_per_s, extra=tasks)]
    if summary.steady_throughput_per_s is not None:
        out.append(Metric(name, "steady-throughput", "tasks/s", summary.steady_throughput_per_s, extra=tasks))
    for measure, seconds in (("sojourn-p99", summary.latency.sojourn_s.p99), ("wait-p99", summary.latency.wait_s.p99)):
        value = _ms(seconds)
        if value is not None:
            out.append(Metric(name, measure, "ms", value, bigger_is_better=False, extra=tasks))
    return out


def github_action_benchmark(metrics: Iterable[Metric], bigger_is_better: bool) -> list[dict[str, Any]]:
    """The metrics of one direction as github-action-benchmark's custom
    list: `customBiggerIsBetter` (True) or `customSmallerIsBetter`."""
    out = []
    for m in metrics:
        if m.bigger_is_better != bigger_is_better:
            continue
        entry: dict[str, Any] = {"name": f"{m.benchmark} {m.measure}", "unit": m.unit, "value": round(m.value, 4)}
        if m.lower is not None and m.upper is not None:
            entry["range"] = f"{m.lower:.4g} to {m.upper:.4g}"
        if m.extra:
            entry["extra"] = m.extra
        out.append(entry)
    return out


def bmf(metrics: Sequence[Metric]) -> dict[str, dict[str, dict[str, float]]]:
    """The metrics as Bencher Metric Format: one object per benchmark, one
    per measure in it, with the CI's bounds where there are some."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for m in metrics:
        values = {"value": m.value}
        if m.lower is not None and m.upper is not None:
            values.update(lower_value=m.lower, upper_value=m.upper)
        out.setdefault(m.benchmark, {})[m.measure] = values
    return out

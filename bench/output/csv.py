"""points.csv: one row per point of a sweep, for people's own spreadsheets."""

import csv
import io

from bench.results.sweep_records import SweepSummary

# New columns go at the end: a spreadsheet that reads them by position keeps working
COLUMNS = (
    "key", "workload", "task_ms", "pool", "concurrency", "workers", "total_concurrency", "variant",
    "cores", "cpus", "repeats", "failed_repeats",
    "throughput_median_per_s", "throughput_ci95_low_per_s", "throughput_ci95_high_per_s", "throughput_cv",
    "throughput_values_per_s", "steady_throughput_per_s", "ceiling_per_s", "efficiency",
    "service_p50_s", "service_p99_s", "wait_p50_s", "wait_p99_s", "sojourn_p50_s", "sojourn_p99_s",
    "mean_concurrency", "max_concurrency", "worker_cpu_cores", "worker_uss_peak_bytes", "worker_pss_peak_bytes",
    "warnings", "predicted_per_s", "recycles", "tree_kib_per_task",
)  # fmt: skip


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _row(p):
    """A PointSummary as {column: value}."""
    tput = p.throughput
    return {
        "key": p.key,
        "workload": p.workload,
        "task_ms": p.task_ms,
        "pool": p.pool,
        "concurrency": p.concurrency,
        "workers": p.workers,
        "total_concurrency": p.total_concurrency,
        "variant": p.variant,
        "cores": p.cores,
        "cpus": " ".join(map(str, p.cpus)) if p.cpus else "",
        "repeats": p.repeats,
        "failed_repeats": p.failed_repeats,
        "throughput_median_per_s": tput.median_per_s if tput else None,
        "throughput_ci95_low_per_s": tput.ci95_low_per_s if tput else None,
        "throughput_ci95_high_per_s": tput.ci95_high_per_s if tput else None,
        "throughput_cv": tput.cv if tput else None,
        "throughput_values_per_s": " ".join(f"{v:.6g}" for v in tput.values_per_s) if tput else "",
        "steady_throughput_per_s": p.steady_throughput_per_s,
        "ceiling_per_s": p.ceiling_per_s,
        "efficiency": p.efficiency,
        "service_p50_s": p.service_p50_s,
        "service_p99_s": p.service_p99_s,
        "wait_p50_s": p.wait_p50_s,
        "wait_p99_s": p.wait_p99_s,
        "sojourn_p50_s": p.sojourn_p50_s,
        "sojourn_p99_s": p.sojourn_p99_s,
        "mean_concurrency": p.mean_concurrency,
        "max_concurrency": p.max_concurrency,
        "worker_cpu_cores": p.worker_cpu_cores,
        "worker_uss_peak_bytes": p.worker_uss_peak_bytes,
        "worker_pss_peak_bytes": p.worker_pss_peak_bytes,
        "warnings": "; ".join(p.warnings),
        "predicted_per_s": p.predicted_per_s,
        "recycles": p.recycles,
        "tree_kib_per_task": p.tree_kib_per_task,
    }


def render(summary: SweepSummary) -> str:
    """The CSV text (RFC 4180, a header row first) of a SweepSummary."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for point in summary.points:
        row = _row(point)
        writer.writerow([_cell(row[column]) for column in COLUMNS])
    return out.getvalue()

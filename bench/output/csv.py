"""points.csv: one row per point of a sweep, for people's own spreadsheets."""

import csv
import io

COLUMNS = (
    "key", "workload", "task_ms", "pool", "concurrency", "cores", "cpus", "repeats", "failed_repeats",
    "throughput_median_per_s", "throughput_ci95_low_per_s", "throughput_ci95_high_per_s", "throughput_cv",
    "throughput_values_per_s", "steady_throughput_per_s", "ceiling_per_s", "efficiency",
    "service_p50_s", "service_p99_s", "wait_p50_s", "wait_p99_s", "sojourn_p50_s", "sojourn_p99_s",
    "mean_concurrency", "max_concurrency", "worker_cpu_cores", "worker_uss_peak_bytes", "worker_pss_peak_bytes",
    "warnings",
)  # fmt: skip


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def render(summary):
    """The CSV text (RFC 4180, a header row first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for p in summary["points"]:
        tput = p.get("throughput_per_s") or {}
        row = {
            **p,
            "cpus": " ".join(map(str, p["cpus"])) if p["cpus"] else "",
            "throughput_median_per_s": tput.get("median"),
            "throughput_ci95_low_per_s": tput.get("ci95_low"),
            "throughput_ci95_high_per_s": tput.get("ci95_high"),
            "throughput_cv": tput.get("cv"),
            "throughput_values_per_s": " ".join(f"{v:.6g}" for v in tput.get("values", [])),
            "warnings": "; ".join(p.get("warnings", [])),
        }
        writer.writerow([_cell(row.get(column)) for column in COLUMNS])
    return out.getvalue()

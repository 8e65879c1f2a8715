"""Celery's per-task cost per pool, as a person reads it."""

from __future__ import annotations

from bench.results.overheads import Calibration


def overheads_table(cal: Calibration, path: str | None = None) -> str:
    lines = [
        f"Celery's own cost per task on this machine ({cal.broker}; measured {cal.measured_utc}):",
        f"  {'pool':<9} {'-c':>4} {'no-ops/s':>9} {'dispatch':>9} {'worker CPU':>11} {'main':>8} "
        f"{'broker+harness':>15}",
    ]
    for p in cal.pools:
        other = (p.broker_cpu_per_task_s or 0.0) + p.harness_cpu_per_task_s
        lines.append(
            f"  {p.pool:<9} {p.concurrency:>4} {p.noop_per_s:>9.0f} {1e3 / p.noop_per_s:>7.3f}ms "
            f"{p.worker_cpu_per_task_s * 1e3:>9.3f}ms {p.main_cpu_per_task_s * 1e3:>6.3f}ms {other * 1e3:>13.3f}ms"
        )
    lines.append(
        "  dispatch = 1 / no-op rate: the serial cost of a task in the process that hands tasks out; "
        "CPU columns per task"
    )
    if path:
        lines.append(f"  cached in {path} (measured again when the machine, packages or broker change)")
    return "\n".join(lines)

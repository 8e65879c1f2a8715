"""A run's memory growth and its test workloads' draw, in words for the
terminal (the numbers are in summary.memory_growth and config.stuck)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.analysis.memory import includes_zero
from bench.harness.sizes import size_words
from bench.results.schema import MemoryGrowth, ProcessMemory, RunSettings, SeriesFigures

LISTED = 6  # processes shown one by one; the rest are in the document


def _slope(kib: float | None, ci: tuple[float, float] | None, unit: str = "task") -> str:
    if kib is None or ci is None:
        return "-"
    none = " (no growth told apart from none)" if includes_zero(ci) else ""
    return f"{kib:+.3g} KiB/{unit} (95% CI {ci[0]:+.3g} to {ci[1]:+.3g}){none}"


def _per_hour(p: ProcessMemory) -> str:
    if p.kib_per_hour is None:
        return ""
    if abs(p.kib_per_hour) < 1024:  # under a MiB an hour: in KiB, not "+0.0 MiB"
        return f", {p.kib_per_hour:+,.3g} KiB/hour"
    return f", {p.kib_per_hour / 1024:+,.1f} MiB/hour"


def _who(p: ProcessMemory) -> str:
    role = "main" if p.main else "child"
    life = ""
    if p.born_s:
        life += f", born at {p.born_s:.1f} s"
    if p.died_s is not None:
        life += f", gone at {p.died_s:.1f} s"
    return f"{role} {p.pid} (worker {p.node}, {p.tasks} tasks{life})"


def memory_lines(
    growth: MemoryGrowth | None, max_tasks_per_child: int = 0, max_memory_per_child_kib: int = 0
) -> list[str]:
    """The tree's USS growth per task (and PSS, per 1,000 tasks, per hour),
    each process's, and the pool processes recycled and what that cost."""
    if growth is None:
        return []
    tree = growth.tree
    lines = [
        f"  memory growth   tree USS {_slope(tree.kib_per_task, tree.ci95)}{_per_hour(tree)}; "
        f"PSS {_slope(tree.pss_kib_per_task, tree.pss_ci95)} "
        f"(Theil-Sen over {growth.snapshots} samples, every {growth.interval_s:.2g} s)"
    ]
    for p in growth.processes[:LISTED]:
        lines.append(f"    {_who(p)}: USS {_slope(p.kib_per_task, p.ci95)}{_per_hour(p)}")
    more = len(growth.processes) - LISTED
    if more > 0:
        lines.append(f"    ... {more} more processes in the run's document (summary.memory_growth)")
    if growth.unfitted:
        lines.append(f"    {growth.unfitted} short-lived processes sampled fewer than 3 times: not fitted")
    own = growth.harness
    if own is not None:
        lines.append(f"    the harness {own.pid}: RSS {_slope(own.kib_per_task, own.ci95)}{_per_hour(own)}")
    if growth.recycles or max_tasks_per_child or max_memory_per_child_kib:
        given = [f"--max-tasks-per-child {max_tasks_per_child}"] if max_tasks_per_child else []
        if max_memory_per_child_kib:
            given.append(f"--max-memory-per-child {size_words(max_memory_per_child_kib * 1024)}")
        setting = f" ({', '.join(given)})" if given else ""
        cost = ""
        if growth.replacement_first_task_p50_s is not None and growth.replacement_first_task_max_s is not None:
            cost = (
                f"; a slot waited {growth.replacement_first_task_p50_s * 1000:.0f} ms (median, longest "
                f"{growth.replacement_first_task_max_s * 1000:.0f} ms) from a replaced process's last task "
                "to its replacement's first"
            )
        if growth.replacement_idle_share is not None:
            cost += (
                f"; {growth.replacement_idle_share:.1%} of the pool's slot time left idle so (a slot-bound "
                "workload's throughput lost)"
            )
        lines.append(f"  recycled        {growth.recycles} pool processes replaced in the window{setting}{cost}")
    return lines


def stuck_line(cfg: RunSettings, published: int | None) -> list[str]:
    """The stuck workload's draw: how many tasks were made to block."""
    stuck = cfg.stuck
    if stuck is None:
        return []
    return [
        f"  stuck tasks     {stuck.tasks} of {published} drawn to wait {stuck.blocked_ms:g} ms "
        f"(--stuck-p {stuck.p:g}, --seed {stuck.seed}): each one whose slots all wait is a stall"
    ]


def series_line(series: SeriesFigures | None) -> list[str]:
    """Where the per-second series is, and its stall seconds."""
    if series is None:
        return []
    stalls = (
        f"{series.stall_seconds} with nothing completed while tasks were in flight (longest {series.longest_stall_s} s)"
        if series.stall_seconds
        else "none without a completion while tasks were in flight"
    )
    lines = [f"  per second      {series.seconds} s in {series.file}; {stalls}"]
    if series.first_tenth_per_s is not None and series.last_tenth_per_s is not None:
        lines.append(
            f"  drift           {series.first_tenth_per_s:.1f} tasks/s over the first tenth of the seconds, "
            f"{series.last_tenth_per_s:.1f} over the last"
        )
    dip = recycle_dip(series)
    if dip is not None:
        lines.append(f"  recycle seconds {dip}")
    return lines


def recycle_dip(series: SeriesFigures) -> str | None:
    """What the seconds with a recycle completed against the others, in
    words; None when no second had one."""
    hit, rest = series.recycle_second_per_s, series.other_second_per_s
    if not series.recycle_seconds or hit is None:
        return None
    seconds = f"{series.recycle_seconds} s with a pool process replaced (its second and the one before)"
    if rest is None:
        return f"{seconds} completed {hit:.1f} tasks/s: every second had one (a sweep against recycling off prices it)"
    change = f" ({hit / rest - 1:+.0%})" if rest else ""
    return f"{seconds} completed {hit:.1f} tasks/s, the others {rest:.1f}{change}"


def soak_lines(cfg: RunSettings) -> list[str]:
    """A soak's shape: how long, how many tasks kept in flight."""
    if cfg.soak is None:
        return []
    if cfg.soak.backlog is None:
        shape = "at the rate of the open loop below"
    else:
        shape = f"keeping {cfg.soak.backlog} tasks in flight"
    return [
        f"  soak            {cfg.soak.duration_s:g} s {shape}, then drained "
        "(latency percentiles within 1%, from histograms)"
    ]


def live_line(row: Mapping[str, Any], seconds_total: int | None = None) -> str:
    """A soak's last second, for the live view: `t 125/600 s  185/s  in
    flight 100  ready 12  sojourn p50 484 ms p99 540 ms  workers 48.1 MiB
    USS  harness 155.0 MiB`."""
    t = f"t {row['t_s'] + 1}" + (f"/{seconds_total}" if seconds_total else "") + " s"
    parts = [t, f"{row['completions']}/s", f"in flight {row['in_flight']}"]
    if row.get("queue_depth") is not None:
        parts.append(f"ready {row['queue_depth']}")
    if row.get("sojourn_p50_s") is not None:
        parts.append(f"sojourn p50 {row['sojourn_p50_s'] * 1000:.0f} ms p99 {row['sojourn_p99_s'] * 1000:.0f} ms")
    uss = [proc["uss_bytes"] for proc in row.get("memory") or () if proc.get("uss_bytes") is not None]
    if uss:
        parts.append(f"workers {sum(uss) / 2**20:.1f} MiB USS")
    if row.get("harness_rss_bytes"):
        parts.append(f"harness {row['harness_rss_bytes'] / 2**20:.1f} MiB")
    if row.get("stall"):
        parts.append("STALL")
    return "  ".join(parts)

"""What the agents send home, made the run's: their records on the harness's
clock, their resources summed, and the fleet's ceiling."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from bench.analysis.stats import TaskRecord
from bench.fleet.clock import Offset
from bench.fleet.control import AgentInfo
from bench.measure.config import RunConfig
from bench.results.schema import Resources
from bench.results.words import host_words
from bench.workloads import Ceiling, Workload, ceiling

N = TypeVar("N", int, float)


def host_ceiling(workload: Workload, cfg: RunConfig, infos: Mapping[str, AgentInfo]) -> Ceiling:
    """The fleet's ceiling: the sum of each host's (its own cores)."""
    bounds = [ceiling(workload, cfg.pool, cfg.concurrency, cfg.task_ms, infos[n].cores) for n in infos]
    per_s = [b.per_s for b in bounds if b.per_s is not None]
    if len(per_s) < len(bounds):
        return Ceiling(None, bounds[0].basis)
    return Ceiling(sum(per_s), f"sum over {host_words(len(bounds))} of: {bounds[0].basis}")


def to_records(raw: Iterable[Mapping[str, Any]], published: Mapping[str, float], offset: Offset) -> list[TaskRecord]:
    """An agent's records as TaskRecords on the harness's clock."""
    return [
        TaskRecord(
            id=r["id"],
            published=published[r["id"]],
            started=offset.to_harness(r["started"]),
            finished=offset.to_harness(r["finished"]),
            state=r["state"],
            pid=r["pid"],
            error=r.get("error"),
        )
        for r in raw
        if r.get("id") in published
    ]


def fleet_resources(
    by_host: Sequence[Resources], infos: Mapping[str, AgentInfo], here: Resources | None = None
) -> Resources | None:
    """The run's resources from each host's (Resources sampled by the
    agents): CPU seconds, cores busy, processes and context switches add
    up; memory is the sum of each host's peak (hosts peak apart, so it
    bounds the fleet's peak from above); the share of usable cores is of
    all the hosts' cores. `here`: the harness's own sample, for its CPU and
    the broker's. None when no host sent any (an older agent)."""
    if not by_host:
        return None

    def total(values: Sequence[N | None]) -> N | None:
        """The sum, or None when a host has none."""
        known = [v for v in values if v is not None]
        return sum(known) if len(known) == len(values) else None

    cores_busy = total([r.worker_cpu_cores for r in by_host])
    cores = sum(info.cores for info in infos.values())
    return Resources(
        window_s=max((r.window_s for r in by_host if r.window_s is not None), default=None),
        worker_cpu_s=total([r.worker_cpu_s for r in by_host]),
        worker_cpu_cores=cores_busy,
        worker_cpu_percent_of_usable=100.0 * cores_busy / cores if cores_busy is not None and cores else None,
        worker_main_cpu_s=total([r.worker_main_cpu_s for r in by_host]),
        worker_uss_peak_bytes=total([r.worker_uss_peak_bytes for r in by_host]),
        worker_pss_peak_bytes=total([r.worker_pss_peak_bytes for r in by_host]),
        worker_rss_peak_bytes=total([r.worker_rss_peak_bytes for r in by_host]),
        worker_processes=total([r.worker_processes for r in by_host]),
        worker_ctx_switches_voluntary=total([r.worker_ctx_switches_voluntary for r in by_host]),
        worker_ctx_switches_involuntary=total([r.worker_ctx_switches_involuntary for r in by_host]),
        harness_cpu_s=here.harness_cpu_s if here is not None else None,
        broker_cpu_s=here.broker_cpu_s if here is not None else None,
        samples=min((r.samples for r in by_host if r.samples is not None), default=None),
        per_worker=(),  # per host: in `hosts`
    )

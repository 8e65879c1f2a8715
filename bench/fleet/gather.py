"""What the agents send home, made the run's: their records on the harness's
clock, their resources summed, and the fleet's ceiling."""

from bench.analysis.stats import TaskRecord
from bench.results.schema import Resources
from bench.results.words import host_words
from bench.workloads import Ceiling, ceiling


def host_ceiling(workload, cfg, infos):
    """The fleet's ceiling: the sum of each host's (its own cores)."""
    bounds = [ceiling(workload, cfg.pool, cfg.concurrency, cfg.task_ms, infos[n].cores) for n in infos]
    if any(b.per_s is None for b in bounds):
        return Ceiling(None, bounds[0].basis)
    return Ceiling(sum(b.per_s for b in bounds), f"sum over {host_words(len(bounds))} of: {bounds[0].basis}")


def to_records(raw, published, offset):
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


def fleet_resources(by_host, infos, here=None):
    """The run's resources from each host's (Resources sampled by the
    agents): CPU seconds, cores busy, processes and context switches add
    up; memory is the sum of each host's peak (hosts peak apart, so it
    bounds the fleet's peak from above); the share of usable cores is of
    all the hosts' cores. `here`: the harness's own sample, for its CPU and
    the broker's. None when no host sent any (an older agent)."""
    if not by_host:
        return None

    def total(name):
        values = [getattr(r, name) for r in by_host]
        return None if any(v is None for v in values) else sum(values)

    cores_busy = total("worker_cpu_cores")
    cores = sum(info.cores for info in infos.values())
    return Resources(
        window_s=max((r.window_s for r in by_host if r.window_s is not None), default=None),
        worker_cpu_s=total("worker_cpu_s"),
        worker_cpu_cores=cores_busy,
        worker_cpu_percent_of_usable=100.0 * cores_busy / cores if cores_busy is not None and cores else None,
        worker_uss_peak_bytes=total("worker_uss_peak_bytes"),
        worker_pss_peak_bytes=total("worker_pss_peak_bytes"),
        worker_rss_peak_bytes=total("worker_rss_peak_bytes"),
        worker_processes=total("worker_processes"),
        worker_ctx_switches_voluntary=total("worker_ctx_switches_voluntary"),
        worker_ctx_switches_involuntary=total("worker_ctx_switches_involuntary"),
        harness_cpu_s=here.harness_cpu_s if here is not None else None,
        broker_cpu_s=here.broker_cpu_s if here is not None else None,
        samples=min((r.samples for r in by_host if r.samples is not None), default=None),
        per_worker=(),  # per host: in `hosts`
    )

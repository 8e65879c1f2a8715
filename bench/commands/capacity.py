"""`python -m bench capacity`: the point's drain throughput, then a search
over arrival rates for the highest one that meets the latency objective."""

import dataclasses

from bench.analysis import capacity
from bench.commands import CapacityRequest
from bench.fleet import remote
from bench.fleet.options import secret_from_env
from bench.harness.broker import Broker
from bench.measure import openloop, runner
from bench.measure.config import RunConfig, default_tasks
from bench.measure.schedule import Schedule
from bench.output.openloop import capacity_summary
from bench.results.io import write_atomic
from bench.results.schema import SCHEMA_VERSION


def execute(request: CapacityRequest) -> int:
    cfg = request.config
    schedule = cfg.schedule
    assert schedule is not None, "a capacity point is open loop (CapacityRequest.config)"
    objectives = request.objectives
    secret = secret_from_env() if cfg.hosts else None  # checked by the CLI
    with runner.services_for(cfg) as (broker, stub):
        drain_rate = drain_throughput(cfg, broker, stub, secret)
        print(f"drain throughput: {drain_rate:.1f} tasks/s; searching rates from there", flush=True)

        def measure(rate: float) -> list[capacity.Repeat]:
            repeats = []
            for i in range(request.repeats):
                point = at_rate(cfg, rate, seed=i)
                if secret is not None:  # --hosts: the producer here, the workers on the agents (bench/fleet)
                    result = remote.measure_on_hosts(point, broker, secret).result
                else:
                    result = openloop.measure(point, broker, stub).result
                ol = result.open_loop
                assert ol is not None, "a measured open-loop run has its open-loop summary"
                repeats.append(
                    capacity.Repeat(
                        sojourn_s={o.key: ol[f"sojourn_{o.key}_s"] for o in objectives},
                        producer_limited=ol["producer_limited"],
                    )
                )
                print(f"  {rate:.1f} tasks/s #{i + 1}: " + _one_line(ol, objectives), flush=True)
            return repeats

        found = capacity.search(measure, drain_rate, objectives, max_rates=request.max_rates)
    result = {
        "schema_version": SCHEMA_VERSION,
        "kind": "capacity",
        "point": {
            "pool": cfg.pool,
            "concurrency": cfg.concurrency,
            "workload": cfg.workload,
            "task_ms": cfg.task_ms,
            "arrival": schedule.arrival,
            "duration_s": schedule.duration_s,
            "warmup_s": schedule.warmup_s,
            "hosts": list(cfg.hosts) if cfg.hosts else None,
        },
        "objectives": [
            {"percentile_label": o.label, "percentile": o.percentile, "limit_s": o.limit_s} for o in objectives
        ],
        "drain_throughput_per_s": drain_rate,
        "repeats_per_rate": request.repeats,
        **capacity.as_fields(found, objectives),
        "recommendation": capacity.recommendation(found, objectives, cfg.pool, cfg.concurrency, drain_rate),
    }
    path = write_atomic(cfg.output_dir / f"capacity-{runner.new_run_id()}-{cfg.pool}-c{cfg.concurrency}.json", result)
    print()
    print(capacity_summary(result))
    print(f"\nresult: {path}")
    return 0 if found.rate_per_s is not None else 1


def drain_throughput(cfg: RunConfig, broker: Broker, stub: str | None, secret: bytes | None = None) -> float:
    """The point's steady drain throughput, from one short pre-filled batch
    (about 3 s of work): the search's starting rate. `secret`: given on agents (--hosts)."""
    tasks = default_tasks(cfg.workload, cfg.pool, cfg.concurrency, cfg.task_ms, cfg.cores, window_s=3.0)
    drain_cfg = dataclasses.replace(cfg, schedule=None, tasks=tasks, warmup=max(5, cfg.concurrency))
    if secret is not None:
        s = remote.measure_on_hosts(drain_cfg, broker, secret).result.summary
    else:
        s = runner.measure(drain_cfg, broker, stub).result.summary
    # a batch that did not complete raised FailedRun: a measured one has its throughput
    assert s is not None
    assert s.throughput_per_s is not None
    return s.steady_throughput_per_s or s.throughput_per_s


def at_rate(cfg: RunConfig, rate: float, seed: int) -> RunConfig:
    old = cfg.schedule
    assert old is not None, "a capacity point is open loop"
    schedule = Schedule(rate, old.arrival, old.warmup_s, old.duration_s, seed)
    return dataclasses.replace(cfg, schedule=schedule, tasks=len(schedule.offsets()), warmup=0)


def _one_line(ol, objectives):
    parts = [f"{o.label} {ol[f'sojourn_{o.key}_s'] * 1000:.1f} ms" for o in objectives if ol[f"sojourn_{o.key}_s"]]
    parts.append(f"backlog {ol['backlog_at_end']}")
    if ol["producer_limited"]:
        parts.append("PRODUCER-LIMITED")
    return ", ".join(parts)

"""Measure Celery's own per-task cost per pool on this machine (no-op tasks
in fresh workers, through the same runner as `run`), or take it from the
cache when this machine, its packages and the broker have not changed."""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from bench.harness import machine
from bench.harness.broker import Broker
from bench.measure import runner
from bench.measure.config import RunConfig, build_run_config
from bench.results.overheads import Calibration, PoolOverhead, cached, calibration_key, store

NOOP_WINDOW_S = 1.5  # the measured window of each no-op run, at the expected rate
REPEATS = 3


def noop_concurrencies(pool: str, cores: float) -> tuple[int, ...]:
    """The -c values of a pool's no-op runs: the low and the high end of a
    sweep's default range, interpolated between. Prefork's parent pays per
    task for every child it polls (1,255 no-ops/s at -c 2, 1,058 at -c 16
    here); threads pay for the interpreter lock's handoffs among more threads."""
    whole = max(1, int(cores))
    if pool == "prefork":
        return (whole, 8 * whole)
    return (1,) if pool == "solo" else (16, 256)


def key_for(broker: Broker) -> dict:
    return calibration_key(machine.describe(), broker.kind, broker.server)


def lookup(broker: Broker, cache: Path | None = None) -> Calibration | None:
    """The cached calibration for this machine and `broker`, if any."""
    return cached(key_for(broker), cache)


def calibrate(
    pools: Iterable[str],
    broker: Broker,
    cache: Path | None = None,
    refresh: bool = False,
    say: Callable[[str], None] = lambda line: None,
    repeats: int = REPEATS,
) -> Calibration:
    """The overheads of `pools`: the cached ones, and the missing ones (all
    of `pools` with `refresh`) measured now and added to the cache, beside
    the other pools cached for this key."""
    pools = list(pools)
    key = key_for(broker)
    have = cached(key, cache)
    known: dict[str, list[PoolOverhead]] = {}
    for p in have.pools if have is not None else ():
        if not (refresh and p.pool in pools):  # --refresh-overheads measures the pools asked for again
            known.setdefault(p.pool, []).append(p)
    missing = [p for p in pools if p not in known]
    if missing:
        say(f"measuring Celery's per-task cost ({', '.join(missing)}): no-op tasks, {repeats} runs per pool")
    cores = machine.usable_cores()
    for pool in missing:
        known[pool] = [measure_pool(pool, c, broker, repeats) for c in noop_concurrencies(pool, cores)]
        for m in known[pool]:
            say(
                f"  {pool:<9} -c {m.concurrency:<3} {m.noop_per_s:7.0f} no-ops/s, "
                f"{m.worker_cpu_per_task_s * 1e3:.2f} ms worker CPU per task"
            )
    cal = Calibration(
        key,
        dt.datetime.now(dt.UTC).isoformat(timespec="seconds") if missing or have is None else have.measured_utc,
        f"{broker.server}, {'embedded' if broker.embedded else 'yours'}",
        tuple(m for pool in sorted(known) for m in known[pool]),
    )
    if missing:
        store(cal, cache)
    return cal


def noop_config(pool: str, concurrency: int, broker: Broker, json_path: Path) -> RunConfig:
    return build_run_config(
        pool=pool,
        concurrency=concurrency,
        workload="noop",
        tasks=max(500, round(NOOP_WINDOW_S * 1000)),
        broker=None if broker.embedded else broker.url,
        json_path=json_path,
        output_dir=json_path.parent,
    )


def measure_pool(pool: str, concurrency: int, broker: Broker, repeats: int = REPEATS) -> PoolOverhead:
    """`repeats` no-op runs of `pool` at -c `concurrency`, each in a fresh worker."""
    rates: list[float] = []
    worker: list[float] = []
    main: list[float] = []
    broker_cpu: list[float] = []
    harness: list[float] = []
    task_cpu: list[float] = []
    cfg = None
    with tempfile.TemporaryDirectory(prefix="celery-bench-overheads-") as tmp:
        for i in range(repeats):
            cfg = noop_config(pool, concurrency, broker, Path(tmp) / f"{pool}-{i}.json")
            s = runner.measure(cfg, broker).result.summary
            # runner.measure raises unless every task was measured: a summary with its resources and rates
            assert s is not None
            assert s.resources is not None
            assert s.tasks.succeeded
            rate = s.steady_throughput_per_s or s.throughput_per_s
            assert rate is not None
            r, n = s.resources, s.tasks.succeeded
            rates.append(rate)
            # The resources cover the sampler's window, which the batch's window lies in.
            worker.append((r.worker_cpu_s or 0.0) / n)
            main.append((r.worker_main_cpu_s or 0.0) / n)
            harness.append((r.harness_cpu_s or 0.0) / n)
            if r.broker_cpu_s is not None:
                broker_cpu.append(r.broker_cpu_s / n)
            if s.task_cpu is not None and s.task_cpu.attribution == "thread" and s.task_cpu.p50_s is not None:
                task_cpu.append(s.task_cpu.p50_s)
    assert cfg is not None
    return PoolOverhead(
        pool=pool,
        concurrency=cfg.concurrency,
        repeats=repeats,
        tasks=cfg.tasks,
        noop_per_s=statistics.median(rates),
        noop_values_per_s=tuple(rates),
        worker_cpu_per_task_s=statistics.median(worker),
        main_cpu_per_task_s=statistics.median(main),
        broker_cpu_per_task_s=statistics.median(broker_cpu) if broker_cpu else None,
        harness_cpu_per_task_s=statistics.median(harness),
        task_cpu_s=statistics.median(task_cpu) if task_cpu else None,
    )

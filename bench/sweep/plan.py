"""The plan of a sweep: which points, with how many tasks each, and the run
config of each repeat. Pure functions of the options (config.py) and the
machine's core count; its time estimate is bench/analysis/estimate.py, its
words bench/output/plan.py."""

import itertools
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.analysis.recycling import RECYCLING_AXES
from bench.errors import UsageError
from bench.harness import machine
from bench.measure.config import (
    DEFAULT_WORKLOAD,
    MAX_TASKS,
    USER_TASK_WORKLOAD,
    DeployPlan,
    RunConfig,
    build_run_config,
    check_pools,
    check_task_ms,
    check_workloads,
    default_tasks,
    default_warmup,
    deploy_plan,
    deploy_window_s,
    run_workload,
)
from bench.measure.settings import parse_value
from bench.measure.traffic import Traffic
from bench.results.words import recycles_nothing_words
from bench.sweep.config import PROFILES, Profile, SweepConfig
from bench.sweep.point import NamedTask, Point
from bench.workloads import MIX_WORKLOAD, WORKLOADS, expected_rate, mix_workload


def default_concurrency(pool: str, cores: float, step: int = 2) -> list[int]:
    """-c values for a pool on `cores` cores, on a log scale: always 1, the
    core count and twice it; prefork up to 8x cores, the green pools (whose
    workers are greenlets) and threads into the hundreds (Celery's threads
    pool is a ThreadPoolExecutor of -c threads); solo only 1, since it runs one
    task at a time whatever -c says. Past 2x cores, -c grows `step`-fold."""
    if pool == "solo":
        return [1]
    cores = max(1, int(cores))
    top = 8 * cores if pool == "prefork" else max(256, 32 * cores)
    values = {1, cores, 2 * cores, top}
    values.update(2**k for k in range(int(math.log2(2 * cores)) + 1))
    value = 2 * cores
    while value <= top:
        values.add(value)
        value *= step
    return sorted(v for v in values if v <= top)


MIX_TASKS_PER_CLASS = 2  # a mix's drained batch holds at least this many tasks of its rarest class


def mix_of(traffic: Traffic) -> tuple[tuple[str, float | None, float], ...]:
    """A mix's classes as a point holds them: (workload, mean ms, share)."""
    return tuple((c.workload, c.mean_ms, c.share) for c in traffic.classes)


def pinned_cpus(count: int, available: Iterable[int]) -> tuple[int, ...]:
    """The last `count` of the available CPU ids, so the harness and the
    broker can keep the first ones to themselves."""
    available = sorted(available)
    if not 1 <= count <= len(available):
        raise UsageError(f"--cpus: {count} is not between 1 and the {len(available)} CPUs this process may use")
    return tuple(available[-count:])


def variants(vary: Iterable[tuple[str, Iterable[str]]] = ()) -> list[tuple[int, tuple[tuple[str, str], ...]]]:
    """Every combination of the varied settings, as (workers, other settings):
    `vary` is ((name, (value, ...)), ...); the axes cross."""
    axes = [[(name, v) for v in values] for name, values in vary]
    out = []
    for combo in itertools.product(*axes):
        workers = next((int(v) for n, v in combo if n == "workers"), 1)
        out.append((workers, tuple((n, v) for n, v in combo if n != "workers")))
    return out


def build_plan(
    pools: Sequence[str],
    workloads: Sequence[str],
    profile: Profile,
    cores: float,
    available_cpus: Iterable[int],
    concurrency: Sequence[int] | None = None,
    task_ms: float | None = None,
    cpu_counts: Iterable[int] | None = None,
    user_task: str | None = None,
    task_profile: tuple[float, float] | None = None,
    overhead: bool = False,
    vary: Iterable[tuple[str, Iterable[str]]] = (),
    host_counts: Iterable[int] | None = None,
    cpu_limit: float | None = None,
    min_window_s: Callable[[int], float] = lambda _workers: 0.0,
    traffic: Traffic | None = None,
) -> list[Point]:
    """Every point of the sweep, in a stable order (runs are shuffled later).
    With `user_task` (its name), the one workload is that task, sized by
    `task_profile` (CPU s, waiting s) when there is one. `overhead`: add one
    noop point per pool (a new sweep's default matrix). `vary`: the --vary
    axes, ((name, (value as written, ...)), ...). `host_counts`: each point
    once per count k, on the first k agents (its tasks scaled by k, so the
    window keeps its length on k hosts). `cpu_limit`: each worker's CPU
    quota, cores (the sweep's --cpu-limit; a varied cpu_limit replaces it),
    which sizes the batches. `min_window_s(workers)`: each batch is sized
    for at least this long (a deploy event's batch outlasts it).
    `traffic`: the one workload is that mix (workload "mix"), its batch
    sized by the classes' weighted demands and holding a few of its
    rarest class."""
    if traffic is not None:
        return _mix_plan(pools, profile, cores, available_cpus, concurrency, cpu_counts, vary, cpu_limit, traffic)
    if user_task is not None:
        return _user_plan(pools, profile, cores, available_cpus, concurrency, cpu_counts, user_task, task_profile)
    check_pools(pools, "--pools")
    check_workloads(workloads, "--workloads")
    check_task_ms(task_ms, workloads)
    placements = [(None, cores)] if not cpu_counts else [(pinned_cpus(n, available_cpus), float(n)) for n in cpu_counts]
    points = []
    for cpus, point_cores in placements:
        for name in workloads:
            workload = WORKLOADS[name]
            size = (task_ms if task_ms is not None else workload.default_task_ms) if workload.sized else None
            for pool in pools:
                values = (
                    [1] if pool == "solo" else (concurrency or default_concurrency(pool, point_cores, profile.stride))
                )
                for c in values:
                    for (workers, varied), hosts in itertools.product(variants(vary), host_counts or (None,)):
                        # Each host has cores of its own: k hosts take k times one host's batch.
                        window = max(profile.window_s, min_window_s(workers))
                        quota = _varied_cpu_limit(varied, cpu_limit)
                        tasks = default_tasks(
                            name, pool, c, size, point_cores, window_s=window, workers=workers, cpu_limit=quota
                        )
                        tasks *= hosts or 1
                        rate = expected_rate(workload, pool, c, size, point_cores, cpu_limit=quota)  # of one worker
                        warmup = default_warmup(pool, c, tasks, rate)
                        point = Point(
                            pool,
                            c,
                            name,
                            size,
                            cpus,
                            point_cores,
                            tasks,
                            warmup,
                            workers=workers,
                            settings=varied,
                            host_count=hosts,
                        )
                        points.append(point)
        if overhead and OVERHEAD_WORKLOAD not in workloads:
            # One noop point per pool: Celery's own per-task cost on this
            # machine, the second ceiling the report draws and divides by.
            for pool in pools:
                c = overhead_concurrency(pool, point_cores)
                window = max(profile.window_s, min_window_s(1))
                tasks = default_tasks(
                    OVERHEAD_WORKLOAD, pool, c, None, point_cores, window_s=window, cpu_limit=cpu_limit
                )
                rate = expected_rate(WORKLOADS[OVERHEAD_WORKLOAD], pool, c, None, point_cores, cpu_limit=cpu_limit)
                warmup = default_warmup(pool, c, tasks, rate)
                points.append(Point(pool, c, OVERHEAD_WORKLOAD, None, cpus, point_cores, tasks, warmup))
    return points


def _varied_cpu_limit(varied: Iterable[tuple[str, str]], cpu_limit: float | None) -> float | None:
    """A point's CPU quota: its varied cpu_limit, else the sweep's."""
    for name, text in varied:
        if name == "cpu_limit":
            value = parse_value(name, text)
            assert isinstance(value, float)  # a cpu_limit parses to cores
            return value
    return cpu_limit


OVERHEAD_WORKLOAD = "noop"


def overhead_concurrency(pool: str, cores: float) -> int:
    """The -c of a pool's noop point: one process per core for prefork (a
    noop is all CPU: more processes only contend), twice the cores for the
    pools of one process (enough prefetched tasks to keep it busy), 1 for solo."""
    if pool == "solo":
        return 1
    cores = max(1, int(cores))
    return cores if pool == "prefork" else 2 * cores


def _user_plan(pools, profile, cores, available_cpus, concurrency, cpu_counts, task, task_profile):
    check_pools(pools, "--pools")
    placements = [(None, cores)] if not cpu_counts else [(pinned_cpus(n, available_cpus), float(n)) for n in cpu_counts]
    spec = run_workload(USER_TASK_WORKLOAD, NamedTask(task), task_profile)
    size = spec.default_task_ms
    profile_pair = tuple(task_profile) if task_profile is not None else None
    points = []
    for cpus, point_cores in placements:
        for pool in pools:
            values = [1] if pool == "solo" else (concurrency or default_concurrency(pool, point_cores, profile.stride))
            for c in values:
                if size is not None:
                    rate = expected_rate(spec, pool, c, size, point_cores)
                    tasks = max(20, math.ceil(profile.window_s * rate), 4 * (1 if pool == "solo" else c))
                else:  # no profile: nothing says how long a call takes
                    tasks = max(20, 4 * (1 if pool == "solo" else c))
                    rate = 1000.0
                warmup = default_warmup(pool, c, tasks, rate)
                point = Point(pool, c, USER_TASK_WORKLOAD, size, cpus, point_cores, tasks, warmup, task, profile_pair)
                points.append(point)
    return points


def _mix_plan(pools, profile, cores, available_cpus, concurrency, cpu_counts, vary, cpu_limit, traffic):
    check_pools(pools, "--pools")
    mix = mix_of(traffic)
    spec = mix_workload(traffic.classes)
    size = spec.default_task_ms
    rarest = min(c.share for c in traffic.classes)
    placements = [(None, cores)] if not cpu_counts else [(pinned_cpus(n, available_cpus), float(n)) for n in cpu_counts]
    points = []
    for cpus, point_cores in placements:
        for pool in pools:
            values = [1] if pool == "solo" else (concurrency or default_concurrency(pool, point_cores, profile.stride))
            for c in values:
                for workers, varied in variants(vary):
                    quota = _varied_cpu_limit(varied, cpu_limit)
                    tasks = default_tasks(
                        MIX_WORKLOAD, pool, c, size, point_cores, profile.window_s, workers, quota, spec=spec
                    )
                    tasks = max(tasks, min(MAX_TASKS, math.ceil(MIX_TASKS_PER_CLASS / rarest)))
                    rate = expected_rate(spec, pool, c, size, point_cores, cpu_limit=quota)
                    warmup = default_warmup(pool, c, tasks, rate)
                    point = Point(
                        pool, c, MIX_WORKLOAD, size, cpus, point_cores, tasks, warmup,
                        workers=workers, settings=varied, mix=mix,
                    )  # fmt: skip
                    points.append(point)
    return points


def recycles_nothing(pool: str, settings: Iterable[tuple[str, str]]) -> bool:
    """Whether a point's `settings` set recycling above 0 (--vary
    max_tasks_per_child, max_memory_per_child) on a pool that has no pool
    processes to replace (every pool but prefork)."""
    return pool != "prefork" and any(name in RECYCLING_AXES and parse_value(name, text) for name, text in settings)


def left_out(cfg: SweepConfig) -> list[tuple[str, str, tuple[str, ...]]]:
    """What the plan leaves out (make_plan): (pool, setting, its values
    left out) for every pool that a recycling setting above 0 does nothing in."""
    out = []
    for pool in cfg.pools:
        for name, values in cfg.vary:
            dropped = tuple(text for text in values if recycles_nothing(pool, [(name, text)]))
            if dropped:
                out.append((pool, name, dropped))
    return out


def make_plan(cfg: SweepConfig, overhead: bool = False, cores: float | None = None) -> list[Point]:
    """The points of the sweep `cfg` on this machine (`cores`: on hosts
    with these usable cores instead); `overhead`: with one noop point per
    pool (a new sweep's report draws it as a second ceiling). Left out:
    a recycling setting above 0 on a pool other than prefork (left_out
    says so)."""
    return [p for p in _all_points(cfg, overhead, cores) if not recycles_nothing(p.pool, p.settings)]


def _all_points(cfg: SweepConfig, overhead: bool, cores: float | None) -> list[Point]:
    return build_plan(
        cfg.pools,
        cfg.workloads,
        PROFILES[cfg.profile],
        cores or machine.usable_cores(),
        sorted(os.sched_getaffinity(0)),
        concurrency=cfg.concurrency,
        task_ms=cfg.task_ms,
        cpu_counts=cfg.cpu_counts,
        vary=cfg.vary,
        host_counts=cfg.host_counts,
        cpu_limit=cfg.cpu_limit,
        overhead=overhead,
        min_window_s=lambda workers: deploy_window_s(sweep_deploy(cfg), workers),
        user_task=cfg.user_task.task if cfg.user_task is not None else None,
        task_profile=cfg.task_profile,
        traffic=cfg.traffic,
    )


def run_config_for(
    cfg: SweepConfig,
    point: Point,
    json_path: str | Path | None = None,
    rate: float | None = None,
    duration: float | None = None,
    seed: int = 0,
) -> RunConfig:
    """The validated config of one repeat of `point`, with the point's
    varied settings; `rate` (tasks/s, with `duration` s and the schedule's
    `seed`): open loop at that rate instead of the point's drain batch."""
    user = cfg.user_task is not None
    # run option -> value: the sweep's, then what the point's varied settings replace
    options: dict[str, Any] = dict(
        prefetch_multiplier=cfg.prefetch_multiplier,
        broker=cfg.broker_url,
        redis_server=cfg.redis_server,
        result_backend=cfg.result_backend,
        cpu_limit=cfg.cpu_limit,
        memory_limit=cfg.memory_limit,
        **cfg.deploy_options,
        acks_late=cfg.acks_late,
        reject_on_worker_lost=cfg.reject_on_worker_lost,
        soft_shutdown_timeout=cfg.soft_shutdown_timeout,
        visibility_timeout=cfg.visibility_timeout,
    )
    varied = point_settings(point)
    if varied.get("broker") is not None:
        options["redis_server"] = None  # the point's own broker, not the embedded one
    options.update(varied)
    mix = cfg.traffic
    tasks = point.tasks
    alone = dict(point.settings).get("alone", "none")
    if mix is not None and alone != "none":
        # the baseline: one class without the others, at its share of the rate (drained: its count in the batch)
        share = mix.share_of(alone)
        tasks = max(1, mix.counts(point.tasks)[mix.names.index(alone)])
        mix = mix.alone(alone)
        rate = None if rate is None else rate * share
    run_cfg = build_run_config(
        pool=point.pool,
        concurrency=point.concurrency,
        workload=DEFAULT_WORKLOAD if user or mix else point.workload,
        task_ms=None if user or mix else point.task_ms,
        user_task=cfg.user_task,
        app_info=cfg.app_info,
        task_profile=cfg.task_profile,
        tasks=tasks if rate is None else None,
        warmup=point.warmup if rate is None else None,
        rate=rate,
        arrival=cfg.arrival,
        duration=duration,
        seed=seed,
        json_path=json_path,
        force=cfg.force,
        cores=point.cores,
        cpus=point.cpus,
        workers=point.workers,
        **options,
        hosts=cfg.hosts,
        host_count=point.host_count,
        traffic=mix,
    )
    if run_cfg.traffic is not None:  # the mix is drawn with the sweep's seed, whatever seeds the schedule
        run_cfg = replace(run_cfg, traffic=replace(run_cfg.traffic, seed=cfg.seed))
    return run_cfg


# The run options a varied setting replaces (workers is the point's own field).
_RUN_OPTIONS = {
    "prefetch_multiplier": "prefetch_multiplier",
    "result_backend": "result_backend",
    "broker": "broker",
    "acks_late": "acks_late",
    "max_tasks_per_child": "max_tasks_per_child",
    "max_memory_per_child": "max_memory_per_child_kib",
    "cpu_limit": "cpu_limit",
    "memory_limit": "memory_limit",
    "reject_on_worker_lost": "reject_on_worker_lost",
    "soft_shutdown_timeout": "soft_shutdown_timeout",
    "visibility_timeout": "visibility_timeout",
    "optimization": "optimization",
    "disable_prefetch": "disable_prefetch",
    "eta_task_limit": "eta_task_limit",
    "routing": "routing",
}


def sweep_deploy(cfg: SweepConfig) -> DeployPlan | None:
    """The deploy event of every repeat of the sweep; None: none."""
    return deploy_plan(**cfg.deploy_options)


def point_broker(cfg: SweepConfig, point: Point) -> str | None:
    """The broker URL a point runs on (None: the embedded one)."""
    for name, text in point.settings:
        if name == "broker":
            url = parse_value(name, text)
            return url if isinstance(url, str) else None  # a broker's value is its URL, or None: embedded
    return cfg.broker_url


def point_settings(point: Point) -> dict[str, bool | int | float | str | None]:
    """The run options the point's varied settings set."""
    return {_RUN_OPTIONS[name]: parse_value(name, text) for name, text in point.settings if name != "alone"}


def plan_sweep(cfg: SweepConfig, cores: float | None = None) -> list[Point]:
    """The plan of a new sweep, every point's run options checked before
    anything starts (a -c above the safe limit is refused here, not an hour in).
    The default matrix (no --concurrency, no --task-ms) comes with one noop
    point per pool; a hand-picked matrix measures only what it names.
    `cores`: the usable cores of the hosts the workers run on (--hosts),
    when they are not this machine's."""
    # No noop points under a deploy event: their batch is over before anything can be struck.
    deployed = sweep_deploy(cfg) is not None
    plan = make_plan(cfg, overhead=cfg.concurrency is None and cfg.task_ms is None and not deployed, cores=cores)
    if not plan and left_out(cfg):
        pool, name, values = left_out(cfg)[0]
        raise UsageError(f"nothing to measure: {pool} with {name}={','.join(values)}: {recycles_nothing_words(pool)}")
    for point in plan:
        run_config_for(cfg, point)
    return plan

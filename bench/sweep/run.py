"""The loop of a sweep: every point of a plan, each measured in several fresh
workers, in shuffled rounds, every repeat saved the moment it exists,
resumable (the files are in store.py)."""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import psutil

from bench.analysis.stats import needs_more_repeats
from bench.errors import Interrupted
from bench.fleet.options import secret_from_env
from bench.harness import signals
from bench.harness.broker import Broker
from bench.measure import runner
from bench.measure.crew import Relay
from bench.results import sweeplock
from bench.results.schema import RunResult
from bench.sweep.config import SweepConfig
from bench.sweep.plan import point_broker, run_config_for
from bench.sweep.point import Point
from bench.sweep.repeat import measure_repeat
from bench.sweep.store import SweepDir

MAX_FAILURES_PER_POINT = 2  # then the sweep stops retrying that point
_ALL_CPUS = sorted(os.sched_getaffinity(0))  # the harness's own, before any pinning

# Called before each repeat (its document None) and after it: (sweep, config,
# plan, point, {"done": repeats done, "started": time.monotonic()}, document).
ProgressReport = Callable[[SweepDir, SweepConfig, list[Point], Point, dict[str, float], RunResult | None], None]


def remaining_repeats(cfg: SweepConfig, sweep: SweepDir, plan: list[Point]) -> int:
    """Repeats still planned: up to the minimum for every point, plus one for
    each point whose stopping rule asks for more beyond it."""
    left = 0
    for point in plan:
        attempts = sweep.attempts(point)
        if wants_more(cfg, attempts):
            left += max(1, cfg.min_repeats - len(attempts))
    return left


def throughputs(attempts: Iterable[tuple[Path, RunResult]]) -> list[float]:
    return [v for _, r in attempts if (v := r.measured_per_s) is not None]


def wants_more(cfg: SweepConfig, attempts: Sequence[tuple[Path, RunResult]]) -> bool:
    """The stopping rule of one point, given its finished repeats."""
    failures = sum(1 for _, r in attempts if not r.ok)
    if failures >= MAX_FAILURES_PER_POINT or len(attempts) >= cfg.max_repeats:
        return False
    return needs_more_repeats(throughputs(attempts), cfg.min_repeats, cfg.max_repeats, cfg.ci_target)


def _pin_others(worker_cpus, broker_pid):
    """Keep the harness and the embedded broker off the worker's CPUs when
    the machine has others; otherwise let them use every CPU."""
    every = set(_ALL_CPUS)
    others = sorted(every - set(worker_cpus or ())) or sorted(every)
    os.sched_setaffinity(0, others)
    if broker_pid:
        with contextlib.suppress(psutil.Error):
            psutil.Process(broker_pid).cpu_affinity(others)


@contextlib.contextmanager
def session(
    cfg: SweepConfig,
    plan: list[Point],
    target: SweepDir | None = None,
    output_dir: str | Path | None = None,
    plan_for: Callable[[Broker], list[Point]] | None = None,
) -> Iterator[tuple[SweepDir, Broker, str | None, list[Point]]]:
    """Yield (sweep directory, broker, stub server, plan) for a sweep, the
    directory locked to this process. A resumed sweep's directory is locked
    first, so a second writer is refused before anything starts; a new
    sweep's directory is made only once the broker answered, so a broker
    that is not there leaves no empty sweep behind. `plan_for(broker)`: a
    new sweep's plan made again once the broker is up (on agents, for their
    cores), before its directory exists, so agents that do not answer leave
    none behind either."""
    needs_stub = any(p.spec.needs_stub for p in plan)
    with contextlib.ExitStack() as stack:
        if target is not None:
            stack.enter_context(sweeplock.writer(target.path))
        broker, stub = stack.enter_context(
            runner.services(cfg.broker_url, cfg.redis_server, needs_stub, cfg.listen, cfg.listen_port, _secret(cfg))
        )
        if target is None:
            plan = plan_for(broker) if plan_for else plan
            assert output_dir is not None, "a new sweep needs its output_dir"
            target = SweepDir.create(output_dir, cfg, plan)
            stack.enter_context(sweeplock.writer(target.path))
        yield target, broker, stub, plan


def _secret(cfg):
    """The agents' secret when they find the sweep's own broker by it
    (--hosts with --listen ADDRESS:PORT), else None."""
    return secret_from_env() if cfg.hosts and cfg.listen_port else None


def complete(cfg: SweepConfig, sweep: SweepDir, plan: list[Point]) -> bool:
    """Every point has its minimum of successful repeats."""
    return all(len(throughputs(sweep.attempts(p))) >= cfg.min_repeats for p in plan)


def run_sweep(
    sweep: SweepDir,
    cfg: SweepConfig,
    plan: list[Point],
    report_progress: ProgressReport,
    broker: Broker,
    stub: str | None,
) -> None:
    """Measure every point until its stopping rule is met. Interrupted:
    everything measured is on disk and the manifest says how to resume."""
    sweep.write_manifest(cfg, plan, status="running")
    state = {"done": 0, "started": time.monotonic()}
    needs_stub = any(p.spec.needs_stub for p in plan)
    others = contextlib.ExitStack()  # the brokers of points that vary the broker, started when first needed
    brokers = {cfg.broker_url: (broker, stub)}
    relay = Relay()  # one repeat's workers stop while the next one's boot

    def services_for(point: Point) -> tuple[Broker, str | None]:
        url = point_broker(cfg, point)
        if url not in brokers:
            server = cfg.redis_server if url is None else None
            brokers[url] = others.enter_context(runner.services(url, server, needs_stub))
        return brokers[url]

    try:
        round_no = 0
        while True:
            todo = [p for p in plan if wants_more(cfg, sweep.attempts(p))]
            if not todo:
                break
            # Shuffled every round, so slow drift of the machine spreads
            # over all points instead of looking like a trend in -c.
            random.Random(f"{cfg.seed}-{round_no}").shuffle(todo)
            for point in todo:
                signals.raise_if_stopping()
                report_progress(sweep, cfg, plan, point, state, None)
                doc = _measure_repeat(sweep, cfg, point, *services_for(point), relay)
                state["done"] += 1
                report_progress(sweep, cfg, plan, point, state, doc)
            round_no += 1
    except (Interrupted, KeyboardInterrupt, Exception) as exc:
        if isinstance(exc, Exception) and not signals.stopping():
            raise
        sweep.write_manifest(cfg, plan, status="interrupted")
        raise Interrupted(
            f"sweep interrupted; everything measured is kept in {sweep.path}; "
            f"resume with: python -m bench sweep --resume {sweep.path}"
        ) from None
    finally:
        try:
            relay.close()  # before the brokers the last workers used go
        finally:
            others.close()
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, _ALL_CPUS)
    # Points that kept failing stop being retried: the sweep ended without them.
    sweep.write_manifest(cfg, plan, status="complete" if complete(cfg, sweep, plan) else "incomplete")


def _measure_repeat(sweep, cfg, point, broker, stub, relay=None):
    path = sweep.next_repeat_path(point)
    _pin_others(point.cpus, broker.pid)
    return measure_repeat(run_config_for(cfg, point), path, broker, stub, relay)

"""The benchmark suite's rig: a real Celery worker on the embedded broker,
started once per test before anything is timed, and one batch per round.

A round (pytest-benchmark's pedantic mode) is:
    setup, not timed:  declare a fresh queue and publish the whole batch into
                       it; the worker is not consuming it yet
    target, timed:     tell the worker to consume that queue, and watch until
                       every task of the batch has reported finished
so the timed part is the batch's wall time as the harness sees it (release,
drain, and noticing the last record within load.POLL_S). The worker's own
throughput, first task start to last task end as `python -m bench run`
reports it, goes into benchmark.extra_info["throughput_per_s"].

CELERY_BENCH_SMOKE=1 runs one round of a tenth of each batch, no warm-up
round: to check the suite works, not to measure.
"""

import contextlib
import os
import statistics
import time
import warnings
from dataclasses import dataclass, field

import pytest
from pytest_benchmark.logger import PytestBenchmarkWarning

from bench.analysis import stats
from bench.errors import RunFailed
from bench.harness.machine import usable_cores
from bench.harness.process import watcher
from bench.measure import load, runner
from bench.measure.config import RunConfig, build_run_config
from bench.measure.observe import RecordReader
from bench.workloads import WORKLOADS, ceiling

BENCHMARK_WARNINGS = "default::pytest_benchmark.logger.PytestBenchmarkWarning"

SMOKE = os.environ.get("CELERY_BENCH_SMOKE") == "1"
ROUNDS = 1 if SMOKE else 5  # measured batches per benchmark
WARMUP_ROUNDS = 0 if SMOKE else 1  # batches run first and discarded
STALL_S, TIMEOUT_S = 15.0, 120.0  # give up on a batch: no task finished for STALL_S, or TIMEOUT_S in all
CORES = max(1, int(usable_cores()))


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """One process, whatever pyproject's addopts say (-n 4 is for the test
    suite): benchmarks run one at a time on a quiet machine, and
    pytest-benchmark turns itself off under xdist."""
    config.option.numprocesses = 0


def pytest_configure(config):
    """pytest-benchmark says some things as warnings ("Can't compare. No
    benchmark files", the first time --benchmark-compare runs); the project's
    filterwarnings = error would make them internal errors. Show them, as
    pytest-benchmark means to, both from now on and in the configuration
    step already under way (its own pytest_configure runs last)."""
    config.addinivalue_line("filterwarnings", BENCHMARK_WARNINGS)
    warnings.filterwarnings("default", category=PytestBenchmarkWarning)


def batch_size(tasks):
    """Tasks per round: `tasks`, or a tenth of it (at least 5) in smoke mode."""
    return max(5, tasks // 10) if SMOKE else tasks


@dataclass(frozen=True)
class Round:
    """One batch as the harness saw it."""

    accounting: stats.Accounting  # published = succeeded + failed + missing
    throughput_per_s: float | None  # worker side: first task start to last task end
    released_s: float  # monotonic s: the harness let the worker consume the batch
    first_start_s: float  # monotonic s: the worker began the batch's first task
    last_end_s: float  # monotonic s: the worker finished its last task
    noticed_s: float  # monotonic s: the harness had seen every task finish


@dataclass
class Rig:
    """One running worker and the batches it is given, one per round."""

    cfg: RunConfig  # the point, as `python -m bench run` would measure it (tasks: per round)
    app: object  # the harness's client Celery app (publishes only)
    worker: object  # the running worker (bench.harness.worker)
    reader: RecordReader
    broker_alive: object  # () -> bool
    nodename: str
    idle_queue: str  # the queue the worker consumes from the start
    rounds: list = field(default_factory=list)  # every Round run, in order
    _queue: str | None = None

    @property
    def ceiling_per_s(self):
        """The point's physical ceiling (tasks/s); None for sizeless tasks."""
        cfg = self.cfg
        return ceiling(WORKLOADS[cfg.workload], cfg.pool, cfg.concurrency, cfg.task_ms, cfg.cores).per_s

    def hold_batch(self):
        """pedantic's setup: retire the last round's queue, publish this
        round's batch into a fresh one."""
        self._retire()
        self._queue = f"{self.idle_queue}.round{len(self.rounds) + 1}"
        load.declare(self.app, self._queue)
        task = WORKLOADS[self.cfg.workload]
        published = load.publish(self.app, self._queue, task.task, task.args(self.cfg.task_ms), self.cfg.tasks)
        return (load.Batch(published),), {}

    def run_batch(self, batch):
        """pedantic's target: release the held batch and watch it complete."""
        released = time.monotonic()
        load.release(self.app, self._queue, [self.nodename], [self.idle_queue])
        load.watch(batch, self.reader, self.worker, self.broker_alive, STALL_S, TIMEOUT_S)
        noticed = time.monotonic()
        if batch.outcome != "complete":
            raise RunFailed(f"the batch did not complete ({batch.outcome}: {batch.detail})")
        failed = [r for r in batch.records if r.state != "SUCCESS"]
        if failed:
            raise RunFailed(f"{len(failed)} tasks failed: {failed[0].error}")
        first, last = stats.window(batch.records)
        accounting = stats.account(batch.published, batch.records)
        self.rounds.append(Round(accounting, stats.throughput(batch.records), released, first, last, noticed))
        return batch

    def _retire(self):
        if self._queue is None:
            return
        self.app.control.cancel_consumer(self._queue, destination=[self.nodename], reply=True, timeout=10)
        load.delete_queues(self.app, self._queue)  # the private broker: queues only
        self._queue = None


@pytest.fixture
def celery_worker():
    """`celery_worker(pool, concurrency, workload, tasks)` starts a real
    worker on a private broker, the way the runner does (its config, its
    services, its worker), and returns its Rig once it is ready; both are
    stopped when the test ends. `tasks` per round (a tenth in smoke mode)."""
    with contextlib.ExitStack() as stack:

        def start(pool, concurrency, workload, tasks, task_ms=None):
            cfg = build_run_config(
                pool=pool,
                concurrency=concurrency,
                workload=workload,
                task_ms=task_ms,
                tasks=batch_size(tasks),
                warmup=0,
                cores=float(CORES),
            )
            broker, _ = stack.enter_context(runner.services_for(cfg))
            run_id = runner.new_run_id()
            spec = runner.worker_spec(cfg, run_id, f"celery-bench.{run_id}.idle")
            proc, reader = stack.enter_context(runner.recorded_worker(spec, broker))
            app = load.client_app(broker)
            stack.callback(app.close)
            return Rig(cfg, app, proc, reader, watcher(broker.pid), spec.nodename, spec.queue)

        yield start


@pytest.fixture
def measure_batches(benchmark):
    """`measure_batches(rig, group)` times ROUNDS batches (after
    WARMUP_ROUNDS discarded ones), records the worker's throughput in
    extra_info, and returns the measured rounds."""
    return lambda rig, group: _measure(benchmark, rig, group)


def _measure(benchmark, rig, group):
    benchmark.group = group
    benchmark.pedantic(rig.run_batch, setup=rig.hold_batch, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    rounds = rig.rounds[-ROUNDS:]  # the warm-up rounds ran first
    rates = [r.throughput_per_s for r in rounds]
    cfg = rig.cfg
    benchmark.extra_info.update(
        throughput_per_s=statistics.median(rates),
        throughput_per_s_rounds=rates,
        ceiling_per_s=rig.ceiling_per_s,
        tasks_per_round=cfg.tasks,
        pool=cfg.pool,
        concurrency=cfg.concurrency,
        workload=cfg.workload,
        task_ms=cfg.task_ms,
        usable_cores=usable_cores(),
    )
    return rounds

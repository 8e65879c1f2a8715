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
import secrets
import socket
import statistics
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_benchmark.logger import PytestBenchmarkWarning

from bench.analysis import stats
from bench.errors import RunFailed
from bench.harness import broker as broker_mod
from bench.harness import worker as worker_mod
from bench.harness.machine import usable_cores
from bench.harness.process import watcher
from bench.measure import load
from bench.measure.observe import RecordReader
from bench.workloads import WORKLOADS, ceiling

BENCHMARK_WARNINGS = "default::pytest_benchmark.logger.PytestBenchmarkWarning"

SMOKE = os.environ.get("CELERY_BENCH_SMOKE") == "1"
ROUNDS = 1 if SMOKE else 5  # measured batches per benchmark
WARMUP_ROUNDS = 0 if SMOKE else 1  # batches run first and discarded
STALL_S, TIMEOUT_S = 15.0, 120.0  # give up on a batch: no task finished for STALL_S, or TIMEOUT_S in all
CORES = max(1, int(usable_cores()))


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


@dataclass
class Rig:
    """One running worker and the batches it is given, one per round."""

    app: object  # the harness's client Celery app (publishes only)
    worker: worker_mod.Worker
    reader: RecordReader
    broker_alive: object  # () -> bool
    nodename: str
    idle_queue: str  # the queue the worker consumes from the start
    pool: str
    concurrency: int
    workload: str
    task_ms: float | None
    tasks: int  # per round
    ceiling_per_s: float | None  # the point's physical ceiling; None for sizeless tasks
    rates_per_s: list = field(default_factory=list)  # worker-side throughput of every round run, in order
    _queue: str | None = None
    _rounds: int = 0

    def hold_batch(self):
        """pedantic's setup: retire the last round's queue, publish this
        round's batch into a fresh one."""
        self._retire()
        self._rounds += 1
        self._queue = f"{self.idle_queue}.round{self._rounds}"
        load.declare(self.app, self._queue)
        task = WORKLOADS[self.workload]
        published = load.publish(self.app, self._queue, task.task, task.args(self.task_ms), self.tasks)
        return (load.Batch(published),), {}

    def run_batch(self, batch):
        """pedantic's target: release the held batch and watch it complete."""
        load.release(self.app, self._queue, self.nodename, idle_queue=self.idle_queue)
        load.watch(batch, self.reader, self.worker, self.broker_alive, STALL_S, TIMEOUT_S)
        if batch.outcome != "complete":
            raise RunFailed(f"the batch did not complete ({batch.outcome}: {batch.detail})")
        failed = [r for r in batch.records if r.state != "SUCCESS"]
        if failed:
            raise RunFailed(f"{len(failed)} tasks failed: {failed[0].error}")
        self.rates_per_s.append(stats.throughput(batch.records))
        return batch

    def _retire(self):
        if self._queue is None:
            return
        self.app.control.cancel_consumer(self._queue, destination=[self.nodename], reply=True, timeout=10)
        load.delete_queues(self.app, self._queue)
        self._queue = None


@pytest.fixture
def celery_worker(tmp_path):
    """`celery_worker(pool, concurrency, workload, tasks)` starts a real
    worker on a private broker and returns its Rig once it is ready; both
    are stopped when the test ends. `tasks` per round (a tenth in smoke mode)."""
    with contextlib.ExitStack() as stack:

        def start(pool, concurrency, workload, tasks, task_ms=None):
            work = WORKLOADS[workload]
            task_ms = task_ms if task_ms is not None else work.default_task_ms
            broker = stack.enter_context(broker_mod.embedded())
            run_id = secrets.token_hex(4)
            nodename = f"bench-{run_id}@{socket.gethostname()}"
            idle_queue = f"celery-bench.{run_id}.idle"
            spec = worker_mod.WorkerSpec(
                pool=pool,
                concurrency=concurrency,
                queue=idle_queue,
                nodename=nodename,
                prefetch_multiplier=4,
                loglevel="warning",
                result_backend="none",
            )
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="celery-bench-suite-")))
            (workdir / "records").mkdir()
            proc = stack.enter_context(worker_mod.running(spec, broker, workdir / "records", workdir / "worker.log"))
            app = load.client_app(broker)
            stack.callback(app.close)
            return Rig(
                app=app,
                worker=proc,
                reader=RecordReader(workdir / "records"),
                broker_alive=watcher(broker.pid),
                nodename=nodename,
                idle_queue=idle_queue,
                pool=pool,
                concurrency=concurrency,
                workload=workload,
                task_ms=task_ms,
                tasks=batch_size(tasks),
                ceiling_per_s=ceiling(work, pool, concurrency, task_ms, float(CORES)).per_s,
            )

        yield start


@pytest.fixture
def measure_batches(benchmark):
    """`measure_batches(rig, group)` times ROUNDS batches (after
    WARMUP_ROUNDS discarded ones), records the worker's throughput in
    extra_info, and returns the measured rounds' rates (tasks/s)."""
    return lambda rig, group: _measure(benchmark, rig, group)


def _measure(benchmark, rig, group):
    benchmark.group = group
    benchmark.pedantic(rig.run_batch, setup=rig.hold_batch, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    rates = rig.rates_per_s[-ROUNDS:]  # the warm-up rounds ran first
    benchmark.extra_info.update(
        throughput_per_s=statistics.median(rates),
        throughput_per_s_rounds=rates,
        ceiling_per_s=rig.ceiling_per_s,
        tasks_per_round=rig.tasks,
        pool=rig.pool,
        concurrency=rig.concurrency,
        workload=rig.workload,
        task_ms=rig.task_ms,
        usable_cores=usable_cores(),
    )
    return rates

"""pytest-benchmark suite: real workers on the embedded broker, one batch of
tasks per round. Run it with

    python -m pytest tests/benchmarks --benchmark-only --benchmark-autosave
    python -m pytest tests/benchmarks --benchmark-only --benchmark-compare

Each benchmark's time is the wall time of one batch; extra_info has the
worker's throughput in tasks/s. Only relations are asserted (every task
accounted for, the worker's window inside the round, no round above the
point's physical ceiling), never speeds.
"""

import pytest

from bench.harness.machine import usable_cores
from bench.workloads import POOLS

CORES = max(1, int(usable_cores()))
CEILING_SLACK = 1e-3  # the clock's resolution, as in bench.runner


def assert_sound(rounds, tasks, ceiling_per_s):
    """Every round: every task accounted for and succeeded exactly once; the
    worker's window (first start to last end, which the throughput divides
    by) inside the harness's span from release to the last record noticed;
    and, for a sized task, no round above the physical ceiling."""
    assert rounds
    for r in rounds:
        assert r.accounting.published == r.accounting.succeeded == tasks, r.accounting
        assert r.accounting.missing == r.accounting.failed == r.accounting.duplicates == 0, r.accounting
        assert r.released_s <= r.first_start_s < r.last_end_s <= r.noticed_s, r
        assert r.throughput_per_s == pytest.approx(tasks / (r.last_end_s - r.first_start_s))
        if ceiling_per_s is not None:
            assert r.throughput_per_s <= ceiling_per_s * (1 + CEILING_SLACK)


@pytest.mark.parametrize("pool", POOLS)
def test_noop_overhead_per_pool(celery_worker, measure_batches, pool):
    """Celery's own per-task cost: tasks that do nothing, at the default -c
    (the usable cores; solo runs one task at a time)."""
    rig = celery_worker(pool, 1 if pool == "solo" else CORES, "noop", tasks=300)
    assert rig.ceiling_per_s is None  # only Celery's own cost bounds it: this measures that bound
    assert_sound(measure_batches(rig, "noop overhead per pool"), rig.cfg.tasks, None)


@pytest.mark.parametrize("factor", [1, 2], ids=["cores", "2x-cores"])
def test_cpu_bound_prefork(celery_worker, measure_batches, factor):
    """20 ms of GIL-holding CPU per task under prefork at -c cores and 2x cores."""
    concurrency = factor * CORES
    rig = celery_worker("prefork", concurrency, "cpu", tasks=max(50, 8 * concurrency))
    assert_sound(measure_batches(rig, "cpu-bound prefork"), rig.cfg.tasks, rig.ceiling_per_s)


def test_sleep_gevent_high_concurrency(celery_worker, measure_batches):
    """50 ms sleeps under gevent at -c 128."""
    rig = celery_worker("gevent", 128, "sleep", tasks=1024)
    assert_sound(measure_batches(rig, "sleep gevent -c 128"), rig.cfg.tasks, rig.ceiling_per_s)

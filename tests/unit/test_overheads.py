"""Celery's per-task cost: its cache (one calibration per machine, packages
and broker), and how the model reads it between the -c values measured."""

import json
from types import SimpleNamespace

import pytest

from bench.analysis.accuracy import calibration_from_points, overhead_of
from bench.cli.option_types import size_bytes
from bench.output.overheads import overheads_table
from bench.results.overheads import Calibration, PoolOverhead, cache_dir, cached, calibration_key, read_cache, store
from bench.results.sweep_records import PointSummary, ThroughputEstimate


def pool(name, c, rate, worker=0.0009, main=0.0007):
    return PoolOverhead(name, c, 3, 1500, rate, (rate, rate, rate), worker, main, 0.0001, 0.00005)


MACHINE = {"hostname": "vm", "cpu_model": "AMD EPYC", "cpu_count": 2, "usable_cores": 2.0, "os": "Linux",
           "python": "3.11.7", "python_implementation": "CPython", "packages": {"celery": "5.7.0"},
           "git_commit": "abc", "memory_bytes": 1}  # fmt: skip


def test_the_key_is_the_machine_packages_and_broker_not_the_checkout():
    key = calibration_key(MACHINE, "redis", "valkey 9.1.2")
    assert key["packages"] == {"celery": "5.7.0"}
    assert key["broker_server"] == "valkey 9.1.2"
    assert "git_commit" not in key
    assert "memory_bytes" not in key


def test_a_calibration_is_read_back_as_stored_and_other_keys_are_kept(tmp_path):
    here = calibration_key(MACHINE, "redis", "valkey 9.1.2")
    there = calibration_key({**MACHINE, "packages": {"celery": "5.6.0"}}, "redis", "valkey 9.1.2")
    old = Calibration(there, "2026-12-01T00:00:00+00:00", "valkey", (pool("gevent", 16, 900.0),))
    new = Calibration(here, "2026-12-05T00:00:00+00:00", "valkey", (pool("prefork", 2, 1200.0),))
    store(old, tmp_path)
    store(new, tmp_path)
    assert cached(here, tmp_path) == new
    assert cached(there, tmp_path) == old
    again = Calibration(here, "2026-12-06T00:00:00+00:00", "valkey", (pool("prefork", 2, 1100.0),))
    store(again, tmp_path)
    assert cached(here, tmp_path) == again
    assert len(read_cache(tmp_path)) == 2


@pytest.mark.parametrize("content", ["not json", json.dumps({"version": 999, "calibrations": []}), "{}"])
def test_an_unreadable_cache_reads_as_empty_and_is_measured_again(tmp_path, content):
    (tmp_path / "overheads.json").write_text(content)
    assert read_cache(tmp_path) == []


def test_the_cache_lives_where_the_environment_says():
    assert str(cache_dir({"CELERY_BENCH_CACHE": "/x"})) == "/x"
    assert str(cache_dir({"XDG_CACHE_HOME": "/y"})) == "/y/celery-bench"


def test_the_overhead_is_interpolated_in_c_and_never_falls_beyond_the_range():
    measured = (pool("prefork", 2, 1000.0), pool("prefork", 16, 800.0))
    assert overhead_of(measured, 2).dispatch_s == pytest.approx(0.001)
    assert overhead_of(measured, 9).dispatch_s == pytest.approx((0.001 + 0.00125) / 2)
    assert overhead_of(measured, 30).dispatch_s > 0.00125  # the line goes on
    assert overhead_of(measured, 1).dispatch_s == pytest.approx(0.001)  # below: the lowest measured
    falling = (pool("threads", 16, 800.0), pool("threads", 256, 1000.0))  # noise: cheaper at more threads
    assert overhead_of(falling, 1024).dispatch_s == pytest.approx(0.001)
    assert overhead_of((), 4) is None


def test_a_sweeps_noop_points_are_its_calibration():
    noop = PointSummary("gevent", 4, "noop", None, None, 2.0, 1000, 50, "noop-gevent-c4", repeats=3,
                        throughput=ThroughputEstimate(1000.0, 990.0, 1010.0, 0.01, False, (1000.0,) * 3),
                        worker_cpu_cores=0.95)  # fmt: skip
    cal = calibration_from_points([noop])
    (measured,) = cal.of("gevent")
    assert measured.noop_per_s == 1000.0
    assert measured.worker_cpu_per_task_s == pytest.approx(0.00095)
    assert measured.main_cpu_per_task_s == pytest.approx(0.00095)  # one process: all of it
    assert calibration_from_points([]) is None


def test_the_table_shows_every_pool_and_where_it_is_cached():
    cal = Calibration({}, "2026-12-05T00:00:00+00:00", "valkey 9.1.2, embedded", (pool("gevent", 16, 1131.0),))
    text = overheads_table(cal, "/root/.cache/celery-bench")
    assert "gevent" in text
    assert "1131" in text
    assert "0.884ms" in text  # dispatch = 1 / rate
    assert "cached in /root/.cache/celery-bench" in text


@pytest.mark.parametrize(
    ("text", "size"),
    [("2GiB", 2 * 1024**3), ("512MiB", 512 * 1024**2), ("1.5GB", 1_500_000_000), ("800M", 800_000_000)],
)
def test_a_memory_budget_is_read_in_the_units_people_write(text, size):
    assert size_bytes(text) == size


def test_only_the_pools_missing_from_the_cache_are_measured(tmp_path, monkeypatch):
    from bench.measure import overheads

    measured = []

    def fake_measure(pool_name, c, broker, repeats):
        measured.append((pool_name, c))
        return pool(pool_name, c, 1000.0)

    monkeypatch.setattr(overheads, "measure_pool", fake_measure)
    monkeypatch.setattr(overheads, "key_for", lambda broker: {"machine": "this one"})
    monkeypatch.setattr(overheads.machine, "usable_cores", lambda: 2.0)
    broker = SimpleNamespace(server="valkey 9.1.2", embedded=True)
    first = overheads.calibrate(["prefork", "solo"], broker=broker, cache=tmp_path)
    assert measured == [("prefork", 2), ("prefork", 16), ("solo", 1)]
    measured.clear()
    second = overheads.calibrate(["prefork", "gevent"], broker=broker, cache=tmp_path)
    assert measured == [("gevent", 16), ("gevent", 256)]  # prefork came from the cache
    assert {p.pool for p in second.pools} == {"prefork", "solo", "gevent"}
    assert second.of("prefork") == first.of("prefork")
    measured.clear()
    third = overheads.calibrate(["solo"], broker=broker, cache=tmp_path, refresh=True)
    assert measured == [("solo", 1)]
    assert {p.pool for p in third.pools} == {"prefork", "solo", "gevent"}  # the others stay cached


def test_a_tasks_own_cpu_leaves_out_celerys_tracer():
    from bench.commands.advise import task_demand

    solo = PoolOverhead("solo", 1, 3, 1500, 1600.0, (1600.0,), 0.0005, 0.0005, None, 0.0, task_cpu_s=0.0002)
    cal = Calibration({}, "", "", (solo,))
    assert task_demand(0.0052, 0.024, None, cal).cpu_s == pytest.approx(0.005)
    assert task_demand(0.0001, 0.05, None, cal).cpu_s == 0.0  # a sleep's CPU is the tracer's
    assert task_demand(0.0052, 0.024, None, Calibration({}, "", "", ())).cpu_s == pytest.approx(0.0052)


def test_a_run_is_predicted_only_with_a_calibration_of_its_pool():
    from bench.analysis.accuracy import predict_run
    from bench.workloads import WORKLOADS, unprofiled_workload

    cal = Calibration({}, "", "", (pool("gevent", 16, 1000.0, worker=0.001, main=0.001),))
    sleep = WORKLOADS["sleep"]
    predicted = predict_run("gevent", 4, 1, 2.0, sleep, 10.0, cal)
    assert 300 < predicted < 4 / 0.011 + 1e-9  # four slots over 10 ms waiting + 1 ms of Celery, less queueing
    assert predict_run("prefork", 4, 1, 2.0, sleep, 10.0, cal) is None  # no prefork in the calibration
    assert predict_run("gevent", 4, 1, 2.0, sleep, 10.0, None) is None
    assert predict_run("gevent", 4, 1, 2.0, unprofiled_workload("app.task"), None, cal) is None
    assert predict_run("gevent", 64, 1, 2.0, WORKLOADS["noop"], None, cal) == pytest.approx(1000.0)

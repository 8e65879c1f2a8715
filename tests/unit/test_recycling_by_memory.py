"""Recycling by memory (--max-memory-per-child, --vary max_memory_per_child),
on hand-built data: sizes parsed to Celery's KiB, the worker's command line,
the value read back from the worker's conf(), the pools that recycle
nothing refused by run and left out of a sweep in one line, and the slot
time recycling leaves idle."""

import pytest

from bench.analysis.memory import idle_share
from bench.analysis.stats import TaskRecord
from bench.errors import UsageError
from bench.harness import readback
from bench.harness.broker import Broker
from bench.harness.sizes import parse_kib
from bench.harness.worker import WorkerSpec, worker_options
from bench.measure.apptask import build_user_task
from bench.measure.config import build_run_config
from bench.measure.result import run_settings
from bench.measure.runner import intended_settings
from bench.measure.settings import parse_value
from bench.measure.soak_options import check_recycling
from bench.output.memory import memory_lines
from bench.output.plan import left_out_lines
from bench.results.schema import BrokerInfo, MemoryGrowth, ProcessMemory
from bench.sweep.config import build_sweep_config
from bench.sweep.plan import left_out, make_plan, plan_sweep, run_config_for

REDIS = Broker(url="redis://127.0.0.1:6390/0", kind="redis", server="valkey 9", embedded=True)
PREFORK = {"implementation": "celery.concurrency.prefork:TaskPool", "max-concurrency": 2, "max-tasks-per-child": "N/A"}
THREADS = {"implementation": "celery.concurrency.thread:TaskPool", "max-concurrency": 2}


@pytest.mark.parametrize(
    ("text", "kib"),
    [("200MiB", 204800), ("1GiB", 1048576), ("204800KiB", 204800), ("200MB", 195313), ("0", 0), ("off", 0)],
)
def test_a_size_is_celerys_kib_rounded(text, kib):
    assert parse_kib(text) == kib
    assert parse_value("max_memory_per_child", text) == kib


@pytest.mark.parametrize("text", ["200x", "-1MiB", "100"])  # 100 bytes: under a KiB
def test_a_bad_size_is_refused_in_one_line(text):
    with pytest.raises(UsageError, match="--vary max_memory_per_child: expected a size"):
        parse_value("max_memory_per_child", text)


def test_the_worker_gets_it_as_a_setting_remote_control_can_read_back():
    spec = WorkerSpec("prefork", 2, "q", "n@h", 4, "info", "none", max_memory_per_child_kib=204800)
    assert "worker.max_memory_per_child=204800" in worker_options(spec)
    assert not any(
        "max_memory" in arg for arg in worker_options(WorkerSpec("prefork", 2, "q", "n@h", 4, "info", "none"))
    )


def report(pool, conf):
    stats = {"pid": 1, "pool": pool, "prefetch_count": 8, "broker": {}}
    return readback.report_of(stats, conf, [], [], "proj.tasks.sleep", 2)


def test_the_value_is_read_back_from_the_workers_conf_for_prefork_only():
    assert report(PREFORK, {"worker_max_memory_per_child": 204800})["max_memory_per_child_kib"] == 204800
    assert report(PREFORK, {})["max_memory_per_child_kib"] == 0  # Celery's None: no limit
    assert report(THREADS, {"worker_max_memory_per_child": 204800})["max_memory_per_child_kib"] is None


def test_a_worker_that_ran_with_another_value_fails_the_run_in_one_line():
    reported = {"a@h": report(PREFORK, {"worker_max_memory_per_child": 1000})}
    with pytest.raises(readback.SettingMismatch, match="max_memory_per_child_kib=1000, not the 204800"):
        readback.check({"max_memory_per_child_kib": 204800}, reported)
    assert readback.check({"max_memory_per_child_kib": 1000}, reported)["max_memory_per_child_kib"] == 1000


def test_the_run_records_it():
    cfg = build_run_config(pool="prefork", concurrency=2, max_memory_per_child_kib=204800, tasks=100, warmup=0)
    assert run_settings(cfg, BrokerInfo(), "none", None).max_memory_per_child_kib == 204800


@pytest.mark.parametrize("pool", ["gevent", "eventlet", "threads", "solo"])
def test_run_refuses_it_where_the_pool_never_replaces_a_process(pool):
    with pytest.raises(UsageError, match=r"--max-memory-per-child: only prefork .*celery/celery#6312"):
        check_recycling(pool, 0, 204800)
    check_recycling("prefork", 0, 204800)
    check_recycling(pool, 0, 0)


def sweep(pools, *vary):
    return build_sweep_config(pools=pools, workloads=["sleep"], concurrency=[2], profile="quick", vary=list(vary))


def test_a_sweep_runs_the_recycling_axes_on_prefork_and_says_in_one_line_what_it_left_out():
    cfg = sweep(
        ["prefork", "threads"], ("max_memory_per_child", ("0", "200MiB")), ("max_tasks_per_child", ("0", "100"))
    )
    points = make_plan(cfg)
    assert {(p.pool, p.settings) for p in points if p.pool == "threads"} == {
        ("threads", (("max_memory_per_child", "0"), ("max_tasks_per_child", "0")))
    }
    assert len([p for p in points if p.pool == "prefork"]) == 4
    lines = left_out_lines(left_out(cfg))
    assert lines == [
        "not run: threads with max_memory_per_child=200MiB: only prefork replaces its pool processes; threads runs "
        "every task in the worker's own process, which is never replaced (celery/celery#6312)",
        "not run: threads with max_tasks_per_child=100: only prefork replaces its pool processes; threads runs "
        "every task in the worker's own process, which is never replaced (celery/celery#6312)",
    ]
    (point,) = [p for p in points if p.settings == (("max_memory_per_child", "200MiB"), ("max_tasks_per_child", "0"))]
    assert run_config_for(cfg, point).max_memory_per_child_kib == 204800


def test_a_sweep_with_nothing_left_to_run_is_refused():
    with pytest.raises(UsageError, match="nothing to measure: threads with max_memory_per_child=1GiB"):
        plan_sweep(sweep(["threads"], ("max_memory_per_child", ("1GiB",))))


def test_the_idle_share_is_the_replacement_gaps_over_the_slot_time():
    runs = [TaskRecord("a", 0.0, 0.0, 4.0, "SUCCESS", 11), TaskRecord("b", 0.0, 1.0, 5.0, "SUCCESS", 12)]
    assert idle_share([0.2, 0.3], 2, runs) == pytest.approx(0.5 / (2 * 5.0))
    assert idle_share([], 2, runs) is None
    assert idle_share([0.2], 0, runs) is None


def test_the_run_says_the_setting_and_what_recycling_cost():
    tree = ProcessMemory()
    growth = MemoryGrowth(
        interval_s=0.2, snapshots=30, recycles=6, tree=tree,
        replacement_first_task_p50_s=0.2, replacement_first_task_max_s=0.4, replacement_idle_share=0.12,
    )  # fmt: skip
    (line,) = [line for line in memory_lines(growth, 0, 204800) if "recycled" in line]
    assert "6 pool processes replaced in the window (--max-memory-per-child 200 MiB)" in line
    assert "12.0% of the pool's slot time left idle" in line


def test_a_users_task_keeps_the_recycling_settings_and_its_apps_own_are_not_a_mismatch(tmp_path):
    user = build_user_task(app="myapp", task="myapp.work", cwd=tmp_path)
    cfg = build_run_config(user_task=user, pool="prefork", concurrency=2, max_memory_per_child_kib=1000, tasks=20)
    assert (cfg.max_memory_per_child_kib, cfg.workload) == (1000, "task")
    plain = build_run_config(user_task=user, pool="prefork", concurrency=2, tasks=20)
    assert intended_settings(plain, REDIS)["max_memory_per_child_kib"] is None  # the app's own
    builtin = build_run_config(pool="prefork", concurrency=2, tasks=20)
    assert intended_settings(builtin, REDIS)["max_tasks_per_child"] == 0

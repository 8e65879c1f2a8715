"""Unit tests for bench.config.build_run_config: defaults and input validation.

Every call passes cores=2.0 so the results do not depend on this machine."""

import math
from pathlib import Path

import pytest

from bench.errors import UsageError
from bench.measure.config import MAX_TASKS, MIN_TASKS, TARGET_WINDOW_S, build_run_config
from bench.workloads import WORKLOADS, expected_rate


def build(**overrides):
    options = {"pool": "prefork", "concurrency": 2, "workload": "sleep", "cores": 2.0}
    options.update(overrides)
    return build_run_config(**options)


def refused(option, **overrides):
    with pytest.raises(UsageError) as excinfo:
        build(**overrides)
    message = str(excinfo.value)
    assert option in message, message
    return message


# defaults


def test_defaults_are_filled_in():
    cfg = build()
    assert cfg.task_ms == 50.0
    assert cfg.tasks == 200  # 5 s at 2 slots / 50 ms = 40/s
    assert cfg.warmup == 5  # two per prefork child, at least 5
    assert cfg.prefetch_multiplier == 4
    assert cfg.broker_url is None
    assert cfg.redis_server is None
    assert cfg.loglevel == "warning"
    assert cfg.result_backend == "none"
    assert cfg.output_dir == Path("results")
    assert cfg.json_path is None
    assert cfg.cores == 2.0


@pytest.mark.parametrize("workload", ["sleep", "net", "cpu", "cpu_nogil", "mixed"])
def test_task_ms_defaults_to_the_workload_size(workload):
    assert build(workload=workload).task_ms == WORKLOADS[workload].default_task_ms


@pytest.mark.parametrize("workload", ["noop", "add", "mul", "xsum"])
def test_sizeless_workloads_have_no_task_ms(workload):
    assert build(workload=workload).task_ms is None


@pytest.mark.parametrize(
    ("pool", "c", "workload", "task_ms"),
    [
        ("prefork", 2, "sleep", None),
        ("prefork", 8, "cpu", None),
        ("gevent", 100, "sleep", 50.0),
        ("eventlet", 4, "mixed", None),
        ("solo", 4, "sleep", 20.0),
        ("prefork", 2, "noop", None),
    ],
)
def test_default_tasks_fill_about_five_seconds_at_the_expected_rate(pool, c, workload, task_ms):
    cfg = build(pool=pool, concurrency=c, workload=workload, task_ms=task_ms)
    rate = expected_rate(WORKLOADS[workload], pool, c, cfg.task_ms, 2.0)
    assert MIN_TASKS <= cfg.tasks <= MAX_TASKS
    assert cfg.tasks >= 4 * cfg.slots
    assert cfg.tasks == math.ceil(TARGET_WINDOW_S * rate)
    assert cfg.tasks / rate == pytest.approx(TARGET_WINDOW_S, rel=0.01)


def test_known_default_task_counts():
    assert build(workload="cpu", concurrency=8).tasks == 500  # 2 cores / 20 ms = 100/s
    assert build(workload="noop").tasks == 5000  # capped by the 1000/s overhead guess
    assert build(pool="solo", concurrency=8, task_ms=100.0).tasks == 50  # 1 slot / 100 ms = 10/s


def test_default_tasks_are_at_least_the_minimum():
    assert build(concurrency=1, task_ms=60_000.0).tasks == MIN_TASKS


def test_default_tasks_are_at_least_four_per_prefork_child():
    cfg = build(pool="prefork", concurrency=64, workload="cpu", task_ms=1000)  # 2 tasks/s: 10 in 5 s
    assert cfg.tasks == 4 * 64


def test_default_tasks_of_green_pools_follow_the_expected_rate_not_the_slots():
    # 5000 greenlets sleeping 50 ms: the ceiling is 100000/s, the overhead guess 1000/s: 5 s of it.
    assert build(pool="gevent", concurrency=5000).tasks == 5000
    # CPU-bound: one task at a time at 20 ms, 50/s: 5 s is 250 tasks, whatever -c is.
    assert build(pool="gevent", concurrency=5000, workload="cpu").tasks == 250


def test_default_tasks_are_at_most_the_maximum():
    cfg = build(pool="prefork", concurrency=300_000, force=True)
    assert cfg.tasks == MAX_TASKS


def test_default_warmup_runs_every_prefork_child_and_half_a_second_of_green_work():
    assert build(concurrency=2).warmup == 5
    assert build(concurrency=30).warmup == 60
    assert build(pool="solo", concurrency=30).warmup == 10  # 0.5 s at 20/s
    assert build(pool="gevent", concurrency=5000).warmup == 100
    assert build(pool="gevent", concurrency=4, workload="cpu").warmup == 25  # 0.5 s at 50/s


def test_explicit_values_are_kept():
    cfg = build(
        task_ms=7.5,
        tasks=123,
        warmup=0,
        prefetch_multiplier=0,
        loglevel="INFO",
        result_backend="broker",
        output_dir="out",
        json_path="x/r.json",
    )
    assert (cfg.task_ms, cfg.tasks, cfg.warmup, cfg.prefetch_multiplier) == (7.5, 123, 0, 0)
    assert cfg.loglevel == "info"
    assert cfg.result_backend == "broker"
    assert cfg.output_dir == Path("out")
    assert cfg.json_path == Path("x/r.json")


def test_slots_of_solo_is_one():
    assert build(pool="solo", concurrency=12).slots == 1


# invalid input: UsageError naming the option


def test_unknown_pool_is_refused():
    message = refused("--pool", pool="fibers")
    assert "fibers" in message


def test_unknown_workload_is_refused():
    message = refused("--workload", workload="nope")
    assert "nope" in message


@pytest.mark.parametrize("c", [0, -1, -100])
def test_concurrency_below_one_is_refused(c):
    refused("--concurrency", concurrency=c)


def test_huge_prefork_concurrency_needs_force():
    message = refused("--concurrency", pool="prefork", concurrency=100_000)
    assert "--force" in message
    assert build(pool="prefork", concurrency=100_000, force=True).concurrency == 100_000


def test_prefork_limit_is_64_on_two_cores():
    assert build(concurrency=64).concurrency == 64
    refused("--concurrency", concurrency=65)


@pytest.mark.parametrize("pool", ["gevent", "eventlet"])
def test_huge_green_concurrency_needs_force(pool):
    refused("--concurrency", pool=pool, concurrency=20_000)
    assert build(pool=pool, concurrency=20_000, force=True).concurrency == 20_000
    assert build(pool=pool, concurrency=10_000).concurrency == 10_000


def test_solo_has_no_concurrency_limit():
    assert build(pool="solo", concurrency=100_000).slots == 1


@pytest.mark.parametrize("task_ms", [0, 0.0, -5.0, 60_001.0, 1e9, float("nan")])
def test_bad_task_ms_is_refused(task_ms):
    refused("--task-ms", task_ms=task_ms)


def test_largest_task_ms_is_accepted():
    assert build(task_ms=60_000.0).task_ms == 60_000.0


@pytest.mark.parametrize("workload", ["noop", "add", "mul", "xsum"])
def test_task_ms_for_a_sizeless_workload_is_refused(workload):
    message = refused("--task-ms", workload=workload, task_ms=5.0)
    assert workload in message


@pytest.mark.parametrize("tasks", [0, -1, MAX_TASKS + 1])
def test_bad_tasks_is_refused(tasks):
    refused("--tasks", tasks=tasks)


def test_negative_warmup_is_refused():
    refused("--warmup", warmup=-1)


def test_negative_prefetch_multiplier_is_refused():
    refused("--prefetch-multiplier", prefetch_multiplier=-1)


def test_unknown_loglevel_is_refused():
    refused("--loglevel", loglevel="loud")


def test_unknown_result_backend_is_refused():
    refused("--result-backend", result_backend="s3")


@pytest.mark.parametrize(
    "url",
    [
        "http://x",
        "redis://",
        "notaurl",
        "redis://:0/0",
        "redis://127.0.0.1:0/0",
        "redis://host:notaport",
        "redis://127.0.0.1:99999/0",
    ],
)
def test_malformed_broker_url_is_refused(url):
    refused("--broker", broker=url)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:secret@localhost/1",
        "rediss://user:secret@redis.example.com:6380/0",
        "amqp://guest:guest@127.0.0.1:5672//",
    ],
)
def test_valid_broker_url_is_accepted(url):
    assert build(broker=url).broker_url == url


def test_redis_server_with_broker_is_refused():
    message = refused("--redis-server", broker="redis://127.0.0.1:6379/0", redis_server="/bin/true")
    assert "--broker" in message


def test_redis_server_alone_is_accepted():
    assert build(redis_server="/usr/bin/redis-server").redis_server == "/usr/bin/redis-server"

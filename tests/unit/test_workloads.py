"""Unit tests for bench.workloads: the physical ceiling (METHOD.md) and task arguments."""

import pytest

from bench.workloads import (
    POOLS,
    WORKLOADS,
    ceiling,
    cpu_parallelism,
    expected_rate,
    profiled_workload,
    slots,
    unprofiled_workload,
)

SIZELESS = ("noop", "add", "mul", "xsum")
MULTI_SLOT_POOLS = ("prefork", "gevent", "eventlet", "threads")
SINGLE_PROCESS_POOLS = ("gevent", "eventlet", "solo")


def per_s(workload, pool, c, task_ms, cores=2.0):
    return ceiling(WORKLOADS[workload], pool, c, task_ms, cores).per_s


# waiting workloads: slots / S


@pytest.mark.parametrize("workload", ["sleep", "net"])
@pytest.mark.parametrize("pool", MULTI_SLOT_POOLS)
@pytest.mark.parametrize("c", [1, 4, 100])
def test_waiting_task_ceiling_is_slots_over_task_time(workload, pool, c):
    assert per_s(workload, pool, c, 50.0) == pytest.approx(c / 0.05)


@pytest.mark.parametrize("c", [1, 4, 100])
def test_solo_ignores_concurrency(c):
    assert per_s("sleep", "solo", c, 50.0) == pytest.approx(1 / 0.05)
    assert per_s("cpu", "solo", c, 20.0) == pytest.approx(1 / 0.02)


def test_waiting_task_ceiling_does_not_depend_on_cores():
    assert per_s("sleep", "prefork", 16, 100.0, cores=1.0) == per_s("sleep", "prefork", 16, 100.0, cores=64.0)


# CPU workloads


@pytest.mark.parametrize("workload", ["cpu", "cpu_nogil"])
@pytest.mark.parametrize(
    ("c", "cores", "parallel"), [(1, 2.0, 1), (2, 2.0, 2), (8, 2.0, 2), (8, 2.5, 2.5), (3, 16.0, 3)]
)
def test_cpu_ceiling_under_prefork_is_min_of_slots_and_cores_over_cpu_time(workload, c, cores, parallel):
    assert per_s(workload, "prefork", c, 20.0, cores=cores) == pytest.approx(parallel / 0.02)


@pytest.mark.parametrize("workload", ["cpu", "cpu_nogil"])
@pytest.mark.parametrize("pool", SINGLE_PROCESS_POOLS)
@pytest.mark.parametrize("c", [1, 8, 1000])
def test_cpu_ceiling_in_one_process_is_one_over_cpu_time_whatever_c(workload, pool, c):
    assert per_s(workload, pool, c, 20.0, cores=8.0) == pytest.approx(1 / 0.02)


# mixed: min(slots / (cpu + io), parallel / cpu)


@pytest.mark.parametrize(
    ("pool", "c", "cores", "expected"),
    [
        ("prefork", 1, 2.0, min(1 / 0.02, 1 / 0.01)),  # slot-bound: 50
        ("prefork", 8, 2.0, min(8 / 0.02, 2 / 0.01)),  # core-bound: 200
        ("prefork", 3, 8.0, min(3 / 0.02, 3 / 0.01)),  # slot-bound: 150
        ("gevent", 8, 8.0, min(8 / 0.02, 1 / 0.01)),  # one process: 100
        ("eventlet", 1, 8.0, min(1 / 0.02, 1 / 0.01)),  # 50
        ("solo", 8, 8.0, min(1 / 0.02, 1 / 0.01)),  # 50
    ],
)
def test_mixed_ceiling_is_the_smaller_of_slot_and_cpu_limits(pool, c, cores, expected):
    assert per_s("mixed", pool, c, 20.0, cores=cores) == pytest.approx(expected)


# sizeless workloads


@pytest.mark.parametrize("workload", SIZELESS)
@pytest.mark.parametrize("pool", POOLS)
def test_sizeless_workloads_have_no_ceiling(workload, pool):
    result = ceiling(WORKLOADS[workload], pool, 4, None, 2.0)
    assert result.per_s is None
    assert "overhead" in result.basis


def test_sized_flag_matches_default_task_ms():
    for name, w in WORKLOADS.items():
        assert w.sized == (name not in SIZELESS)


# basis text


def test_basis_names_the_slots_when_waiting_binds():
    result = ceiling(WORKLOADS["sleep"], "prefork", 4, 50.0, 2.0)
    assert "4 slots" in result.basis
    assert "50 ms" in result.basis


def test_basis_uses_singular_for_one_slot():
    result = ceiling(WORKLOADS["sleep"], "solo", 8, 50.0, 2.0)
    assert "1 slot " in result.basis


def test_basis_names_the_cores_when_cpu_binds():
    result = ceiling(WORKLOADS["cpu"], "prefork", 8, 20.0, 2.0)
    assert "2 cores" in result.basis
    assert "CPU" in result.basis
    assert "20 ms" in result.basis


def test_basis_names_one_core_for_a_single_process_pool():
    result = ceiling(WORKLOADS["mixed"], "gevent", 8, 20.0, 8.0)
    assert "1 core " in result.basis
    assert "10 ms CPU" in result.basis


def test_basis_names_the_slots_when_mixed_is_slot_bound():
    result = ceiling(WORKLOADS["mixed"], "prefork", 1, 20.0, 8.0)
    assert "1 slot" in result.basis
    assert "20 ms per task" in result.basis


# slots and expected_rate


def test_slots_is_one_for_solo_and_c_otherwise():
    assert slots("solo", 16) == 1
    for pool in MULTI_SLOT_POOLS:
        assert slots(pool, 16) == 16


def test_expected_rate_is_the_ceiling_capped_by_overhead():
    assert expected_rate(WORKLOADS["sleep"], "prefork", 2, 50.0, 2.0) == pytest.approx(40.0)
    assert expected_rate(WORKLOADS["sleep"], "gevent", 1000, 50.0, 2.0) == 1000.0
    assert expected_rate(WORKLOADS["noop"], "prefork", 2, None, 2.0) == 1000.0


# Workload.args


@pytest.mark.parametrize(
    ("workload", "task_ms", "expected"),
    [
        ("sleep", 50.0, [50.0]),
        ("cpu", 20.0, [20.0]),
        ("cpu_nogil", 7.5, [7.5]),
        ("mixed", 20.0, [10.0, 10.0]),
        ("noop", None, []),
        ("add", None, [2, 2]),
        ("mul", None, [3, 4]),
        ("xsum", None, [list(range(100))]),
    ],
)
def test_workload_args(workload, task_ms, expected):
    assert WORKLOADS[workload].args(task_ms) == expected


def test_net_args_carry_the_stub_address():
    assert WORKLOADS["net"].args(50.0, ("127.0.0.1", 4242)) == [50.0, ("127.0.0.1", 4242)]
    assert WORKLOADS["net"].needs_stub


def test_only_net_needs_the_stub():
    assert [name for name, w in WORKLOADS.items() if w.needs_stub] == ["net"]


def test_every_workload_names_a_task_in_proj_tasks():
    for name, w in WORKLOADS.items():
        assert w.task == f"proj.tasks.{name}"


# the threads pool: one process, -c OS threads


def test_threads_is_a_pool():
    assert "threads" in POOLS


@pytest.mark.parametrize("c", [1, 4, 100])
def test_threads_waiting_ceiling_is_c_over_task_time(c):
    assert per_s("sleep", "threads", c, 50.0) == pytest.approx(c / 0.05)


@pytest.mark.parametrize("c", [1, 2, 8, 1000])
def test_threads_gil_holding_cpu_is_bounded_by_one_core(c):
    assert per_s("cpu", "threads", c, 20.0, cores=8.0) == pytest.approx(1 / 0.02)


@pytest.mark.parametrize(("c", "cores", "parallel"), [(1, 2.0, 1), (2, 2.0, 2), (8, 2.0, 2), (3, 16.0, 3)])
def test_threads_gil_releasing_cpu_is_bounded_by_min_of_threads_and_cores(c, cores, parallel):
    assert per_s("cpu_nogil", "threads", c, 20.0, cores=cores) == pytest.approx(parallel / 0.02)


def test_threads_mixed_is_the_smaller_limit():
    assert per_s("mixed", "threads", 8, 20.0, cores=8.0) == pytest.approx(min(8 / 0.02, 1 / 0.01))


# a user's task, sized by its profile


def test_profiled_task_ceiling_uses_the_same_formulas_and_says_estimated():
    task = profiled_workload("app.tasks.thumb", cpu_s=0.005, wait_s=0.020)
    result = ceiling(task, "prefork", 16, task.default_task_ms, 2.0)
    assert result.per_s == pytest.approx(min(16 / 0.025, 2 / 0.005))
    assert result.estimated
    assert "estimated from the profile" in result.basis


def test_profiled_task_under_threads_takes_the_higher_cpu_bound():
    """Whether a user's task releases the GIL is unknown: a ceiling must
    never be too low, so threads get min(c, cores) / C."""
    task = profiled_workload("t", cpu_s=0.010, wait_s=0.0)
    assert ceiling(task, "threads", 4, task.default_task_ms, 2.0).per_s == pytest.approx(2 / 0.010)
    assert ceiling(task, "gevent", 4, task.default_task_ms, 2.0).per_s == pytest.approx(1 / 0.010)


def test_unprofiled_task_ceiling_is_unknown():
    result = ceiling(unprofiled_workload("t"), "prefork", 4, None, 2.0)
    assert result.per_s is None
    assert "unknown" in result.basis
    assert result.estimated


def test_cpu_parallelism_per_pool():
    cpu, nogil = WORKLOADS["cpu"], WORKLOADS["cpu_nogil"]
    assert cpu_parallelism(cpu, "prefork", 8, 2.0) == 2
    assert cpu_parallelism(cpu, "threads", 8, 2.0) == 1
    assert cpu_parallelism(nogil, "threads", 8, 2.0) == 2
    assert cpu_parallelism(nogil, "gevent", 8, 2.0) == 1
    assert cpu_parallelism(nogil, "solo", 8, 2.0) == 1

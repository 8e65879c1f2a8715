"""The sweep's plan: -c lists from the core count, solo, task counts, pinning."""

import pytest

from bench.analysis.estimate import FLEET_REPEAT_OVERHEAD_S, estimate_s
from bench.errors import UsageError
from bench.output.plan import describe
from bench.sweep.config import PROFILES
from bench.sweep.plan import build_plan, default_concurrency, pinned_cpus

STANDARD, QUICK = PROFILES["standard"], PROFILES["quick"]


@pytest.mark.parametrize("cores", [1, 2, 4, 6, 16])
def test_concurrency_always_has_1_the_cores_and_twice_the_cores(cores):
    for pool in ("prefork", "gevent", "eventlet"):
        values = default_concurrency(pool, cores)
        assert {1, cores, 2 * cores} <= set(values)
        assert values == sorted(set(values))


@pytest.mark.parametrize("cores", [1, 2, 6, 16])
def test_prefork_goes_to_8x_cores_and_green_pools_into_the_hundreds(cores):
    assert max(default_concurrency("prefork", cores)) == 8 * cores
    assert max(default_concurrency("gevent", cores)) >= 256
    assert max(default_concurrency("eventlet", cores, step=4)) >= 256


def test_concurrency_is_log_2_on_two_cores():
    assert default_concurrency("prefork", 2) == [1, 2, 4, 8, 16]
    assert default_concurrency("gevent", 2) == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    # Past 2x cores, -c grows by the stride: 4 here; the quick profile's 8
    # gives the README's 1, 2, 4, 32, 256.
    assert default_concurrency("gevent", 2, step=4) == [1, 2, 4, 16, 64, 256]
    assert default_concurrency("gevent", 2, step=PROFILES["quick"].stride) == [1, 2, 4, 32, 256]


def test_solo_runs_at_c_1_only_even_when_asked_for_more():
    assert default_concurrency("solo", 16) == [1]
    points = build_plan(["solo", "prefork"], ["sleep"], STANDARD, 2.0, [0, 1], concurrency=[1, 8, 32])
    assert [p.concurrency for p in points if p.pool == "solo"] == [1]
    assert [p.concurrency for p in points if p.pool == "prefork"] == [1, 8, 32]
    assert "solo runs one task at a time" in describe(points, STANDARD)


def test_task_counts_scale_with_the_expected_throughput():
    points = {p.key: p for p in build_plan(["prefork", "gevent"], ["sleep", "cpu"], STANDARD, 2.0, [0, 1])}
    window = STANDARD.window_s
    # sleep 50 ms at -c 1: 20 tasks/s expected.
    assert points["sleep-50ms-prefork-c1"].tasks == max(20, round(window * 20))
    # sleep at -c 16: 320/s expected, 16x the tasks of -c 1.
    assert points["sleep-50ms-gevent-c16"].tasks == round(window * 320)
    # cpu 20 ms under gevent: one at a time whatever -c, so the same count at -c 1 and 256.
    assert points["cpu-20ms-gevent-c256"].tasks == points["cpu-20ms-gevent-c1"].tasks
    # prefork gives every child at least four tasks.
    assert points["cpu-20ms-prefork-c16"].tasks >= 64


def test_quick_profile_makes_shorter_windows_than_standard():
    quick = {p.key: p.tasks for p in build_plan(["gevent"], ["sleep"], QUICK, 2.0, [0, 1], concurrency=[16])}
    standard = {p.key: p.tasks for p in build_plan(["gevent"], ["sleep"], STANDARD, 2.0, [0, 1], concurrency=[16])}
    assert quick["sleep-50ms-gevent-c16"] < standard["sleep-50ms-gevent-c16"]


def test_pinned_points_use_the_pinned_core_count():
    points = build_plan(["prefork"], ["cpu"], STANDARD, 4.0, [0, 1, 2, 3], cpu_counts=[1, 2])
    one = [p for p in points if p.cpus == (3,)]
    two = [p for p in points if p.cpus == (2, 3)]
    assert [p.concurrency for p in one] == [1, 2, 4, 8]
    assert [p.concurrency for p in two] == [1, 2, 4, 8, 16]
    assert {p.cores for p in one} == {1.0}
    assert one[0].key.endswith("-cpus1")


def test_pinning_keeps_the_first_cpus_for_the_harness():
    assert pinned_cpus(1, [0, 1]) == (1,)
    assert pinned_cpus(2, [3, 1, 0, 2]) == (2, 3)
    with pytest.raises(UsageError, match="--cpus"):
        pinned_cpus(3, [0, 1])


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"pools": ["fibers"]}, "--pools"),
        ({"workloads": ["nope"]}, "--workloads"),
        ({"task_ms": 0}, "--task-ms"),
        ({"cpu_counts": [0]}, "--cpus"),
    ],
)
def test_bad_plan_options_name_the_option(kwargs, option):
    args = {"pools": ["prefork"], "workloads": ["sleep"]} | kwargs
    with pytest.raises(UsageError, match=option):
        build_plan(args.pop("pools"), args.pop("workloads"), STANDARD, 2.0, [0, 1], **args)


def test_points_round_trip_through_json():
    from bench.sweep.point import Point

    for point in build_plan(["prefork"], ["sleep"], STANDARD, 2.0, [0, 1], cpu_counts=[1]):
        assert Point.from_json(point.to_json()) == point


def test_a_sweep_on_agents_is_estimated_with_the_fleets_overhead_per_repeat():
    points = build_plan(["prefork"], ["cpu"], PROFILES["quick"], 2, [0, 1], concurrency=[2])
    here, there = estimate_s(points, 3), estimate_s(points, 3, fleet=True)
    assert there - here == pytest.approx(FLEET_REPEAT_OVERHEAD_S * len(points) * 3)

"""Unit tests for bench.analysis.profile: what a task is made of, and the
predicted -c per pool, on hand-built per-call values."""

import pytest

from bench.analysis.profile import predict, profile_calls


def by_pool(prediction):
    return {p.pool: p for p in prediction.pools}


def test_five_ms_cpu_and_twenty_ms_wait_on_two_cores_predicts_prefork_at_ten():
    found = predict(0.005, 0.020, cores=2.0)
    pools = by_pool(found)
    assert pools["prefork"].best_c == 10  # 2 x (1 + 20/5)
    assert pools["prefork"].per_s == pytest.approx(400.0)  # cores / C
    assert pools["gevent"].best_c == 5  # 1 + W/C
    assert pools["gevent"].per_s == pytest.approx(200.0)  # 1 / C
    assert pools["eventlet"].per_s == pytest.approx(200.0)
    assert pools["solo"].best_c == 1
    assert pools["solo"].per_s == pytest.approx(40.0)  # 1 / (C + W)
    assert found.favoured == "prefork"


def test_threads_carry_both_bounds():
    threads = by_pool(predict(0.005, 0.020, cores=2.0))["threads"]
    assert (threads.best_c, threads.per_s) == (5, pytest.approx(200.0))  # holding the GIL
    assert (threads.best_c_if_gil_released, threads.per_s_if_gil_released) == (10, pytest.approx(400.0))
    assert "GIL" in threads.basis


def test_pure_cpu_task_peaks_at_the_core_count_under_prefork():
    pools = by_pool(predict(0.020, 0.0, cores=4.0))
    assert pools["prefork"].best_c == 4
    assert pools["gevent"].best_c == 1


def test_a_task_that_only_waits_is_bounded_by_overhead_and_favours_a_cheap_pool():
    found = predict(0.0, 0.050, cores=2.0)
    pools = by_pool(found)
    assert pools["prefork"].per_s is None
    assert pools["gevent"].best_c is None
    assert "overhead" in pools["gevent"].basis
    assert pools["solo"].per_s == pytest.approx(20.0)
    assert found.favoured in ("gevent", "threads")


def test_on_one_core_the_one_process_pools_tie_with_prefork_and_the_cheaper_wins():
    found = predict(0.010, 0.010, cores=1.0)
    assert found.favoured == "threads"
    assert "same throughput" in found.reason


def test_predict_refuses_a_zero_service_time():
    with pytest.raises(ValueError, match="positive"):
        predict(0.0, 0.0, cores=2.0)


def test_profile_calls_takes_medians_and_the_waiting_share():
    wall = [0.025, 0.026, 0.024, 0.025, 0.030]
    cpu = [0.005, 0.005, 0.004, 0.005, 0.006]
    found = profile_calls(wall, cpu)
    assert found.calls == 5
    assert found.wall_p50_s == 0.025
    assert found.cpu_p50_s == 0.005
    assert found.wait_p50_s == pytest.approx(0.020)
    assert found.waiting_share == pytest.approx(0.8)
    assert found.rss_growth_bytes is None


def test_profile_calls_shows_a_leak_as_memory_growth_per_call():
    n = 50
    found = profile_calls([0.01] * n, [0.01] * n, [100_000_000 + 4096 * i for i in range(n)])
    assert found.rss_growth_bytes == 4096 * (n - 1)
    assert found.rss_growth_per_call_bytes == pytest.approx(4096)


def test_steady_memory_shows_no_growth():
    found = profile_calls([0.01] * 10, [0.01] * 10, [5_000_000] * 10)
    assert found.rss_growth_per_call_bytes == pytest.approx(0)


def test_stable_when_the_median_ci_is_narrow():
    assert profile_calls([0.025] * 30, [0.005] * 30).stable
    assert not profile_calls([0.01, 0.1, 0.05, 0.2], [0.001] * 4).stable

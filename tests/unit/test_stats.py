"""Unit tests for bench.stats: pure functions over hand-built task records."""

import math

import pytest

from bench.analysis.stats import (
    Accounting,
    TaskRecord,
    account,
    concurrency,
    distribution,
    latency,
    percentile,
    steady_throughput,
    task_cpu,
    throughput,
)


def rec(id_, started, finished, published=None, state="SUCCESS", pid=1, error=None):
    return TaskRecord(
        id=id_,
        published=started if published is None else published,
        started=started,
        finished=finished,
        state=state,
        pid=pid,
        error=error,
    )


def back_to_back(slots, per_slot, service_s, stagger=True):
    """`slots` slots each running `per_slot` tasks of `service_s` seconds back to back.
    With `stagger`, slot k starts k * service_s / slots later, as a real pool drifts."""
    records = []
    for k in range(slots):
        offset = k * service_s / slots if stagger else 0.0
        for i in range(per_slot):
            start = offset + i * service_s
            records.append(rec(f"s{k}-{i}", start, start + service_s, published=0.0, pid=100 + k))
    return records


# percentile


@pytest.mark.parametrize("p", [0, 1, 10, 50, 90, 99, 99.9, 100])
def test_percentile_is_always_one_of_the_values(p):
    values = sorted([0.3, 0.1, 7.0, 2.5, 2.5, 0.9, 11.0])
    assert percentile(values, p) in values


def test_percentile_p99_never_exceeds_the_max():
    values = sorted(i * 0.001 for i in range(1, 1001))
    assert percentile(values, 99) <= values[-1]
    assert percentile(values, 99) == values[989]  # rank ceil(0.99 * 1000) = 990
    assert percentile(values, 100) == values[-1]


def test_percentile_uses_nearest_rank():
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 25) == 1.0
    assert percentile(values, 26) == 2.0
    assert percentile(values, 50) == 2.0
    assert percentile(values, 51) == 3.0
    assert percentile(values, 99) == 4.0


def test_percentile_of_one_value_is_that_value():
    for p in (0, 50, 99, 100):
        assert percentile([0.42], p) == 0.42


def test_percentile_of_two_values():
    assert percentile([1.0, 9.0], 50) == 1.0
    assert percentile([1.0, 9.0], 90) == 9.0


def test_percentile_of_empty_list_is_none():
    assert percentile([], 50) is None


# distribution


def test_distribution_sorts_its_input_and_reports_max_and_mean():
    d = distribution([5.0, 1.0, 3.0, 2.0, 4.0])
    assert d.p50 == 3.0
    assert d.p90 == 5.0
    assert d.p99 == 5.0
    assert d.max == 5.0
    assert d.mean == pytest.approx(3.0)


def test_distribution_of_nothing_is_all_none():
    d = distribution([])
    assert (d.p50, d.p90, d.p99, d.max, d.mean) == (None, None, None, None, None)


def test_distribution_percentiles_are_ordered():
    d = distribution([((i * 37) % 101) / 10 for i in range(101)])
    assert d.p50 <= d.p90 <= d.p99 <= d.max


# account


def test_account_balances_published_against_outcomes():
    published = [f"t{i}" for i in range(10)]
    records = [rec(f"t{i}", 0, 1) for i in range(7)] + [rec("t7", 0, 1, state="FAILURE", error="ValueError: x")]
    acc = account(published, records)
    assert acc == Accounting(published=10, succeeded=7, failed=1, missing=2, duplicates=0)
    assert acc.published == acc.succeeded + acc.failed + acc.missing
    assert not acc.complete


def test_missing_tasks_are_counted_not_hidden():
    acc = account(["a", "b", "c"], [rec("a", 0, 1)])
    assert acc.missing == 2
    assert acc.succeeded == 1
    assert not acc.complete


def test_duplicates_are_counted_once_and_reported_as_duplicates():
    records = [rec("a", 0, 1), rec("a", 2, 3), rec("a", 4, 5), rec("b", 0, 1)]
    acc = account(["a", "b"], records)
    assert acc.succeeded == 2
    assert acc.duplicates == 2
    assert acc.missing == 0
    assert acc.published == acc.succeeded + acc.failed + acc.missing
    assert acc.complete


def test_duplicate_keeps_the_first_report_state():
    records = [rec("a", 0, 1, state="FAILURE"), rec("a", 2, 3, state="SUCCESS")]
    acc = account(["a"], records)
    assert (acc.succeeded, acc.failed, acc.duplicates) == (0, 1, 1)


def test_records_of_tasks_not_published_are_ignored():
    records = [rec("a", 0, 1), rec("warmup-1", 0, 1), rec("stray", 0, 1, state="FAILURE")]
    acc = account(["a"], records)
    assert acc == Accounting(published=1, succeeded=1, failed=0, missing=0, duplicates=0)


def test_account_of_nothing_is_complete():
    assert account([], []).complete


# throughput


def test_throughput_is_tasks_over_first_start_to_last_end():
    records = [rec("a", 1.0, 2.0), rec("b", 1.5, 3.0), rec("c", 2.0, 5.0)]
    assert throughput(records) == pytest.approx(3 / (5.0 - 1.0))


def test_throughput_ignores_publish_times():
    records = [rec("a", 10.0, 11.0, published=0.0), rec("b", 11.0, 12.0, published=0.0)]
    assert throughput(records) == pytest.approx(2 / 2.0)


def test_throughput_of_nothing_or_a_zero_window_is_none():
    assert throughput([]) is None
    assert throughput([rec("a", 1.0, 1.0)]) is None


# steady_throughput


@pytest.mark.parametrize(
    ("slots", "service_s", "stagger"), [(1, 0.25, True), (4, 0.25, True), (4, 0.25, False), (8, 0.05, True)]
)
def test_steady_throughput_of_full_slots_is_close_to_and_not_above_the_ceiling(slots, service_s, stagger):
    records = back_to_back(slots, per_slot=40, service_s=service_s, stagger=stagger)
    ceiling = slots / service_s
    measured = steady_throughput(records)
    assert measured <= ceiling * (1 + 1e-9)
    assert measured == pytest.approx(ceiling, rel=0.02)


def test_steady_throughput_leaves_out_a_slow_ramp_up():
    records = back_to_back(4, per_slot=50, service_s=0.1)
    # Three slow tasks before the others: they lower the plain throughput, not the steady one.
    slow = [rec(f"slow{i}", -3.0, -2.0 + i * 0.01) for i in range(3)]
    assert steady_throughput(records + slow) == pytest.approx(40.0, rel=0.02)
    assert throughput(records + slow) < 30.0


def test_steady_throughput_with_idle_gaps_is_below_the_ceiling():
    records = []
    for i in range(50):  # one slot: 0.1 s of work, then 0.1 s idle
        records.append(rec(f"t{i}", i * 0.2, i * 0.2 + 0.1))
    assert steady_throughput(records) == pytest.approx(5.0, rel=0.05)


def test_steady_throughput_needs_ten_records():
    assert steady_throughput(back_to_back(1, per_slot=9, service_s=0.1)) is None
    assert steady_throughput(back_to_back(1, per_slot=10, service_s=0.1)) is not None


def test_steady_throughput_is_none_when_all_end_together():
    records = [rec(f"t{i}", 0.0, 1.0) for i in range(20)]
    assert steady_throughput(records) is None


# concurrency


def test_concurrency_counts_the_most_tasks_running_at_once():
    records = [rec("a", 0.0, 3.0), rec("b", 1.0, 4.0), rec("c", 2.0, 2.5), rec("d", 3.5, 5.0)]
    assert concurrency(records).max == 3


def test_back_to_back_tasks_are_not_overlapping():
    records = [rec(f"t{i}", i * 0.25, (i + 1) * 0.25) for i in range(8)]
    c = concurrency(records)
    assert c.max == 1
    assert c.mean == pytest.approx(1.0)


def test_back_to_back_in_several_slots_peaks_at_the_slot_count():
    c = concurrency(back_to_back(4, per_slot=10, service_s=0.25, stagger=False))
    assert c.max == 4
    assert c.mean == pytest.approx(4.0)


def test_concurrency_mean_is_busy_time_over_the_window():
    records = [rec("a", 0.0, 1.0), rec("b", 0.0, 2.0), rec("c", 3.0, 4.0)]
    c = concurrency(records)
    assert c.max == 2
    assert c.mean == pytest.approx((1.0 + 2.0 + 1.0) / 4.0)


def test_concurrency_of_nothing_is_zero():
    c = concurrency([])
    assert (c.max, c.mean) == (0, 0.0)


def test_concurrency_of_instant_tasks_does_not_divide_by_zero():
    c = concurrency([rec("a", 1.0, 1.0)])
    assert math.isfinite(c.mean)


# latency


def test_latency_splits_wait_service_and_sojourn():
    records = [
        rec("a", started=1.0, finished=1.5, published=0.0),
        rec("b", started=2.0, finished=4.0, published=1.0),
    ]
    lat = latency(records)
    assert lat.wait_s.max == pytest.approx(1.0)
    assert lat.wait_s.mean == pytest.approx(1.0)
    assert lat.service_s.p50 == pytest.approx(0.5)
    assert lat.service_s.max == pytest.approx(2.0)
    assert lat.sojourn_s.p50 == pytest.approx(1.5)
    assert lat.sojourn_s.max == pytest.approx(3.0)
    assert lat.sojourn_s.mean == pytest.approx(2.25)


def test_latency_of_nothing_has_no_values():
    lat = latency([])
    assert lat.wait_s.p50 is None
    assert lat.sojourn_s.max is None


def _cpu_record(i, cpu_s):
    return TaskRecord(id=str(i), published=0.0, started=0.0, finished=1.0, state="SUCCESS", pid=1, cpu_s=cpu_s)


def test_task_cpu_with_thread_attribution_uses_each_task_own_cpu():
    records = [_cpu_record(i, v) for i, v in enumerate([0.004, 0.005, 0.006])]
    found = task_cpu(records, "thread", worker_cpu_s=99.0)
    assert found.attribution == "thread"
    assert found.p50_s == 0.005
    assert found.mean_s == pytest.approx(0.005)
    assert found.tasks == 3


def test_task_cpu_with_process_attribution_divides_the_worker_cpu_by_the_tasks():
    records = [_cpu_record(i, None) for i in range(4)]
    found = task_cpu(records, "process", worker_cpu_s=0.2)
    assert found.attribution == "process"
    assert found.p50_s is None
    assert found.mean_s == pytest.approx(0.05)

"""A soak's bounded state, on hand-made reports: rows a second written once
and in order, stall seconds, whole-run percentiles from log-bucketed
HDR histograms within 1% (p99 never above max), memory growth from the counts
the samples carry; and what a soak's options refuse."""

import random

import pytest

from bench.analysis.memory import Reading, Snapshot, memory_growth, series_of
from bench.analysis.soak import HISTOGRAM_RATIO, LONGEST_S, LogHistogram, SoakTally
from bench.analysis.stats import distribution
from bench.errors import UsageError
from bench.measure.config import build_run_config
from bench.measure.soak_options import default_backlog

T0 = 500.0


def report(started, finished, pid=7, state="SUCCESS"):
    return {"started": T0 + started, "finished": T0 + finished, "pid": pid, "node": 0, "state": state}


def test_rows_are_written_once_in_order_and_only_for_seconds_that_ended():
    tally = SoakTally(T0)
    for i in range(10):  # 4 a second from 0.1 s
        tally.finished(T0, report(0.1 + 0.25 * i, 0.2 + 0.25 * i))
        tally.in_flight(T0 + 0.2 + 0.25 * i, 5)
    assert tally.rows_before(T0 + 0.9) == []
    first = tally.rows_before(T0 + 2.0)
    assert [r["t_s"] for r in first] == [0, 1]
    assert [r["completions"] for r in first] == [4, 4]
    assert first[0]["in_flight"] == 5
    assert first[0]["sojourn_max_s"] == pytest.approx(0.95)
    assert [r["t_s"] for r in tally.rows_before(T0 + 3.0)] == [2]
    assert tally.seconds == 3


def test_a_second_without_a_completion_while_tasks_were_in_flight_is_a_stall():
    tally = SoakTally(T0)
    tally.in_flight(T0 + 0.5, 3)
    tally.finished(T0, report(0.1, 0.6))
    tally.in_flight(T0 + 1.5, 3)  # nothing finished in second 1 or 2
    tally.in_flight(T0 + 2.5, 3)
    tally.finished(T0, report(0.6, 3.2))
    tally.in_flight(T0 + 3.5, 0)
    rows = tally.rows_before(T0 + 4.0)
    assert [r["stall"] for r in rows] == [False, True, True, False]
    assert (tally.stall_seconds, tally.longest_stall_s) == (2, 2)


def test_a_late_report_goes_to_the_first_second_not_yet_written():
    tally = SoakTally(T0)
    tally.in_flight(T0 + 0.5, 1)
    assert len(tally.rows_before(T0 + 2.0)) == 2
    tally.finished(T0, report(0.2, 0.4))  # read after its second was written
    (row,) = tally.rows_before(T0 + 3.0)
    assert row["t_s"] == 2
    assert row["completions"] == 1
    assert tally.succeeded == 1


def test_the_histograms_percentiles_are_within_one_percent_and_never_above_the_max():
    rng = random.Random(3)
    values = [rng.lognormvariate(-4, 1) for _ in range(20_000)]
    hist = LogHistogram()
    for v in values:
        hist.add(v)
    exact, found = distribution(values), hist.distribution()
    for name in ("p50", "p90", "p99"):
        assert getattr(exact, name) <= getattr(found, name) <= getattr(exact, name) * HISTOGRAM_RATIO
    assert found.max == exact.max
    assert found.p99 <= found.max
    assert found.mean == pytest.approx(exact.mean)
    # an HDR histogram: its size is set by the range of values, not their number
    assert hist.hdr.counts_len == LogHistogram().hdr.counts_len
    assert hist.hdr.get_total_count() == len(values)
    tail = hist.tail()  # an open-loop soak's block: the same figures, to p99.9
    assert (tail.p50, tail.p99, tail.max, tail.n) == (found.p50, found.p99, found.max, len(values))
    assert tail.p99 <= tail.p999 <= tail.max


def test_a_latency_outside_the_histograms_range_is_counted_at_its_edge():
    hist = LogHistogram()
    for v in (0.0, 1e-9, 30 * 24 * 3600.0):
        hist.add(v)
    assert hist.n == hist.hdr.get_total_count() == 3
    assert hist.percentile(1) <= 1e-6 * HISTOGRAM_RATIO
    assert hist.percentile(100) == pytest.approx(LONGEST_S, rel=0.01)  # the week it can hold; max stays exact
    assert hist.max == 30 * 24 * 3600.0


def test_failures_are_counted_with_the_first_error():
    tally = SoakTally(T0)
    tally.finished(T0, {**report(0.1, 0.2), "state": "FAILURE", "error": "ValueError: no"})
    tally.finished(T0, report(0.2, 0.3))
    assert (tally.succeeded, tally.failed, tally.first_error) == (1, 1, "ValueError: no")


def test_memory_growth_reads_the_counts_a_soaks_samples_carry():
    """A soak keeps no executions: each sample carries every process's count."""
    snaps = []
    for k in range(20):
        done = 10 * k
        snaps.append(
            Snapshot(
                T0 + k,
                (
                    Reading(1, 0, True, 1, 5_000_000, 5_000_000, 0.0),
                    Reading(2, 0, False, 1, 1_000_000 + done * 51200, 1, 0.0),
                ),
                done={(0, 2): done},
            )
        )
    growth = memory_growth(series_of(snaps, 1.0))
    main, child = growth.processes
    assert child.kib_per_task == pytest.approx(50.0)
    assert child.tasks == 190
    assert main.tasks == 190  # prefork's main: its worker's
    assert growth.tree.kib_per_task == pytest.approx(50.0)


def test_a_soak_keeps_a_backlog_and_refuses_what_it_cannot_do():
    cfg = build_run_config(pool="prefork", concurrency=2, duration=600.0)
    assert (cfg.soak_s, cfg.tasks, cfg.open_loop) == (600.0, default_backlog("prefork", 2), False)
    assert default_backlog("prefork", 2) == 100
    assert default_backlog("gevent", 64) == 640
    assert build_run_config(duration=60.0, backlog=30).tasks == 30
    assert build_run_config(rate=10.0, duration=2.0).soak_s is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"duration": 60.0, "tasks": 100}, "a soak of the built-in workloads here; leave out --tasks"),
        ({"duration": 60.0, "workload": "stuck"}, "leave out --workload stuck"),
        ({"duration": 60.0, "stop_at": 3.0}, "leave out a deploy event"),
        ({"duration": 60.0, "memory_limit": 2**28}, "leave out --cpu-limit/--memory-limit"),
        ({"duration": 25 * 3600.0}, "a soak lasts above 0 and at most 24 h"),
        ({"backlog": 50}, "--backlog: the tasks a soak keeps in flight"),
        ({"duration": 60.0, "backlog": 5}, "--backlog: must be between"),
    ],
)
def test_bad_soak_options_are_refused_in_one_line(options, message):
    with pytest.raises(UsageError, match=message):
        build_run_config(**options)

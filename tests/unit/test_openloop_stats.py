"""Open-loop statistics on hand-built tasks: latency from the scheduled send
time, the measured window, backlog and drain, and the producer-limited flag."""

import pytest

from bench.analysis.openloop import SEND_LAG_P99_BOUND_S, OpenTask, summarize, tail


def task(i, scheduled, sent=None, started=None, finished=None, state="SUCCESS"):
    sent = scheduled + 0.001 if sent is None else sent
    started = sent + 0.001 if started is None else started
    finished = started + 0.050 if finished is None else finished
    return OpenTask(f"t{i}", scheduled, sent, started, finished, state)


def steady(n=100, rate=100.0, t0=10.0):
    return [task(i, t0 + i / rate) for i in range(n)]


def test_tail_percentiles_are_exact_nearest_rank_values():
    values = [i / 1000 for i in range(1, 1001)]  # 1 ms .. 1000 ms
    t = tail(values)
    assert (t.p50, t.p90, t.p99, t.p999, t.max) == (0.5, 0.9, 0.99, 0.999, 1.0)
    assert t.n == 1000
    assert tail([]).p99 is None


def test_latency_counts_from_the_scheduled_time_not_the_send():
    # The producer stalled: every task went out 0.5 s late, then ran at once.
    tasks = [task(i, 10 + i / 100, sent=10.5 + i / 100) for i in range(100)]
    s = summarize(tasks, 10.0, 11.0, 100.0)
    assert s.sojourn_s.p50 == pytest.approx(0.5 + 0.001 + 0.050)
    assert s.wait_s.p50 == pytest.approx(0.501)
    assert s.service_s.p50 == pytest.approx(0.050)
    # Measured from the send, the stall disappears: the reason never to do it.
    assert s.sojourn_from_sent_s.p50 == pytest.approx(0.051)
    assert s.producer_limited


def test_only_tasks_scheduled_in_the_window_count():
    tasks = steady(n=300, rate=100.0, t0=0.0)  # warm-up [0, 1), window [1, 2), after [2, 3)
    s = summarize(tasks, 1.0, 2.0, 100.0)
    assert s.scheduled == 100
    assert s.counted == 100
    assert s.warmup_tasks == 100


def test_a_task_still_queued_at_the_end_counts_with_its_whole_wait():
    tasks = steady(n=100, rate=100.0, t0=0.0)
    tasks[-1] = task(99, 0.99, started=5.0, finished=5.05)  # waited 4 s in the queue
    s = summarize(tasks, 0.0, 1.0, 100.0)
    assert s.sojourn_s.max == pytest.approx(5.05 - 0.99)
    assert s.backlog_at_end == 1
    assert s.drain_s == pytest.approx(4.05)


def test_completion_rate_counts_completions_inside_the_window_only():
    tasks = steady(n=100, rate=100.0, t0=0.0)
    late = [task(100 + i, 0.5, started=2.0, finished=2.1) for i in range(50)]
    s = summarize(tasks + late, 0.0, 1.0, 150.0)
    inside = sum(1 for t in tasks if t.finished < 1.0)
    assert s.achieved_completion_rate_per_s == pytest.approx(inside / 1.0)
    assert s.backlog_at_end == 50


def test_a_producer_on_schedule_is_not_limited():
    s = summarize(steady(), 10.0, 11.0, 100.0)
    assert not s.producer_limited
    assert s.send_rate_share == pytest.approx(1.0)
    assert s.achieved_send_rate_per_s == pytest.approx(100.0)
    assert s.send_lag_s.p99 == pytest.approx(0.001)


def test_a_producer_more_than_one_percent_behind_is_limited():
    # The last send of the window lands 2% of the window late.
    tasks = [task(i, 10 + i / 100, sent=10 + i / 100 * 1.02 + 0.02) for i in range(100)]
    s = summarize(tasks, 10.0, 11.0, 100.0)
    assert s.send_rate_share < 0.99
    assert s.producer_limited
    assert "of the offered rate" in s.producer_reason


def test_send_lag_above_the_bound_marks_the_run_producer_limited():
    lag = 2 * SEND_LAG_P99_BOUND_S
    tasks = [task(i, 10 + i / 100, sent=10 + i / 100 + (lag if i % 10 == 0 else 0.0)) for i in range(99)]
    s = summarize(tasks, 10.0, 11.0, 100.0)
    assert s.send_rate_share >= 0.99
    assert s.producer_limited
    assert "send lag p99" in s.producer_reason


def test_unsent_tasks_mark_the_run_producer_limited():
    tasks = steady()
    tasks[5] = OpenTask("t5", tasks[5].scheduled, None, None, None, None)
    s = summarize(tasks, 10.0, 11.0, 100.0)
    assert s.producer_limited
    assert s.not_finished == 1
    assert "were sent" in s.producer_reason

"""An open-loop soak's parts, without a broker: which runs at --rate are
soaks (--soak, or 5 minutes and more), their shorter warm-up and unmaterial
schedule; the tally's window (its completions, what was in flight at its
end) and the broker's queue depth a second; and the open loop's accounting
of the producer's numbered tasks (one bit each: a task run twice counts
once, a task not of this run not at all)."""

import subprocess
import sys

import pytest

from bench.analysis.soak import SoakTally
from bench.errors import UsageError
from bench.measure import arrivals as arrivals_mod
from bench.measure.arrivals import ClosedLoop, OpenLoop
from bench.measure.config import build_run_config
from bench.measure.schedule import Schedule
from bench.measure.soak_options import OPEN_SOAK_FROM_S, OPEN_SOAK_MAX_WARMUP_S

T0 = 100.0


def test_a_run_at_a_rate_is_a_soak_from_five_minutes_or_when_asked():
    assert build_run_config(rate=50.0, duration=OPEN_SOAK_FROM_S - 1).soak_s is None
    long = build_run_config(rate=50.0, duration=600.0)
    assert (long.soak_s, long.open_loop) == (600.0, True)
    # a fifth of the duration, at most a minute; the tasks counted from the rate, not a list of 33,000 offsets
    assert long.schedule.warmup_s == OPEN_SOAK_MAX_WARMUP_S
    assert long.tasks == 50 * 660
    asked = build_run_config(rate=50.0, duration=4.0, soak=True)
    assert (asked.soak_s, asked.schedule.warmup_s) == (4.0, 1.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"duration": 60.0, "soak": True}, "--soak: makes a run at --rate a soak; give --rate and --duration"),
        ({"rate": 5.0, "soak": True}, "--soak: makes a run at --rate a soak"),
        ({"rate": 5.0, "duration": 600.0, "backlog": 50}, "--backlog: a closed-loop soak's"),
        ({"rate": 5.0, "duration": 600.0, "tasks": 100}, "of 5 min or more: a soak of the built-in .*--tasks"),
        ({"rate": 5.0, "duration": 6.0, "soak": True, "hosts": ["h"]}, "--soak: a soak of the built-in .*--hosts"),
    ],
)
def test_what_an_open_loop_soak_refuses_is_said_in_one_line(options, message):
    with pytest.raises(UsageError, match=message):
        build_run_config(**options)


def test_a_schedule_is_the_same_one_at_a_time():
    for arrival in ("uniform", "poisson"):
        schedule = Schedule(40.0, arrival, 1.0, 2.0, seed=3)
        assert list(schedule.iter_offsets()) == schedule.offsets()
    assert Schedule(40.0, "uniform", 1.0, 2.0, 3).expected_tasks() == len(
        Schedule(40.0, "uniform", 1.0, 2.0, 3).offsets()
    )


def test_the_tally_counts_its_window_and_what_was_in_flight_at_its_end():
    tally = SoakTally(T0, window=(T0 + 1.0, T0 + 3.0))
    for finished in (0.5, 1.0, 2.9, 3.0, 3.5):
        tally.finished(T0, {"started": T0 + finished - 0.1, "finished": T0 + finished, "pid": 1, "state": "SUCCESS"})
    tally.in_flight(T0 + 2.5, 4)
    tally.in_flight(T0 + 3.2, 2)  # the first count at or after the window's end
    tally.in_flight(T0 + 3.9, 1)
    assert (tally.window_completions, tally.in_flight_at_window_end) == (2, 2)


def test_a_row_carries_the_brokers_last_answer_of_its_second():
    tally = SoakTally(T0)
    tally.queue_depth(T0 + 0.2, 9)
    tally.queue_depth(T0 + 0.8, 7)
    tally.queue_depth(T0 + 2.1, None)  # the broker did not answer
    rows = tally.rows_before(T0 + 3.0)
    assert [row.get("queue_depth") for row in rows] == [7, None, None]
    assert "queue_depth" not in rows[1]


def test_only_the_window_counts_in_the_whole_runs_latency():
    tally = SoakTally(T0)
    record = {"started": T0 + 1.0, "finished": T0 + 1.5, "pid": 1, "state": "SUCCESS"}
    tally.finished(T0, record, counted=False)  # a warm-up task
    tally.finished(T0 + 0.5, record)
    assert (tally.succeeded, tally.counted_succeeded, tally.sojourn.n) == (2, 1, 1)
    assert tally.sojourn.max == pytest.approx(1.0)


def test_the_open_loop_counts_each_numbered_task_once(tmp_path):
    (tmp_path / "producer-progress").write_text("5")
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(timeout=30)
    arrivals = OpenLoop(tmp_path, done, "q-", T0, Schedule(2.0, "uniform", 1.0, 2.0, seed=0))
    assert arrivals.send(T0 + 1.9, ending=False) is None
    assert (arrivals.published, arrivals.due, arrivals.in_flight()) == (5, 4, 5)
    assert arrivals.take({"id": "q-3", "scheduled": T0 + 2.0}) == T0 + 2.0
    assert arrivals.take({"id": "q-3", "scheduled": T0 + 2.0}) is None  # run twice: its first report counted
    assert arrivals.take({"id": "other-1"}) is None
    assert arrivals.take({"id": "q-70000"}) == T0  # no header: from the schedule's origin
    assert arrivals.counted(T0 + 2.0)
    assert not arrivals.counted(T0 + 0.5)
    assert (arrivals.in_flight(), arrivals.over(T0 + 5)) == (3, False)
    arrivals.send(T0 + 9.0, ending=True)
    assert (arrivals.due, arrivals.in_flight()) == (6, 4)  # due, and not reported: whether sent or not
    for i in (0, 1, 2):
        arrivals.take({"id": f"q-{i}", "scheduled": T0})
    assert arrivals.over(T0 + 5)
    assert arrivals.finish() is None  # no result file: the counts it has
    assert arrivals.missing == 0
    assert (arrivals.repeats.tasks, arrivals.repeats.runs, arrivals.repeats.examples) == (1, 1, ["q-3"])


def test_the_open_loop_names_its_first_lost_tasks(tmp_path):
    (tmp_path / "producer-progress").write_text("12")
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(timeout=30)
    arrivals = OpenLoop(tmp_path, done, "q-", T0, Schedule(12.0, "uniform", 1.0, 1.0, seed=0))
    for i in (0, 2, 3, 5, 7):
        arrivals.take({"id": f"q-{i}", "scheduled": T0})
    arrivals.send(T0 + 2.0, ending=True)
    arrivals.finish()
    assert arrivals.missing == 7
    assert arrivals.lost_examples == ("q-1", "q-4", "q-6", "q-8", "q-9")  # the first five never reported


def test_the_closed_loop_numbers_its_tasks_and_counts_a_task_run_again(monkeypatch):
    sent = []

    def publish(app, queue, task, args, count, calls=None, ids=None):
        made = {next(ids): T0 + len(sent) + k for k in range(count)}
        sent.extend(made)
        return made

    monkeypatch.setattr(arrivals_mod.load, "publish", publish)
    loop = ClosedLoop(None, "run-q", "task", [], backlog=3)
    assert sent == ["run-q-0", "run-q-1", "run-q-2"]
    assert loop.take({"id": "run-q-1"}) == T0 + 1
    assert loop.take({"id": "run-q-1"}) is None  # reported before: run twice
    assert loop.take({"id": "run-q-1"}) is None  # and a third time
    assert loop.take({"id": "someone-else"}) is None  # not ours: not counted
    assert (loop.repeats.tasks, loop.repeats.runs, loop.repeats.examples) == (1, 2, ["run-q-1"])
    assert loop.send(T0 + 5, ending=False) is None
    assert sent[-1] == "run-q-3"  # topped up with the next number
    loop.take({"id": "run-q-0"})
    loop.finish()
    assert (loop.missing, loop.lost_examples) == (2, ("run-q-2", "run-q-3"))

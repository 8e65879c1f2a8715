"""Per-class results and the time tasks sat reserved while a slot was
free (bench/analysis/classes.py), on hand-built timelines whose answers
are known by construction."""

import pytest

from bench.analysis.classes import FREE_WAIT_MIN_S, ClassTask, class_fields, occupancy


def test_occupancy_counts_the_seconds_a_slot_was_free():
    # two slots: one busy 0-2 s, the other 0-0.5 s and 1-2 s
    slots_busy = occupancy([(0.0, 2.0), (0.0, 0.5), (1.0, 2.0)], slots=2)
    assert slots_busy.free_s(0.0, 2.0) == pytest.approx(0.5)
    assert slots_busy.free_s(0.25, 0.75) == pytest.approx(0.25)
    assert slots_busy.free_s(1.2, 1.8) == 0.0
    assert slots_busy.free_s(2.0, 3.0) == pytest.approx(1.0)  # after the last end: all free


def hol_case():
    """Two workers with one slot each. Worker A runs a 2 s long task from
    t=0 and holds three short tasks it received at 0.1, 0.2 and 0.3 s; they
    start at 2.0, 2.01 and 2.02 s. Worker B runs one short task 0.05-0.06
    and then idles. Two more short tasks run on B at once."""
    return [
        ClassTask("long", 0.0, 0.0, 2.0, "SUCCESS", received=0.0),
        ClassTask("short", 0.1, 2.0, 2.01, "SUCCESS", received=0.1),
        ClassTask("short", 0.2, 2.01, 2.02, "SUCCESS", received=0.2),
        ClassTask("short", 0.3, 2.02, 2.03, "SUCCESS", received=0.3),
        ClassTask("short", 0.05, 0.05, 0.06, "SUCCESS", received=0.05),
        ClassTask("short", 2.5, 2.5, 2.51, "SUCCESS", received=2.5),
        ClassTask("short", 2.6, 2.6, 2.61, "SUCCESS", received=2.6),
    ]


def test_tasks_held_behind_a_long_one_while_another_worker_idles_waited_while_a_slot_was_free():
    fields = class_fields(hol_case(), ["short", "long"], slots=2)
    short = fields["short"]
    # B idles from 0.06 to 2.0 (and after 2.03 but then the held ones have started):
    # the held tasks waited 0.1-2.0, 0.2-2.01, 0.3-2.02, each of it with B's slot free until 2.0
    assert short["reserved_while_free_s"] == pytest.approx(1.9 + 1.8 + 1.7, abs=0.03)
    assert short["waited_while_free"] == 3
    assert short["longest_wait_while_free_s"] == pytest.approx(1.9, abs=0.01)
    assert short["reserved_max_s"] == pytest.approx(1.9)
    assert short["tasks"] == {"counted": 6, "succeeded": 6, "failed": 0, "not_finished": 0}
    assert short["wait_max_s"] == pytest.approx(1.9)
    assert short["service_max_s"] == pytest.approx(0.01)
    assert fields["long"]["waited_while_free"] == 0
    assert fields["long"]["service_p50_s"] == 2.0


def test_the_same_tasks_queued_at_the_broker_instead_count_no_reserved_time():
    # prefetch 1 + acks_late: B takes the short tasks as they come, nothing waits reserved
    tasks = [
        ClassTask("long", 0.0, 0.0, 2.0, "SUCCESS", received=0.0),
        *[ClassTask("short", t, t, t + 0.01, "SUCCESS", received=t) for t in (0.05, 0.1, 0.2, 0.3)],
    ]
    short = class_fields(tasks, ["short"], slots=2)["short"]
    assert short["reserved_while_free_s"] == 0.0
    assert short["waited_while_free"] == 0
    assert short["wait_max_s"] == 0.0


def test_a_hand_over_of_a_few_milliseconds_is_not_counted_as_waiting():
    # one slot: a task received while the other ends, started 5 ms later
    tasks = [
        ClassTask("a", 0.0, 0.0, 1.0, "SUCCESS", received=0.0),
        ClassTask("a", 0.5, 1.005, 1.5, "SUCCESS", received=0.5),
    ]
    fields = class_fields(tasks, ["a"], slots=1)["a"]
    assert fields["reserved_while_free_s"] == pytest.approx(0.005)
    assert fields["waited_while_free"] == 0
    assert FREE_WAIT_MIN_S > 0.005


def test_open_loop_counts_only_the_window_and_its_completions():
    tasks = [
        ClassTask("a", 0.5, 0.5, 0.6, "SUCCESS"),  # warm-up: not counted
        ClassTask("a", 1.0, 1.0, 1.1, "SUCCESS"),
        ClassTask("a", 2.0, 2.0, 2.2, "SUCCESS"),
        ClassTask("a", 2.9, None, None, None),  # never reported
    ]
    fields = class_fields(tasks, ["a"], slots=1, window=(1.0, 3.0))["a"]
    assert fields["tasks"] == {"counted": 3, "succeeded": 2, "failed": 0, "not_finished": 1}
    assert fields["throughput_per_s"] == pytest.approx(2 / 2.0)
    assert fields["sojourn_max_s"] == pytest.approx(0.2)
    assert fields["reserved_p99_s"] is None  # no received times recorded


def test_a_drained_class_throughput_is_over_the_batchs_span():
    tasks = [ClassTask("a", 0.0, 0.0, 1.0, "SUCCESS"), ClassTask("b", 0.0, 1.0, 4.0, "SUCCESS")]
    fields = class_fields(tasks, ["a", "b"], slots=1)
    assert fields["a"]["throughput_per_s"] == pytest.approx(1 / 4.0)
    assert fields["b"]["throughput_per_s"] == pytest.approx(1 / 4.0)


def test_under_dedicated_routing_only_the_slots_of_a_tasks_own_queue_count():
    # lane 0 (one slot) runs short tasks back to back; lane 1's slot idles: a short task that waits
    # behind another short one waited for its own queue's slot, not while one that could take it was free
    tasks = [
        ClassTask("short", 0.0, 0.0, 0.5, "SUCCESS", received=0.0, lane=0),
        ClassTask("short", 0.1, 0.5, 1.0, "SUCCESS", received=0.1, lane=0),
        ClassTask("long", 2.0, 2.0, 4.0, "SUCCESS", received=2.0, lane=1),
    ]
    by_lane = class_fields(tasks, ["short", "long"], slots=[1, 1])["short"]
    assert by_lane["waited_while_free"] == 0
    assert by_lane["reserved_while_free_s"] == 0.0
    assert by_lane["reserved_max_s"] == pytest.approx(0.4)
    # one shared queue over the same two slots: the second slot was free while it waited
    shared = class_fields([ClassTask(**{**vars(t), "lane": 0}) for t in tasks], ["short"], slots=2)["short"]
    assert shared["waited_while_free"] == 1
    assert shared["reserved_while_free_s"] == pytest.approx(0.4)


def test_the_terminal_shows_a_row_per_class_and_the_waits_while_a_slot_was_free():
    from bench.output.classes import classes_summary
    from bench.results.io import read_run
    from tests.helpers.paths import ROOT

    result = read_run(ROOT / "tests" / "data" / "v23" / "run.json")
    text = classes_summary(result)
    assert text is not None
    lines = text.splitlines()
    assert "traffic: 2 classes from hol.toml (seed 28); latency from its scheduled send time, ms" in lines[1]
    short = next(line for line in lines if line.strip().startswith("short"))
    assert "1210.0" in short  # its sojourn p99, ms
    assert "1 task, 1.18 s in all" in short
    long = next(line for line in lines if line.strip().startswith("long"))
    assert long.rstrip().endswith("none")


def test_a_task_held_for_its_eta_is_reserved_only_from_its_eta():
    # received at 0.2 s with a countdown to 1.0 s, started at 1.005 s; the other slot idle all along
    tasks = [ClassTask("later", 1.0, 1.005, 1.01, "SUCCESS", received=0.2), ClassTask("now", 0.0, 0.0, 0.01, "SUCCESS")]
    later = class_fields(tasks, ["later"], slots=2)["later"]
    assert later["reserved_max_s"] == pytest.approx(0.005)
    assert later["waited_while_free"] == 0
    assert later["wait_max_s"] == pytest.approx(0.005)

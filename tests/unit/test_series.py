"""A run second by second, from hand-built records: completions, in flight,
the latency of what finished, the stall seconds of a blocked task, and
each process's memory at the second's last sample; written as JSON Lines."""

import json

from bench.analysis.memory import Reading, Snapshot
from bench.analysis.series import drift, per_second, recycle_seconds, series_figures
from bench.analysis.stats import TaskRecord
from bench.output.memory import recycle_dip, series_line
from bench.results.io import write_lines_atomic

T0 = 100.0


def one_at_a_time(sizes):
    """One slot running tasks of `sizes` (s) back to back, all published at T0."""
    published, records, t = {}, [], T0
    for i, size in enumerate(sizes):
        published[f"t{i}"] = T0
        records.append(TaskRecord(f"t{i}", T0, t, t + size, "SUCCESS", 7))
        t += size
    return published, records


def test_each_second_counts_what_completed_and_what_was_in_flight():
    published, records = one_at_a_time([0.25] * 8)  # 4 a second, for 2 s
    rows = per_second(published, records)
    assert [r["t_s"] for r in rows] == [0, 1, 2]  # the last ends at exactly 2.0 s: in the third second
    assert [r["completions"] for r in rows] == [3, 4, 1]  # the 4th ends at exactly 1.0 s: in the second
    assert [r["in_flight"] for r in rows] == [5, 1, 0]
    assert rows[0]["waiting"] + rows[0]["running"] == rows[0]["in_flight"]
    assert rows[0]["sojourn_max_s"] == 0.75
    assert rows[1]["wait_p50_s"] == 1.0  # waits 0.75, 1.0, 1.25, 1.5: the nearest rank
    assert not any(r["stall"] for r in rows)


def test_a_blocked_task_makes_stall_seconds():
    published, records = one_at_a_time([0.1, 2.5, 0.1, 0.1])  # blocked from 0.1 s to 2.6 s
    rows = per_second(published, records)
    assert [r["stall"] for r in rows] == [False, True, False]
    figures = series_figures(rows, "run.series.jsonl")
    assert (figures.seconds, figures.stall_seconds, figures.longest_stall_s) == (3, 1, 1)
    assert "1 with nothing completed" in series_line(figures)[0]


def test_a_second_carries_each_process_memory_at_its_last_sample():
    published, records = one_at_a_time([0.5] * 4)
    snaps = [Snapshot(T0 + t, (Reading(7, 0, True, 30, 10 + k, 20, 0.1),)) for k, t in enumerate((0.2, 0.9, 1.5))]
    rows = per_second(published, records, snaps)
    assert rows[0]["memory"] == [{"pid": 7, "node": 0, "main": True, "rss_bytes": 30, "uss_bytes": 11,
                                  "pss_bytes": 20, "cpu_s": 0.1}]  # fmt: skip
    assert rows[1]["memory"][0]["uss_bytes"] == 12


def test_the_series_is_written_one_json_object_a_line(tmp_path):
    published, records = one_at_a_time([0.5] * 4)
    path = write_lines_atomic(tmp_path / "run.series.jsonl", per_second(published, records))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["t_s"] for line in lines] == [0, 1, 2]


def test_drift_compares_the_first_and_last_tenth_of_the_whole_seconds():
    # 22 rows: the first and last (partial) left out, 20 whole seconds, tenths of 2
    completions = [3] + [100, 100] + [90] * 16 + [80, 80] + [7]
    assert drift(iter(completions), len(completions)) == (100.0, 80.0)
    assert drift([5, 5, 5], 3) == (None, None)


def row(completions, *children, main=1):
    """A series row whose sample saw the worker's main process and `children` (pids)."""
    memory = [{"pid": main, "node": 0, "main": True}] + [{"pid": p, "node": 0, "main": False} for p in children]
    return {"completions": completions, "memory": memory}


def test_the_seconds_around_a_replacement_are_set_against_the_others():
    # pool processes 10 and 11; 12 replaces 10, first seen in second 4: seconds 3 and 4 carry the recycle
    rows = [row(50, 10, 11), row(100, 10, 11), row(100, 10, 11), row(80, 10, 11), row(70, 11, 12)]
    rows += [row(100, 11, 12), row(100, 11, 12), row(30, 11, 12)]
    dip = recycle_seconds(rows, len(rows))
    # whole seconds 1..6 (the first and last, partial, left out): 3 and 4 against 1, 2, 5, 6
    assert dip == {"recycle_seconds": 2, "recycle_second_per_s": 75.0, "other_second_per_s": 100.0}
    figures = series_figures([dict(r, stall=False) for r in rows], "s.jsonl")
    assert (figures.recycle_seconds, figures.recycle_second_per_s) == (2, 75.0)
    assert recycle_dip(figures) == (
        "2 s with a pool process replaced (its second and the one before) completed 75.0 tasks/s, "
        "the others 100.0 (-25%)"
    )


def test_no_replacement_no_memory_and_a_worker_of_its_own_main_process_only():
    steady = [row(100, 10, 11) for _ in range(6)]
    none = {"recycle_seconds": 0, "recycle_second_per_s": None, "other_second_per_s": 100.0}
    assert recycle_seconds(steady, 6) == none
    assert recycle_dip(series_figures([dict(r, stall=False) for r in steady], "s.jsonl")) is None
    unsampled = [{"completions": 100} for _ in range(6)]
    assert recycle_seconds(unsampled, 6)["recycle_seconds"] is None
    # a row with no sample counts in neither; a replacement seen after it still marks its second and the one before
    gap = [row(100, 10), row(100, 10), {"completions": 40}, row(60, 11), row(100, 11), row(100, 11)]
    assert recycle_seconds(gap, 6) == {"recycle_seconds": 1, "recycle_second_per_s": 60.0, "other_second_per_s": 100.0}


def test_a_replacement_every_second_leaves_nothing_to_set_it_against():
    rows = [row(90, 10 + k) for k in range(6)]
    dip = recycle_seconds(rows, 6)
    assert dip == {"recycle_seconds": 4, "recycle_second_per_s": 90.0, "other_second_per_s": None}
    figures = series_figures([dict(r, stall=False) for r in rows], "s.jsonl")
    assert "every second had one" in recycle_dip(figures)

"""The words of `sweep --check` (bench/output/check.py), on hand-built check.json documents."""

from types import SimpleNamespace

import pytest

from bench.measure.queue_depth import DepthMoves, DepthRate
from bench.output.check import check_markdown, check_text, comparison

DOCUMENT = {
    "kind": "sweep-check",
    "points": [
        {"point": "sleep-20ms-solo-c1", "harness_steady_per_s": 44.1, "reference_steady_per_s": 41.3,
         "ratio": 44.1 / 41.3, "harness_findings": [], "reference_findings": [], "verdict": "agree"},
        {"point": "sleep-15ms-gevent-c32", "harness_steady_per_s": 9.0, "reference_steady_per_s": 12.0,
         "ratio": 0.75, "harness_findings": ["idle_gaps"], "reference_findings": ["duplicates", "idle_gaps"],
         "verdict": "differ"},
        {"point": "sleep-20ms-threads-c2-w2", "skipped": "2 workers: the reference runs one"},
    ],
}  # fmt: skip


def test_the_check_table_marks_a_point_outside_ten_percent_and_names_it():
    text = check_text(DOCUMENT)
    solo = next(line for line in text.splitlines() if "solo-c1 " in line)
    assert "1.07" in solo
    assert "*" not in solo
    gevent = next(line for line in text.splitlines() if "gevent" in line)
    assert "0.75 *" in gevent
    assert "harness: idle_gaps; plain worker: duplicates, idle_gaps" in gevent
    assert "not checked: 2 workers: the reference runs one" in text
    assert text.splitlines()[-1] == (
        "1 of 2 checked points differ from a plain worker by more than 10%: sleep-15ms-gevent-c32 "
        "(see check.json for each verdict)"
    )


def test_a_check_where_all_agree_says_so():
    agreeing = {"points": DOCUMENT["points"][:1]}
    assert check_text(agreeing).splitlines()[-1] == "the checked point agrees with a plain worker within 10%"


def test_the_reports_check_section_is_a_markdown_table():
    text = check_markdown(DOCUMENT)
    assert "## Fidelity check: the harness against a plain worker" in text
    rows = [line for line in text.splitlines() if line.startswith("| sleep")]
    assert len(rows) == 3
    assert all(row.count("|") == 6 for row in rows)


def test_a_check_compares_with_the_plain_worker_without_events_where_it_was_measured():
    tasks = SimpleNamespace(published=10, succeeded=10, failed=0, missing=0, duplicates=0)
    summary = SimpleNamespace(
        steady_throughput_per_s=100.0, throughput_per_s=99.0, mean_concurrency=8.0, tasks=tasks,
        started_more_than_once=0, worker_cpu_per_task_s=None, health=None, resources=None,
    )  # fmt: skip
    rate = DepthRate(125.0, 1.0, 90, 10, 0.0, 1.0, "crossings")
    depth = SimpleNamespace(rate=rate, moves=DepthMoves(0, ()), log=None)
    entry = comparison(SimpleNamespace(summary=summary), SimpleNamespace(summary=summary, health=None, depth=depth))
    assert entry["reference_steady_per_s"] == 125.0
    assert entry["reference_counted_by"] == "queue depth, no events"
    assert entry["reference_events_steady_per_s"] == 100.0
    assert entry["ratio"] == pytest.approx(0.8)
    without = comparison(SimpleNamespace(summary=summary), SimpleNamespace(summary=summary, health=None, depth=None))
    assert (without["reference_steady_per_s"], without["reference_counted_by"]) == (100.0, "task events (-E)")

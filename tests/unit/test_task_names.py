"""A user's own task is named by its task name wherever a person reads
it (tables, titles, warnings, reports, compare, the plan), never by the
size its profile gave it ("task 25.246 ms"); its points' keys and
directories stay as they were, so files written before still read and
match."""

import dataclasses

import pytest

from bench.analysis.groups import group_key, group_label, groups
from bench.analysis.summary import analyze
from bench.output import markdown, sweep_terminal
from bench.output.openloop_plot import verdict_markdown
from bench.output.plan import describe
from bench.output.plot_style import title
from bench.results.compare import PointKey
from bench.sweep.config import PROFILES
from bench.sweep.plan import build_plan
from bench.sweep.store import load_summary
from tests.helpers.paths import REFERENCE

TASK, APP = "orders.place", "orders"
PROFILE = (0.005, 0.020246)  # s of CPU and of waiting per call: 25.246 ms in all
SIZED = "task-25.246ms"  # what the size made of its keys


@pytest.fixture(scope="module")
def swept():
    """The reference's I/O-bound points as a sweep of the user's task
    `orders.place`, keyed as such a sweep keys them."""
    summary, _ = load_summary(REFERENCE)
    points = tuple(
        dataclasses.replace(
            p, workload="task", task=TASK, task_ms=25.246, profile=PROFILE, key=p.key.replace("sleep-50ms", SIZED)
        )
        for p in summary.points
        if p.workload == "sleep"
    )
    config = dataclasses.replace(
        summary.config, workloads=("task",), user_task={"app": APP, "task": TASK}, task_profile=PROFILE
    )
    summary = dataclasses.replace(summary, points=points, config=config)
    return summary, analyze(summary)


def test_the_keys_on_disk_keep_the_size_and_the_words_name_the_task(swept):
    summary, _ = swept
    point = summary.points[0]
    assert point.key == f"{SIZED}-prefork-c1"  # its directory, as before
    assert group_key(point) == SIZED  # its figures' files
    assert point.name == f"{TASK}-prefork-c1"
    assert group_label(point) == TASK


def test_the_terminal_tables_and_warnings_name_the_task(swept):
    summary, analysis = swept
    text = sweep_terminal.report_end(summary, analysis)
    assert "task 25" not in text
    assert SIZED not in text
    assert [row[0] for row in sweep_terminal.verdict_rows(summary, analysis)[1:]] == [TASK] * 4
    assert f"  - {TASK}-prefork: best at the largest -c tried (16)" in text
    assert f"  - {TASK}-gevent-c256: unstable" in text


def test_the_report_names_the_task_and_keeps_only_the_figures_files(swept):
    summary, analysis = swept
    text = markdown.render(summary, "complete", analysis, "orders")
    assert "task 25" not in text
    # the size is left only in the figures' file names, which stay as they were
    assert text.count(SIZED) == text.count(f"-{SIZED}.png)") > 0
    assert f"task `{TASK}` of app `{APP}`" in text
    assert f"| {TASK} | prefork |" in text


def test_the_figures_titles_name_the_task_with_its_profile(swept):
    summary, _ = swept
    (curves,) = groups(summary).values()
    heading = title(curves, "Throughput", 2.0)
    assert heading.startswith(f"Throughput: {TASK} (5 ms CPU + 20.2 ms waiting, from its profile)")
    assert "task 25" not in heading


def test_compare_names_the_task_and_matches_points_as_before():
    sized = {"pool": "threads", "concurrency": 4, "workload": "task", "task_ms": 25.246, "cpus": 2.0, "broker": "redis"}
    named = PointKey(**sized, task=TASK)
    assert named.name == f"{TASK}-threads-c4"
    # a file that did not record the name still matches it
    assert named == PointKey(**sized)
    assert hash(named) == hash(PointKey(**sized))
    assert PointKey(**sized).name == f"{SIZED}-threads-c4"


def test_the_plan_names_the_task():
    plan = build_plan(("threads",), (), PROFILES["quick"], 2.0, [0, 1], user_task=TASK, task_profile=PROFILE)
    assert plan[0].key.startswith(f"{SIZED}-threads-c")
    text = describe(plan, PROFILES["quick"])
    assert f"  {TASK}" in text
    assert "task 25" not in text


def test_the_open_loop_verdicts_name_the_task():
    point = {"pool": "threads", "concurrency": 8, "workload": "task", "task_ms": 25.246, "cpus": None, "task": TASK}
    document = {
        "points": [{**point, "rates": [{"rate": 50.0}]}],
        "verdicts": {SIZED: {"threads": {"word": "holds", "reason": "at 50 tasks/s, ..."}}},
    }
    assert f"| {TASK} | threads | **holds** |" in verdict_markdown(document)

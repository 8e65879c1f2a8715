"""The run's result, built from hand-made records with the clock and the
machine fixed: the whole version-2 document against a golden file, the
status decision, and reading version-1 documents."""

import dataclasses
import json

import pytest

from bench.measure.result import (
    build_result,
    decide_status,
    health_context,
    run_metadata,
    run_settings,
    summarize_run,
)
from bench.output.terminal import run_summary
from bench.results.io import read_run
from bench.results.schema import (
    SCHEMA_VERSION,
    Finding,
    Health,
    RunSummary,
    TaskCounts,
    run_from_json,
    run_to_json,
)
from tests.helpers.golden import GOLDEN, check_golden
from tests.helpers.hand_made_run import (
    BOUND,
    BROKER,
    CFG,
    ENDED,
    MACHINE,
    PLACEMENT,
    PUBLISHED,
    RECORDS,
    RUN_ID,
    STARTED,
    golden_result,
    observed,
)
from tests.helpers.paths import DATA


def test_the_whole_run_document_matches_the_golden_file():
    text = json.dumps(run_to_json(golden_result()), indent=1, allow_nan=False) + "\n"
    check_golden("run.json", text)


def test_the_golden_document_reads_back_as_the_same_result(tmp_path):
    path = tmp_path / "run.json"
    path.write_text((GOLDEN / "run.json").read_text())
    assert read_run(path) == golden_result()


def test_a_version_1_document_reads_as_the_same_result():
    """tests/data/v1/run.json: the same run, written by the version-1 code."""
    old = read_run(DATA / "v1" / "run.json")
    assert old.schema_version == 1
    # Every field version 1 had reads the same; the fields added since
    # (per-task CPU, estimated ceilings, health, the settings of tasks in
    # flight at a stop, disable_prefetch) read as absent, and the failure's reason did not
    # name the task that ran twice yet.
    now = golden_result()
    absent = dataclasses.replace(
        now,
        config=dataclasses.replace(
            now.config, reject_on_worker_lost=None, soft_shutdown_timeout=None, disable_prefetch=None
        ),
        status=dataclasses.replace(now.status, reason=now.status.reason.removesuffix("; 1 ran twice")),
        summary=dataclasses.replace(
            now.summary, task_cpu=None, ceiling_estimated=None, above_estimated_ceiling=None, health=None
        ),
        samples=dataclasses.replace(now.samples, cpu_s=(), rss_bytes=None),
    )
    assert dataclasses.replace(old, schema_version=SCHEMA_VERSION) == absent


def test_version_1_documents_missing_fields_read_as_none():
    doc = {
        "schema_version": 1,
        "kind": "run",
        "status": {"state": "ok", "reason": None},
        "config": {"pool": "gevent", "concurrency": 16, "broker": {"kind": "redis", "embedded": True}},
        "summary": {"throughput_per_s": 99.5},
        "metadata": {"hostname": "vm"},
    }
    result = run_from_json(doc)
    assert result.measured_per_s == 99.5
    assert result.config.broker.kind == "redis"
    assert result.config.workload is None
    assert result.summary.latency.wait_s.p99 is None
    assert result.samples is None


def test_the_run_document_has_no_path_of_its_own():
    assert "path" not in run_to_json(golden_result())


# --- The summary, pure over the records -----------------------------------------


def test_a_task_reported_twice_counts_once_and_as_a_duplicate():
    summary = summarize_run(observed(), BOUND)
    assert summary.tasks == TaskCounts(published=12, succeeded=11, failed=0, missing=1, duplicates=1)
    assert summary.processes_used == 2
    assert summary.max_concurrency == 2


def test_throughput_is_over_the_first_start_to_the_last_end():
    summary = summarize_run(observed(), BOUND)
    first = min(r.started for r in RECORDS)
    last = max(r.finished for r in RECORDS)
    assert summary.window_s == pytest.approx(last - first)
    assert summary.throughput_per_s == pytest.approx(11 / (last - first))
    assert summary.efficiency == pytest.approx(summary.throughput_per_s / BOUND.per_s)
    assert not summary.above_ceiling


def test_nothing_done_has_no_throughput():
    summary = summarize_run(observed(records=[]), BOUND)
    assert summary.throughput_per_s is None
    assert summary.window_s is None
    assert summary.efficiency is None
    assert summary.tasks.missing == 12


# --- The status decision, on hand-built summaries ---------------------------------


def complete(**fields):
    tasks = TaskCounts(published=10, succeeded=10, failed=0, missing=0, duplicates=0)
    return RunSummary(tasks=tasks, throughput_per_s=90.0, ceiling_per_s=100.0, above_ceiling=False, **fields)


def test_a_complete_batch_under_its_ceiling_is_ok():
    status = decide_status("complete", None, complete())
    assert (status.state, status.reason, status.outcome) == ("ok", None, "complete")


def test_an_interrupted_batch_is_interrupted_whatever_it_counted():
    assert decide_status("interrupted", None, complete()).state == "interrupted"


def test_missing_tasks_fail_the_run_with_the_counts():
    summary = dataclasses.replace(complete(), tasks=TaskCounts(10, 8, 0, 2, 0))
    status = decide_status("stalled", "no task finished for 10 s", summary)
    assert status.state == "failed"
    assert status.reason == "0 failed and 2 missing of 10 tasks (stalled: no task finished for 10 s)"


def test_a_failed_task_fails_the_run_and_names_the_first_error():
    summary = dataclasses.replace(complete(), tasks=TaskCounts(10, 9, 1, 0, 0))
    status = decide_status("complete", None, summary, first_error="TypeError: boom")
    assert status.state == "failed"
    assert status.reason == "1 failed and 0 missing of 10 tasks (complete); first error: TypeError: boom"


def test_a_failed_run_s_reason_names_the_tasks_that_ran_twice():
    health = Health((Finding("duplicates", 16, extra_runs=16), Finding("lost", 1)))
    summary = dataclasses.replace(complete(), tasks=TaskCounts(400, 399, 0, 1, 16), health=health)
    status = decide_status("timed out", "the batch took over 60 s", summary)
    assert status.reason == "0 failed and 1 missing of 400 tasks (timed out: the batch took over 60 s); 16 ran twice"


def test_a_batch_that_did_not_complete_fails_even_with_every_task_counted():
    assert decide_status("worker exited", None, complete()).state == "failed"


def test_a_throughput_above_the_ceiling_fails_the_run_as_a_harness_bug():
    summary = dataclasses.replace(complete(), throughput_per_s=120.0, above_ceiling=True)
    status = decide_status("complete", None, summary)
    assert status.state == "failed"
    assert "above the physical ceiling of 100.0 tasks/s" in status.reason


def test_the_terminal_summary_of_the_golden_run_matches_its_golden_file():
    check_golden("run.txt", run_summary(golden_result()) + "\n")


# --- Health, in the summary and its JSON ---------------------------------------------


def test_the_run_s_health_counts_its_duplicate_and_its_missing_task():
    health = golden_result().summary.health
    assert [(f.kind, f.count) for f in health.findings] == [("duplicates", 1), ("lost", 1)]
    assert health.of("duplicates").examples == ("task-05",)
    assert health.of("lost").examples == ("task-11",)


def test_the_health_context_comes_from_the_run_s_settings():
    settings = dataclasses.replace(
        run_settings(CFG, BROKER, "disabled://", PLACEMENT), workers=3, acks_late=True, max_tasks_per_child=5
    )
    ctx = health_context(settings)
    assert (ctx.pool, ctx.concurrency, ctx.slots, ctx.processes) == ("prefork", 2, 2, 6)
    assert (ctx.acks_late, ctx.prefetch_multiplier, ctx.broker_kind, ctx.max_tasks_per_child) == (True, 4, "redis", 5)
    gevent = dataclasses.replace(settings, pool="gevent", concurrency=32, slots=32)
    assert health_context(gevent).processes == 3


def test_health_is_written_and_read_back():
    result = golden_result()
    assert run_from_json(json.loads(json.dumps(run_to_json(result)))).summary.health == result.summary.health


def test_a_healthy_run_writes_no_findings_and_reads_back_healthy():
    result = build_result(
        run_settings(CFG, BROKER, "disabled://", PLACEMENT),
        BOUND,
        observed(outcome="complete", detail=None, records=RECORDS[:11], published=dict(list(PUBLISHED.items())[:11])),
        RUN_ID,
        run_metadata(MACHINE, STARTED, ENDED),
    )
    document = json.loads(json.dumps(run_to_json(result)))
    assert document["summary"]["health"] == {"findings": [], "unchecked": []}  # every kind looked for
    assert run_from_json(document).summary.health.ok


def test_a_document_without_health_reads_as_not_diagnosed():
    document = run_to_json(golden_result())
    del document["summary"]["health"]
    assert run_from_json(document).summary.health is None


def test_the_tasks_line_says_what_a_duplicate_is_and_the_health_follows_it():
    lines = run_summary(golden_result()).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  tasks:"))
    assert lines[at] == "  tasks: 12 published = 11 succeeded + 0 failed + 1 missing; 1 ran twice"
    assert lines[at + 1] == "  health: 2 findings (Celery misbehaved)"


def test_a_run_read_from_before_the_health_check_says_its_repeated_reports_alone():
    old = golden_result()
    old = dataclasses.replace(old, summary=dataclasses.replace(old.summary, health=None))
    last = run_summary(old).splitlines()[-1]
    assert last.endswith("1 missing; 1 extra run of tasks already reported (run again)")

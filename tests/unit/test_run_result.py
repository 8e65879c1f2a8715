"""The run's result, built from hand-made records with the clock and the
machine fixed: the whole version-2 document against a golden file, the
status decision, and reading version-1 documents."""

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path

import pytest

from bench.analysis.stats import TaskRecord
from bench.measure.config import RunConfig
from bench.measure.result import (
    Observed,
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
    BrokerInfo,
    Placement,
    Resources,
    RunSummary,
    TaskCounts,
    run_from_json,
    run_to_json,
)
from bench.workloads import WORKLOADS, ceiling

DATA = Path(__file__).resolve().parents[1] / "data"

CFG = RunConfig(
    pool="prefork",
    concurrency=2,
    workload="sleep",
    task_ms=50.0,
    tasks=12,
    warmup=4,
    prefetch_multiplier=4,
    broker_url=None,
    redis_server=None,
    loglevel="warning",
    result_backend="none",
    output_dir=Path("results"),
    json_path=None,
    cores=2.0,
    cpus=(1,),
)
T0 = 1000.0  # s, monotonic: the first publish
PUBLISHED = {f"task-{i:02d}": T0 + 0.001 * i for i in range(12)}
# Two processes, each running one 50 ms task after another; task-11 went
# missing, task-05 is reported twice (redelivered).
RECORDS = [
    TaskRecord(
        f"task-{i:02d}",
        T0 + 0.001 * i,
        T0 + 0.1 + 0.05 * (i // 2),
        T0 + 0.148 + 0.05 * (i // 2) + 0.0001 * i,
        "SUCCESS",
        100 + i % 2,
    )
    for i in range(11)
]
RECORDS.append(RECORDS[5])
MACHINE = {  # as machine.describe() gives it
    "hostname": "golden-host",
    "cpu_model": "Golden CPU @ 2.0GHz",
    "cpu_count": 4,
    "usable_cores": 2.0,
    "memory_bytes": 8 * 2**30,
    "os": "Linux-6.1-x86_64",
    "python": "3.12.1",
    "python_implementation": "CPython",
    "packages": {"celery": "5.4.0", "kombu": "5.4.0", "billiard": "4.2.0", "gevent": None},
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
}
# The frozen clock: the run's start and end.
STARTED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
ENDED = dt.datetime(2026, 1, 2, 3, 4, 6, 500_000, tzinfo=dt.UTC)
RESOURCES = Resources(
    window_s=0.5,
    worker_cpu_s=0.05,
    worker_cpu_cores=0.1,
    worker_cpu_percent_of_usable=5.0,
    worker_uss_peak_bytes=30_000_000,
    worker_pss_peak_bytes=60_000_000,
    worker_rss_peak_bytes=100_000_000,
    worker_processes=3,
    worker_ctx_switches_voluntary=120,
    worker_ctx_switches_involuntary=7,
    harness_cpu_s=0.02,
    broker_cpu_s=0.01,
    samples=3,
)
BROKER = BrokerInfo(kind="redis", url="redis://:**@127.0.0.1:40001/0", server="valkey 8.1.1", embedded=True)
PLACEMENT = Placement(worker_cpus=(1,), harness_cpus=(0,), broker_cpus=(0,))
RUN_ID = "20260102T030405-abc123"
BOUND = ceiling(WORKLOADS["sleep"], "prefork", 2, 50.0, 2.0)


def observed(outcome="stalled", detail="no task finished for 10 s", records=RECORDS, published=PUBLISHED):
    return Observed(published, records, outcome, detail, RESOURCES, (0.5, 0.25, 0.125))


def golden_result():
    settings = run_settings(CFG, BROKER, "disabled://", PLACEMENT)
    return build_result(settings, BOUND, observed(), RUN_ID, run_metadata(MACHINE, STARTED, ENDED))


def check_golden(name, text):
    """Compare with tests/data/golden/NAME; UPDATE_GOLDEN=1 rewrites it."""
    path = DATA / "golden" / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_the_whole_run_document_matches_the_golden_file():
    text = json.dumps(run_to_json(golden_result()), indent=1, allow_nan=False) + "\n"
    check_golden("run.json", text)


def test_the_golden_document_reads_back_as_the_same_result(tmp_path):
    path = tmp_path / "run.json"
    path.write_text((DATA / "golden" / "run.json").read_text())
    assert read_run(path) == golden_result()


def test_a_version_1_document_reads_as_the_same_result():
    """tests/data/v1/run.json: the same run, written by the version-1 code."""
    old = read_run(DATA / "v1" / "run.json")
    assert old.schema_version == 1
    # Every field version 1 had reads the same; the fields added since
    # (per-task CPU, estimated ceilings, health) read as absent.
    now = golden_result()
    absent = dataclasses.replace(
        now,
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
    assert document["summary"]["health"] == {"findings": []}
    assert run_from_json(document).summary.health.ok


def test_a_document_without_health_reads_as_not_diagnosed():
    document = run_to_json(golden_result())
    del document["summary"]["health"]
    assert run_from_json(document).summary.health is None

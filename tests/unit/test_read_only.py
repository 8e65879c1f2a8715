"""The read-only commands (report, plot, compare, history) write nothing into what
they read (what they import is checked in test_architecture.py). The
committed reference sweep (version 1) still renders as committed."""

import shutil

import pytest

from bench.analysis.summary import analyze
from bench.cli import main
from bench.commands.report import measured_words
from bench.output import csv as report_csv
from bench.output import markdown as report_markdown
from bench.results.io import write_run
from bench.results.schema import (
    Metadata,
    Resources,
    RunResult,
    RunSettings,
    RunStatus,
    RunSummary,
    TaskCounts,
)
from bench.sweep.config import PROFILES, build_sweep_config
from bench.sweep.plan import build_plan
from bench.sweep.store import SweepDir, load_summary
from tests.helpers.paths import REFERENCE


def _repeat(throughput):
    return RunResult(
        status=RunStatus("ok", None, "complete"),
        config=RunSettings(pool="prefork", concurrency=1, workload="sleep", task_ms=10.0, cores=2.0),
        metadata=Metadata(hostname="test", usable_cores=2.0),
        summary=RunSummary(
            throughput_per_s=throughput,
            ceiling_per_s=100.0,
            ceiling_basis="1 slot x 10 ms per task",
            tasks=TaskCounts(10, 10, 0, 0, 0),
            load_average_before=(0.1, 0.1, 0.1),
            resources=Resources(worker_cpu_cores=0.1, worker_uss_peak_bytes=1000, worker_pss_peak_bytes=2000),
        ),
    )


@pytest.fixture
def sweep_without_summary(tmp_path):
    """An interrupted sweep: a manifest and repeats, no summary.json."""
    cfg = build_sweep_config(pools=["prefork"], workloads=["sleep"], concurrency=[1, 2], task_ms=10, seed=3)
    plan = build_plan(cfg.pools, cfg.workloads, PROFILES[cfg.profile], 2.0, [0, 1], cfg.concurrency, cfg.task_ms)
    sweep = SweepDir(tmp_path / "sweep")
    sweep.path.mkdir()
    sweep.write_manifest(cfg, plan, status="interrupted", metadata={"hostname": "test", "usable_cores": 2.0})
    for value in (90.0, 91.0, 89.0):
        write_run(sweep.next_repeat_path(plan[0]), _repeat(value))
    return sweep.path


@pytest.mark.parametrize("command", ["report", "plot"])
def test_report_and_plot_compute_a_missing_summary_without_writing_it(sweep_without_summary, command, capsys):
    assert main([command, str(sweep_without_summary)]) == 0
    assert not (sweep_without_summary / "summary.json").exists()
    if command == "report":
        assert "sleep-10ms-prefork-c1" in (sweep_without_summary / "points.csv").read_text()


def test_compare_writes_nothing_into_what_it_reads(sweep_without_summary, capsys):
    before = sorted(p.relative_to(sweep_without_summary) for p in sweep_without_summary.rglob("*"))
    assert main(["compare", str(sweep_without_summary), str(sweep_without_summary)]) == 0
    assert sorted(p.relative_to(sweep_without_summary) for p in sweep_without_summary.rglob("*")) == before


def test_history_writes_nothing_into_what_it_reads(sweep_without_summary, tmp_path, capsys):
    copies = [sweep_without_summary, *(tmp_path / f"copy-{n}" for n in range(2))]
    for copy in copies[1:]:
        shutil.copytree(sweep_without_summary, copy)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["history", *map(str, copies)]) == 0
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_the_version_1_reference_sweep_renders_as_committed(reference_copy):
    summary, status = load_summary(reference_copy)
    committed = (REFERENCE / "report.md").read_text().splitlines()
    measured = measured_words(reference_copy)
    text = report_markdown.render(summary, status, analyze(summary, status), "reference", measured=measured)
    assert text.splitlines() == committed
    assert report_csv.render(summary) == (REFERENCE / "points.csv").read_text()

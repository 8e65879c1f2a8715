"""`python -m bench export`: a run, a sweep or an A/B in github-action-
benchmark's custom JSON and in Bencher Metric Format, each checked against
the format as its project publishes it."""

import json
import shutil

import pytest

from bench.cli import main
from bench.commands.export import metrics_of
from bench.output.exports import bmf, github_action_benchmark, run_metrics, sweep_metrics
from bench.results.io import read_run
from bench.sweep.store import load_summary
from tests.helpers.paths import DATA


def check_bmf(document):
    """Bencher's published JSON schema for BMF (bencher.dev/bmf.json, draft 7):
    an object of benchmarks, each an object of measures, each an object
    with a number `value` and optional number `lower_value`/`upper_value`,
    and nothing else."""
    assert isinstance(document, dict)
    assert document
    for benchmark, measures in document.items():
        assert isinstance(benchmark, str)
        assert benchmark
        assert isinstance(measures, dict)
        assert measures
        for measure, metric in measures.items():
            assert isinstance(measure, str)
            assert measure
            assert set(metric) <= {"value", "lower_value", "upper_value"}
            assert "value" in metric
            assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in metric.values())
            if "lower_value" in metric:
                assert metric["lower_value"] <= metric["value"] <= metric["upper_value"]


def check_github_action_benchmark(document):
    """github-action-benchmark's custom tools (customBiggerIsBetter,
    customSmallerIsBetter): a JSON array of objects with `name`, `unit`
    (strings) and `value` (a number), and optional `range` and `extra`
    (strings); names unique, as the action keys its series by them."""
    assert isinstance(document, list)
    assert document
    for entry in document:
        assert set(entry) >= {"name", "unit", "value"}
        assert set(entry) <= {"name", "unit", "value", "range", "extra"}
        assert isinstance(entry["name"], str)
        assert isinstance(entry["unit"], str)
        assert isinstance(entry["value"], int | float)
        assert all(isinstance(entry[k], str) for k in ("range", "extra") if k in entry)
    names = [e["name"] for e in document]
    assert len(names) == len(set(names))


def test_a_sweep_exports_every_measured_point_with_its_ci():
    summary, _ = load_summary(DATA / "sweep-small")
    metrics = sweep_metrics(summary)
    measured = [p for p in summary.points if p.throughput is not None]
    throughput = [m for m in metrics if m.measure == "throughput"]
    assert [m.benchmark for m in throughput] == [p.key for p in measured]
    first, point = throughput[0], measured[0]
    assert (first.value, first.lower, first.upper) == (
        point.throughput.median_per_s,
        point.throughput.ci95_low_per_s,
        point.throughput.ci95_high_per_s,
    )
    document = bmf(metrics)
    check_bmf(document)
    assert document[point.key]["throughput"]["value"] == point.throughput.median_per_s
    assert document[point.key]["sojourn-p99"]["value"] == pytest.approx(point.sojourn_p99_s * 1000)
    bigger = github_action_benchmark(metrics, bigger_is_better=True)
    smaller = github_action_benchmark(metrics, bigger_is_better=False)
    check_github_action_benchmark(bigger)
    check_github_action_benchmark(smaller)
    assert {e["unit"] for e in bigger} == {"tasks/s"}
    assert {e["unit"] for e in smaller} == {"ms"}
    assert bigger[0]["range"].endswith(f"to {point.throughput.ci95_high_per_s:.4g}")


def test_a_run_exports_its_throughput_and_latency():
    run = read_run(DATA / "golden" / "run.json")
    metrics = run_metrics(run)
    assert [m.measure for m in metrics][:2] == ["throughput", "steady-throughput"]
    assert metrics[0].value == run.summary.throughput_per_s
    assert metrics[0].benchmark == f"{run.config.workload}-{run.config.pool}-c{run.config.concurrency}"
    check_bmf(bmf(metrics))
    check_github_action_benchmark(github_action_benchmark(metrics, bigger_is_better=True))


def test_an_ab_directory_exports_both_sides_named_by_side(tmp_path):
    for side in ("baseline", "candidate"):
        shutil.copytree(DATA / "sweep-small", tmp_path / "ab" / side)
    metrics = metrics_of(tmp_path / "ab")
    sides = {m.benchmark.split("/", 1)[0] for m in metrics}
    assert sides == {"baseline", "candidate"}
    check_bmf(bmf(metrics))


def test_export_writes_both_directions_and_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    sweep = tmp_path / "sweep-small"
    shutil.copytree(DATA / "sweep-small", sweep)
    out = tmp_path / "gab.json"
    assert main(["export", "github-action-benchmark", str(sweep), "-o", str(out)]) == 0
    check_github_action_benchmark(json.loads(out.read_text()))
    check_github_action_benchmark(json.loads((tmp_path / "gab-smaller.json").read_text()))
    assert main(["export", "bmf", str(sweep)]) == 0
    check_bmf(json.loads(capsys.readouterr().out.split("\n", 2)[-1]))
    assert main(["export", "bmf", str(tmp_path / "nothing-here")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"python -m bench export: error: {tmp_path / 'nothing-here'}: no such file or directory"]

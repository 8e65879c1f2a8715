"""The pytest-benchmark suite in smoke mode (one small round per benchmark):
it runs, writes its JSON with the workers' throughput, saves, and compares."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers.paths import ROOT

pytestmark = pytest.mark.integration
BENCHMARKS = {
    "test_noop_overhead_per_pool[prefork]",
    "test_noop_overhead_per_pool[gevent]",
    "test_noop_overhead_per_pool[eventlet]",
    "test_noop_overhead_per_pool[solo]",
    "test_noop_overhead_per_pool[threads]",
    "test_cpu_bound_prefork[cores]",
    "test_cpu_bound_prefork[2x-cores]",
    "test_sleep_gevent_high_concurrency",
}


def _without_xdist(env):
    return {k: v for k, v in env.items() if not k.startswith("PYTEST_XDIST_")}


def run_suite(*args):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/benchmarks", "--benchmark-only", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        # os.environ carries the leak-check tag; an xdist worker's own variables
        # would make pytest-benchmark think it runs under xdist, and turn off
        env={**_without_xdist(os.environ), "CELERY_BENCH_SMOKE": "1"},
    )


def test_benchmark_suite_saves_throughput_and_compares(tmp_path):
    storage = f"file://{tmp_path / 'storage'}"
    saved = run_suite(
        f"--benchmark-json={tmp_path / 'run.json'}", f"--benchmark-storage={storage}", "--benchmark-autosave"
    )
    assert saved.returncode == 0, saved.stdout[-3000:] + saved.stderr[-3000:]
    report = json.loads((tmp_path / "run.json").read_text())
    assert {b["name"] for b in report["benchmarks"]} == BENCHMARKS
    for bench in report["benchmarks"]:
        info = bench["extra_info"]
        assert info["throughput_per_s"] > 0, bench["name"]
        assert info["tasks_per_round"] >= 5
        if info["ceiling_per_s"] is not None:
            assert info["throughput_per_s"] <= info["ceiling_per_s"] * 1.001
        assert bench["stats"]["rounds"] == 1
    assert len(list((tmp_path / "storage").rglob("0001_*.json"))) == 1

    compared = run_suite("-k", "noop and solo", f"--benchmark-storage={storage}", "--benchmark-compare")
    assert compared.returncode == 0, compared.stdout[-3000:] + compared.stderr[-3000:]
    assert "Comparing against benchmarks from" in compared.stdout + compared.stderr
    assert "test_noop_overhead_per_pool[solo] (0001_" in compared.stdout

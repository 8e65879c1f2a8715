"""--cpus pins the workers, and keeps the harness and broker off their CPUs."""

import json
import os

import pytest

from tests.helpers.cli import run_bench

pytestmark = pytest.mark.integration


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to pin one away")
def test_sweep_pins_the_worker_to_its_cpus_and_the_rest_elsewhere(tmp_path):
    proc = run_bench("sweep", "--pools", "prefork", "--workloads", "cpu", "--task-ms", 5, "--concurrency", "1,2",
                     "--cpus", 1, "--profile", "quick", "--repeats", 1, "--output-dir", tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cpus = sorted(os.sched_getaffinity(0))
    runs = list(tmp_path.glob("sweep-*/runs/*/r01.json"))
    assert len(runs) == 2
    for path in runs:
        doc = json.loads(path.read_text())
        placement = doc["config"]["placement"]
        assert placement["worker_cpus"] == cpus[-1:]
        assert placement["harness_cpus"] == cpus[:-1]
        assert placement["broker_cpus"] == cpus[:-1]
        assert doc["config"]["cores"] == 1.0
        # One CPU: two prefork children can only share it, so the ceiling is 1 / 5 ms.
        assert doc["summary"]["ceiling_per_s"] == pytest.approx(200.0)
        assert doc["summary"]["throughput_per_s"] <= 200.0
    summary = json.loads(next(tmp_path.glob("sweep-*/summary.json")).read_text())
    assert {p["key"] for p in summary["points"]} == {"cpu-5ms-prefork-c1-cpus1", "cpu-5ms-prefork-c2-cpus1"}

"""`sweep --check`: every point a plain worker can run is measured once more
by one, beside the sweep, and compared; a point it cannot run says why.
(The ratios themselves are asserted in test_fidelity, which runs alone.)"""

import json

import pytest

from tests.helpers.cli import run_bench

pytestmark = pytest.mark.integration


def test_a_checked_sweep_compares_every_point_with_a_plain_worker(tmp_path):
    proc = run_bench(
        "sweep", "--pools", "threads", "--concurrency", "2", "--workloads", "sleep", "--task-ms", "20",
        "--workers", "1,2", "--repeats", "1", "--profile", "quick", "--check", "--output-dir", tmp_path,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (sweep,) = tmp_path.glob("sweep-*")
    checked = json.loads((sweep / "check.json").read_text())
    assert checked["kind"] == "sweep-check"
    by_point = {e["point"]: e for e in checked["points"]}
    assert set(by_point) == {"sleep-20ms-threads-c2", "sleep-20ms-threads-c2-w2"}
    for key in ("sleep-20ms-threads-c2",):
        entry = by_point[key]
        assert entry["ratio"] == pytest.approx(entry["harness_steady_per_s"] / entry["reference_steady_per_s"])
        assert entry["ratio"] > 0
        assert entry["verdict"]
        reference = json.loads((sweep / "check" / f"{key}-reference.json").read_text())
        assert reference["kind"] == "reference"
        assert reference["summary"]["tasks"]["missing"] == 0
        assert entry["harness"].endswith(f"{key}/r01.json")  # its one repeat is its median
    assert by_point["sleep-20ms-threads-c2-w2"]["skipped"] == "2 workers: the reference runs one"
    assert "Fidelity check" in proc.stdout
    assert "## Fidelity check: the harness against a plain worker" in (sweep / "report.md").read_text()
    # a re-rendered report keeps the section, and a resume measures nothing again
    again = run_bench("report", sweep, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "Fidelity check" in again.stdout
    resumed = run_bench("sweep", "--resume", sweep, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "[check" not in resumed.stdout

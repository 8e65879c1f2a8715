"""A tiny real sweep, interrupted part-way with SIGINT and resumed."""

import json
import re
import signal
from pathlib import Path

import pytest

from tests.helpers.cli import run_bench, start_bench
from tests.helpers.waiting import LineReader

pytestmark = pytest.mark.integration
ARGS = ["--pools", "prefork,gevent", "--concurrency", "2", "--workloads", "sleep", "--task-ms", "10",
        "--profile", "quick"]  # fmt: skip


def test_interrupted_sweep_resumes_without_redoing_work(tmp_path):
    proc = start_bench("sweep", *ARGS, "--output-dir", tmp_path)
    LineReader(proc.stdout).until(r"^\[3/", 120)  # the third finished repeat
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    proc.stdout.close()
    assert proc.returncode == 130
    assert len(stderr.strip().splitlines()) == 1
    assert "resume with: python -m bench sweep --resume" in stderr
    sweep_dir = Path(re.search(r"--resume (\S+)", stderr).group(1))
    assert json.loads((sweep_dir / "manifest.json").read_text())["status"] == "interrupted"
    kept = {p: p.stat().st_mtime_ns for p in sweep_dir.glob("runs/*/r??.json")}
    assert len(kept) >= 3

    resumed = run_bench("sweep", "--resume", sweep_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    # Finished repeats were kept as they were, not measured again.
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in kept.items())
    summary = json.loads((sweep_dir / "summary.json").read_text())
    keys = [p["key"] for p in summary["points"]]
    assert sorted(keys) == sorted(f"sleep-10ms-{pool}-c2" for pool in ("prefork", "gevent"))
    for point in summary["points"]:
        assert point["repeats"] == 3, point
        assert point["throughput"]["median_per_s"] <= point["ceiling_per_s"]
        assert len(list((sweep_dir / "runs" / point["key"]).glob("r??.json"))) == 3
    for path in sweep_dir.rglob("*.json"):
        json.loads(path.read_text())  # every file valid JSON
    assert json.loads((sweep_dir / "manifest.json").read_text())["status"] == "complete"
    assert "best -c" in resumed.stdout


def test_resume_with_matrix_options_is_refused(tmp_path):
    proc = run_bench("sweep", "--resume", tmp_path, "--pools", "solo")
    assert proc.returncode == 2
    assert "--resume continues the sweep with its own options" in proc.stderr

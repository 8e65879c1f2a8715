"""`advise` on a user's app, live: the task profiled, Celery's per-task cost
measured into an empty cache, the model's prediction checked against the
points measured, and a worker command line out."""

import json
import textwrap

import pytest

from tests.helpers.cli import run_bench

# exclusive: the model, calibrated here, is checked against the points measured here;
# a test running beside either moves one and not the other (CI 2026-12-05: 20.02% off).
pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

APP = textwrap.dedent(
    """
    import time
    from celery import Celery

    app = Celery("waiter", broker="redis://127.0.0.1:1/0")  # never used: the harness brings its own


    @app.task(name="waiter.wait")
    def wait(ms):
        time.sleep(ms / 1000.0)
    """
)


def test_advise_profiles_calibrates_measures_and_prints_a_worker_command_line(tmp_path):
    (tmp_path / "waiter.py").write_text(APP)
    cache = tmp_path / "cache"
    proc = run_bench(
        "advise", "--app", "waiter", "--task", "waiter.wait", "--args", "[10]", "--pools", "threads",
        "--output-dir", tmp_path / "out", cwd=tmp_path, env={"CELERY_BENCH_CACHE": str(cache)}, timeout=400,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "measuring Celery's per-task cost (threads, solo)" in proc.stdout  # solo: its tracer's CPU
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("Run:  ")]
    assert line.startswith("Run:  celery -A waiter worker -P threads -c ")
    (folder,) = (tmp_path / "out").glob("advise-*")
    doc = json.loads((folder / "advise.json").read_text())
    rec = doc["recommendation"]
    assert rec["command"] in line
    assert 0.008 < doc["demand"]["wait_s"] < 0.013  # the profile saw the 10 ms sleep
    # The live check: a task that only waits, on threads, is what the model gets
    # right (within 4% on the stored quick sweep); 20% leaves room for this machine's noise.
    assert abs(rec["model_error"]) <= 0.20, doc["points"]
    measured = {p["concurrency"] for p in doc["points"]}
    grid = sorted(int(c) for c in doc["predicted"]["threads"])
    i = grid.index(rec["concurrency"])
    assert grid[i - 1] in measured, "the answer's lower neighbour is measured"
    assert doc["runs"] < 3 * len(grid), "fewer runs than a sweep of the grid"
    cached = json.loads((cache / "overheads.json").read_text())
    assert {p["pool"] for p in cached["calibrations"][0]["pools"]} == {"threads", "solo"}
    for name in ("advise.md", "advise.html", "advise.png", "summary.json", "profile.json"):
        assert (folder / name).is_file(), name
    report = run_bench("report", folder, timeout=120)
    assert report.returncode == 0, report.stderr

"""`compare` on a real tiny sweep: with itself it finds no difference; the
same files with every candidate repeat 20% below the slowest baseline
repeat fail as a regression."""

import json
import shutil

import pytest

from tests.helpers.cli import run_bench

pytestmark = pytest.mark.integration
SWEEP = ["--pools", "solo", "--workloads", "sleep", "--task-ms", "10", "--profile", "quick", "--seed", "1"]


def test_a_real_sweep_compared_with_itself_has_no_significant_difference(tmp_path):
    swept = run_bench("sweep", *SWEEP, "--output-dir", tmp_path)
    assert swept.returncode == 0, swept.stderr
    (sweep,) = tmp_path.glob("sweep-*")

    same = run_bench("compare", sweep, sweep, "--format", "markdown")
    assert same.returncode == 0, same.stderr
    assert same.stderr == ""
    rows = [line for line in same.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) == 1
    assert "`sleep-10ms-solo-c1`" in rows[0]
    assert "| no significant difference |" in rows[0]

    # Cut by 20% and by the repeats' own spread: a uniform 20% cut is within
    # the noise when the repeats spread by more than 25% (a busy machine), and
    # compare rightly calls that no significant difference.
    slower = tmp_path / "slower"
    shutil.copytree(sweep, slower)
    paths = sorted(slower.glob("runs/*/r??.json"))
    docs = [json.loads(path.read_text()) for path in paths]
    measured = [d["summary"]["throughput_per_s"] for d in docs if d["status"]["state"] == "ok"]
    cut = 0.8 * min(measured) / max(measured)
    for path, doc in zip(paths, docs, strict=True):
        if doc["status"]["state"] == "ok":
            doc["summary"]["throughput_per_s"] *= cut
            path.write_text(json.dumps(doc))
    worse = run_bench("compare", sweep, slower)
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "slower" in next(line for line in worse.stdout.splitlines() if line.startswith("sleep-10ms-solo-c1"))
    assert f"sleep-10ms-solo-c1 ({(cut - 1) * 100:+.1f}%)" in worse.stderr


@pytest.mark.exclusive  # two measured sweeps compared: nothing may run beside them
def test_a_real_costlier_setting_is_caught_as_slower(tmp_path):
    # The same point measured twice for real, the candidate storing every
    # result in Redis: under gevent that costs Celery far more than 5% a task.
    point = ["--pools", "gevent", "--workloads", "noop", "--concurrency", "4", "--profile", "quick", "--seed", "1"]
    base = run_bench("sweep", *point, "--output-dir", tmp_path / "base")
    cand = run_bench("sweep", *point, "--result-backend", "broker", "--output-dir", tmp_path / "cand")
    assert base.returncode == 0, base.stderr
    assert cand.returncode == 0, cand.stderr
    (baseline,) = (tmp_path / "base").glob("sweep-*")
    (candidate,) = (tmp_path / "cand").glob("sweep-*")
    worse = run_bench("compare", baseline, candidate)
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "noop-gevent-c4" in worse.stderr
    assert "slower" in next(line for line in worse.stdout.splitlines() if line.startswith("noop-gevent-c4"))

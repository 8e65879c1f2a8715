"""`.ci/bench-ab` (and so `python -m bench ab`) as CI runs it, on two
revisions of a small git repository made here: the tutorial's app, then the
same app with its sleep task made 30% slower. The slower revision is caught
(exit 1); the same revision on both sides is not (A/A, exit 0)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import run_bench
from tests.helpers.paths import ROOT

SCRIPT = ROOT / ".ci" / "bench-ab"
# One point, small and quick: solo runs one 20 ms sleep at a time.
SMALL = ("--pools", "solo", "--workloads", "sleep", "--task-ms", "20", "--repeats", "3", "--seed", "7")

# exclusive: two revisions' timings compared: nothing else may run beside them
pytestmark = [pytest.mark.integration, pytest.mark.exclusive]


def _git(repo, *args):
    done = subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A git repository holding a copy of proj/: commit 1 as it is, commit 2
    with the sleep task 30% longer. Returns (repo, commit 1, commit 2)."""
    repo = tmp_path_factory.mktemp("project")
    shutil.copytree(ROOT / "proj", repo / "proj", ignore=shutil.ignore_patterns("__pycache__"))
    _git(repo, "init", "--quiet")
    _git(repo, "add", "proj")
    _git(repo, "commit", "--quiet", "-m", "the tutorial's app")
    base = _git(repo, "rev-parse", "HEAD")
    tasks = repo / "proj" / "tasks.py"
    text = tasks.read_text()
    assert "time.sleep(ms / 1000.0)" in text
    tasks.write_text(text.replace("time.sleep(ms / 1000.0)", "time.sleep(ms * 1.3 / 1000.0)"))
    _git(repo, "commit", "--quiet", "-am", "a 30% slower sleep task")
    return repo, base, _git(repo, "rev-parse", "HEAD")


def run_script(repo, tmp_path, *args):
    """The script as the workflow runs it: from the project's checkout, with
    the job summary file set; `python` is this test's interpreter."""
    summary = tmp_path / "step-summary.md"
    env = {
        **os.environ,
        "CI": "true",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "BENCH_AB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    done = subprocess.run(
        ["bash", str(SCRIPT), *args, *SMALL], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )
    return done, summary


def decisions(markdown):
    rows = [ln for ln in markdown.splitlines() if ln.startswith("| `")]
    return [[cell.strip() for cell in row.strip("|").split("|")][6] for row in rows]


def test_a_revision_with_a_slower_task_is_slower_and_fails_the_job(project, tmp_path):
    repo, base, slow = project
    done, summary = run_script(repo, tmp_path, base, slow)
    assert done.returncode == 1, done.stderr
    assert decisions(done.stdout) == ["**slower**"]
    assert "1 point(s) slower than the baseline" in done.stderr
    assert summary.read_text() == done.stdout  # the job summary is the comparison
    (top,) = (tmp_path / "out").glob("ab-*")
    record = json.loads((top / "ab.json").read_text())
    assert [s["commit"] for s in record["sides"]] == [base, slow]
    # ABBA: each side's repeats alternate with the other's
    assert [o["side"][0] for o in record["order"]] == list("bccbbc")
    # each side is an ordinary sweep directory: compare of the two decides the same
    again = run_bench("compare", top / "baseline", top / "candidate")
    assert again.returncode == 1
    assert "slower" in again.stdout
    # the temporary worktrees are gone
    assert _git(repo, "worktree", "list").count("\n") == 0


def test_the_same_revision_on_both_sides_shows_no_difference(project, tmp_path):
    repo, base, _ = project
    done, summary = run_script(repo, tmp_path, base, base)
    assert done.returncode == 0, done.stderr + done.stdout
    assert decisions(done.stdout) == ["no significant difference"]
    assert "no significant regression" in summary.read_text()

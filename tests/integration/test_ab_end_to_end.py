"""`.ci/bench-ab` (and so `python -m bench ab`) as CI runs it, on two
revisions of a small git repository made here, holding the tutorial's app
and a user's own app (service/orders.py, not proj): commit 1 as written,
commit 2 with both apps' sleep made 30% slower. The slower revision is
caught (exit 1), for the built-in workload and for the user's task; the
same revision on both sides is not (A/A, exit 0), with the user's task named
by a scenario file."""

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
# A user's app, as a user writes one: its own module and task name, in a
# folder of the project; the task sleeps `ms`.
ORDERS = """\
import time

from celery import Celery

app = Celery("orders")


@app.task(name="orders.place")
def place(ms):
    time.sleep(ms / 1000.0)
"""
# Its scenario file: the task and the points (paths relative to the file).
SCENARIO = """\
app = "orders"
task = "orders.place"
args = [20]
workdir = "."
pools = ["threads"]
concurrency = [4]
repeats = 3
seed = 7
"""
USER_TASK = (
    *("--app", "orders", "--task", "orders.place", "--args", "[20]", "--workdir", "service"),
    *("--pools", "threads", "--concurrency", "4", "--repeats", "3", "--seed", "7"),
)

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
    """A git repository holding a copy of proj/ and a user's app in service/:
    commit 1 as they are, commit 2 with both sleep tasks 30% longer.
    Returns (repo, commit 1, commit 2)."""
    repo = tmp_path_factory.mktemp("project")
    shutil.copytree(ROOT / "proj", repo / "proj", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "service").mkdir()
    (repo / "service" / "orders.py").write_text(ORDERS)
    (repo / "service" / "celery-bench.toml").write_text(SCENARIO)
    _git(repo, "init", "--quiet")
    _git(repo, "add", "proj", "service")
    _git(repo, "commit", "--quiet", "-m", "the tutorial's app and the orders service")
    base = _git(repo, "rev-parse", "HEAD")
    for tasks in (repo / "proj" / "tasks.py", repo / "service" / "orders.py"):
        text = tasks.read_text()
        assert "time.sleep(ms / 1000.0)" in text
        tasks.write_text(text.replace("time.sleep(ms / 1000.0)", "time.sleep(ms * 1.3 / 1000.0)"))
    _git(repo, "commit", "--quiet", "-am", "30% slower sleep tasks")
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
    done = subprocess.run(["bash", str(SCRIPT), *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    return done, summary


def decisions(markdown, table=0):
    """The decision column of the markdown's first table (throughput) or,
    with table=1, its second (the p99 at each offered rate)."""
    tables = markdown.split("\n| point |")[1:]
    rows = [ln for ln in tables[table].splitlines() if ln.startswith("| `")]
    column = 6 if table == 0 else 7
    return [[cell.strip() for cell in row.strip("|").split("|")][column] for row in rows]


def test_a_revision_with_a_slower_task_is_slower_and_fails_the_job(project, tmp_path):
    repo, base, slow = project
    # open loop too, at 40/s: 80% of the baseline's capacity, 104% of the candidate's (its queue grows)
    done, summary = run_script(repo, tmp_path, base, slow, *SMALL, "--rates", "40")
    assert done.returncode == 1, done.stderr
    assert decisions(done.stdout) == ["**slower**"]
    assert decisions(done.stdout, table=1) == ["**slower**"]  # its p99 at the same rate
    assert "2 point(s) worse than the baseline" in done.stderr  # its throughput, and its p99 at 40/s
    assert summary.read_text() == done.stdout  # the job summary is the comparison
    (top,) = (tmp_path / "out").glob("ab-*")
    record = json.loads((top / "ab.json").read_text())
    assert [s["commit"] for s in record["sides"]] == [base, slow]
    # ABBA: each side's repeats alternate with the other's, drained then open loop
    assert [o["side"][0] for o in record["order"]] == list("bccbbc" * 2)
    assert [o["point"].endswith(" at 40/s") for o in record["order"]] == [False] * 6 + [True] * 6
    # each side is an ordinary sweep directory: compare of the two decides the same
    again = run_bench("compare", top / "baseline", top / "candidate")
    assert again.returncode == 1
    assert "slower" in again.stdout
    # the temporary worktrees are gone
    assert _git(repo, "worktree", "list").count("\n") == 0


def test_a_revision_with_a_slower_user_task_is_slower_and_fails_the_job(project, tmp_path):
    repo, base, slow = project
    done, _ = run_script(repo, tmp_path, base, slow, *USER_TASK)
    assert done.returncode == 1, done.stderr
    assert decisions(done.stdout) == ["**slower**"]
    assert "profiling orders.place on the baseline first" in done.stderr
    (top,) = (tmp_path / "out").glob("ab-*")
    record = json.loads((top / "ab.json").read_text())
    # each side imported the app from service/ in its own worktree
    workdirs = [Path(side["workdir"]) for side in record["sides"]]
    assert [w.name for w in workdirs] == ["service", "service"]
    assert workdirs[0] != workdirs[1]
    assert not any(w.is_relative_to(repo) for w in workdirs)
    # one profile, of the baseline's task, sized both sides' batches alike
    assert json.loads((top / "profile.json").read_text())["task"] == "orders.place"
    runs = [{**json.loads(p.read_text()), "path": str(p)} for p in sorted(top.glob("*/runs/*/r*.json"))]
    assert len(runs) == 6
    assert len({r["config"]["tasks"] for r in runs}) == 1
    assert {r["config"]["user_task"]["task"] for r in runs} == {"orders.place"}
    # each side's results carry its own commit of the app (what `history` keys on)
    by_side = {side: {r["config"]["user_task"]["git_commit"] for r in runs if f"/{side}/" in r["path"]}
               for side in ("baseline", "candidate")}  # fmt: skip
    assert by_side == {"baseline": {base}, "candidate": {slow}}


def test_the_same_revision_on_both_sides_shows_no_difference(project, tmp_path):
    """A/A on the user's task, named by its scenario file as CI would."""
    repo, base, _ = project
    done, summary = run_script(repo, tmp_path, base, base, "--config", "service/celery-bench.toml")
    assert done.returncode == 0, done.stderr + done.stdout
    assert decisions(done.stdout) == ["no significant difference"]
    assert "no significant regression" in summary.read_text()
    assert "threads" in done.stdout

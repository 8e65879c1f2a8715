"""`ab`'s pure parts: side specs, the balanced run order, per-side settings,
and bad input refused before anything starts."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.ab.config import build_ab_config, redact_spec, side_sweep
from bench.ab.run import balanced_order
from bench.ab.sides import celery_version, parse_side, resolve_python
from bench.errors import UsageError
from bench.sweep.config import build_sweep_config
from bench.sweep.point import Point
from tests.helpers.cli import run_bench
from tests.helpers.paths import ROOT


def point(c):
    return Point("solo", c, "sleep", 20.0, None, 2.0, 50, 5)


def test_a_bare_item_is_a_revision_unless_it_is_an_existing_path(tmp_path):
    assert parse_side("--baseline", "HEAD~1").rev == "HEAD~1"
    assert parse_side("--baseline", "origin/main").rev == "origin/main"
    side = parse_side("--baseline", str(tmp_path))
    assert (side.rev, side.python) == (None, str(tmp_path))


def test_a_side_combines_a_revision_an_interpreter_and_settings():
    side = parse_side("--candidate", "rev=abc123, python=/opt/venv, prefetch_multiplier=1,broker=embedded")
    assert side.rev == "abc123"
    assert side.python == "/opt/venv"
    assert side.settings == (("prefetch_multiplier", "1"), ("broker", "embedded"))
    assert side.setting("prefetch_multiplier") == 1
    assert side.setting("broker") is None  # the embedded broker


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("rev=a,rev=b", "two revisions"),
        ("colour=blue", "unknown setting 'colour'"),
        ("prefetch_multiplier=-1", "at least 0"),
        ("broker=http://x", "unsupported scheme"),
        ("rev=--all", "not a git revision"),
        ("prefetch_multiplier=1,prefetch_multiplier=2", "given twice"),
    ],
)
def test_bad_side_specs_are_refused_with_the_reason(spec, message):
    with pytest.raises(UsageError, match=message):
        parse_side("--candidate", spec)


def test_the_order_is_abba_for_every_point_and_balanced():
    plan = [point(1), point(2), point(4)]
    order = balanced_order(plan, repeats=4, seed=1)
    for p in plan:
        assert [side for side, q in order if q == p] == [0, 1, 1, 0, 0, 1, 1, 0]
    assert sum(1 for side, _ in order if side == 0) == sum(1 for side, _ in order if side == 1) == 12


def test_each_round_runs_every_point_in_a_seeded_shuffle():
    plan = [point(c) for c in (1, 2, 4, 8, 16, 32)]
    order = balanced_order(plan, repeats=2, seed=3)
    for r in range(2):
        this_round = [p.concurrency for _, p in order[12 * r : 12 * (r + 1) : 2]]
        assert sorted(this_round) == [1, 2, 4, 8, 16, 32]
    assert balanced_order(plan, repeats=2, seed=3) == order
    shuffles = {tuple(p.concurrency for _, p in balanced_order(plan, 1, seed)) for seed in range(5)}
    assert len(shuffles) > 1


def test_a_side_setting_replaces_the_shared_one():
    shared = build_sweep_config(pools=["solo"], workloads=["sleep"], profile="quick", seed=1)
    cfg = side_sweep(shared, parse_side("--candidate", "prefetch_multiplier=1,result_backend=broker"))
    assert (cfg.prefetch_multiplier, cfg.result_backend) == (1, "broker")
    assert shared.prefetch_multiplier == 4


def test_a_setting_ab_cannot_vary_per_side_yet_is_refused():
    shared = build_sweep_config(pools=["solo"], workloads=["sleep"], profile="quick", seed=1)
    with pytest.raises(UsageError, match="cannot be set per side"):
        side_sweep(shared, parse_side("--candidate", "max_tasks_per_child=10"), "--candidate")


def test_broker_passwords_never_show_in_a_side_name():
    side = parse_side("--candidate", "broker=redis://:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in redact_spec(side)


def test_unknown_revisions_and_interpreters_are_refused_before_anything_runs(tmp_path):
    shared = build_sweep_config(pools=["solo"], workloads=["sleep"], profile="quick", seed=1)
    with pytest.raises(UsageError, match="not a commit"):
        build_ab_config(baseline="no-such-rev-xyz", candidate="HEAD", sweep=shared, project=ROOT)
    with pytest.raises(UsageError, match="neither a Python interpreter nor a virtualenv"):
        build_ab_config(baseline="HEAD", candidate=f"python={tmp_path}", sweep=shared, project=ROOT)
    with pytest.raises(UsageError, match="not in a git repository"):
        build_ab_config(baseline="HEAD", candidate="HEAD", sweep=shared, project=tmp_path)


def test_bad_ab_input_is_one_line_and_exit_2(tmp_path):
    done = run_bench("ab", "--baseline", "no-such-rev-xyz", "--candidate", "HEAD", timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "not a commit" in done.stderr


def test_a_virtualenv_directory_means_its_bin_python(tmp_path):
    venv = Path(sys.executable).parent.parent
    assert resolve_python(str(venv), "--candidate") == str((venv / "bin" / "python").absolute())
    assert resolve_python(sys.executable, "--candidate") == str(Path(sys.executable).absolute())


def test_the_sides_interpreter_must_import_celery(tmp_path):
    assert celery_version(sys.executable, ROOT, "--candidate")  # this venv has it
    bare = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    with pytest.raises(UsageError, match="cannot import celery"):
        celery_version(str(bare / "bin" / "python"), tmp_path, "--candidate")


ORDERS = """\
from celery import Celery

app = Celery("orders")


@app.task(name="orders.place")
def place(ms):
    pass
"""


def _git(repo, *args):
    command = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=60, check=True).stdout.strip()


@pytest.fixture
def orders_repo(tmp_path):
    """A git repository with a user's app in service/: commit 1 holds the
    task orders.place, commit 2 renames it. Returns (repo, commit 1, commit 2)."""
    repo = tmp_path / "repo"
    (repo / "service").mkdir(parents=True)
    (repo / "service" / "orders.py").write_text(ORDERS)
    _git(repo, "init", "--quiet")
    _git(repo, "add", "service")
    _git(repo, "commit", "--quiet", "-m", "orders")
    first = _git(repo, "rev-parse", "HEAD")
    (repo / "service" / "orders.py").write_text(ORDERS.replace('"orders.place"', '"orders.submit"'))
    _git(repo, "commit", "--quiet", "-am", "rename the task")
    return repo, first, _git(repo, "rev-parse", "HEAD")


def ab_options(repo, *more):
    return ("ab", "--project", str(repo), "--app", "orders", "--task", "orders.place", "--args", "[5]", *more)


def test_each_side_imports_the_users_app_from_its_own_worktree(orders_repo):
    from bench.ab.run import side_task
    from bench.measure.apptask import build_user_task

    repo, first, second = orders_repo
    user = build_user_task(app="orders", task="orders.place", args="[5]", workdir=repo / "service")
    shared = build_sweep_config(pools=["solo"], profile="quick", seed=1, user_task=user)
    tree = repo.parent / "tree"  # stands for the worktree of commit 1
    subprocess.run(["git", "worktree", "add", "--quiet", "--detach", str(tree), first], cwd=repo, check=True)
    moved = side_task(shared, repo, tree, "--baseline", first)
    assert moved.user_task.workdir == str(tree / "service")
    assert moved.user_task.git_commit == first  # the side's own commit, recorded with its results
    assert "orders.place" in moved.app_info.tasks
    # commit 2 renamed the task: refused, naming the side and its commit
    subprocess.run(["git", "checkout", "--quiet", "--detach", second], cwd=tree, check=True)
    with pytest.raises(UsageError, match=rf"--candidate \(commit {second[:12]}\): --task: .*orders.submit"):
        side_task(shared, repo, tree, "--candidate", second)


def test_ab_of_a_users_task_refuses_what_it_cannot_do_in_one_line(orders_repo, tmp_path):
    repo, first, second = orders_repo
    sides = ("--baseline", first, "--candidate", second)
    elsewhere = tmp_path / "elsewhere"  # the app, but outside the project's repository
    elsewhere.mkdir()
    (elsewhere / "orders.py").write_text(ORDERS)
    cases = [
        (ab_options(repo, *sides, "--workloads", "sleep"), "--workloads picks built-in workloads"),
        (ab_options(repo, *sides, "--broker", "from-app"), "--broker from-app: only for run and profile"),
        (("ab", "--project", str(repo), *sides, "--from-profile", "p.json"), "--from-profile: only with --app"),
        (ab_options(repo, *sides, "--workdir", str(elsewhere)), "--baseline: the app is imported from .* outside"),
        (ab_options(repo, "--baseline", first, "--candidate", second), r"--candidate \(commit .*no task named"),
    ]
    for argv, message in cases:
        done = run_bench(*argv, cwd=repo / "service", timeout=60)
        assert done.returncode == 2, (argv, done.stderr)
        assert done.stderr.count("\n") == 1, done.stderr
        assert re.search(message, done.stderr), done.stderr

"""`python -m bench history`: stored sweeps of a repository made here, one
per commit, with realistic repeat noise; the change found where it was
made and nowhere else, `--check` on the newest result, pytest-benchmark
files, the environment's changes, the page, and bad input."""

import datetime as dt
import json
import re
import shutil

import numpy as np
import pytest

from bench.analysis.history import build_history, find_changes
from bench.cli import main
from bench.results.history import TIME, read_stored
from bench.results.io import write_atomic, write_run
from bench.sweep.store import SweepDir
from tests.helpers.cli import run_bench
from tests.helpers.paths import ROOT
from tests.helpers.stored_history import (
    FIRST_DAY,
    PACKAGES,
    git_repository,
    nightly_sweeps,
    pytest_benchmark_file,
    write_sweep,
)

STEP_AT_FOURTH = [1.0, 1.0, 1.0, 0.8, 0.8, 0.8]  # prefork's level per night: 20% down from the 4th commit
FLAT = [1.0] * 6
STEP_AT_NEWEST = [1.0] * 5 + [0.8]
CELERY_UPGRADE = {**PACKAGES, "celery": "5.7.0"}


@pytest.fixture(scope="module")
def commits(tmp_path_factory):
    return git_repository(tmp_path_factory.mktemp("project"), 6)


def sweeps(tmp_path, commits, factors, **kwargs):
    store = tmp_path / "results"
    nightly_sweeps(store, commits, factors, **kwargs)
    return store


def changes_of(json_path):
    return json.loads(json_path.read_text())["changes"]


def test_the_20_percent_step_at_the_4th_commit_is_found_there_and_nowhere_else(tmp_path, commits):
    store = sweeps(tmp_path, commits, STEP_AT_FOURTH)
    done = run_bench("history", store, "--json", tmp_path / "changes.json")
    assert done.returncode == 0, done.stderr
    (change,) = changes_of(tmp_path / "changes.json")
    assert change["commit"] == commits[3]
    assert change["series"] == "sleep-50ms-prefork-c4"
    assert change["worse"]
    assert -0.25 < change["change"] < -0.15
    assert change["p_value"] < 0.01
    assert (change["results_before"], change["results_after"]) == (3, 3)
    # The terminal's table names the series, the commit, the change and how sure.
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("sleep-50ms-prefork-c4")]
    assert commits[3][:10] in row
    assert re.search(r"-1\d\.\d%", row)
    assert "<0.001" in row or re.search(r"0\.00\d", row)
    assert "no change in 1 series: sleep-50ms-gevent-c4" in done.stdout


def test_a_flat_history_finds_no_change(tmp_path, commits, capsys):
    store = sweeps(tmp_path, commits, FLAT)
    assert main(["history", str(store), "--check"]) == 0
    out = capsys.readouterr().out
    assert "no change found" in out
    assert "no step for the worse" in out


def test_check_fails_when_the_newest_result_is_the_step(tmp_path, commits):
    store = sweeps(tmp_path, commits, STEP_AT_NEWEST)
    done = run_bench("history", store, "--check")
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("python -m bench history: error: the newest result")
    assert commits[5][:10] in line
    assert "sleep-50ms-prefork-c4 (-" in line
    assert "gevent" not in line


def test_check_passes_when_the_step_is_older_than_the_newest_result(tmp_path, commits, capsys):
    store = sweeps(tmp_path, commits, STEP_AT_FOURTH)
    assert main(["history", str(store), "--check"]) == 0
    assert "the newest, result 6" in capsys.readouterr().out


def test_the_environment_changes_between_results_are_said(tmp_path, commits, capsys):
    store = sweeps(tmp_path, commits, FLAT, packages_at={4: CELERY_UPGRADE})
    assert main(["history", str(store)]) == 0
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if ln.startswith("environment differs")]
    assert line == (
        f"environment differs at result 5 ({commits[4][:10]}, 2026-12-05 03:00): celery 5.6.3 -> 5.7.0"
    )  # the commit, different every time, is not an environment's change


def test_a_step_that_comes_with_an_environment_change_says_so_on_the_page(tmp_path, commits, capsys):
    store = sweeps(tmp_path, commits, STEP_AT_FOURTH, packages_at={3: CELERY_UPGRADE})
    page = tmp_path / "site" / "index.html"
    assert main(["history", str(store), "--html", str(page)]) == 0
    text = page.read_text()
    row = next(r for r in text.split("<tr") if commits[3][:10] in r and "class='worse'" in r)
    assert "celery 5.6.3 -&gt; 5.7.0" in row


def test_the_page_is_one_self_contained_file_with_a_figure_per_series(tmp_path, commits, capsys):
    store = sweeps(tmp_path, commits, STEP_AT_FOURTH)
    page = tmp_path / "site" / "index.html"
    assert main(["history", str(store), "--html", str(page)]) == 0
    text = page.read_text()
    assert text.count('src="data:image/png;base64,') == 2  # prefork and gevent
    assert not re.search(r"""(src|href)=["'](https?:|//)""", text)  # nothing fetched from elsewhere
    assert "<link" not in text
    assert "<script" not in text
    assert '<div class="verdict good">The newest, result 6' in text
    for sha in commits:
        assert sha[:10] in text  # every result, listed
    assert f"wrote {page}" in capsys.readouterr().err


def test_pytest_benchmark_files_are_times_where_higher_is_worse(tmp_path, commits):
    rng = np.random.default_rng(11)
    storage = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    for night, sha in enumerate(commits):
        when = FIRST_DAY + dt.timedelta(days=night)
        seconds = {"test_noop[prefork]": 0.5 * (1.25 if night >= 3 else 1.0), "test_sleep[gevent]": 0.8}
        pytest_benchmark_file(storage / f"{night + 1:04d}_{sha}_{when:%Y%m%d_%H%M%S}.json", sha, when, seconds, rng)
    history = build_history(read_stored([tmp_path / ".benchmarks"], SweepDir).results, threshold=0.05)
    assert [s.key.metric for s in history.series] == [TIME, TIME]
    (change,) = history.changes
    assert change.key.name.endswith("::test_noop[prefork]")
    assert history.results[change.at].commit == commits[3]
    assert change.change > 0.15
    assert change.worse  # time up is the worse direction
    assert history.results[0].environment[0] == ("python", "CPython 3.11.7")


def test_a_sweep_kept_without_its_runs_is_read_from_its_summary(tmp_path, commits):
    store = sweeps(tmp_path, commits, STEP_AT_FOURTH)
    for sweep in store.iterdir():
        shutil.rmtree(sweep / "runs")  # as the nightly job keeps them: manifest.json and summary.json
    history = build_history(read_stored([store], SweepDir).results, threshold=0.05)
    (change,) = history.changes
    assert history.results[change.at].commit == commits[3]
    assert history.results[0].measured is not None


def test_an_ab_directory_is_its_candidate_side_under_the_candidate_commit(tmp_path, commits):
    rng = np.random.default_rng(5)
    store = tmp_path / "results"
    for night, sha in enumerate(commits[:3]):
        started = FIRST_DAY + dt.timedelta(days=night)
        ab = store / f"ab-{started:%Y%m%dT%H%M%S}"
        for side in ("baseline", "candidate"):
            write_sweep(ab / side, "harness-commit", started, {"prefork": 76.0, "gevent": 74.0}, rng)
        sides = [{"name": "baseline", "commit": commits[0]}, {"name": "candidate", "commit": sha}]
        write_atomic(ab / "ab.json", {"schema_version": 14, "kind": "ab", "sides": sides, "status": "complete"})
    found = read_stored([store], SweepDir)
    assert [(r.kind, r.commit) for r in found.results] == [("ab", sha) for sha in commits[:3]]


def test_run_files_are_results_of_one_repeat(tmp_path, commits):
    rng = np.random.default_rng(3)
    sweep = write_sweep(tmp_path / "one", commits[0], FIRST_DAY, {"prefork": 76.0, "gevent": 74.0}, rng)
    runs = sorted((sweep / "runs").rglob("r*.json"))
    for n, path in enumerate(runs[:3]):
        shutil.copy(path, tmp_path / f"run-{n}.json")
    found = read_stored([tmp_path / f"run-{n}.json" for n in range(3)], SweepDir)
    assert [r.kind for r in found.results] == ["run"] * 3
    assert all(len(s.values) == 1 for r in found.results for s in r.samples.values())


def test_a_result_under_two_paths_given_is_read_once(tmp_path, commits):
    store = sweeps(tmp_path, commits, FLAT)
    newest = sorted(store.iterdir())[-1]
    assert len(read_stored([store, newest], SweepDir).results) == 6


def test_files_that_are_not_results_are_passed_over(tmp_path, commits, capsys):
    store = sweeps(tmp_path, commits, FLAT)
    (store / "bmf.json").write_text("{}")  # an export
    (store / "notes.txt").write_text("hello")
    write_atomic(store / "profile-t.json", {"schema_version": 14, "kind": "profile"})
    assert main(["history", str(store)]) == 0
    assert "6 results" in capsys.readouterr().out


def test_a_result_file_written_by_a_newer_version_is_left_out_and_named(tmp_path, commits, capsys):
    store = sweeps(tmp_path, commits, FLAT)
    write_atomic(store / "run-future.json", {"schema_version": 999, "kind": "run", "config": {}})
    assert main(["history", str(store)]) == 0
    (note,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("note:")]
    assert "run-future.json" in note


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda tmp, commits: (tmp / "empty").mkdir() or tmp / "empty", "0 stored result(s) found"),
        (lambda tmp, commits: sweeps(tmp, commits[:2], [1.0, 1.0]), "2 stored result(s) found"),
        (lambda tmp, commits: (tmp / "x.txt").write_text("x") and tmp / "x.txt", "not a celery-bench run result"),
    ],
    ids=["nothing readable", "too few results", "not a result"],
)
def test_bad_input_exits_2_with_one_line(tmp_path, commits, make, says, capsys):
    assert main(["history", str(make(tmp_path, commits)), "--check"]) == 2
    out, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert line.startswith("python -m bench history: error: ")
    assert says in line
    assert out == ""


def test_a_directory_that_does_not_exist_exits_2_with_one_line(tmp_path):
    done = run_bench("history", tmp_path / "results", "--check")
    assert done.returncode == 2
    assert done.stderr == f"python -m bench history: error: {tmp_path / 'results'}: no such file or directory\n"
    assert done.stdout == ""


def test_a_failed_newest_result_fails_the_check(tmp_path, commits, capsys):
    store = sweeps(tmp_path, commits, FLAT)
    newest = sorted(store.iterdir())[-1]
    for path in sorted((newest / "runs").rglob("r*.json")):
        if "prefork" in path.parent.name:
            document = json.loads(path.read_text())
            document["status"] = {"state": "failed", "reason": "worker did not start", "outcome": "worker exited"}
            path.write_text(json.dumps(document))
    (newest / "summary.json").unlink()
    assert main(["history", str(store), "--check"]) == 1
    assert "sleep-50ms-prefork-c4 (every repeat failed)" in capsys.readouterr().err


# The rule itself, on values made by construction.


def noisy(levels, seed=1, noise=0.02):
    rng = np.random.default_rng(seed)
    return [level * (1 + rng.normal(0, noise)) for level in levels]


@pytest.mark.parametrize("seed", range(5))
def test_find_changes_finds_a_step_and_only_it(seed):
    values = noisy([100] * 8 + [80] * 8, seed)
    (step,) = find_changes(values, threshold=0.05)
    assert step.at == 8
    assert step.p_value < 0.001


@pytest.mark.parametrize("seed", range(5))
def test_find_changes_on_noise_finds_nothing(seed):
    assert find_changes(noisy([100] * 16, seed), threshold=0.05) == []


def test_a_single_newest_result_can_be_a_change():
    (step,) = find_changes(noisy([100] * 7 + [75]), threshold=0.05)
    assert (step.at, step.results_after) == (7, 1)


def test_a_significant_change_below_the_threshold_is_not_one():
    values = [100.0, 100.1, 99.9, 100.0, 97.0, 97.1, 96.9, 97.0]  # 3% down, far beyond the noise
    assert find_changes(values, threshold=0.05) == []
    assert [s.at for s in find_changes(values, threshold=0.02)] == [4]


def test_two_steps_are_two_changes():
    steps = find_changes(noisy([100] * 6 + [80] * 6 + [100] * 6, seed=4), threshold=0.05)
    assert [s.at for s in steps] == [6, 12]


def test_a_run_written_with_the_real_writer_keeps_its_commit_and_time(tmp_path, commits):
    rng = np.random.default_rng(9)
    sweep = write_sweep(tmp_path / "one", commits[2], FIRST_DAY, {"prefork": 76.0, "gevent": 74.0}, rng)
    (result,) = read_stored([sweep], SweepDir).results
    assert (result.commit, result.measured) == (commits[2], FIRST_DAY)
    copy = tmp_path / "copy.json"
    write_run(copy, SweepDir(sweep).repeats(SweepDir(sweep).planned_points()[0])[0])
    (run,) = read_stored([copy], SweepDir).results
    assert (run.commit, run.measured) == (commits[2], FIRST_DAY)


DATA_V16 = ROOT / "tests" / "data" / "v16"


def test_a_users_app_result_is_keyed_on_the_apps_commit_not_the_harness(tmp_path):
    """From format 16 a user's task records its app's checkout's commit:
    that is the history a user's results follow."""
    document = json.loads((DATA_V16 / "run.json").read_text())
    app_commit = document["config"]["user_task"]["git_commit"]
    document["metadata"]["git_commit"] = "f" * 40  # the harness's checkout
    write_atomic(tmp_path / "run.json", document)
    (result,) = read_stored([tmp_path / "run.json"], SweepDir).results
    assert result.commit == app_commit
    del document["config"]["user_task"]["git_commit"]  # a result from before it: the harness's commit
    write_atomic(tmp_path / "run.json", document)
    (result,) = read_stored([tmp_path / "run.json"], SweepDir).results
    assert result.commit == "f" * 40

"""The optional nightly workflow calls one script, .ci/bench-nightly: `open`
checks out the results branch, `run` measures tonight's sweep, files it with
the earlier nights and runs `history --check` over them, `save` pushes what
was filed. Each mode runs here for real: `run` with a stand-in for the sweep
(tonight's sweep made by the real writers, no worker started), `open` and
`save` against a bare repository standing in for the remote."""

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from bench.cli import create_parser
from tests.helpers.cli import bench_env
from tests.helpers.paths import ROOT
from tests.helpers.stored_history import git_repository, nightly_sweeps

WORKFLOW = (ROOT / ".github" / "workflows" / "nightly.yml").read_text()
SCRIPT = ROOT / ".ci" / "bench-nightly"
README = (ROOT / "README.md").read_text()
FLAT = [1.0] * 6
STEP_TONIGHT = [1.0] * 5 + [0.8]


def workflow_commands():
    return re.findall(r"^\s+run: (.+)$", WORKFLOW, flags=re.M)


def script_bench_argv(subcommand):
    """The script's `python -m bench SUBCOMMAND` line, its continuations
    joined and its shell variables given sample values."""
    text = SCRIPT.read_text().replace("\\\n", " ")
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    (line,) = [ln for ln in lines if f"python -m bench {subcommand}" in ln]
    command = line.split("python -m bench", 1)[1].split(">")[0].split("||")[0]
    for name, value in (("$output", "results/nightly"), ("$store", "bench-store"), ("$site", "site")):
        command = command.replace(name, value)
    return shlex.split(command.replace('"$@"', ""))


def test_the_workflow_runs_only_the_nightly_script():
    assert workflow_commands() == [
        ".ci/bench-nightly open bench-store",
        ".ci/bench-nightly run --install bench-store site",
        ".ci/bench-nightly save bench-store",
    ]


def test_the_workflow_is_nightly_optional_and_on_a_hosted_runner():
    assert re.search(r"schedule:\n\s+- cron: ", WORKFLOW)
    assert "workflow_dispatch:" in WORKFLOW
    assert "vars.BENCH_NIGHTLY == 'true'" in WORKFLOW  # the schedule runs only where a repository opts in
    assert "runs-on: ubuntu-latest" in WORKFLOW
    assert "self-hosted" not in WORKFLOW
    assert "contents: write" in WORKFLOW  # it pushes to the results branch
    assert "actions/upload-artifact" in WORKFLOW
    assert "actions/deploy-pages" in WORKFLOW
    assert "vars.BENCH_PAGES == 'true'" in WORKFLOW  # Pages only where enabled


def test_the_script_is_executable_stops_on_errors_and_installs_as_the_readme_does():
    text = SCRIPT.read_text()
    assert SCRIPT.stat().st_mode & 0o111
    assert "set -euo pipefail" in text
    assert "pip install -e ." in text
    assert "pip install -e . &&" in README


def test_the_script_sweep_command_parses_as_a_quick_sweep():
    args = create_parser().parse_args(script_bench_argv("sweep"))
    assert args.command == "sweep"
    assert args.profile == "quick"
    assert args.output_dir == "results/nightly"


def test_the_script_history_command_parses_with_its_check_and_its_page():
    args = create_parser().parse_args(script_bench_argv("history"))
    assert args.command == "history"
    assert args.paths == ["bench-store"]
    assert args.check
    assert (args.html, args.json, args.format) == ("site/index.html", "site/changes.json", "markdown")


# `run`, with tonight's sweep made beforehand and a stand-in for `python -m
# bench sweep` that copies it into --output-dir; every other python command
# is the real interpreter.
STAND_IN = """#!/usr/bin/env bash
if [[ "$1 $2 $3" == "-m bench sweep" ]]; then
    echo "$@" >>"$SWEEP_ARGV"
    while (($#)); do
        if [[ "$1" == --output-dir ]]; then out=$2; fi
        shift
    done
    cp -r "$TONIGHT" "$out/"
    exit 0
fi
exec {python} "$@"
"""


@pytest.fixture(scope="module")
def commits(tmp_path_factory):
    return git_repository(tmp_path_factory.mktemp("project"), 6)


def run_nightly(tmp_path, commits, factors, earlier=5):
    """The script's `run` with `earlier` nights stored (each as the script
    files one) and tonight's sweep the next; (process, store, site)."""
    made = nightly_sweeps(tmp_path / "made", commits[: earlier + 1], factors[: earlier + 1])
    store, site, out = tmp_path / "bench-store", tmp_path / "site", tmp_path / "out"
    for sweep in made[:-1]:
        (store / sweep.name).mkdir(parents=True)
        for name in ("manifest.json", "summary.json"):
            shutil.copy(sweep / name, store / sweep.name / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(STAND_IN.format(python=sys.executable))
    (bin_dir / "python").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "TONIGHT": str(made[-1]),
        "SWEEP_ARGV": str(tmp_path / "sweep-argv"),
        "BENCH_NIGHTLY_OUTPUT": str(out),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "outputs"),
    }
    done = subprocess.run(
        [str(SCRIPT), "run", str(store), str(site)],
        cwd=tmp_path,
        env=bench_env(env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return done, store, site, made[-1].name


def test_run_files_tonight_with_the_others_and_publishes_the_history(tmp_path, commits):
    done, store, site, tonight = run_nightly(tmp_path, commits, FLAT)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (store / tonight).iterdir()) == ["manifest.json", "summary.json"]
    assert len(list(store.iterdir())) == 6
    assert (site / "index.html").read_text().startswith("<!doctype html>")
    assert (site / "changes.json").is_file()
    assert "### celery-bench history: no change found" in done.stdout
    assert "### celery-bench history" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "outputs").read_text() == f"site={site}\n"
    argv = (tmp_path / "sweep-argv").read_text()
    assert "--profile quick" in argv
    assert f"--output-dir {tmp_path / 'out'}" in argv


def test_run_fails_when_tonight_is_a_step_for_the_worse(tmp_path, commits):
    done, _, site, _ = run_nightly(tmp_path, commits, STEP_TONIGHT)
    assert done.returncode == 1
    assert "the newest result" in done.stderr
    assert "sleep-50ms-prefork-c4" in done.stdout  # the table says which point, by how much
    assert commits[5][:10] in done.stdout
    assert (site / "index.html").is_file()  # published all the same


def test_run_waits_for_three_nights_before_judging(tmp_path, commits):
    done, store, site, _ = run_nightly(tmp_path, commits, FLAT, earlier=1)
    assert done.returncode == 0, done.stderr
    assert "2 night(s) stored: history starts at 3" in done.stdout
    assert len(list(store.iterdir())) == 2
    assert not site.exists()


# `open` and `save`, against a bare repository as the remote.


def git(cwd, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@x"
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=30)


def nightly(cwd, *args):
    return subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False, env=dict(os.environ)
    )


def test_open_and_save_keep_the_nights_on_the_results_branch(tmp_path):
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    first = tmp_path / "first"
    git(tmp_path, "clone", "-q", str(remote), str(first))
    (first / "README.md").write_text("project\n")
    git(first, "add", "README.md")
    git(first, "commit", "-q", "-m", "project")
    git(first, "push", "-q", "origin", "HEAD")

    opened = nightly(first, "open", "store")
    assert opened.returncode == 0, opened.stderr
    assert "no bench-results branch yet" in opened.stdout
    assert [p.name for p in (first / "store").iterdir()] == [".git"]  # the project's files are not the store's
    (first / "store" / "sweep-1").mkdir()
    (first / "store" / "sweep-1" / "manifest.json").write_text("{}\n")
    saved = nightly(first, "save", "store")
    assert saved.returncode == 0, saved.stderr

    second = tmp_path / "second"
    git(tmp_path, "clone", "-q", str(remote), str(second))
    assert nightly(second, "open", "store").returncode == 0
    assert (second / "store" / "sweep-1" / "manifest.json").is_file()
    (second / "store" / "sweep-2").mkdir()
    (second / "store" / "sweep-2" / "manifest.json").write_text("{}\n")
    assert nightly(second, "save", "store").returncode == 0
    assert nightly(second, "save", "store").stdout == "nothing new in store\n"

    listed = git(tmp_path, "--git-dir", str(remote), "ls-tree", "-r", "--name-only", "bench-results").stdout
    assert listed.split() == ["sweep-1/manifest.json", "sweep-2/manifest.json"]
    assert "README.md" not in listed


def test_an_unknown_mode_is_refused(tmp_path):
    done = nightly(tmp_path, "measure")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: .ci/bench-nightly open STORE")

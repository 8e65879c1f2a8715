"""The CI benchmark workflow calls one script, .ci/bench-ab, which runs
`python -m bench ab` (base against head, measured in the same job) with
options that parse, and lets a regression fail the job.
(tests/integration/test_ab_end_to_end.py runs the script itself on two revisions.)"""

import os
import re
import shlex
import subprocess

from bench.ab.config import AB_PROFILE
from bench.cli import create_parser
from tests.helpers.paths import ROOT

WORKFLOW = (ROOT / ".github" / "workflows" / "bench.yml").read_text()
SCRIPT = ROOT / ".ci" / "bench-ab"
README = (ROOT / "README.md").read_text()


def workflow_commands():
    return re.findall(r"^\s+run: (.+)$", WORKFLOW, flags=re.M)


def script_ab_argv():
    """The `python -m bench ab` command of the script, its line continuations
    joined, with sample revisions for the shell's variables."""
    text = SCRIPT.read_text().replace("\\\n", " ")
    (line,) = [ln for ln in text.splitlines() if "python -m bench ab" in ln]
    command = line.split("python -m bench", 1)[1].split(">")[0]
    command = command.replace("$baseline", "BASE").replace("$candidate", "HEAD").replace('"$@"', "")
    command = re.sub(r"\$\{BENCH_AB_OUTPUT:-([^}]+)\}", r"\1", command)
    command = command.replace('${points[@]+"${points[@]}"}', "--pools prefork,gevent --workloads sleep")
    return shlex.split(command)


def test_the_workflow_runs_only_the_ab_script():
    assert workflow_commands() == ['.ci/bench-ab --install "$BASE_SHA" "$HEAD_SHA"']


def test_the_workflow_needs_no_self_hosted_runner_and_no_stored_baseline():
    assert "runs-on: ubuntu-latest" in WORKFLOW
    assert "self-hosted" not in WORKFLOW
    assert "ci-baseline" not in WORKFLOW
    assert "fetch-depth: 0" in WORKFLOW  # the base commit must be in the clone


def test_the_workflow_measures_the_pull_request_head_against_its_base():
    assert "BASE_SHA: ${{ github.event.pull_request.base.sha" in WORKFLOW
    assert "HEAD_SHA: ${{ github.event.pull_request.head.sha" in WORKFLOW


def test_the_script_is_executable_and_stops_on_errors():
    assert SCRIPT.stat().st_mode & 0o111
    assert "set -euo pipefail" in SCRIPT.read_text()


def test_the_script_installs_as_the_readme_does():
    assert "pip install -e ." in SCRIPT.read_text()
    assert "pip install -e . &&" in README


def test_the_script_ab_command_parses_and_writes_markdown():
    args = create_parser().parse_args(script_ab_argv())
    assert args.command == "ab"
    assert (args.baseline, args.candidate) == ("rev=BASE", "rev=HEAD")
    assert args.format == "markdown"
    assert args.profile is None
    assert AB_PROFILE == "quick"


def script_argv(tmp_path, *args, scenario=None):
    """The argv the script hands `python` (a stand-in that prints it), run
    from a project holding `scenario` as its celery-bench.toml, if given."""
    project, bin_dir = tmp_path / "project", tmp_path / "bin"
    project.mkdir(parents=True)
    bin_dir.mkdir(parents=True)
    fake = bin_dir / "python"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    if scenario is not None:
        (project / "celery-bench.toml").write_text(scenario)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    done = subprocess.run(
        ["bash", str(SCRIPT), "A", "B", *args], cwd=project, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_script_measures_the_built_in_points_by_default(tmp_path):
    argv = script_argv(tmp_path)
    assert argv[:4] == ["-m", "bench", "ab", "--baseline"]
    assert "--workloads" in argv
    assert "prefork,gevent" in argv


def test_the_script_leaves_the_points_to_a_users_task_or_scenario(tmp_path):
    argv = script_argv(tmp_path, "--app", "orders", "--task", "orders.place")
    assert "--workloads" not in argv
    assert "--pools" not in argv
    assert argv[-4:] == ["--app", "orders", "--task", "orders.place"]
    argv = script_argv(tmp_path / "s", scenario='app = "orders"\ntask = "orders.place"\n')
    assert "--workloads" not in argv
    assert "--pools" not in argv


def test_the_script_posts_the_markdown_and_keeps_ab_exit_code():
    text = SCRIPT.read_text()
    assert '>>"$GITHUB_STEP_SUMMARY"' in text
    assert "|| status=$?" in text
    assert text.rstrip().endswith('exit "$status"')

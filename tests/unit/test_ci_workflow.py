"""The CI benchmark workflow calls one script, .ci/bench-ab, which runs
`python -m bench ab` (base against head, measured in the same job) with
options that parse, and lets a regression fail the job.
(tests/integration/test_ab_end_to_end.py runs the script itself on two revisions.)"""

import re
import shlex

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
    assert args.profile == "quick"


def test_the_script_posts_the_markdown_and_keeps_ab_exit_code():
    text = SCRIPT.read_text()
    assert '>>"$GITHUB_STEP_SUMMARY"' in text
    assert "|| status=$?" in text
    assert text.rstrip().endswith('exit "$status"')

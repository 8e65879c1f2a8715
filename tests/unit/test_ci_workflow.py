"""The CI workflow runs the commands that tox and the tests run, and a
regression fails it."""

import re
import shlex
from pathlib import Path

from bench.cli import create_parser

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = (ROOT / ".github" / "workflows" / "bench.yml").read_text()
TOX = (ROOT / "tox.ini").read_text()


def workflow_commands():
    return re.findall(r"^\s+run: (.+)$", WORKFLOW, flags=re.M)


def bench_argv(command):
    """The arguments of `python -m bench ...`, up to a pipe."""
    return shlex.split(command.split("python -m bench", 1)[1].split("|")[0])


def without_output_dir(argv):
    at = argv.index("--output-dir")
    return argv[:at] + argv[at + 2 :]


def test_the_workflow_installs_as_the_readme_does():
    assert "pip install -e '.[test]'" in workflow_commands()


def test_the_workflow_sweep_is_the_tox_sweep():
    (sweep,) = [c for c in workflow_commands() if "python -m bench sweep" in c]
    (tox_sweep,) = re.findall(r"^commands = (python -m bench sweep .+)$", TOX, flags=re.M)
    assert without_output_dir(bench_argv(sweep)) == without_output_dir(bench_argv(tox_sweep))


def test_the_workflow_compare_parses_and_posts_markdown():
    (compare,) = [c for c in workflow_commands() if "python -m bench compare" in c]
    args = create_parser().parse_args(bench_argv(compare))
    assert args.format == "markdown"
    assert not args.allow_different_hosts
    assert compare.endswith('| tee -a "$GITHUB_STEP_SUMMARY"')


def test_a_regression_fails_the_compare_step():
    step = WORKFLOW[WORKFLOW.index("- name: Compare with the baseline") :]
    assert "continue-on-error: false" in step
    assert "shell: bash" in step  # -eo pipefail: the exit code survives the pipe into tee

"""The README's promises: CI runs its test command, and its commands exist."""

import re
import shlex
from pathlib import Path

from bench.cli import create_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def readme_commands():
    return re.findall(r"```sh\n(.*?)\n```", README, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    install_and_run, install_and_test = readme_commands()[:2]
    ci_lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln and not ln.startswith("#")]
    assert install_and_test in ci_lines
    assert install_and_run.endswith("python -m bench run --pool gevent -c 16")


def test_every_bench_command_in_the_readme_parses():
    """Each `python -m bench ...` line of the README uses options that exist
    (the commands themselves run in the integration tests)."""
    parser = create_parser()
    commands = [
        line.split("python -m bench", 1)[1].split("#")[0].split("&&")[0]
        for block in readme_commands()
        for line in block.splitlines()
        if "python -m bench " in line
    ]
    assert len(commands) >= 4
    for command in commands:
        args = parser.parse_args(shlex.split(command))
        assert args.handler is not None

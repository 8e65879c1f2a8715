"""The README's promises: CI runs its test command, and its commands (and
those of the pages in docs/) exist."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from bench.cli import COMMANDS, create_parser
from bench.measure.config import RunConfig
from bench.sweep.config import SweepConfig

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCS = [page.read_text() for page in sorted((ROOT / "docs").glob("*.md"))]


def sh_blocks(text):
    return re.findall(r"```sh\n(.*?)\n```", text, flags=re.S)


def readme_commands():
    return sh_blocks(README)


def documented_commands():
    """The shell blocks of the README, then of every docs page."""
    return [block for text in (README, *DOCS) for block in sh_blocks(text)]


def test_ci_runs_exactly_the_readme_test_command():
    install_and_run, install_and_test = readme_commands()[:2]
    ci_lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln and not ln.startswith("#")]
    assert install_and_test in ci_lines
    assert install_and_run.endswith("python -m bench run --pool gevent -c 16")


def _example_dir(tmp_path):
    """A copy of examples/thumbnails, where the README's own-task commands
    run, holding the profile that its `profile` command writes for `run`."""
    work = tmp_path / "thumbnails"
    if not work.exists():
        shutil.copytree(ROOT / "examples" / "thumbnails", work, ignore=shutil.ignore_patterns("results", "*.pid"))
        (work / "results").mkdir()
        profile = {"task": "thumbs.thumbnail", "per_call": {"cpu_s": 0.02, "wait_s": 0.05}}
        (work / "results" / "profile.json").write_text(json.dumps(profile))
    return work


def test_every_bench_command_in_the_readme_and_docs_parses_into_a_valid_config(monkeypatch, tmp_path):
    """Each `python -m bench ...` line of the README and docs/ names a subcommand and
    uses options that exist and pass validation: it becomes the typed config
    its command runs with (the commands themselves run in the integration
    tests)."""
    monkeypatch.chdir(tmp_path)  # a run's config checks its output directory is writable
    monkeypatch.setenv("CELERY_BENCH_SECRET", "a-readme-secret-of-enough-length")  # agents and --hosts need one
    parser = create_parser()
    commands = [
        line.split("python -m bench", 1)[1].split("#")[0].split("&&")[0]
        for block in documented_commands()
        for line in block.splitlines()
        if "python -m bench " in line
    ]
    assert len(commands) >= 20
    for command in commands:
        argv = shlex.split(command)
        os.chdir(_example_dir(tmp_path) if "--app" in argv else tmp_path)
        if "--traffic" in argv and not (tmp_path / "examples").exists():  # its paths are the project root's
            shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("results", "*.pid"))
        args = parser.parse_args(argv)
        assert args.command == argv[0]
        if args.command == "ab":  # its revisions are this checkout's
            monkeypatch.chdir(ROOT)
        if args.command == "history":  # what it reads is there in the project it documents
            for path in args.paths:
                Path(path).mkdir(parents=True, exist_ok=True)
        request = COMMANDS[args.command].configure(args)
        monkeypatch.chdir(tmp_path)
        if args.command == "run":  # with --reference, the run and its reference
            assert isinstance(getattr(request, "run", request), RunConfig)
        if args.command == "sweep":
            assert isinstance(request.config, SweepConfig)
            assert request.plan


def test_every_python_c_check_in_the_readme_and_docs_passes():
    """The one-line checks of the README and docs/ (the analysis loads neither
    matplotlib nor Celery) run as written."""
    checks = [line for block in documented_commands() for line in block.splitlines() if line.startswith("python -c ")]
    assert checks
    for line in checks:
        argv = [sys.executable, *shlex.split(line)[1:]]
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr

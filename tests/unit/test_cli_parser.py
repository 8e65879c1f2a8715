"""The parser: shared options are declared once, and defaults come from the
config builders, where they are written once."""

import dataclasses
import shlex

import pytest

from bench.cli import COMMANDS, EXAMPLES, create_parser
from bench.errors import UsageError
from bench.measure.config import build_run_config
from bench.sweep.config import build_sweep_config


def options_of(command):
    """{option string: its argparse action} of one subcommand."""
    sub = next(a for a in create_parser()._actions if a.dest == "command")
    parser = sub.choices[command]
    return {s: action for action in parser._actions for s in action.option_strings}


def test_options_shared_by_run_and_sweep_are_the_same_option():
    run, sweep = options_of("run"), options_of("sweep")
    shared = (set(run) & set(sweep)) - {"-h", "--help"}
    assert {"--task-ms", "--prefetch-multiplier", "--result-backend", "--force", "--broker", "--redis-server"} <= shared
    # -c and --workers are one value for run, a list for sweep
    for option in shared - {"--concurrency", "--workers", "--output-dir"}:
        for field in ("help", "choices", "metavar", "default"):
            assert getattr(run[option], field) == getattr(sweep[option], field), (option, field)


def test_every_help_shows_the_default():
    for command in ("run", "sweep"):
        for option, action in options_of(command).items():
            if option.startswith("--") and option not in ("--help", "--json", "--resume", "--repeats"):
                assert "default" in action.help or action.dest in ("force", "cpus"), (command, option)


def test_every_argument_of_every_command_says_what_it_is():
    sub = next(a for a in create_parser()._actions if a.dest == "command")
    for command, parser in sub.choices.items():
        for action in parser._actions:
            assert action.help, (command, action.dest)


def test_the_examples_in_the_top_level_help_are_commands_it_takes():
    text = create_parser().format_help()
    for command, what in EXAMPLES:
        assert command in text
        assert what in text
        args = shlex.split(command)
        assert args[:3] == ["python", "-m", "bench"]
        create_parser().parse_args(args[3:])  # a UsageError if not
    examples = text.split("examples:", 1)[1]
    assert max(len(line) for line in examples.splitlines()) <= 80


@pytest.mark.usefixtures("nothing_is_started")
def test_a_run_with_no_options_is_the_run_configs_defaults():
    parsed = create_parser().parse_args(["run"])
    assert COMMANDS["run"].configure(parsed) == build_run_config()


@pytest.mark.usefixtures("nothing_is_started")
def test_a_sweep_with_no_options_is_the_sweep_configs_defaults():
    request = COMMANDS["sweep"].configure(create_parser().parse_args(["sweep", "--seed", "7"]))
    assert request.config == build_sweep_config(seed=7)
    assert request.resume is None
    assert str(request.output_dir) == "results"


@pytest.mark.usefixtures("nothing_is_started")
def test_sweep_options_reach_the_sweep_config():
    argv = ["sweep", "--pools", "solo", "--workloads", "sleep", "--task-ms", "5", "--profile", "quick"]
    argv += ["--repeats", "4", "--seed", "3", "--prefetch-multiplier", "1", "--result-backend", "broker", "--force"]
    cfg = COMMANDS["sweep"].configure(create_parser().parse_args(argv)).config
    expected = build_sweep_config(pools=["solo"], workloads=["sleep"], task_ms=5.0, profile="quick", repeats=4)
    assert cfg == dataclasses.replace(expected, seed=3, prefetch_multiplier=1, result_backend="broker", force=True)


@pytest.mark.parametrize(
    ("argv", "unknown"),
    [
        (["ab", "--baseline", "HEAD", "--candidate", "HEAD", "--work", "sleep"], "--work sleep"),
        (["run", "--work", "cpu"], "--work cpu"),
        (["sweep", "--pool", "gevent"], "--pool gevent"),  # sweep takes --pools
    ],
)
def test_an_abbreviated_option_is_refused_not_taken_for_a_longer_one(argv, unknown):
    with pytest.raises(UsageError, match=f"unrecognized arguments: {unknown}"):
        create_parser().parse_args(argv)

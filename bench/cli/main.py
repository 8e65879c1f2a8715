"""The dispatch: argv -> parsed options (+ the scenario file) -> the typed
request -> the chosen subcommand's pipeline (bench/commands/*). Errors are
printed here, once, as one line."""

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench import __version__
from bench.cli import builders, measuring, reading, scenario, serving
from bench.cli.parser import Parser, Subcommands
from bench.errors import BenchError, Interrupted
from bench.harness import signals


@dataclass(frozen=True)
class Command:
    build: Callable[[Subcommands], None]  # adds the subcommand and its options
    configure: Callable[[argparse.Namespace], object]  # the typed request its module's execute() takes


# The dispatch table; bench.commands.<name> runs the pipeline of each.
COMMANDS = {
    "run": Command(measuring.add_run, builders.configure_run),
    "sweep": Command(measuring.add_sweep, builders.configure_sweep),
    "profile": Command(measuring.add_profile, builders.configure_profile),
    "plot": Command(reading.add_plot, builders.configure_sweep_dir),
    "report": Command(reading.add_report, builders.configure_report),
    "compare": Command(reading.add_compare, builders.configure_compare),
    "export": Command(reading.add_export, builders.configure_export),
    "history": Command(reading.add_history, builders.configure_history),
    "capacity": Command(measuring.add_capacity, builders.configure_capacity),
    "broker": Command(serving.add_broker, builders.configure_broker),
    "ab": Command(measuring.add_ab, builders.configure_ab),
    "advise": Command(measuring.add_advise, builders.configure_advise),
    "agent": Command(serving.add_agent, builders.configure_agent),
    "agents": Command(serving.add_agents, builders.configure_agents),
}

# What the top-level --help ends with: (command, what it does). A test parses each.
EXAMPLES = (
    (
        "python -m bench advise --app myapp --task myapp.resize",
        "which pool and -c for your task: a worker command line",
    ),
    ("python -m bench run --pool gevent -c 16", "one point, on a private broker started for it"),
    ("python -m bench sweep --profile quick", "every pool across -c, with the verdict (minutes)"),
    ("python -m bench sweep --app myapp --task myapp.resize --args '[64]'", "the same for your own task"),
    ("python -m bench report results", "the latest sweep's report, tables and figures again"),
    ("python -m bench compare results/sweep-A results/sweep-B", "is B slower than A? (exit 1 if so)"),
    ("python -m bench history results --html site/index.html", "where throughput changed, commit by commit"),
)


def _examples():
    lines = [f"  {command}\n      {what}" for command, what in EXAMPLES]  # fits 80 columns
    return "examples:\n" + "\n".join(lines) + "\n\nEach command's --help lists its options."


def create_parser() -> Parser:
    parser = Parser(
        prog="python -m bench",
        description="Benchmark real Celery workers: which pool, and what -c?",
        epilog=_examples(),
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the examples keep their lines
    )
    parser.add_argument("--version", action="version", version=f"celery-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        COMMANDS[name].build(sub)
    return parser


def _said_by(argv):
    """The name errors are said under: `python -m bench SUBCOMMAND`, as far
    as the command line names one."""
    words = sys.argv[1:] if argv is None else argv
    command = next((w for w in words if not w.startswith("-")), None)
    return f"python -m bench {command}" if command in COMMANDS else "python -m bench"


def main(argv: Sequence[str] | None = None) -> int:
    shutdown = signals.install()  # SIGINT, SIGTERM, SIGHUP: one orderly stop, later ones absorbed
    said_by = _said_by(argv)
    try:
        args = create_parser().parse_args(argv)
        scenario.apply(args, sys.argv[1:] if argv is None else [str(a) for a in argv])
        request = COMMANDS[args.command].configure(args)
        # The one import made at run time (see bench/cli/__init__.py): only
        # the chosen subcommand's pipeline is loaded.
        command = importlib.import_module(f"bench.commands.{args.command}")
        return command.execute(request)
    except Interrupted as exc:
        print(f"{said_by}: error: {exc}", file=sys.stderr)
        return shutdown.exit_code
    except BenchError as exc:
        print(f"{said_by}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception:
        if shutdown.first is None:
            raise
        # A library caught the Interrupted and raised its own error instead: the stop is still the user's.
        print(f"{said_by}: error: interrupted by {shutdown.first.name}", file=sys.stderr)
        return shutdown.exit_code
    finally:
        # As the program (argv None) a late signal must not cut the exit short;
        # called from Python (tests), the caller's handlers come back.
        shutdown.absorb_until_exit() if argv is None else shutdown.restore()

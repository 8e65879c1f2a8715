"""One module per subcommand, each with `execute(request) -> int`: the
pipeline of that command, from its typed request (made by bench/cli.py) to
what it prints. bench.cli imports a module here only when its subcommand is
chosen, so a read-only command never loads what it does not use (Celery for
`report`, `plot`, `compare`). This package's own module stays light: the
CLI imports it at start-up.

Each pipeline reads like hyperfine's `main`: the request in, a handful of
calls (read or measure, analyze, render with bench/output), what it prints
out; bench/output only renders what it is given."""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.analysis.budget import DEFAULT_UPTIME_S, NO_BUDGET, BudgetAsk
from bench.analysis.capacity import Objective
from bench.analysis.compare import DEFAULT_THRESHOLD
from bench.errors import UsageError
from bench.measure.config import RunConfig
from bench.output.compare import FORMATS
from bench.results.sweepdir import find_sweep
from bench.sweep.config import SweepConfig
from bench.sweep.point import Point

__all__ = ["DEFAULT_THRESHOLD", "FORMATS"]  # beside the requests: what the CLI's compare options name


def sweep_dir(path: str | Path) -> Path:
    """The sweep a SWEEP_DIR argument names (a folder of sweeps names its
    latest); the choice is said on stderr."""
    found = find_sweep(path)
    if found.note:
        print(f"note: {found.note}", file=sys.stderr)
    return found.path


def result_path(path: str | Path) -> Path:
    """A compare side: a run's result file, or a sweep (as for SWEEP_DIR)."""
    return sweep_dir(path) if Path(path).is_dir() else Path(path)


@dataclass(frozen=True)
class ExportRequest:
    """`export`: what to write, from what, to where."""

    format: str  # one of bench.output.exports.FORMATS
    result: str  # a run's result JSON, a sweep directory (or a folder of them), an ab directory
    output: str | None  # the file to write; None: standard output


@dataclass(frozen=True)
class HistoryRequest:
    """`history`: what to read, how to decide, what to write."""

    paths: tuple[str, ...]  # sweep and ab directories, run files, pytest-benchmark JSON, or folders of them
    threshold: float  # fraction: the smallest change that counts
    format: str  # text | markdown
    html: Path | None  # the page to write; None: none
    json: Path | None  # the changes as JSON; None: none
    check: bool  # exit 1 when the newest result is a step for the worse


@dataclass(frozen=True)
class SweepRequest:
    """A sweep to start, or to continue."""

    config: SweepConfig
    plan: tuple[Point, ...]  # every point, each checked before anything starts
    resume: Path | None  # the interrupted sweep's directory to continue; None: a new sweep
    output_dir: Path  # where a new sweep's directory is made
    dry_run: bool = False  # print the plan and the estimate only
    profile: dict | None = None  # a user's task: its profile document (--from-profile)
    profile_first: RunConfig | None = None  # a user's task without a profile: the run that profiles it first


@dataclass(frozen=True)
class ReportRequest:
    """A sweep's report files again."""

    sweep_dir: str | Path  # a sweep's directory, or a folder of sweeps (its latest)
    budget: BudgetAsk = NO_BUDGET  # --uptime, --memory-budget: what the budget lines are for


@dataclass(frozen=True)
class ProfileRequest:
    """A user's task to profile."""

    config: RunConfig  # solo, -c 1, memory recorded
    json_path: Path  # where the profile document goes
    budget: BudgetAsk | None = None  # --uptime, --memory-budget: what the budget lines are for; None: none asked


@dataclass(frozen=True)
class AdviseRequest:
    """From a task to a worker command line: profile, model, measure what decides."""

    config: SweepConfig  # the pools, the task (a built-in workload or the user's), quick windows and repeats
    profile_run: RunConfig  # the run that profiles the task alone (solo, -c 1)
    output_dir: Path  # where advise-<stamp>/ is made
    objectives: tuple[Objective, ...] = ()  # --slo: checked at `rate`
    rate: float | None = None  # --rate: tasks/s the winner must serve within the objectives
    memory_budget_bytes: int | None = None  # --memory-budget: the worker tree's memory must fit
    uptime_s: float = DEFAULT_UPTIME_S  # --uptime: what each pool's budget line is for
    refresh_overheads: bool = False  # measure Celery's per-task cost again, even when cached
    app: str | None = None  # the user's app as given to -A (for the command line printed)


@dataclass(frozen=True)
class CapacityRequest:
    """A capacity search for one point."""

    config: RunConfig  # the point, with a placeholder schedule (its arrival and duration hold)
    objectives: tuple[Objective, ...]  # every one must be met
    repeats: int  # runs at each rate, each in a fresh worker
    max_rates: int  # rates tried at most


@dataclass(frozen=True)
class CompareConfig:
    """Two results to compare, and how to decide and say it."""

    baseline: Path  # a run's result file or a sweep directory
    candidate: Path  # the same kind
    threshold: float  # fraction: 0.05 is 5%
    format: str  # text | markdown
    fail_on_unstable: bool  # exit 3 when a point is too unstable to decide
    allow_different_hosts: bool  # compare results from different machines anyway


def parse_percent(text: str) -> float:
    """`--threshold`: a percentage ("5", "5%", "2.5") as a fraction (an
    argparse type: its errors are the option's)."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 5 or 2.5%, got {text!r}") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 100 (percent), got {text!r}")
    return value / 100


def build_compare_config(
    *,
    baseline: str | Path,
    candidate: str | Path,
    threshold: float = DEFAULT_THRESHOLD,
    fmt: str = "text",
    fail_on_unstable: bool = False,
    allow_different_hosts: bool = False,
) -> CompareConfig:
    if fmt not in FORMATS:
        raise UsageError(f"--format: unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if not 0 <= threshold < 1:
        raise UsageError(f"--threshold: must be at least 0% and below 100%, got {threshold:.0%}")
    return CompareConfig(Path(baseline), Path(candidate), threshold, fmt, fail_on_unstable, allow_different_hosts)

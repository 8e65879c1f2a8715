"""One module per subcommand, each with `execute(request) -> int`: the
pipeline of that command, from its typed request (made by bench/cli.py) to
what it prints. bench.cli imports a module here only when its subcommand is
chosen, so a read-only command never loads what it does not use (Celery for
`report`, `plot`, `compare`). This package's own module stays light: the
CLI imports it at start-up."""

import sys
from dataclasses import dataclass
from pathlib import Path

from bench.analysis.capacity import Objective
from bench.measure.config import RunConfig
from bench.sweep.plan import Point, SweepConfig
from bench.sweep.store import find_sweep


def sweep_dir(path):
    """The sweep a SWEEP_DIR argument names (a folder of sweeps names its
    latest); the choice is said on stderr."""
    found = find_sweep(path)
    if found.note:
        print(f"note: {found.note}", file=sys.stderr)
    return found.path


def result_path(path):
    """A compare side: a run's result file, or a sweep (as for SWEEP_DIR)."""
    return sweep_dir(path) if Path(path).is_dir() else Path(path)


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
class ProfileRequest:
    """A user's task to profile."""

    config: RunConfig  # solo, -c 1, memory recorded
    json_path: Path  # where the profile document goes


@dataclass(frozen=True)
class CapacityRequest:
    """A capacity search for one point."""

    config: RunConfig  # the point, with a placeholder schedule (its arrival and duration hold)
    objectives: tuple[Objective, ...]  # every one must be met
    repeats: int  # runs at each rate, each in a fresh worker
    max_rates: int  # rates tried at most

"""One module per subcommand, each with `execute(request) -> int`: the
pipeline of that command, from its typed request (made by bench/cli.py) to
what it prints. bench.cli imports a module here only when its subcommand is
chosen, so a read-only command never loads what it does not use (Celery for
`report`, `plot`, `compare`). This package's own module stays light: the
CLI imports it at start-up."""

from dataclasses import dataclass
from pathlib import Path

from bench.measure.config import RunConfig
from bench.sweep.plan import Point, SweepConfig


@dataclass(frozen=True)
class SweepRequest:
    """A sweep to start, or to continue."""

    config: SweepConfig
    plan: tuple[Point, ...]  # every point, each checked before anything starts
    resume: Path | None  # the interrupted sweep's directory to continue; None: a new sweep
    output_dir: Path  # where a new sweep's directory is made
    profile: dict | None = None  # a user's task: its profile document (--from-profile)
    profile_first: RunConfig | None = None  # a user's task without a profile: the run that profiles it first


@dataclass(frozen=True)
class ProfileRequest:
    """A user's task to profile."""

    config: RunConfig  # solo, -c 1, memory recorded
    json_path: Path  # where the profile document goes

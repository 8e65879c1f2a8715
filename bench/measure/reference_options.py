"""What `run --reference` asks for, without loading Celery (the CLI builds
it; bench/commands/run.py executes it)."""

from dataclasses import dataclass

from bench.measure.config import RunConfig


@dataclass(frozen=True)
class ReferenceRun:
    """The run of `run`, then the same configuration measured by a plain
    `celery -A APP worker` (bench/measure/reference.py), side by side."""

    run: RunConfig  # the harness's run; the reference takes the same pool, -c, app, broker and batch

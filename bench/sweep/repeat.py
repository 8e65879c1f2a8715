"""One repeat, from a planned point's config to a written document: the one
path every repeat of a sweep, of its open-loop rates and of `ab` takes.

It picks where and how the repeat runs (workers here draining a batch,
here under open-loop load, or on agents), and keeps every outcome as a
document at the path the caller chose: a measured run as the runner wrote
it; a failure before anything was measured as a `not_measured` document
(with the workers' report of their settings and their log, when there
were workers); an interrupted run renamed `.interrupted.json`, so a resume
measures it again.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bench.errors import Interrupted, RunFailed
from bench.fleet import remote
from bench.fleet.options import secret_from_env
from bench.harness import signals
from bench.harness.broker import Broker
from bench.measure import openloop, runner
from bench.measure.config import RunConfig
from bench.measure.crew import Relay
from bench.results.io import read_run
from bench.results.schema import RunResult


def measure_repeat(
    run_cfg: RunConfig, path: Path, broker: Broker, stub: str | None, relay: Relay | None = None
) -> RunResult:
    """Measure `run_cfg` once and keep it at `path`; its RunResult (a
    failed run's too). `relay` (crew.Relay): the drain runs here overlap the
    stop of one repeat's workers with the boot of the next. Interrupted
    (after renaming a partial document) on a signal."""
    run_cfg = dataclasses.replace(run_cfg, json_path=path)
    try:
        if run_cfg.hosts:  # the workers on agents (bench/fleet)
            if relay is not None:
                relay.settle()
            return remote.measure_on_hosts(run_cfg, broker, secret_from_env()).result
        if run_cfg.open_loop:
            if relay is not None:
                relay.settle()
            return openloop.measure(run_cfg, broker, stub).result
        return runner.measure(run_cfg, broker, stub, relay=relay).result
    except (Interrupted, KeyboardInterrupt):
        _set_aside(path)
        raise
    except Exception as exc:
        # After a stop signal any error is the stop: a library may have
        # caught the handler's Interrupted and raised its own instead.
        if signals.stopping():
            _set_aside(path)
            raise Interrupted(f"interrupted ({type(exc).__name__}: {exc})") from exc
        if not isinstance(exc, RunFailed):
            raise
        if not path.exists():  # failed before anything was measured: keep the reason
            runner.write_not_measured(run_cfg, broker, path, exc)
        return read_run(path)


def _set_aside(path: Path) -> None:
    """An interrupted repeat's partial document is kept under another name,
    so a resume measures the repeat again."""
    if path.exists():
        path.rename(path.with_suffix(".interrupted.json"))

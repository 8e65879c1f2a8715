"""`python -m bench run`: one point measured in a fresh worker, printed;
with --reference, then measured again by a plain `celery worker`, side by side."""

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.text import Text

from bench.errors import RunFailed
from bench.fleet import remote
from bench.fleet.options import secret_from_env
from bench.harness.broker import listening_words
from bench.measure import openloop, reference, runner, soak
from bench.measure.config import RunConfig
from bench.measure.reference_options import ReferenceRun
from bench.output import reference as reference_words
from bench.output import terminal
from bench.output.classes import classes_summary
from bench.output.hosts import hosts_text
from bench.output.memory import live_line
from bench.output.openloop import open_loop_summary
from bench.output.plot_series import run_series_figure


def execute(cfg: RunConfig | ReferenceRun) -> int:
    if isinstance(cfg, ReferenceRun):
        return _with_reference(cfg.run)
    if cfg.hosts:
        return _on_hosts(cfg)
    measure = soak.measure if cfg.soak_s is not None else openloop.measure if cfg.open_loop else runner.measure
    with runner.services_for(cfg) as (broker, stub), progress_bar(soak=cfg.soak_s is not None) as progress:
        if cfg.listen:
            print(listening_words(broker, cfg.listen), file=sys.stderr, flush=True)
        with _shown_if_failed(cfg):
            measured = measure(cfg, broker, stub, progress)
    _show(cfg, measured)
    if measured.result.status.state == "producer-limited":
        print(f"error: {measured.result.status.reason}", file=sys.stderr)
        return 1
    return 0


def _with_reference(cfg):
    """The harness's run, then the reference on the same broker (and stub
    server): both are measured even when the run fails (a failed run is a
    result too: tasks lost or run twice), and the exit code is the run's."""
    failure: RunFailed | None = None
    with runner.services_for(cfg) as (broker, stub), progress_bar() as progress:
        try:
            measured = runner.measure(cfg, broker, stub, progress)
            result, path = measured.result, measured.path
        except runner.FailedRun as exc:  # measured and kept: a result too
            failure, result, path = exc, exc.measured.result, exc.measured.path
        except RunFailed as exc:  # nothing measured
            failure, result, path = exc, None, None
        ref = reference.measure(cfg, broker, stub, progress, beside=path)
    if result is not None:
        print(terminal.run_summary(result))
    if result is not None:
        harness = reference_words.harness_side(result)
        depth_command = ref.result.depth.command if ref.result.depth else None
        plain = reference_words.reference_side(ref.result)
        print(reference_words.side_by_side(harness, plain, ref.result.command, depth_command))
    depth = ref.result.depth
    if depth is not None and depth.outcome != "complete":
        detail = f" ({depth.detail})" if depth.detail else ""
        print(f"note: the plain worker without events ended {depth.outcome}{detail}", file=sys.stderr)
    if not ref.result.ok:
        detail = f" ({ref.result.detail})" if ref.result.detail else ""
        print(f"note: the plain worker's batch ended {ref.result.outcome}{detail}", file=sys.stderr)
    if ref.result.worker_log:
        print(f"plain workers' log: {ref.result.worker_log['path']} (kept beside the reference)")
    print(f"\nresult: {path}\nreference: {ref.path}")
    if failure is not None:
        raise failure
    return 0


def _on_hosts(cfg):
    """The workers on agents (bench/fleet): same summary, plus the hosts."""
    secret = secret_from_env()  # checked by the CLI
    with runner.services_for(cfg, secret) as (broker, _stub), progress_bar() as progress:
        if cfg.listen:
            print(listening_words(broker, cfg.listen), file=sys.stderr, flush=True)
        with _shown_if_failed(cfg, on_hosts=True):
            measured = remote.measure_on_hosts(cfg, broker, secret, progress)
    _show(cfg, measured, on_hosts=True)
    if measured.result.status.state == "producer-limited":
        print(f"error: {measured.result.status.reason}", file=sys.stderr)
        return 1
    return 0


def _show(cfg, measured, on_hosts=False):
    """What a measured run prints: its summary (health included), open-loop
    and hosts sections, and where its document is."""
    print(terminal.run_summary(measured.result))
    if cfg.open_loop:
        print(open_loop_summary(measured.result))
    mix = classes_summary(measured.result)
    if mix is not None:
        print(mix)
    if on_hosts:
        print(hosts_text(measured.result))
    print(f"\nresult: {measured.path}")
    if cfg.soak_s is not None:  # a soak's story is over time (any run's: `bench plot RUN.json`)
        written = run_series_figure(measured.result, measured.path)
        if written:
            print(f"over time: {', '.join(str(p) for p in written)}")


class _SoakView:
    """A soak's progress bar (seconds), and under it its last second (live_line)."""

    def __init__(self, progress: Progress, line: Text):
        self.progress, self.line = progress, line
        self.bar = progress.add_task("soaking", total=None)
        self.total: int | None = None

    def __call__(self, done: int, total: int) -> None:
        self.total = total
        self.progress.update(self.bar, completed=done, total=total)

    def row(self, row: Mapping[str, Any]) -> None:
        self.line.plain = live_line(row, self.total)


@contextlib.contextmanager
def soak_view() -> Iterator[_SoakView]:
    progress = Progress("soaking", BarColumn(), MofNCompleteColumn(), "s", TimeRemainingColumn())
    line = Text()
    with Live(Group(progress, line), transient=True, refresh_per_second=2, console=Console(stderr=True)):
        yield _SoakView(progress, line)


@contextlib.contextmanager
def _shown_if_failed(cfg, on_hosts=False):
    """A run that failed after measuring still shows what it measured (the
    tasks lost or run twice, and why), before its one-line error."""
    try:
        yield
    except runner.FailedRun as exc:
        _show(cfg, exc.measured, on_hosts)
        raise


def progress_bar(soak: bool = False) -> AbstractContextManager[Callable[[int, int], None] | None]:
    """A progress callback for the terminal; None where nobody watches (no
    TTY, or CI), so logs are not filled with redraws. A soak's also shows
    its last second (a `row` method)."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return contextlib.nullcontext(None)
    if soak:
        return soak_view()

    @contextlib.contextmanager
    def bar() -> Iterator[Callable[[int, int], None]]:
        with Progress("measuring", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True) as p:
            task = p.add_task("tasks", total=None)
            yield lambda done, total: p.update(task, completed=done, total=total)

    return bar()

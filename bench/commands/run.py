"""`python -m bench run`: one point measured in a fresh worker, printed."""

import contextlib
import os
import sys

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from bench.fleet import remote
from bench.fleet.signing import SECRET_ENV
from bench.harness.broker import listening_words
from bench.measure import openloop, runner
from bench.output import terminal
from bench.output.openloop import open_loop_summary


def execute(cfg):
    if cfg.hosts:
        return _on_hosts(cfg)
    measure = openloop.measure if cfg.open_loop else runner.measure
    with runner.services_for(cfg) as (broker, stub), _progress_bar() as progress:
        if cfg.listen:
            print(listening_words(broker, cfg.listen), file=sys.stderr, flush=True)
        measured = measure(cfg, broker, stub, progress)
    print(terminal.run_summary(measured.result))
    if cfg.open_loop:
        print(open_loop_summary(measured.result))
    print(f"\nresult: {measured.path}")
    if measured.result.status.state == "producer-limited":
        print(f"error: {measured.result.status.reason}", file=sys.stderr)
        return 1
    return 0


def _on_hosts(cfg):
    """The workers on agents (bench/fleet): same summary, plus the hosts."""
    secret = os.environ[SECRET_ENV].encode()  # checked by the CLI
    with runner.services_for(cfg, secret) as (broker, _stub), _progress_bar() as progress:
        if cfg.listen:
            print(listening_words(broker, cfg.listen), file=sys.stderr, flush=True)
        measured = remote.measure_on_hosts(cfg, broker, secret, progress)
    print(terminal.run_summary(measured.result))
    if cfg.open_loop:
        print(open_loop_summary(measured.result))
    print(remote.hosts_text(measured.result))
    print(f"\nresult: {measured.path}")
    if measured.result.status.state == "producer-limited":
        print(f"error: {measured.result.status.reason}", file=sys.stderr)
        return 1
    return 0


def _progress_bar():
    """A progress callback for the terminal; None where nobody watches (no
    TTY, or CI), so logs are not filled with redraws."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return contextlib.nullcontext(None)

    @contextlib.contextmanager
    def bar():
        with Progress("measuring", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True) as p:
            task = p.add_task("tasks", total=None)
            yield lambda done, total: p.update(task, completed=done, total=total)

    return bar()

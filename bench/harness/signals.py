"""Signals that stop the harness: SIGINT (Ctrl-C), SIGTERM and SIGHUP.

The first one starts an orderly shutdown: it raises Interrupted where the
harness is, so every `with` block stops its processes and what was measured
is written. Later ones are absorbed, so a second Ctrl-C never interrupts
the clean-up and loses the partial result; one that comes after
FORCE_AFTER_S of shutdown (the user insists) kills the harness's child
processes at once, and the clean-up goes on without waiting for them.
The exit code follows the shell's convention: 128 + the first signal's number.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import psutil

from bench.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FORCE_AFTER_S = 3.0
# The installed Shutdown: signal handlers are process-wide, and so is this.
_active: Shutdown | None = None
# >0 while the main thread forks a child (see forking()).
_forking = 0


@dataclass
class Shutdown:
    """What the handlers saw; `first` is None until a signal came."""

    first: signal.Signals | None = None
    first_at: float | None = None  # monotonic s
    later: list[signal.Signals] = field(default_factory=list)  # signals absorbed during the shutdown
    previous: dict[int, Any] = field(default_factory=dict)  # the handlers before install()

    def restore(self) -> None:
        """Put the previous handlers back (main() called as a library)."""
        global _active
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        _active = None

    def absorb_until_exit(self) -> None:
        """Ignore the stop signals from now on: the program is ending, and the
        interpreter would otherwise reset our handlers while it exits, so a
        late SIGTERM would kill it with no exit code of ours."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)

    @property
    def exit_code(self) -> int:
        return 128 + int(self.first) if self.first is not None else Interrupted.exit_code

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if self.first is None:
            self.first, self.first_at = sig, time.monotonic()
            if _forking:
                return  # raised by the next raise_if_stopping: see forking()
            raise Interrupted(f"interrupted by {sig.name}")
        self.later.append(sig)
        if self.first_at is not None and time.monotonic() - self.first_at >= FORCE_AFTER_S:
            kill_children()


def kill_children() -> None:
    """SIGKILL every descendant of this process (the user asked twice)."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(os.getpid()).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()


def install() -> Shutdown:
    """Route SIGINT, SIGTERM and SIGHUP to one Shutdown; returns it."""
    global _active
    shutdown = Shutdown()
    for sig in STOP_SIGNALS:
        shutdown.previous[sig] = signal.signal(sig, shutdown.handle)
    _active = shutdown
    return shutdown


@contextlib.contextmanager
def forking() -> Iterator[None]:
    """Around starting a child process: a stop signal that lands meanwhile
    is only recorded, and the next raise_if_stopping raises it (after the
    child is started and its owner holds it, to stop it). Raised inside the
    fork, it would escape from logging's at-fork hook, which then never
    releases logging's lock: the main thread goes on (the lock is
    reentrant), but the next other thread that logs (a sweep's relay,
    stopping the last run's workers) waits for it forever."""
    global _forking
    _forking += 1
    try:
        yield
    finally:
        _forking -= 1


def stopping() -> bool:
    """A stop signal came: an error raised since may be a library's
    rewording of the Interrupted, and is treated as the stop."""
    return _active is not None and _active.first is not None


def raise_if_stopping() -> None:
    """A checkpoint for the loops that wait or measure. The handler's
    Interrupted is raised wherever the main thread happens to be, and some
    places swallow it: a signal that lands while a child is forked raises
    inside logging's at-fork hook, which only prints "Exception ignored".
    Later signals are absorbed, so without this the harness would go on."""
    if _active is not None and _active.first is not None:
        raise Interrupted(f"interrupted by {_active.first.name}")

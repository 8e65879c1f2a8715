"""The shutdown on SIGINT, SIGTERM and SIGHUP, on the handler itself."""

import signal

import pytest

from bench.errors import Interrupted
from bench.harness import signals


@pytest.fixture
def shutdown():
    installed = signals.install()
    yield installed
    installed.restore()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_the_first_signal_interrupts_and_sets_the_exit_code(shutdown, sig, code):
    with pytest.raises(Interrupted, match=sig.name):
        shutdown.handle(sig, None)
    assert shutdown.exit_code == code


def test_later_signals_are_absorbed_and_the_first_one_decides_the_code(shutdown):
    with pytest.raises(Interrupted):
        shutdown.handle(signal.SIGINT, None)
    shutdown.handle(signal.SIGTERM, None)  # absorbed: no exception
    shutdown.handle(signal.SIGINT, None)
    assert shutdown.later == [signal.SIGTERM, signal.SIGINT]
    assert shutdown.exit_code == 130


def test_a_swallowed_interruption_is_raised_again_at_the_next_checkpoint(shutdown):
    signals.raise_if_stopping()  # nothing asked yet
    try:
        shutdown.handle(signal.SIGTERM, None)
    except Interrupted:
        pass  # as logging's at-fork hook does: "Exception ignored"
    with pytest.raises(Interrupted, match="SIGTERM"):
        signals.raise_if_stopping()


def test_restore_puts_the_callers_handlers_back():
    before = signal.getsignal(signal.SIGTERM)
    installed = signals.install()
    assert signal.getsignal(signal.SIGTERM) == installed.handle
    installed.restore()
    assert signal.getsignal(signal.SIGTERM) == before
    signals.raise_if_stopping()  # no Shutdown installed: never raises

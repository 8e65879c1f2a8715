"""The shutdown on SIGINT, SIGTERM and SIGHUP, on the handler itself."""

import dataclasses
import importlib
import inspect
import os
import signal
import subprocess
import time
from pathlib import Path

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


def test_a_signal_during_a_fork_is_only_recorded_and_raised_at_the_next_checkpoint(shutdown):
    # Raised inside the fork, it escapes from logging's at-fork hook, which
    # then keeps logging's lock: the next other thread that logs hangs.
    with signals.forking():
        shutdown.handle(signal.SIGTERM, None)  # no exception here
    assert shutdown.exit_code == 143
    with pytest.raises(Interrupted, match="SIGTERM"):
        signals.raise_if_stopping()


def test_a_real_signal_in_the_at_fork_hooks_escapes_nowhere_and_is_raised_after(shutdown):
    # Outside forking(), the Interrupted would escape from the hook: Python
    # prints "Exception ignored", and pytest fails the test on it.
    armed = [True]

    def signal_ourselves():  # in the parent, right after the fork, as logging's own hook
        if armed[0]:
            armed[0] = False
            os.kill(os.getpid(), signal.SIGTERM)

    os.register_at_fork(after_in_parent=signal_ourselves)  # cannot be undone: disarmed after one use
    with signals.forking():
        # a preexec_fn, as every child of the harness has: only then do the hooks run
        subprocess.run(["true"], check=True, timeout=30, preexec_fn=lambda: None)
    assert not armed[0]
    with pytest.raises(Interrupted, match="SIGTERM"):
        signals.raise_if_stopping()


# Where bench/ starts children: the worker, the plain worker of the
# reference, the embedded broker, the stub server, the open-loop producer.
STARTERS = {"harness/worker.py", "harness/plain.py", "harness/broker.py", "harness/netstub.py", "measure/producer.py"}


def test_every_child_the_harness_starts_is_started_inside_forking():
    root = Path(signals.__file__).resolve().parents[1]
    found = set()
    for path in root.rglob("*.py"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if "subprocess.Popen(" in line:
                found.add(str(path.relative_to(root)))
                before = "\n".join(lines[max(0, i - 2) : i + 1])
                assert "signals.forking()" in before, (
                    f"{path.relative_to(root.parent)}:{i + 1} starts a child outside forking()"
                )
    assert found == STARTERS  # the search saw every place that starts a child (it cannot pass on none)


def test_a_librarys_except_exception_cannot_turn_the_stop_into_its_own_error(shutdown):
    # What CI met: SIGTERM landed inside inspect.getfullargspec (under kombu's
    # connect), which catches Exception and raises "TypeError: unsupported callable".
    class LandsDuringSignature:
        @property
        def __signature__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs before this ends

        def __call__(self):
            pass

    with pytest.raises(Interrupted, match="SIGTERM"):
        inspect.getfullargspec(LandsDuringSignature())
    assert shutdown.exit_code == 143


def test_main_says_interrupted_when_a_library_rewords_the_stop(monkeypatch, capsys):
    import bench.commands.report as report_command

    cli_main = importlib.import_module("bench.cli.main")  # `bench.cli.main` is also the function

    def execute(_request):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except BaseException as exc:  # a library that catches everything
            raise RuntimeError("connection reset") from exc

    monkeypatch.setattr(report_command, "execute", execute)
    report = cli_main.COMMANDS["report"]
    monkeypatch.setitem(cli_main.COMMANDS, "report", dataclasses.replace(report, configure=lambda _args: None))
    assert cli_main.main(["report", "whatever"]) == 143
    err = capsys.readouterr().err
    assert err == "python -m bench report: error: interrupted by SIGTERM\n"

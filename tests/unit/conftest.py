"""Fixtures several unit test files share. Unit tests start no worker or
broker: they run on hand-made data (tests/data, tests/helpers/hand_made_run.py)."""

import shutil
import signal

import pytest

from tests.helpers.paths import REFERENCE


@pytest.fixture
def nothing_is_started(monkeypatch, tmp_path):
    """For tests of bad input through bench.cli.main: fail the test, rather
    than start a broker or a worker, if input gets past validation; pin the
    machine's cores so limits do not depend on it; work in an empty directory
    (nothing may be written); restore main()'s SIGTERM handler."""

    def refuse(*_args, **_kwargs):
        pytest.fail("bad input reached runner.services: a broker or worker would have started")

    monkeypatch.setattr("bench.measure.runner.services", refuse)
    monkeypatch.setattr("bench.harness.broker.embedded", refuse)
    monkeypatch.setattr("bench.measure.config.usable_cores", lambda: 2.0)
    monkeypatch.chdir(tmp_path)
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def reference_copy(tmp_path):
    """The committed reference sweep's data (manifest and summary), copied:
    commands write beside what they read, and the tracked files stay as they are."""
    target = tmp_path / "reference"
    target.mkdir()
    for name in ("manifest.json", "summary.json"):
        shutil.copy(REFERENCE / name, target / name)
    return target

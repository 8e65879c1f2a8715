"""The fast loop: `python -m pytest tests/unit` (under a minute) while you
work; the full suite, real workers included, is `python -m pytest` (ten minutes
and more on two cores; `tox -e py` runs it in an environment of
its own).
tests/README.md says where things go.

Fixtures for every test: making sure no worker, broker or stub server
outlives a test, and sharing the machine between the suite's four
pytest-xdist workers (pyproject's addopts). Helpers the tests import are in
tests/helpers; fixtures of one folder in that folder's conftest.py."""

import os
import time
import uuid

import psutil
import pytest

from tests.helpers.machine import LONGEST_FIRST, ONE_WORKER_MODULES, MachineLock, OneWorkerModules, run_directory
from tests.helpers.processes import TAG, tagged_processes


@pytest.hookimpl(trylast=True)  # after pytest's own tmp_path_factory and xdist's dsession exist
def pytest_configure(config):
    """Every process a test starts (`python -m bench`, its workers, a plain
    `celery worker`) keeps the bytecode it compiles, for the ones started
    after it, in a folder of this run's own (PYTHONPYCACHEPREFIX), where
    PYTHONDONTWRITEBYTECODE would have each one compile bench from its source
    again (0.15 s of CPU for a run, 0.4 s for a sweep that draws its report).
    The checkout is left as it was, and a run starts with nothing compiled,
    as a fresh clone does. Set in the processes that run tests (an xdist
    worker's environment is its children's; its own imports are done), not
    in xdist's controller, whose workers would compile every library again."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    if not os.environ.get("PYTEST_XDIST_WORKER") and config.pluginmanager.has_plugin("dsession"):
        return
    os.environ["PYTHONPYCACHEPREFIX"] = str(run_directory(config) / "pycache")
    del os.environ["PYTHONDONTWRITEBYTECODE"]


@pytest.fixture(scope="session")
def machine_lock(request):
    """The MachineLock of this run: in the directory all xdist workers of
    the run share (each worker's base temp is a child of it)."""
    return MachineLock(run_directory(request.config))


@pytest.fixture(autouse=True)
def machine_share(request, machine_lock):
    """Hold the machine for the whole test, fixtures included: alone for a
    test marked `exclusive`, shared otherwise; with the local brokers to
    itself if marked `local_brokers`. (A module-scoped fixture that
    starts processes holds it shared while it does: see test_fleet.)"""
    exclusive, local_brokers = (request.node.get_closest_marker(m) is not None for m in ("exclusive", "local_brokers"))
    with machine_lock.held(exclusive, local_brokers):
        yield


def pytest_xdist_make_scheduler(config, log):
    return OneWorkerModules(config, log)


def pytest_collection_modifyitems(config, items):
    """The order the xdist workers take tests in (pyproject turns off
    xdist's own reordering): first the tests that need the machine alone,
    back to back, so no shared test keeps one waiting (a test waiting for
    the machine alone stops every worker until the shared tests running
    end: in the shared part, each one is a convoy). A module one worker runs
    whole that needs it alone goes first of all: its tests are a chain, and
    its last one must not come after the others that run alone. Then the
    other modules one worker runs whole; then the other tests that start
    real workers, the longest first; then the unit tests, short ones that
    fill the gaps at the end. Collection order within each. An xdist worker
    writes down the tests that run alone, for the scheduler
    (OneWorkerModules): it hands out no shared test until they are done."""

    def rank(item):
        module = item.nodeid.split("::", 1)[0]
        exclusive = item.get_closest_marker("exclusive") is not None
        if exclusive:
            return 0 if module in ONE_WORKER_MODULES else 1
        if module in ONE_WORKER_MODULES:
            return 2
        if module in LONGEST_FIRST:
            return 3
        return 4 if item.get_closest_marker("integration") else 5

    items.sort(key=rank)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        alone = [item.nodeid for item in items if item.get_closest_marker("exclusive") is not None]
        MachineLock(run_directory(config)).write_alone(alone)


@pytest.fixture(autouse=True)
def no_process_outlives_the_test(monkeypatch, machine_share):
    """Fail a test that leaves a worker, broker or stub server behind (and
    kill what it left, so one hole does not spoil the next test)."""
    tag = uuid.uuid4().hex
    monkeypatch.setenv(TAG, tag)  # inherited by every process the test starts
    yield
    deadline = time.monotonic() + 10
    while (left := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    described = []
    for proc in left:
        try:
            described.append(" ".join(proc.cmdline()))
            proc.kill()
        except psutil.Error:
            continue
    assert not described, f"processes outlived the test: {described}"


def pytest_terminal_summary(terminalreporter):
    """Every test's recorded fidelity ratios (record_property("fidelity",
    ...), tests/integration/test_fidelity.py) at the end of the session;
    the reports carry them from xdist's workers too."""
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            said = [value for name, value in getattr(report, "user_properties", ()) if name == "fidelity"]
            lines.extend(f"{report.nodeid.split('::', 1)[-1]} ({report.outcome}): {value}" for value in said)
    if lines:
        terminalreporter.write_sep("-", "fidelity: harness / plain celery worker (without -E: by its queue's depth)")
        for line in sorted(lines):
            terminalreporter.write_line(line)

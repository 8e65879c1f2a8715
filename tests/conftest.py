"""Shared fixtures: running `python -m bench` as a user would, making sure
no worker, broker or stub server outlives a test, and sharing the machine
between the suite's two pytest-xdist workers (pyproject's addopts)."""

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from xdist.scheduler import LoadScopeScheduling

ROOT = Path(__file__).resolve().parent.parent
TAG = "CELERY_BENCH_TEST_ID"


def tagged_processes(tag):
    """Processes whose environment carries `tag`: everything a test started,
    down to the pool children, wherever they were reparented."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(TAG) == tag and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


class MachineLock:
    """The machine, shared by the suite's xdist workers as a readers-writer
    lock: a test marked `exclusive` (it compares timings) holds it alone;
    every other test holds it shared, so two of them run side by side. A
    writer waits at the gate while it holds it, so a stream of readers cannot
    starve it. Besides, tests marked `local_brokers` take turns with the
    local Redis and RabbitMQ (test_broker_left_clean checks them as found).
    flock locks go with their process, so a killed worker frees them."""

    def __init__(self, directory):
        self.gate = Path(directory) / "celery-bench-tests.gate"
        self.machine = Path(directory) / "celery-bench-tests.machine"
        self.brokers = Path(directory) / "celery-bench-tests.brokers"

    @contextlib.contextmanager
    def held(self, exclusive=False, local_brokers=False):
        with contextlib.ExitStack() as stack:
            gate = stack.enter_context(self.gate.open("a"))
            machine = stack.enter_context(self.machine.open("a"))
            fcntl.flock(gate, fcntl.LOCK_EX)
            try:
                fcntl.flock(machine, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)
            stack.callback(fcntl.flock, machine, fcntl.LOCK_UN)
            if local_brokers:  # taken last, while holding the machine: no cycle
                brokers = stack.enter_context(self.brokers.open("a"))
                fcntl.flock(brokers, fcntl.LOCK_EX)
                stack.callback(fcntl.flock, brokers, fcntl.LOCK_UN)
            yield


@pytest.fixture(scope="session")
def machine_lock(tmp_path_factory):
    """The MachineLock of this run: in the directory all xdist workers of
    the run share (each worker's base temp is a child of it)."""
    base = tmp_path_factory.getbasetemp()
    return MachineLock(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)


@pytest.fixture(autouse=True)
def machine_share(request, machine_lock):
    """Hold the machine for the whole test, fixtures included: alone for a
    test marked `exclusive`, shared otherwise; with the local brokers to
    itself if marked `local_brokers`. (A module-scoped fixture that
    starts processes holds it shared while it does: see test_fleet.)"""
    exclusive, local_brokers = (request.node.get_closest_marker(m) is not None for m in ("exclusive", "local_brokers"))
    with machine_lock.held(exclusive, local_brokers):
        yield


# Modules whose tests all go to one xdist worker, in their order: the fleet's
# tests share one module-scoped fleet, and some start agents later ones use.
ONE_WORKER_MODULES = ("tests/integration/test_fleet.py",)


class OneWorkerModules(LoadScopeScheduling):
    """xdist's scheduling by scope, where every test is a scope of its own
    but the tests of a module in ONE_WORKER_MODULES share one. (xdist's
    `xdist_group` marks do this, but not under pytest 9.2, whose node ids
    xdist 3.8 can no longer suffix.)"""

    def _split_scope(self, nodeid):
        module = nodeid.split("::", 1)[0]
        return module if module in ONE_WORKER_MODULES else nodeid


def pytest_xdist_make_scheduler(config, log):
    return OneWorkerModules(config, log)


def pytest_collection_modifyitems(config, items):
    """The order the xdist workers take tests in (pyproject turns off
    xdist's own reordering): first the tests that need the machine alone,
    back to back, so no shared test keeps one waiting; then the modules one
    worker runs whole; then the other tests that start real workers; then
    the unit tests, short ones that fill the gaps at the end. Collection
    order within each."""

    def rank(item):
        if item.nodeid.split("::", 1)[0] in ONE_WORKER_MODULES:
            return 1
        if item.get_closest_marker("exclusive"):
            return 0
        return 2 if item.get_closest_marker("integration") else 3

    items.sort(key=rank)


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


def _run_bench(*args, timeout=180, env=None):
    return subprocess.run(
        [sys.executable, "-m", "bench", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CI": "true", **(env or {})},
    )


@pytest.fixture
def bench_cli():
    """`bench_cli(ARGS...)` runs `python -m bench ARGS` from the project root
    as a user would (no TTY, CI set) and returns the CompletedProcess."""
    return _run_bench


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

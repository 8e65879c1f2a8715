"""Shared fixtures: running `python -m bench` as a user would, and making
sure no worker, broker or stub server outlives a test."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

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


@pytest.fixture(autouse=True)
def no_process_outlives_the_test(monkeypatch):
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

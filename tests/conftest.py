"""Shared fixtures: running `python -m bench` as a user would, and making
sure no worker, broker or stub server outlives a test."""

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
# What only processes started by the harness have in their command lines.
HARNESS_MARKERS = ("celery-bench-broker-", "-n bench-", "bench.netstub", "celery-bench-run-")


def harness_processes():
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if any(marker in cmd for marker in HARNESS_MARKERS) and proc.pid != os.getpid():
            found.append(proc)
    return found


@pytest.fixture(autouse=True)
def no_process_outlives_the_test():
    """Fail a test that leaves a worker, broker or stub server behind (and
    kill what it left, so one hole does not spoil the next test)."""
    before = {p.pid for p in harness_processes()}
    yield
    deadline = time.monotonic() + 10
    while True:
        left = [p for p in harness_processes() if p.pid not in before]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for proc in left:
        proc.kill()
    assert not left, f"processes outlived the test: {[' '.join(p.cmdline()) for p in left if p.is_running()]}"


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

"""The resource sampler counts the embedded broker's CPU across a restart
(--broker-restart-at replaces its process): the old process's CPU from the
window's start to its last sample, and all of the new one's. Two real
processes, each burning a known amount of CPU, stand in for the broker."""

import subprocess
import sys
import time

import psutil
import pytest

from bench.measure.observe import ResourceSampler

BURN_S = 0.3  # CPU each stand-in burns, then it sleeps until killed
STAND_IN = f"""
import time
end = time.process_time() + {BURN_S}
while time.process_time() < end:
    pass
time.sleep(60)
"""


def cpu_of(proc):
    times = psutil.Process(proc.pid).cpu_times()
    return times.user + times.system


def wait_until(what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def stand_ins():
    procs = []

    def start():
        proc = subprocess.Popen([sys.executable, "-c", STAND_IN])
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def test_the_brokers_cpu_counts_both_of_its_processes_across_a_restart(stand_ins):
    current = {"pid": None}
    first = stand_ins()
    current["pid"] = first.pid
    sampler = ResourceSampler([], lambda: current["pid"], cores=1.0, interval_s=0.05).start()
    wait_until(lambda: cpu_of(first) >= BURN_S)
    time.sleep(0.2)  # a few samples of it with its work done
    first_cpu = cpu_of(first)
    first.kill()  # the restart: SIGTERM in the harness; gone either way
    first.wait(timeout=10)
    second = stand_ins()
    current["pid"] = second.pid
    wait_until(lambda: cpu_of(second) >= BURN_S)
    time.sleep(0.2)
    second_cpu = cpu_of(second)
    resources = sampler.stop()
    # The old process's from the start (a little of its start-up may be before it), the new one's from its birth.
    assert resources.broker_cpu_s == pytest.approx(first_cpu + second_cpu, abs=0.15)
    assert resources.broker_cpu_s >= 2 * BURN_S * 0.9


def test_no_broker_of_ours_has_no_cpu_figure():
    assert ResourceSampler([], None, cores=1.0, interval_s=0.05).start().stop().broker_cpu_s is None

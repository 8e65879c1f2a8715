"""The tutorial's tasks (add, mul, xsum) and the benchmark workloads.

Every workload takes its size as an argument, in milliseconds. CPU work is
measured in CPU time of the calling thread, so "20 ms of CPU" means the same
on any machine and under any contention: the loops are calibrated by the
clock, not by a fixed iteration count.
"""

import hashlib
import socket
import time

from .celery import app

# A buffer for the hashing workload; sha256 releases the GIL for inputs
# larger than 2 KiB, so each update runs without holding it.
_NOGIL_CHUNK = bytes(range(256)) * 256  # 64 KiB
# What the leak workload keeps alive: one block per call, for the life of the
# process (a pool child's, or the worker's under the one-process pools).
_LEAKED: list[bytearray] = []


@app.task
def add(x, y):
    return x + y


@app.task
def mul(x, y):
    return x * y


@app.task
def xsum(numbers):
    return sum(numbers)


@app.task
def noop():
    """Nothing: what is left is Celery's own per-task cost."""


def burn_cpu(ms):
    """Hold the GIL in pure Python until this thread has used `ms` of CPU."""
    deadline = time.thread_time() + ms / 1000.0
    x = 0
    while time.thread_time() < deadline:
        for i in range(2000):  # about 50 us between clock reads
            x += i * i
    return x


@app.task
def cpu(ms):
    """Pure-Python work holding the GIL for `ms` milliseconds of CPU time."""
    burn_cpu(ms)


@app.task
def cpu_nogil(ms):
    """Hash a buffer (GIL released inside sha256) for `ms` milliseconds of CPU."""
    deadline = time.thread_time() + ms / 1000.0
    digest = hashlib.sha256()
    while time.thread_time() < deadline:
        digest.update(_NOGIL_CHUNK)
    return digest.hexdigest()[:8]


@app.task
def sleep(ms):
    """Wait `ms` milliseconds; cooperative under gevent and eventlet."""
    time.sleep(ms / 1000.0)


@app.task
def net(ms, address):
    """One real socket round trip to the harness's stub server at `address`
    ("host:port"), which answers after `ms` milliseconds."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30 + ms / 1000.0) as conn:
        conn.sendall(b"%d\n" % ms)
        with conn.makefile("rb") as answer:
            reply = answer.readline()
    if reply != b"ok\n":
        raise ConnectionError(f"stub server answered {reply!r}")


@app.task
def leak(ms, kib=1024):
    """Keep `kib` KiB alive in this process for good (a leak: the pages are
    written, so they are resident and charged to its cgroup), then wait `ms`
    milliseconds. Its process grows by `kib` KiB per call."""
    block = bytearray(kib * 1024)
    block[::4096] = b"\x01" * len(range(0, len(block), 4096))  # touch every page
    _LEAKED.append(block)
    time.sleep(ms / 1000.0)


@app.task
def stuck(ms, blocked_ms=0):
    """Wait `ms` milliseconds, or `blocked_ms` when the harness made this
    call one of the stuck ones (the stuck workload: a task that blocks far
    longer than usual)."""
    time.sleep((blocked_ms or ms) / 1000.0)


@app.task
def mixed(cpu_ms, io_ms):
    """`cpu_ms` of CPU holding the GIL, then `io_ms` of waiting."""
    burn_cpu(cpu_ms)
    time.sleep(io_ms / 1000.0)

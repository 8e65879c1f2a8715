"""Every process a test starts carries the test's tag in its environment
(tests/conftest.py sets it), so what a test left behind can be found,
down to the pool children, wherever they were reparented."""

import os

import psutil

TAG = "CELERY_BENCH_TEST_ID"


def tagged_processes(tag):
    """The live processes, other than this one, whose environment carries `tag`."""
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

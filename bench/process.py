"""Child processes that always end: every process the harness starts is
stopped, with its whole tree, when the block that started it exits."""

import contextlib
import os
import signal
import subprocess

import psutil


def tree(pid):
    """The process and all its descendants that are alive now."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def stop_tree(popen, grace_s=10.0, sig=signal.SIGTERM):
    """Ask the process to stop (`sig`), wait up to `grace_s`, then SIGKILL
    what is left of its tree, descendants included (a prefork worker's pool
    children are reparented, not killed, if their parent dies first)."""
    members = tree(popen.pid)
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(sig)
        try:
            popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    # Children may still be finishing after the parent exited: a short wait
    # for them, then no mercy.
    _, alive = psutil.wait_procs([p for p in members if p.pid != popen.pid], timeout=1.0)
    for proc in [*alive, *tree(popen.pid)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)  # anything left in its session
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout=5)
    psutil.wait_procs(alive, timeout=5)

"""Child processes that always end: every process the harness starts is
stopped, with its whole tree, when the block that started it exits, and
dies with the harness when the harness is killed outright (SIGKILL leaves
no block to exit: the kernel's parent-death signal covers that case)."""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import psutil

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def set_parent_death_signal(sig: int = signal.SIGKILL, parent_pid: int | None = None) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies.

    Linux only (elsewhere a no-op). The kernel sends it when the *thread*
    that forked this process exits, so the harness forks its children from
    the main thread only (see `tied_to_us`). If the parent is already gone
    (it died between fork and here), exit at once."""
    if _libc is None:
        return
    _libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def tied_to_us(then: Callable[[], object] | None = None) -> Callable[[], None]:
    """A `preexec_fn` for Popen: the child gets SIGKILL when the harness
    dies, however it dies; `then` runs after (e.g. CPU pinning). Call it in
    the main thread, which lives as long as the harness."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("children are started from the main thread: the death signal follows the forking thread")
    parent = os.getpid()

    def preexec() -> None:
        set_parent_death_signal(signal.SIGKILL, parent)
        if then is not None:
            then()

    return preexec


def tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants that are alive now."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def stop_tree(popen: subprocess.Popen, grace_s: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Ask the process to stop (`sig`), wait up to `grace_s`, then SIGKILL
    whatever is left of its tree, descendants included (a prefork worker's
    pool children are reparented, not killed, when their parent dies)."""
    members = tree(popen.pid)
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=grace_s)
    exited_cleanly = popen.poll() is not None
    children = [p for p in members if p.pid != popen.pid]
    if exited_cleanly:
        # The parent stopped its children on its way out; give them a moment.
        children = _wait_gone(children, timeout_s=1.0)
    for proc in [*children, *tree(popen.pid)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()  # psutil checks the pid was not reused
    # Orphans of a parent that died early (its children were never listed
    # above) are still in its session's process group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout=5)
    _wait_gone(children, timeout_s=5.0)


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # dead, its reaper not yet told
    except psutil.NoSuchProcess:
        return True


def is_alive(pid: int) -> bool:
    """True while the process runs (a zombie does not)."""
    try:
        return not _gone(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False


def watcher(pid: int | None) -> Callable[[], bool]:
    """A callable telling whether `pid` still runs; always True for None
    (a process that is not ours to watch, such as the user's broker)."""
    if pid is None:
        return lambda: True
    return lambda: is_alive(pid)


def _wait_gone(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until the processes are dead (zombies count: they run nothing);
    the ones still alive at the timeout. Polls briefly: these are not our
    children, so there is nothing to wait() on, and psutil.wait_procs backs
    off to seconds between checks."""
    deadline = time.monotonic() + timeout_s
    alive = [p for p in procs if not _gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.01)
        alive = [p for p in alive if not _gone(p)]
    return alive

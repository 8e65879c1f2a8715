"""One writer per sweep directory: an advisory lock (flock) on its `.lock`, held
for the whole sweep or resume. The kernel drops it when the holder dies, so
a killed sweep never blocks the next one; the file keeps the holder's pid
for the message."""

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from bench.errors import UsageError

LOCK = ".lock"


@contextlib.contextmanager
def writer(sweep_path: str | Path) -> Iterator[None]:
    """Hold the sweep's lock; UsageError naming the holder if another
    process holds it."""
    path = Path(sweep_path) / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise UsageError(
                f"{sweep_path}: another celery-bench (pid {pid}) is measuring this sweep; "
                "wait for it to finish or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def held(sweep_path: str | Path) -> bool:
    """True while some process (this one included) holds the sweep's lock."""
    path = Path(sweep_path) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False

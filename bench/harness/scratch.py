"""The run's scratch directories (the workers' task records and logs), and
the clean-up of those a killed harness left behind.

They hold no secret (the broker's configuration never touches the disk),
but a harness killed with SIGKILL cannot remove them. Each one holds an
`owner` file with the pid and start time of the harness that made it; the
next harness removes every such directory of this user whose owner is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import psutil

PREFIX = "celery-bench-"
OWNER = "owner"


def _me():
    proc = psutil.Process()
    return f"{proc.pid} {proc.create_time():.3f}"


def _owner_alive(directory):
    try:
        pid, created = (directory / OWNER).read_text().split()
        proc = psutil.Process(int(pid))
        return f"{proc.create_time():.3f}" == created  # not a reused pid
    except (OSError, ValueError, psutil.Error):
        return False


UNMARKED_AGE_S = 600.0  # an empty directory with no owner this old was never going to get one


def _empty_and_old(directory):
    return not any(directory.iterdir()) and time.time() - directory.stat().st_mtime > UNMARKED_AGE_S


def remove_stale(root: str | Path | None = None) -> int:
    """Remove the scratch directories of dead harnesses owned by this user;
    returns how many. A directory without an owner file is left alone (not
    ours to judge, or still being made), unless it is empty and older than
    UNMARKED_AGE_S: its harness was killed between making and marking it."""
    root = Path(root or tempfile.gettempdir())
    removed = 0
    for directory in root.glob(f"{PREFIX}*"):
        with contextlib.suppress(OSError):
            if directory.is_symlink() or not directory.is_dir() or directory.stat().st_uid != os.getuid():
                continue
            if (directory / OWNER).exists() and not _owner_alive(directory):
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
            elif _empty_and_old(directory):
                # made, then its harness was killed before it could mark it
                directory.rmdir()
                removed += 1
    return removed


def make(kind: str) -> Path:
    """A fresh private directory `celery-bench-<kind>-XXXX` owned by this
    harness (remove it with `remove`); stale ones of dead harnesses are
    removed first."""
    remove_stale()
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-"))
    (path / OWNER).write_text(_me())
    return path


def remove(path: str | Path) -> None:
    """Remove a scratch directory, its owner file last: a harness killed
    half-way leaves a directory the next harness still knows as a dead
    one's."""
    path = Path(path)
    with contextlib.suppress(OSError):
        for entry in path.iterdir():
            if entry.name != OWNER:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
    (path / OWNER).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.rmdir()

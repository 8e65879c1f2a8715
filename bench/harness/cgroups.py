"""Each worker in a cgroup of its own, as a Kubernetes container limit puts
it: a CPU quota, and a memory limit with swap off for it.

Longer than the ~400 lines a module aims for, on purpose: one kernel
interface, its two versions side by side, each function of v1 beside its
v2 twin; split by version, a change to one would hide the other.

cgroup v2 (one unified hierarchy, `cpu.max`, `memory.max`, `memory.swap.max`)
and v1 (a hierarchy per controller, `cpu.cfs_quota_us`/`cpu.cfs_period_us`,
`memory.limit_in_bytes`, `memory.memsw.limit_in_bytes`) are both supported;
v2 is used where its controllers are available. Every worker's cgroup lives
under one parent, `celery-bench`, at the top of each hierarchy, and is named
after the harness that made it (its pid and start time), so that:

- the harness removes it when the worker stops, whatever ends the run (the
  worker's `stop` is in the `finally` of every block that starts one);
- a harness killed outright (SIGKILL) leaves it empty (its workers die with
  it: harness/process.py), and the next harness that makes one removes every
  cgroup of a harness that is gone (`remove_stale`).

The worker joins its cgroup in the child, between fork and exec (`join`, in
Popen's preexec_fn), so its pool's children, forked later, are in it too.

Every path starts from a `mount` argument (/sys/fs/cgroup by default), so
the tests run it against a fake tree.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

MOUNT = Path("/sys/fs/cgroup")
PARENT = "celery-bench"  # every worker's cgroup is a child of this one
V1_PERIOD_US = 100_000  # the CFS period the quota is a share of (the kernel's default)
MIN_QUOTA_US = 1_000  # the kernel refuses a smaller quota
MIN_CPU_LIMIT = MIN_QUOTA_US / V1_PERIOD_US  # cores: 0.01
MIN_MEMORY_LIMIT = 2**20  # bytes; a worker needs tens of MiB, but a tiny limit is a result (it is OOM-killed)
REMOVE_TIMEOUT_S = 2.0  # the kernel frees a cgroup a moment after its last process exits
NEEDED = ("cpu", "memory")
# A file only each v1 controller's hierarchy has: how it is told from another mount.
V1_MARKER = {"cpu": "cpu.cfs_quota_us", "memory": "memory.limit_in_bytes"}
# Moving a process between cgroups needs write access to their common ancestor's cgroup.procs: here the
# hierarchy's root, since the workers' cgroups are not under the harness's own. A subtree delegated to a
# user (systemd's Delegate=yes) would need the harness to run inside it, and is not supported yet.
WHAT_IS_NEEDED = (
    "needs write access to the cgroup hierarchy under /sys/fs/cgroup (the cpu and memory controllers of "
    "cgroup v2, or v1's cpu and memory hierarchies): run as root; a delegated cgroup v2 subtree is not supported yet"
)


@dataclass(frozen=True)
class Limits:
    """What a worker is limited to, like a pod's container limits."""

    cpu: float | None = None  # cores (a quota of cpu x the period); None: no CPU limit
    memory_bytes: int | None = None  # bytes, swap off; None: no memory limit

    @property
    def controllers(self) -> tuple[str, ...]:
        return tuple(c for c, v in (("cpu", self.cpu), ("memory", self.memory_bytes)) if v is not None)

    def __bool__(self) -> bool:
        return bool(self.controllers)


@dataclass(frozen=True)
class Layout:
    """Where the workers' cgroups go: cgroup `version` (1 or 2), and the
    `celery-bench` parent of each controller (v2: the same directory)."""

    version: int
    parents: dict[str, Path]  # controller -> the celery-bench directory


@dataclass(frozen=True)
class Applied:
    """A cgroup's limits as read back from its files."""

    version: int  # 1 or 2
    cpu_quota_us: int | None = None  # µs of CPU per period; None: no quota
    cpu_period_us: int | None = None  # µs
    memory_limit_bytes: int | None = None  # bytes; None: no limit
    # bytes of swap the cgroup may use: 0 is swap off; None: no swap control in this kernel (v1 without
    # memory.memsw.*: then memory.swappiness is 0 instead)
    swap_limit_bytes: int | None = None

    @property
    def cpu_cores(self) -> float | None:
        """The quota in cores (quota / period)."""
        if self.cpu_quota_us is None or not self.cpu_period_us:
            return None
        return self.cpu_quota_us / self.cpu_period_us


@dataclass(frozen=True)
class Figures:
    """What a cgroup counted, read from its files (each None where the kernel does not say)."""

    throttled_s: float | None = None  # s of the quota's throttling (cpu.stat throttled_time / throttled_usec)
    throttled_periods: int | None = None  # periods in which it was throttled (nr_throttled)
    periods: int | None = None  # periods it ran in (nr_periods)
    memory_peak_bytes: int | None = None  # the memory high-water mark (v1 max_usage_in_bytes, v2 memory.peak)
    oom_kills: int | None = None  # processes the OOM killer killed in it (oom_kill)


MAX_CPU_LIMIT = 1024.0  # cores: far above any machine; a typo, not a quota


def check_cpu_limit(cores: float) -> None:
    """ValueError (one line) unless `cores` is a CPU quota the kernel takes."""
    if not math.isfinite(cores) or cores <= 0:
        raise ValueError(f"must be a number of cores above 0, such as 0.5 or 1.5, got {cores:g}")
    if not MIN_CPU_LIMIT <= cores <= MAX_CPU_LIMIT:
        raise ValueError(
            f"must be between {MIN_CPU_LIMIT:g} (the kernel's least quota) and {MAX_CPU_LIMIT:g}, got {cores:g}"
        )


def check_memory_limit(size: int) -> None:
    """ValueError (one line) unless `size` bytes is a memory limit worth setting."""
    if size < MIN_MEMORY_LIMIT:
        raise ValueError(f"must be at least 1MiB, got {size} bytes")


# --- Where -------------------------------------------------------------------------


def _words(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


def detect(controllers: Iterable[str] = NEEDED, mount: Path = MOUNT) -> Layout | None:
    """v2 where the unified hierarchy at `mount` offers `controllers`, else
    v1 where each has its hierarchy (`mount`/cpu, `mount`/memory); None when
    neither is there."""
    controllers = tuple(controllers)
    offered = _words(mount / "cgroup.controllers")
    if offered and all(c in offered for c in controllers):
        return Layout(2, dict.fromkeys(controllers, mount / PARENT))
    if all((mount / c / V1_MARKER[c]).exists() for c in controllers):
        return Layout(1, {c: mount / c / PARENT for c in controllers})
    return None


def prepare(controllers: Iterable[str] = NEEDED, mount: Path = MOUNT) -> Layout:
    """The layout for `controllers`, its parents made (v2: with the
    controllers enabled for their children); PermissionError or OSError
    (unavailable says why) when that cannot be done."""
    controllers = tuple(controllers)
    layout = detect(controllers, mount)
    if layout is None:
        wanted = ", ".join(controllers)
        raise FileNotFoundError(errno.ENOENT, f"no cgroup v2 controllers nor v1 hierarchies for {wanted}")
    for parent in set(layout.parents.values()):
        procs = parent.parent / "cgroup.procs"  # the top of the hierarchy: a process moves through it
        if procs.exists() and not os.access(procs, os.W_OK):
            raise PermissionError(errno.EACCES, "not writable", str(procs))
        parent.mkdir(exist_ok=True)
        if not os.access(parent, os.W_OK):
            raise PermissionError(errno.EACCES, "not writable", str(parent))
    if layout.version == 2:
        parent = layout.parents[controllers[0]]
        for where in (mount, parent):
            enabled = _words(where / "cgroup.subtree_control")
            missing = [c for c in controllers if c not in enabled]
            if missing:
                (where / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
    return layout


def unavailable(limits: Limits, mount: Path = MOUNT) -> str | None:
    """Why workers cannot be limited here, in one line; None when they can
    (tried by making the parents, then removing them)."""
    if not limits:
        return None
    try:
        layout = prepare(limits.controllers, mount)
    except OSError as exc:
        detail = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{WHAT_IS_NEEDED}; here: {detail}{where}"
    for parent in set(layout.parents.values()):  # made again by each worker's: none is left if none starts
        with contextlib.suppress(OSError):
            _remove_dir(parent)
    return None


# --- Whose -------------------------------------------------------------------------


def _me() -> str:
    """This harness, as a cgroup's name starts: its pid and start time (ms)."""
    proc = psutil.Process()
    return f"h{proc.pid}-{round(proc.create_time() * 1000)}"


def _owner_alive(name: str) -> bool:
    """Whether the harness named at the start of a cgroup's name runs (not a reused pid)."""
    try:
        pid, started = name.removeprefix("h").split("-")[:2]
        return round(psutil.Process(int(pid)).create_time() * 1000) == int(started)
    except (ValueError, psutil.Error):
        return False


def remove_stale(layout: Layout) -> int:
    """Remove the workers' cgroups whose harness is gone (killed before it
    could remove them); returns how many directories went. One that still
    holds a process is left alone: the kernel refuses, and the next harness
    tries again."""
    removed = 0
    for parent in set(layout.parents.values()):
        with contextlib.suppress(OSError):
            for child in parent.iterdir():
                if child.is_dir() and not _owner_alive(child.name):
                    with contextlib.suppress(OSError):
                        _remove_dir(child)
                        removed += 1
    return removed


# --- One worker's ------------------------------------------------------------------


@dataclass(frozen=True)
class Cgroup:
    """One worker's cgroup: a directory per controller (v2: one)."""

    version: int
    dirs: dict[str, Path]  # controller -> its directory

    @property
    def places(self) -> list[Path]:
        """Its distinct directories (v2: one; v1: one per hierarchy)."""
        return sorted(set(self.dirs.values()))

    def joiner(self) -> Callable[[], None]:
        """A function the child runs between fork and exec (preexec_fn): it
        moves the calling process into the cgroup. It opens the files by
        their paths, made here, and allocates as little as it can."""
        paths = [os.fsencode(d / "cgroup.procs") for d in self.places]

        def join() -> None:
            pid = str(os.getpid()).encode()
            for path in paths:
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)

        return join

    def pids(self) -> list[int]:
        """The processes in it now (of its first directory)."""
        return [int(w) for w in _words(self.places[0] / "cgroup.procs")]

    def applied(self) -> Applied:
        """Its limits, read back from its files."""
        if self.version == 2:
            return _applied_v2(self.dirs)
        return _applied_v1(self.dirs)

    def figures(self) -> Figures:
        """What it counted so far."""
        if self.version == 2:
            return _figures_v2(self.dirs)
        return _figures_v1(self.dirs)

    def remove(self, timeout_s: float = REMOVE_TIMEOUT_S) -> bool:
        """Remove its directories once their processes are gone (the kernel
        frees a cgroup a moment after its last process exits: a short wait);
        True when all went."""
        deadline = time.monotonic() + timeout_s
        left = self.places
        while True:
            for place in list(left):
                try:
                    _remove_dir(place)
                    left.remove(place)
                except FileNotFoundError:
                    left.remove(place)
                except OSError:
                    pass
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if not left:  # the parent too, when no other harness has a worker in it (the kernel refuses then)
            for parent in {place.parent for place in self.places}:
                with contextlib.suppress(OSError):
                    _remove_dir(parent)
        return not left


def _remove_dir(path: Path) -> None:
    """rmdir: a cgroup's directory goes with its files, once no process is in it."""
    path.rmdir()


def create(limits: Limits, mount: Path = MOUNT) -> Cgroup:
    """A new cgroup with `limits`, under the celery-bench parent of each
    controller; stale cgroups of dead harnesses are removed first. OSError
    when it cannot be made (unavailable says why, before a run starts)."""
    name = f"{_me()}-{secrets.token_hex(3)}"
    for attempt in range(3):
        layout = prepare(limits.controllers, mount)
        remove_stale(layout)
        group = Cgroup(layout.version, {c: parent / name for c, parent in layout.parents.items()})
        try:
            for place in group.places:
                place.mkdir()
            break
        except FileNotFoundError:  # another harness removed the parent as it emptied: make it again
            group.remove(timeout_s=0)
            if attempt == 2:
                raise
    try:
        if group.version == 2:
            _limit_v2(group.dirs, limits)
        else:
            _limit_v1(group.dirs, limits)
    except BaseException:
        group.remove(timeout_s=0)
        raise
    return group


def _write(path: Path, value: object) -> None:
    path.write_text(str(value))


def _limit_v1(dirs: dict[str, Path], limits: Limits) -> None:
    if limits.cpu is not None:
        _write(dirs["cpu"] / "cpu.cfs_period_us", V1_PERIOD_US)
        _write(dirs["cpu"] / "cpu.cfs_quota_us", quota_us(limits.cpu))
    if limits.memory_bytes is not None:
        memory = dirs["memory"]
        _write(memory / "memory.limit_in_bytes", limits.memory_bytes)
        if (memory / "memory.memsw.limit_in_bytes").exists():
            # memory + swap: the same figure is no swap at all (set after the limit: it may not be below it)
            _write(memory / "memory.memsw.limit_in_bytes", limits.memory_bytes)
        else:  # no swap accounting in this kernel: at least never swap the cgroup's pages out
            _write(memory / "memory.swappiness", 0)


def _limit_v2(dirs: dict[str, Path], limits: Limits) -> None:
    if limits.cpu is not None:
        _write(dirs["cpu"] / "cpu.max", f"{quota_us(limits.cpu)} {V1_PERIOD_US}")
    if limits.memory_bytes is not None:
        memory = dirs["memory"]
        _write(memory / "memory.max", limits.memory_bytes)
        if (memory / "memory.swap.max").exists():
            _write(memory / "memory.swap.max", 0)


def quota_us(cores: float) -> int:
    """The CFS quota of `cores` per period, µs (at least the kernel's least)."""
    return max(MIN_QUOTA_US, round(cores * V1_PERIOD_US))


def _number(words: list[str]) -> int | None:
    """The first word as a whole number; None for "max", "-1" or nothing."""
    if not words or words[0] == "max":
        return None
    value = int(words[0])
    return None if value < 0 else value


def _keyed(path: Path) -> dict[str, int]:
    """A flat keyed file (cpu.stat, memory.events, memory.oom_control) as {key: number}."""
    out: dict[str, int] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


UNLIMITED_V1 = 2**63 - 4096  # what v1 reads as "no limit" (PAGE_COUNTER_MAX in bytes; near 2**63)


def _v1_bytes(path: Path) -> int | None:
    value = _number(_words(path))
    return None if value is None or value >= UNLIMITED_V1 else value


def _applied_v1(dirs: dict[str, Path]) -> Applied:
    out = Applied(1)
    if "cpu" in dirs:
        quota = _number(_words(dirs["cpu"] / "cpu.cfs_quota_us"))
        out = Applied(1, quota, _number(_words(dirs["cpu"] / "cpu.cfs_period_us")) if quota is not None else None)
    if "memory" in dirs:
        memory = dirs["memory"]
        limit = _v1_bytes(memory / "memory.limit_in_bytes")
        swap = None
        if limit is not None and (memory / "memory.memsw.limit_in_bytes").exists():
            memsw = _v1_bytes(memory / "memory.memsw.limit_in_bytes")
            swap = None if memsw is None else max(0, memsw - limit)
        out = Applied(1, out.cpu_quota_us, out.cpu_period_us, limit, swap)
    return out


def _applied_v2(dirs: dict[str, Path]) -> Applied:
    quota = period = limit = swap = None
    if "cpu" in dirs:
        words = _words(dirs["cpu"] / "cpu.max")
        quota = _number(words)
        period = int(words[1]) if quota is not None and len(words) > 1 else None
    if "memory" in dirs:
        limit = _number(_words(dirs["memory"] / "memory.max"))
        if (dirs["memory"] / "memory.swap.max").exists():
            swap = _number(_words(dirs["memory"] / "memory.swap.max"))
    return Applied(2, quota, period, limit, swap)


def _figures_v1(dirs: dict[str, Path]) -> Figures:
    throttled = periods = nr_throttled = peak = kills = None
    if "cpu" in dirs:
        stat = _keyed(dirs["cpu"] / "cpu.stat")
        throttled = stat["throttled_time"] / 1e9 if "throttled_time" in stat else None  # ns
        periods, nr_throttled = stat.get("nr_periods"), stat.get("nr_throttled")
    if "memory" in dirs:
        peak = _v1_bytes(dirs["memory"] / "memory.max_usage_in_bytes")
        kills = _keyed(dirs["memory"] / "memory.oom_control").get("oom_kill")
    return Figures(throttled, nr_throttled, periods, peak, kills)


def _figures_v2(dirs: dict[str, Path]) -> Figures:
    throttled = periods = nr_throttled = peak = kills = None
    if "cpu" in dirs:
        stat = _keyed(dirs["cpu"] / "cpu.stat")
        throttled = stat["throttled_usec"] / 1e6 if "throttled_usec" in stat else None  # µs
        periods, nr_throttled = stat.get("nr_periods"), stat.get("nr_throttled")
    if "memory" in dirs:
        peak = _number(_words(dirs["memory"] / "memory.peak"))  # kernel 5.19 and later
        kills = _keyed(dirs["memory"] / "memory.events").get("oom_kill")
    return Figures(throttled, nr_throttled, periods, peak, kills)


def quota_concurrency(cpu: float, available: int) -> int:
    """The -c a CPU quota of `cpu` cores gives: ceil(cpu), at least 1 and at
    most the `available` CPUs (what Celery 5.7's `-c auto` picks; its
    default, os.cpu_count(), ignores the quota)."""
    return min(available, max(1, math.ceil(cpu)))

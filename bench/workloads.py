"""The workloads, what each task does, and the physical ceiling of a point.

The ceiling (METHOD.md) is the most tasks per second a point could ever
complete; a measurement above it is a bug in the harness, not a result.
"""

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

POOLS = ("prefork", "gevent", "eventlet", "solo", "threads")
MIX_WORKLOAD = "mix"  # the workload name of a traffic mix (measure/traffic.py)
# Pools that run every task in one OS process: CPU work holding the GIL
# cannot overlap. (threads can overlap CPU work that releases the GIL.)
# KiB the leak workload keeps alive per call, in the process that ran it (--leak-kib sets it).
LEAK_KIB = 1024
# The stuck workload: each task, with probability --stuck-p (seeded), waits this many times its task_ms.
STUCK_MULTIPLE = 50
DEFAULT_STUCK_P = 0.01
SINGLE_PROCESS_POOLS = frozenset({"gevent", "eventlet", "solo", "threads"})

# Pools whose tasks each run on one OS thread of their own from start to end,
# so the thread's CPU time is the task's (see harness/recorder.py).
THREAD_CPU_POOLS = frozenset({"prefork", "solo", "threads"})
CPU_ATTRIBUTION = {
    "thread": "CPU time of the thread that ran each task (time.thread_time)",
    "process": "not attributable per task: greenlets share one OS thread, so a task's thread CPU time "
    "includes every greenlet that ran meanwhile; the worker's process CPU divided by the tasks instead",
}


def cpu_attribution(pool: str) -> str:
    """Whether a task's own CPU time can be told apart: "thread", else "process"."""
    return "thread" if pool in THREAD_CPU_POOLS else "process"


@dataclass(frozen=True)
class Workload:
    name: str
    task: str  # the Celery task's name in proj.tasks
    summary: str
    default_task_ms: float | None  # None: the task has no size
    cpu_share: float  # of task_ms, the part that is CPU time (GIL held or not)
    io_share: float  # of task_ms, the part that is waiting (sleep or socket)
    needs_stub: bool = False  # the harness must run the socket stub server
    # Does its CPU work release the GIL (threads can then overlap it)?
    # None: unknown (a user's task), so the ceiling takes the higher bound.
    releases_gil: bool | None = False
    estimated: bool = False  # its sizes come from a measured profile, not from the harness
    leak_kib: int | None = None  # the leak workload: KiB each call keeps alive; None: another workload

    @property
    def sized(self) -> bool:
        return self.default_task_ms is not None

    def args(self, task_ms: float | None, stub_address: str | None = None) -> list[Any]:
        """The positional arguments of one task."""
        if self.name == "mixed":
            assert task_ms is not None  # a sized workload is run with its size
            return [task_ms * self.cpu_share, task_ms * self.io_share]
        if self.name == "net":
            return [task_ms, stub_address]
        if self.name == "leak":
            return [task_ms, self.leak_kib]
        if self.name == "add":
            return [2, 2]
        if self.name == "mul":
            return [3, 4]
        if self.name == "xsum":
            return [list(range(100))]
        return [task_ms] if self.sized else []


WORKLOADS = {
    w.name: w
    for w in (
        Workload("sleep", "proj.tasks.sleep", "time.sleep (I/O-bound)", 50.0, 0.0, 1.0),
        Workload("net", "proj.tasks.net", "socket round trip to a local stub server", 50.0, 0.0, 1.0, True),
        Workload("cpu", "proj.tasks.cpu", "pure-Python CPU, holds the GIL", 20.0, 1.0, 0.0),
        Workload(
            "cpu_nogil", "proj.tasks.cpu_nogil", "sha256 hashing, releases the GIL", 20.0, 1.0, 0.0, releases_gil=True
        ),
        Workload("mixed", "proj.tasks.mixed", "half CPU, half sleep", 20.0, 0.5, 0.5),
        Workload(
            "leak",
            "proj.tasks.leak",
            f"keeps --leak-kib KiB ({LEAK_KIB} by default) per call alive in its process, then sleeps",
            10.0,
            0.0,
            1.0,
            leak_kib=LEAK_KIB,
        ),
        Workload(
            "stuck",
            "proj.tasks.stuck",
            f"sleeps; with probability --stuck-p ({DEFAULT_STUCK_P:g} by default, seeded) {STUCK_MULTIPLE}x as long",
            50.0,
            0.0,
            1.0,
        ),
        Workload("noop", "proj.tasks.noop", "nothing: Celery's own per-task cost", None, 0.0, 0.0),
        Workload("add", "proj.tasks.add", "the tutorial's add(2, 2)", None, 0.0, 0.0),
        Workload("mul", "proj.tasks.mul", "the tutorial's mul(3, 4)", None, 0.0, 0.0),
        Workload("xsum", "proj.tasks.xsum", "the tutorial's xsum(range(100))", None, 0.0, 0.0),
    )
}


def stuck_draw(p: float, seed: int, count: int) -> list[bool]:
    """Which of `count` tasks of the stuck workload block (each with
    probability `p`), drawn from `seed`: the same for the same seed, so
    the stalls a run shows are known by construction."""
    rng = random.Random(f"stuck-{seed}")
    return [rng.random() < p for _ in range(count)]


_C = TypeVar("_C", int, float)  # -c: a whole number, or a point of a plotted curve


def slots(pool: str, concurrency: _C) -> _C:
    """How many tasks the pool can run at once: solo runs one, whatever -c says."""
    return 1 if pool == "solo" else concurrency


def profiled_workload(task: str, cpu_s: float, wait_s: float) -> Workload:
    """A user's task as a workload, sized by its measured profile: `cpu_s`
    of CPU and `wait_s` of waiting per call (seconds, medians of `profile`).
    Whether its CPU releases the GIL is unknown, so under threads its
    ceiling takes the higher bound (a ceiling must never be too low)."""
    total_s = cpu_s + wait_s
    if total_s <= 0:
        raise ValueError("a profile needs a positive service time")
    return Workload(
        name="task",
        task=task,
        summary=f"{task} ({cpu_s * 1000:.3g} ms CPU + {wait_s * 1000:.3g} ms waiting, from its profile)",
        default_task_ms=total_s * 1000.0,
        cpu_share=cpu_s / total_s,
        io_share=wait_s / total_s,
        releases_gil=None,
        estimated=True,
    )


def unprofiled_workload(task: str) -> Workload:
    """A user's task with no profile: its ceiling is unknown."""
    return Workload("task", task, f"{task} (not profiled)", None, 0.0, 0.0, releases_gil=None, estimated=True)


class Named(Protocol):
    """A point of a sweep (its plan's, or its summary's): what names its workload."""

    @property
    def workload(self) -> str: ...


def point_workload(point: Named) -> Workload:
    """The Workload of a sweep point (a PointSummary): a built-in one, or a
    user's task ("task") sized by the profile stored with the point."""
    if point.workload in WORKLOADS:
        return WORKLOADS[point.workload]
    if point.workload == MIX_WORKLOAD:  # its classes are not in the summary: no ceiling drawn from them
        return Workload(MIX_WORKLOAD, MIX_WORKLOAD, "a traffic mix (size: its classes' mean)", None, 0.0, 0.0)
    name, profile = getattr(point, "task", None) or point.workload, getattr(point, "profile", None)
    return profiled_workload(name, *profile) if profile else unprofiled_workload(name)


def cpu_parallelism(
    workload: Workload, pool: str, concurrency: float, cores: float, workers: int = 1, cpu_limit: float | None = None
) -> float:
    """How many tasks' CPU work can run at the same time, over `workers`
    worker nodes: prefork up to the cores; threads too when the work
    releases the GIL (or may: unknown); every other one-process pool one
    per worker, up to the cores (a greenlet that computes never yields, and
    hashing that releases the GIL still blocks its greenlet). A CPU quota
    of `cpu_limit` cores per worker (--cpu-limit) caps it at workers x the
    quota."""
    n = slots(pool, concurrency) * workers
    if pool == "prefork" or (pool == "threads" and workload.releases_gil is not False):
        parallel = min(n, cores)
    else:
        parallel = max(1, min(workers, cores))  # never below one process (as with one worker)
    return parallel if cpu_limit is None else min(parallel, workers * cpu_limit)


def quota_cores(cores: float, workers: int = 1, cpu_limit: float | None = None) -> float:
    """The cores `workers` workers can use: the machine's (or their pinned
    CPUs'), cut to workers x the CPU quota of each where one is set."""
    return cores if cpu_limit is None else min(cores, workers * cpu_limit)


@dataclass(frozen=True)
class Ceiling:
    per_s: float | None  # tasks/s; None when only Celery's overhead bounds the point
    basis: str  # which limit binds, in words
    estimated: bool = False  # from a user task's measured profile, not from the harness's own task sizes


def ceiling(
    workload: Workload,
    pool: str,
    concurrency: float,
    task_ms: float | None,
    cores: float,
    workers: int = 1,
    cpu_limit: float | None = None,
) -> Ceiling:
    """The physical ceiling of one point, from METHOD.md, for `workers`
    worker nodes with `concurrency` each.

    - Waiting S seconds per task in `slots` slots (all workers'): at most
      slots / (C + S).
    - C seconds of CPU per task: at most min(processes, cores) / C for
      prefork (its processes across all workers), and for threads when the
      CPU work releases the GIL; min(workers, cores) / C for the other
      one-process pools, one process per worker (see cpu_parallelism).
    - With a CPU quota of `cpu_limit` cores per worker (--cpu-limit), the
      cores are at most workers x the quota, and the words say it is the quota.
    The binding limit is the smaller. Sizeless tasks (noop and the tutorial's)
    are bounded only by the per-task overhead, measured by the noop workload.
    A user's task is sized by its profile, and its ceiling says it is estimated.
    """
    if not workload.sized:
        if workload.estimated:
            basis = "unknown: no profile of the task (python -m bench profile); only Celery's overhead bounds it"
            return Ceiling(None, basis, True)
        return Ceiling(None, "Celery's per-task overhead (measure the noop workload)")
    assert task_ms is not None  # a sized workload is run with its size
    n = slots(pool, concurrency) * workers
    cpu_s = task_ms * workload.cpu_share / 1000.0
    busy_s = task_ms * (workload.cpu_share + workload.io_share) / 1000.0
    limits = [(n / busy_s, f"{n} slot{'s' if n > 1 else ''} x {busy_s * 1000:.4g} ms per task")]
    if cpu_s > 0:
        parallel = cpu_parallelism(workload, pool, concurrency, cores, workers, cpu_limit)
        quota = cpu_limit is not None and parallel < cpu_parallelism(workload, pool, concurrency, cores, workers)
        each = f"{workers} workers x " if workers > 1 else ""
        why = f" (the CPU quota: {each}--cpu-limit {cpu_limit:g})" if quota else ""
        limits.append(
            (
                parallel / cpu_s,
                f"{parallel:g} core{'s' if parallel != 1 else ''}{why} x {cpu_s * 1000:.4g} ms CPU per task",
            )
        )
    per_s, basis = min(limits)
    if workload.estimated:
        basis += ", estimated from the profile"
    if workload.name == MIX_WORKLOAD:
        basis = f"the mix's weighted demands: {basis} (mean)"
    return Ceiling(per_s, basis, workload.estimated)


def expected_rate(
    workload: Workload,
    pool: str,
    concurrency: int,
    task_ms: float | None,
    cores: float,
    overhead_per_s: float = 1000.0,
    workers: int = 1,
    cpu_limit: float | None = None,
) -> float:
    """A guess of throughput, to size batches: the ceiling, capped by a rough
    per-task overhead of Celery on a small machine (per worker, up to the
    cores; under a CPU quota, scaled to it)."""
    bound = ceiling(workload, pool, concurrency, task_ms, cores, workers, cpu_limit).per_s
    overhead = overhead_per_s * max(1, min(workers, int(cores)))
    if cpu_limit is not None:
        overhead *= min(1.0, cpu_limit)
    return min(bound if bound is not None else math.inf, overhead)


class Demand(Protocol):
    """One class of a mix as its ceiling sees it: its workload, its mean
    size and its share of the tasks."""

    @property
    def spec(self) -> Workload: ...
    @property
    def mean_ms(self) -> float | None: ...
    @property
    def share(self) -> float: ...


def mix_workload(classes: Sequence[Demand]) -> Workload:
    """A mix of classes as one workload with the mix's weighted demands: a
    task of the mix takes the classes' mean busy time, of which the CPU
    share is the classes' weighted CPU time; its work may release the GIL
    where any class's does (the ceiling stays an upper bound). Sizeless
    where a class is."""
    summary = "a traffic mix: " + ", ".join(f"{c.share:.0%} {c.spec.name}" for c in classes)
    if any(c.mean_ms is None for c in classes):
        # a user's task has no size until profiled: only Celery's overhead bounds the mix, as it would the task
        users = any(c.spec.estimated for c in classes)
        return Workload(MIX_WORKLOAD, MIX_WORKLOAD, summary, None, 0.0, 0.0, estimated=users)
    cpu_ms = math.fsum(c.share * (c.mean_ms or 0.0) * c.spec.cpu_share for c in classes)
    io_ms = math.fsum(c.share * (c.mean_ms or 0.0) * c.spec.io_share for c in classes)
    busy_ms = cpu_ms + io_ms
    if busy_ms <= 0:
        return Workload(MIX_WORKLOAD, MIX_WORKLOAD, summary, None, 0.0, 0.0)
    gil = [c.spec.releases_gil for c in classes if c.spec.cpu_share]
    releases = True if any(gil) else (None if None in gil else False)
    return Workload(
        MIX_WORKLOAD, MIX_WORKLOAD, summary, busy_ms, cpu_ms / busy_ms, io_ms / busy_ms, releases_gil=releases
    )

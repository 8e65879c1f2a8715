"""The workloads, what each task does, and the physical ceiling of a point.

The ceiling (METHOD.md) is the most tasks per second a point could ever
complete; a measurement above it is a bug in the harness, not a result.
"""

import math
from dataclasses import dataclass

POOLS = ("prefork", "gevent", "eventlet", "solo")
# Pools that run every task in one OS process: CPU work cannot overlap.
SINGLE_PROCESS_POOLS = frozenset({"gevent", "eventlet", "solo"})


@dataclass(frozen=True)
class Workload:
    name: str
    task: str  # the Celery task's name in proj.tasks
    summary: str
    default_task_ms: float | None  # None: the task has no size
    cpu_share: float  # of task_ms, the part that is CPU time (GIL held or not)
    io_share: float  # of task_ms, the part that is waiting (sleep or socket)
    needs_stub: bool = False  # the harness must run the socket stub server

    @property
    def sized(self):
        return self.default_task_ms is not None

    def args(self, task_ms, stub_address=None):
        """The positional arguments of one task."""
        if self.name == "mixed":
            return [task_ms * self.cpu_share, task_ms * self.io_share]
        if self.name == "net":
            return [task_ms, stub_address]
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
        Workload("cpu_nogil", "proj.tasks.cpu_nogil", "sha256 hashing, releases the GIL", 20.0, 1.0, 0.0),
        Workload("mixed", "proj.tasks.mixed", "half CPU, half sleep", 20.0, 0.5, 0.5),
        Workload("noop", "proj.tasks.noop", "nothing: Celery's own per-task cost", None, 0.0, 0.0),
        Workload("add", "proj.tasks.add", "the tutorial's add(2, 2)", None, 0.0, 0.0),
        Workload("mul", "proj.tasks.mul", "the tutorial's mul(3, 4)", None, 0.0, 0.0),
        Workload("xsum", "proj.tasks.xsum", "the tutorial's xsum(range(100))", None, 0.0, 0.0),
    )
}


def slots(pool, concurrency):
    """How many tasks the pool can run at once: solo runs one, whatever -c says."""
    return 1 if pool == "solo" else concurrency


@dataclass(frozen=True)
class Ceiling:
    per_s: float | None  # tasks/s; None when only Celery's overhead bounds the point
    basis: str  # which limit binds, in words


def ceiling(workload, pool, concurrency, task_ms, cores, workers=1):
    """The physical ceiling of one point, from METHOD.md, for `workers`
    worker nodes with `concurrency` each.

    - Waiting S seconds per task in `slots` slots (all workers'): at most
      slots / (C + S).
    - C seconds of CPU per task: at most min(processes, cores) / C for
      prefork (its processes across all workers); min(workers, cores) / C for
      the single-process pools, one process per worker (a greenlet that
      computes never yields, and hashing that releases the GIL still blocks
      its greenlet).
    The binding limit is the smaller. Sizeless tasks (noop and the tutorial's)
    are bounded only by the per-task overhead, measured by the noop workload.
    """
    if not workload.sized:
        return Ceiling(None, "Celery's per-task overhead (measure the noop workload)")
    n = slots(pool, concurrency) * workers
    cpu_s = task_ms * workload.cpu_share / 1000.0
    busy_s = task_ms * (workload.cpu_share + workload.io_share) / 1000.0
    limits = [(n / busy_s, f"{n} slot{'s' if n > 1 else ''} x {busy_s * 1000:g} ms per task")]
    if cpu_s > 0:
        parallel = min(n, cores) if pool not in SINGLE_PROCESS_POOLS else min(workers, cores)
        limits.append(
            (parallel / cpu_s, f"{parallel:g} core{'s' if parallel != 1 else ''} x {cpu_s * 1000:g} ms CPU per task")
        )
    per_s, basis = min(limits)
    return Ceiling(per_s, basis)


def expected_rate(workload, pool, concurrency, task_ms, cores, overhead_per_s=1000.0, workers=1):
    """A guess of throughput, to size batches: the ceiling, capped by a rough
    per-task overhead of Celery on a small machine (per worker, up to the cores)."""
    bound = ceiling(workload, pool, concurrency, task_ms, cores, workers).per_s
    return min(bound if bound is not None else math.inf, overhead_per_s * max(1, min(workers, int(cores))))

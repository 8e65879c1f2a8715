"""A Celery worker as a closed queueing network, solved by exact Mean Value
Analysis: the throughput of every pool at every -c, with Celery's own
per-task cost in it.

In a drained batch each of the worker's c slots always holds a task, so
the worker is a closed network of c customers (Reiser & Lavenberg, "Mean
Value Analysis of Closed Multichain Queuing Networks", JACM 1980; the
load-dependent form as in Menasce, Almeida & Dowdy, "Performance by
Design", 2004, ch. 14). A task's cycle visits:

- **dispatch**, one server: the per-task work of the process that consumes
  and hands out every task (prefork's parent; the one process of the other
  pools). Its demand is Celery's overhead, 1 / (the no-op rate) measured on
  this machine (measure/overheads.py).
- **cpu**: the task's own CPU time C. Prefork's children run it on up to
  min(j, c, cores) cores when j tasks compute at once; the green pools, and
  threads whose work holds the GIL, run it in the dispatching process
  itself, so C joins dispatch's one server; threads whose work releases the
  GIL run it on up to min(j, cores) cores.
- **wait**, a delay station: the task's waiting W (sleep, sockets).

The cores are shared: the broker, the harness and prefork's parent also
burn CPU per task, and what they burn the task's CPU cannot use. The cores
left for cpu are cores - X x (their CPU per task), solved as a fixed point
in X. With no overhead given the network has no dispatch and no other CPU:
the physical bounds of METHOD.md, reached smoothly rather than as a corner.

Pure functions; no Celery, no numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Past this many customers a network whose throughput has stopped moving
# keeps its last value: exact MVA costs O(N^2) per multi-server station, and
# gevent's -c runs into the thousands.
_SETTLED = 1e-9


@dataclass(frozen=True)
class Station:
    name: str
    demand_s: float  # service demand per task at one server, s
    # None: a delay station (every task served at once); 1: one server;
    # m > 1: load-dependent, min(j, m) servers busy with j tasks present (m may be fractional)
    servers: float | None
    # The squared coefficient of variation of its service time, for one
    # server: 1 is exponential (exact MVA); 0 is a fixed time, as Celery's
    # dispatch and a fixed-size task are, whose residual is half of it.
    cv2: float = 1.0


@dataclass(frozen=True)
class Solution:
    customers: int
    throughput_per_s: float
    response_s: tuple[float, ...]  # residence time per visit at each station, in the stations' order
    queue: tuple[float, ...]  # mean tasks at each station

    @property
    def cycle_s(self) -> float:
        return sum(self.response_s)


def solve(stations: Sequence[Station], customers: int) -> Solution:
    """Exact MVA of a single-class closed network with `customers` tasks.
    Multi-server stations use the marginal probabilities of their queue
    length (the load-dependent recursion), clamped at 0 against the
    recursion's known rounding drift."""
    if customers < 1:
        raise ValueError("a closed network needs at least one customer")
    k = len(stations)
    queue = [0.0] * k
    marginals: dict[int, list[float]] = {
        i: [1.0] for i, s in enumerate(stations) if s.servers is not None and s.servers > 1
    }
    x, response = 0.0, [0.0] * k
    capacity = [
        (s.servers / s.demand_s if s.servers is not None else math.inf) if s.demand_s > 0 else math.inf
        for s in stations
    ]
    bound = min(capacity, default=math.inf)
    limiting = capacity.index(bound) if capacity else 0
    for n in range(1, customers + 1):
        for i, s in enumerate(stations):
            if s.demand_s <= 0:
                response[i] = 0.0
            elif s.servers is None:
                response[i] = s.demand_s
            elif i in marginals:
                p = marginals[i]
                m = s.servers
                response[i] = sum(j * s.demand_s / min(j, m) * p[j - 1] for j in range(1, n + 1))
            else:
                # An arriving task waits for the ones queued and the rest of the one in
                # service: D (1 + Q - U) + U D (1 + cv2) / 2 (Reiser's FCFS correction,
                # exact for cv2 = 1; Lazowska et al., "Quantitative System Performance", 1984).
                d = s.demand_s / min(1.0, s.servers)
                busy = min(1.0, x * d) if n > 1 else 0.0
                response[i] = d * (1 + queue[i] - busy) + busy * d * (1 + s.cv2) / 2
        previous, x = x, n / sum(response) if sum(response) > 0 else math.inf
        if x > bound:
            # The fixed-time correction is approximate and, with little or no delay to
            # spread the tasks, can promise more than the busiest station can give:
            # hold X at its bound and the excess tasks queue there (Little's law).
            x = bound
            response[limiting] += n / x - sum(response)
        for i in range(k):
            queue[i] = x * response[i]
        for i, p in marginals.items():
            s, servers = stations[i], stations[i].servers
            assert servers is not None  # only multi-server stations have marginals
            ld_servers: float = servers
            new = [0.0] * (n + 1)
            for j in range(1, n + 1):
                new[j] = s.demand_s / min(j, ld_servers) * x * p[j - 1]
            new[0] = max(0.0, 1.0 - sum(new[1:]))
            marginals[i] = new
        if n > 2 and previous > 0 and abs(x - previous) <= _SETTLED * x:
            break  # saturated: more customers only queue
    return Solution(customers, x, tuple(response), tuple(queue))


@dataclass(frozen=True)
class Overhead:
    """Celery's own cost per task for one pool, measured on this machine by
    no-op tasks (results.overheads keeps the measurement)."""

    dispatch_s: float  # 1 / the no-op rate: the serial cost of one task in the dispatching process, s
    worker_cpu_s: float  # CPU of the worker tree per no-op task, s
    main_cpu_s: float  # of it, the main process's (prefork's parent; all of it for the other pools), s
    other_cpu_s: float  # CPU of the broker and the harness per task, on the same cores, s


@dataclass(frozen=True)
class TaskDemand:
    cpu_s: float  # C: CPU per task, s
    wait_s: float  # W: waiting per task, s
    releases_gil: bool | None = False  # None: unknown (taken as holding it, as pure Python does)
    cpu_cv2: float = 0.0  # squared coefficient of variation of C over calls: 0 for a fixed-size task


@dataclass(frozen=True)
class Prediction:
    pool: str
    concurrency: int
    throughput_per_s: float
    cycle_s: float  # a slot's time per task: dispatch + CPU + waiting, with queueing, s
    bound: str  # the station busiest per server: what more -c cannot buy
    cores_for_tasks: float  # cores left for the tasks' CPU after the overheads' share
    # The asymptotic bounds of the same network (no queueing): c slots over one
    # task's cycle, and each station's servers over its demand; the overhead-aware
    # ceiling, which the MVA throughput approaches from below.
    achievable_per_s: float = math.inf


def stations(
    pool: str,
    concurrency: int,
    task: TaskDemand,
    overhead: Overhead | None,
    tasks_cores: float,
    dispatch_share: float = 1.0,
) -> list[Station]:
    """The network of one worker, with `tasks_cores` cores left for the
    tasks, and `dispatch_share` of a core for prefork's parent."""
    dispatch = overhead.dispatch_s / dispatch_share if overhead else 0.0
    child = max(0.0, overhead.worker_cpu_s - overhead.main_cpu_s) if overhead else 0.0
    wait = Station("wait", task.wait_s, None)
    cores_left = max(1e-9, min(concurrency, tasks_cores))
    if pool == "prefork":
        return [Station("dispatch", dispatch, 1, 0.0), Station("cpu", task.cpu_s + child, cores_left), wait]
    if pool == "threads" and task.releases_gil:
        return [Station("dispatch", dispatch, 1, 0.0), Station("cpu", task.cpu_s, cores_left), wait]
    # One process, one interpreter lock: the task's CPU and Celery's share one server,
    # which runs slower when the other processes leave it less than a core.
    gil = dispatch + task.cpu_s
    cv2 = task.cpu_cv2 * (task.cpu_s / gil) ** 2 if gil > 0 else 0.0
    return [Station("dispatch", gil, max(1e-9, min(1.0, tasks_cores)), cv2), wait]


def predict(
    pool: str, concurrency: int, cores: float, task: TaskDemand, overhead: Overhead | None = None
) -> Prediction:
    """The throughput of one worker of `pool` at -c `concurrency` on `cores`
    usable cores (see the module's docstring)."""
    customers = 1 if pool == "solo" else concurrency
    if overhead is None:
        background = 0.0
    elif pool in ("prefork",) or (pool == "threads" and task.releases_gil):
        background = overhead.main_cpu_s + overhead.other_cpu_s
    else:
        background = overhead.other_cpu_s
    tasks_cores, share, x = cores, 1.0, 0.0
    for _ in range(100):  # the fixed point; converges in a few steps
        net = stations(pool, customers, task, overhead, tasks_cores, share)
        sol = solve(net, customers)
        x = sol.throughput_per_s
        left = max(0.05, cores - x * background)
        # Prefork's parent is one more runnable process beside the children
        # computing: the scheduler shares the cores evenly among them, so
        # with more of them than cores the parent hands out tasks slower.
        computing = sol.queue[1] if pool == "prefork" and len(sol.queue) > 2 else 0.0
        new_share = min(1.0, cores / (computing + 1.0))
        if abs(left - tasks_cores) <= 1e-6 * cores and abs(new_share - share) <= 1e-6:
            break
        tasks_cores = (tasks_cores + left) / 2  # damped: the map can overshoot near saturation
        share = (share + new_share) / 2
    busiest = max(
        (s for s in net if s.servers is not None and s.demand_s > 0),
        key=lambda s: s.demand_s / s.servers if s.servers else 0.0,
        default=None,
    )
    bound = busiest.name if busiest is not None and customers > 1 else "one task at a time"
    one_cycle = sum(st.demand_s / min(1.0, st.servers) if st.servers else st.demand_s for st in net)
    limits = [customers / one_cycle if one_cycle > 0 else math.inf]
    limits += [st.servers / st.demand_s for st in net if st.servers is not None and st.demand_s > 0]
    return Prediction(pool, concurrency, x, sol.cycle_s, bound, tasks_cores, min(limits))


def curve(
    pool: str, concurrencies: Sequence[int], cores: float, task: TaskDemand, overhead: Overhead | None = None
) -> list[Prediction]:
    return [predict(pool, c, cores, task, overhead) for c in concurrencies]

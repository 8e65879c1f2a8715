"""Health of one run: where Celery itself misbehaved, counted exactly from
the task records. Pure functions: no Celery, no clock, no plotting.

Misbehaviour is a result, not noise (METHOD.md, "Fidelity"): tasks run
twice, tasks lost, idle gaps while work is queued, stalls, pool processes
replaced and tasks started late. `diagnose` finds each of them in one run's
records, and names the likely cause where the run's settings and the
finding's numbers point to a known one (KNOWN_CAUSES). Words for people are
built in bench/output/health.py.

Times are seconds on the one clock that the publish times and the records
share (the harness's monotonic clock). A task "waits" from its publish time
to its first start; it is "pending" from its publish time to its first
finish. Every execution of a task (a repeat included) occupies a slot while
it runs. Tasks that never reported (lost) are counted as lost only: they do
not count as waiting or pending, so a loss does not also make every later
moment look like a gap. Only records of published tasks are read (the
warm-up's are not). The analysed window runs from the first start to the
last finish, so the release of a pre-filled batch (the ramp before the
first start) and the drain after the last start are never gaps.

Longer than the ~400 lines a module aims for, on purpose: the findings
share one timeline of the run (what ran, what waited, when) and their
thresholds are tuned against each other (a stall is not also a gap, a gap
not also a late start); split, those rules would sit apart.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

# The records live with the other result records; analysis builds them.
from bench.results.schema import CUT_SHORT, HEALTH_KINDS, Finding, Health

__all__ = [
    "KINDS",
    "KNOWN_CAUSES",
    "Cause",
    "Context",
    "Finding",
    "Health",
    "LogEvidence",
    "diagnose",
    "duplicate_cause",
    "from_log",
    "in_order",
    "log_evidence",
    "lost_cause",
    "restart_cause",
]  # fmt: skip

KINDS = HEALTH_KINDS

# Nothing ran while tasks waited for at least this long: an idle gap. A
# healthy worker with work queued starts its next task about a millisecond
# after the last one ends (Celery's own per-task cost: about 1,000 noop
# tasks/s in one process on this project's machine), a prefork child picks
# one up within a pipe write, and a loaded 2-core machine delays a runnable
# process by a few scheduler periods (tens of ms). 0.2 s is ten times the
# worst of those, and a tenth of the 2.0 s timeout of the worker's synloop
# (celery/celery#10263), whose gaps it must catch.
IDLE_GAP_S = 0.2
# Gaps (or stalls) recur "at a steady interval" when there are at least
# PERIOD_MIN_COUNT of them and the intervals between consecutive ends are
# regular: their coefficient of variation is below PERIOD_CV (each burst's
# own length jitters them: measured on this machine, gevent -c 32 with
# task_acks_late at prefetch 1 gave 2.10, 2.40, 2.13, 2.04 s, CV 0.07), or
# at least PERIOD_SHARE of them lie within PERIOD_TOLERANCE of their median
# (one burst that a stray message started early must not hide a clock-like
# period).
PERIOD_MIN_COUNT = 3
PERIOD_CV = 0.1
PERIOD_SHARE = 0.8
PERIOD_TOLERANCE = 0.1
# No execution finished for longer than max(STALL_S, STALL_SERVICE_MULTIPLE
# x the median service time) while tasks ran: a stall. The median, not the
# p99: the tasks caught in a stall (every greenlet behind a blocked event
# loop) take as long as the stall, and with -c 32 of 400 tasks they are 8% of
# them, enough to lift the p99 to the stall's length and hide it. The
# multiple keeps a point whose tasks are long by design (-c 1, 2 s tasks)
# from stalling. A stretch is a stall only if a task that ran in it took
# longer than that limit taken on its own class's median service time (one
# class without a mix): in a real stall the tasks caught in it last as long
# as it, whereas a mix's slots all running long tasks at once, each as long
# as its class's tasks are, is no stall.
STALL_S = 1.0
STALL_SERVICE_MULTIPLE = 10.0
# A slot stayed free, some task ran, none started, and tasks waited, for
# longer than max(LATE_S, LATE_SERVICE_MULTIPLE x the median service time):
# the tasks that waited through it started late. The multiple leaves out the
# ordinary prefetch tail (a worker drains the at most 3 x -c tasks it
# reserved beyond its running ones in about 3 service times).
LATE_S = 0.5
LATE_SERVICE_MULTIPLE = 4.0
EXAMPLES = 5  # task ids kept per finding
GREEN_POOLS = frozenset({"gevent", "eventlet"})
STOPPED_WAITING = frozenset({"timed out", "interrupted"})  # outcomes that leave tasks unreported, not lost
SYNLOOP_TIMEOUT_S = 2.0  # drain_events(timeout=2.0) in the worker's synloop


@dataclass(frozen=True)
class Cause:
    """A known cause: a short technical label and where it is described."""

    label: str
    kinds: tuple[str, ...]  # the findings it explains
    refs: tuple[str, ...] = ()  # issues and pull requests, owner/repo#number


# Causes that are the run's own settings doing what they ask (a child replaced after its N tasks): found and
# named, but not Celery misbehaving
ASKED_FOR = frozenset({"max_tasks_per_child", "max_memory_per_child"})


def as_asked(causes: Iterable[str | None]) -> bool:
    """Whether every cause of these findings is a setting the run asked for."""
    found = list(causes)
    return bool(found) and all(cause in ASKED_FOR for cause in found)


KNOWN_CAUSES = {
    "redis_redelivery": Cause(
        "task_acks_late on Redis: unacked messages (reserved or running) restored by kombu and delivered again",
        ("duplicates", "lost"),
        ("celery/celery#4968", "celery/celery#4976"),
    ),
    "redelivery": Cause(
        "the broker redelivered unacknowledged messages (a lost connection or consumer)",
        ("duplicates",),
    ),
    "broker_restart": Cause(
        "the broker restarted without persistence (--broker-restart-at): the messages it held were gone, and "
        "the workers dropped the tasks they had reserved, whose acknowledgements belonged to the lost connection",
        ("lost",),
    ),
    "reconnect_redelivery": Cause(
        "the worker lost its broker connection (its log says so) and the broker delivered the messages it "
        "held unacknowledged again",
        ("duplicates", "lost"),
    ),
    "redis_pool_exhausted": Cause(
        "kombu's Redis transport ran out of connections (max_connections, 10 by default) while more tasks "
        "than that acknowledged at once (gevent, eventlet, threads)",
        ("ack_failures", "reconnects"),
        ("celery/celery#1350",),
    ),
    "deferred_ack_synloop": Cause(
        "task_acks_late under a green pool: the synloop refills a full prefetch window only when "
        "drain_events(timeout=2.0) returns",
        ("idle_gaps",),
        ("celery/celery#10263", "celery/celery#4378"),
    ),
    "prefetch": Cause(
        "tasks reserved by a busy process (prefetch multiplier > 1) while other slots were free",
        ("late_starts",),
    ),
    "blocked_loop": Cause(
        "a task that does not yield blocks the green pool's event loop and every other greenlet",
        ("stalls", "late_starts"),
    ),
    "max_tasks_per_child": Cause(
        "pool processes replaced after --max-tasks-per-child tasks",
        ("restarts", "idle_gaps"),
    ),
    "max_memory_per_child": Cause(
        "pool processes replaced once their peak RSS passed --max-memory-per-child",
        ("restarts", "idle_gaps"),
    ),
    CUT_SHORT: Cause(
        "the harness stopped waiting (the batch timed out or was interrupted) before they were reported",
        ("lost",),
    ),
    "worker_lost": Cause(
        "a pool process exited or was killed (WorkerLostError) and was replaced",
        ("restarts", "lost"),
    ),
    "oom_kill": Cause(
        "the kernel's OOM killer killed a worker process at its cgroup's memory limit (--memory-limit), and the "
        "tasks it was running were lost (acknowledged on receipt)",
        ("restarts", "lost"),
    ),
}


# What a worker logs when an acknowledgement fails (celery/worker/request.py,
# kombu's Message.ack_log_error: "Couldn't ack 'ID', reason:...") and when
# its consumer loses the broker ("consumer: Connection to broker lost.
# Trying to re-establish the connection..."); kombu's Redis transport gives
# MaxConnectionsError when its connection pool (max_connections, 10 by
# default) is empty.
_ACK_FAILED = re.compile(r"Couldn't ack '([^']+)'")
_CONNECTION_LOST = "Connection to broker lost"
_POOL_EXHAUSTED = re.compile(r"MaxConnectionsError|Too many connections")


@dataclass(frozen=True)
class LogEvidence:
    """What the workers' log says went wrong between them and the broker:
    what the task records cannot show."""

    ack_failures: tuple[str, ...] = ()  # task ids, in log order, whose acknowledgement failed
    reconnects: int = 0  # times a worker's consumer lost its broker connection
    pool_exhausted: bool = False  # kombu's Redis connection pool ran out (MaxConnectionsError)


def log_evidence(texts: Sequence[str]) -> LogEvidence:
    """The LogEvidence of the workers' log texts."""
    failed: list[str] = []
    reconnects = 0
    exhausted = False
    for text in texts:
        for line in text.splitlines():
            ack = _ACK_FAILED.search(line)
            if ack:
                failed.append(ack.group(1))
            if _CONNECTION_LOST in line:
                reconnects += 1
            if (ack or _CONNECTION_LOST in line) and _POOL_EXHAUSTED.search(line):
                exhausted = True
    return LogEvidence(tuple(failed), reconnects, exhausted)


@dataclass(frozen=True)
class Context:
    """What the run was, for the likely cause."""

    pool: str
    concurrency: int  # -c of each worker
    slots: int  # tasks that can run at once over all the workers
    acks_late: bool
    prefetch_multiplier: int | None  # None: Celery's default (4)
    broker_kind: str | None  # "redis" | "amqp" | None
    max_tasks_per_child: int = 0  # 0: never replaced
    max_memory_per_child_kib: int = 0  # KiB; 0: never replaced
    processes: int | None = None  # pool processes expected (prefork: -c x workers; others: workers); None: unknown
    outcome: str | None = None  # how watching the batch ended: complete, timed out, interrupted, ...; None: unknown
    log: LogEvidence | None = None  # what the workers' log said; None: not read
    oom_kills: int = 0  # processes the OOM killer killed in the workers' cgroups (--memory-limit)
    broker_restarted: bool = False  # the embedded broker was restarted mid-batch (--broker-restart-at)
    disable_prefetch: bool = False  # worker_disable_prefetch: a worker takes a message only for a free slot
    # A traffic mix: each task's class (id -> its name), whose own median service time is what a stall's
    # tasks are held against; None: one kind of task
    task_class: Mapping[str, str] | None = None
    # Dedicated routing: each task's lane (the index of its queue) and each lane's slots (its workers'); a
    # task starts late only while a slot of its own lane's workers is free. None: every slot takes every task
    task_lane: Mapping[str, int] | None = None
    lane_slots: tuple[int, ...] = ()


def diagnose(published: Mapping[str, float], records: Sequence, context: Context) -> Health:
    """The findings of one run, from its publish times (task id -> s) and
    every execution the workers reported (objects with .id .started
    .finished .state .pid, and .node when there are several workers).

    - duplicates: tasks reported more than once; `count` tasks,
      `extra_runs` executions beyond each one's first.
    - lost: tasks published and never reported (by a batch cut short, see
      STOPPED_WAITING, not necessarily lost by Celery: that is their cause,
      CUT_SHORT, and Health.misbehaviour leaves them out).
    - idle_gaps: maximal intervals of at least IDLE_GAP_S in the window in
      which no task ran while a task waited; `period_s` when they recur at a
      steady interval (see PERIOD_CV): the median interval between
      consecutive gap ends, which are the starts of the bursts between them.
    - stalls: stretches in which tasks ran and none finished, longer than
      max(STALL_S, STALL_SERVICE_MULTIPLE x the median service time); a stall's
      time is the time tasks ran in it (time when nothing ran at all is an
      idle gap, counted there).
    - late_starts: tasks that waited through a stretch longer than
      max(LATE_S, LATE_SERVICE_MULTIPLE x the median service time) in which
      a slot was free (fewer than `slots` tasks ran, at least one did), no
      task started and tasks waited; a task is late when such stretches
      cover more than that threshold of its own wait. Its late wait is that
      covered time. (With one slot a free slot means an idle pool: solo
      never starts late, it has idle gaps.)
    - ack_failures, reconnects (from `context.log`, the workers' log):
      tasks whose acknowledgement failed, and the times a worker lost its
      broker connection.
    - restarts: pool processes replaced: processes (distinct (node, pid))
      that ran tasks beyond `context.processes`, and at most as many as
      began only after another process of the same node had run its last
      task (so a count of processes that is short, as for workers spread
      over hosts whose records share node 0, finds none); the examples are
      the first task of each such newcomer.
    """
    ids = set(published)
    runs = [r for r in records if r.id in ids]
    firsts: dict[str, tuple[float, float]] = {}  # id -> (first start, first finish)
    executions: dict[str, int] = {}
    for r in runs:
        executions[r.id] = executions.get(r.id, 0) + 1
        start, finish = firsts.get(r.id, (math.inf, math.inf))
        firsts[r.id] = (min(start, r.started), min(finish, r.finished))
    restarts = _restarts(runs, context)
    findings = [_duplicates(executions, context), _lost(published, firsts, context, restarts), restarts]
    findings += from_log(context.log)
    if runs:
        timeline = _Timeline(published, runs, firsts)
        services = [r.finished - r.started for r in runs]
        findings += [
            _idle_gaps(timeline, context, restarts),
            _stalls(timeline, runs, context),
            _late_starts_by_lane(published, runs, firsts, services, context)
            if context.task_lane
            else _late_starts(timeline, published, firsts, services, context),
        ]
    return in_order(findings)


def in_order(findings, unchecked=()):
    present = {f.kind: f for f in findings if f is not None}
    return Health(tuple(present[k] for k in KINDS if k in present), unchecked=tuple(unchecked))


# --- Counting ----------------------------------------------------------------


def _duplicates(executions, context):
    twice = sorted(task for task, n in executions.items() if n > 1)
    if not twice:
        return None
    extra = sum(executions[t] - 1 for t in twice)
    return Finding(
        "duplicates", len(twice), cause=duplicate_cause(context), examples=tuple(twice[:EXAMPLES]), extra_runs=extra
    )


def duplicate_cause(context):
    if context.log is not None and context.log.reconnects:
        return "reconnect_redelivery"
    if context.broker_kind == "redis" and context.acks_late:
        return "redis_redelivery"
    return "redelivery"


def from_log(log):
    """The workers' acknowledgements that failed and their lost broker
    connections, as their log tells them."""
    if log is None:
        return []
    cause = "redis_pool_exhausted" if log.pool_exhausted else None
    found = []
    if log.ack_failures:
        ids = tuple(dict.fromkeys(log.ack_failures))
        found.append(Finding("ack_failures", len(ids), cause=cause, examples=ids[:EXAMPLES]))
    if log.reconnects:
        found.append(Finding("reconnects", log.reconnects, cause=cause))
    return found


def _lost(published, firsts, context, restarts):
    lost = sorted(set(published) - set(firsts))
    if not lost:
        return None
    return Finding("lost", len(lost), cause=lost_cause(context, restarts), examples=tuple(lost[:EXAMPLES]))


def lost_cause(context, restarts):
    if context.outcome in STOPPED_WAITING:
        return CUT_SHORT
    if context.broker_restarted:
        return "broker_restart"
    if context.log is not None and context.log.reconnects:
        return "reconnect_redelivery"
    if context.broker_kind == "redis" and context.acks_late:
        return "redis_redelivery"
    if context.oom_kills:
        return "oom_kill"
    if restarts is not None and restarts.cause == "worker_lost":
        return "worker_lost"
    return None


def _restarts(runs, context):
    spans: dict[tuple[int, int], list] = {}  # (node, pid) -> [first start, first task, last finish]
    for r in runs:
        key = (getattr(r, "node", 0), r.pid)
        span = spans.setdefault(key, [r.started, r.id, r.finished])
        if r.started < span[0]:
            span[0], span[1] = r.started, r.id
        span[2] = max(span[2], r.finished)
    if context.processes is None or len(spans) <= context.processes:
        return None
    # The two earliest last finishes of each node: another process's is
    # the earliest, unless that one is this process's own.
    ends: dict[int, list[tuple[float, int]]] = {}
    for (node, pid), (_, _, last) in spans.items():
        ends[node] = sorted([*ends.get(node, []), (last, pid)])[:2]
    newcomers = sorted(
        (first, task)
        for (node, pid), (first, task, _) in spans.items()
        if any(p != pid and last <= first for last, p in ends[node])
    )
    replaced = min(len(spans) - context.processes, len(newcomers))
    if replaced <= 0:
        return None
    examples = tuple(t for _, t in newcomers[:EXAMPLES])
    return Finding("restarts", replaced, cause=restart_cause(context), examples=examples)


def restart_cause(context):
    if context.max_tasks_per_child > 0:
        return "max_tasks_per_child"
    if context.max_memory_per_child_kib > 0:
        return "max_memory_per_child"
    return "oom_kill" if context.oom_kills else "worker_lost"


# --- The timeline ------------------------------------------------------------

# Event order at one instant: ends before publishes before starts, so
# back-to-back tasks never overlap and a task published as another starts
# already waits.
_FINISH, _PUBLISH, _START = 0, 1, 2


class _Timeline:
    """The run as stretches of constant state between events, from the first
    start to the last finish (a zero-length one at the last finish)."""

    def __init__(self, published, runs, firsts):
        self.begin = min(r.started for r in runs)
        self.end = max(r.finished for r in runs)
        # (time, order, running, waiting, pending): running changes at every
        # execution's start and finish; waiting at a task's publish and first
        # start; pending at its publish and first finish.
        changes = []
        for r in runs:
            changes.append((r.started, _START, 1, 0, 0))
            changes.append((r.finished, _FINISH, -1, 0, 0))
        for task, (start, finish) in firsts.items():
            sent = published[task]
            wait, pend = sent < start, sent < finish  # a skewed clock can put a start before its publish
            if wait or pend:
                changes.append((sent, _PUBLISH, 0, int(wait), int(pend)))
            if wait:
                changes.append((start, _START, 0, -1, 0))
            if pend:
                changes.append((finish, _FINISH, 0, 0, -1))
        changes.sort(key=lambda c: (c[0], c[1]))
        self.stretches = list(self._stretches(changes))

    def _stretches(self, changes):
        running = waiting = pending = 0
        i = 0
        while i < len(changes):
            t = changes[i][0]
            started = finished = False
            while i < len(changes) and changes[i][0] == t:
                _, kind, run, wait, pend = changes[i]
                running, waiting, pending = running + run, waiting + wait, pending + pend
                started |= kind == _START and run == 1
                finished |= kind == _FINISH and run == -1
                i += 1
            if t < self.begin:
                continue
            nxt = changes[i][0] if i < len(changes) else t
            yield _Stretch(t, min(nxt, self.end), running, waiting, pending, started, finished)


@dataclass(frozen=True)
class _Stretch:
    begin: float
    end: float
    running: int
    waiting: int
    pending: int
    started: bool  # an execution started at `begin`
    finished: bool  # an execution finished at `begin`

    @property
    def length(self) -> float:
        return self.end - self.begin


def _merge(stretches, inside, breaks):
    """Maximal intervals (begin, end) of consecutive stretches for which
    `inside` holds, cut where `breaks` holds at a stretch's begin."""
    spans = []
    current = None
    for s in stretches:
        if inside(s) and not (current is not None and breaks(s)):
            current = [s.begin, s.end] if current is None else [current[0], s.end]
        elif inside(s) and current is not None:  # a break: the span so far ends, a new one begins
            spans.append(tuple(current))
            current = [s.begin, s.end]
        else:
            if current is not None:
                spans.append(tuple(current))
            current = None
    if current is not None:
        spans.append(tuple(current))
    return spans


def _period(ends):
    """The median interval between consecutive `ends` when they recur at a
    steady interval (see PERIOD_CV), else None."""
    if len(ends) < PERIOD_MIN_COUNT:
        return None
    intervals = [b - a for a, b in itertools.pairwise(ends)]
    middle = statistics.median(intervals)
    if middle <= 0:
        return None
    cv = statistics.stdev(intervals) / statistics.fmean(intervals)
    steady = sum(1 for d in intervals if abs(d - middle) <= PERIOD_TOLERANCE * middle)
    return middle if cv < PERIOD_CV or steady >= PERIOD_SHARE * len(intervals) else None


def _summed(kind, spans, cause=None, examples=()):
    lengths = [b - a for a, b in spans]
    return Finding(
        kind,
        len(spans),
        total_s=math.fsum(lengths),
        longest_s=max(lengths),
        period_s=_period([b for _, b in spans]),
        cause=cause,
        examples=examples,
    )


# --- Gaps, stalls, late starts ---------------------------------------------


def _idle_gaps(timeline, context, restarts):
    spans = _merge(
        timeline.stretches,
        inside=lambda s: s.running == 0 and s.waiting > 0 and s.length > 0,
        breaks=lambda s: s.started,
    )
    spans = [(a, b) for a, b in spans if b - a >= IDLE_GAP_S]
    if not spans:
        return None
    found = _summed("idle_gaps", spans)
    cause = None
    # The synloop's wait ends 2.0 s after it began: its gaps last up to that,
    # and recur about that often. Either tells it (a run may show only two).
    near = [v for v in (found.period_s, found.longest_s) if v is not None]
    if (
        context.pool in GREEN_POOLS
        and context.acks_late
        and any(abs(v - SYNLOOP_TIMEOUT_S) <= PERIOD_TOLERANCE * SYNLOOP_TIMEOUT_S for v in near)
    ):
        cause = "deferred_ack_synloop"
    elif restarts is not None and restarts.cause in ("max_tasks_per_child", "max_memory_per_child"):
        cause = restarts.cause
    return Finding(**{**vars(found), "cause": cause})


def _stall_limits(runs, context):
    """Each run's stall limit: max(STALL_S, STALL_SERVICE_MULTIPLE x the
    median service time of its class), and the least of them."""
    kind = (lambda r: context.task_class.get(r.id)) if context.task_class else (lambda r: None)
    services: dict[str | None, list[float]] = {}
    for r in runs:
        services.setdefault(kind(r), []).append(r.finished - r.started)
    per_class = {k: max(STALL_S, STALL_SERVICE_MULTIPLE * statistics.median(v)) for k, v in services.items()}
    return [per_class[kind(r)] for r in runs], min(per_class.values())


def _stalls(timeline, runs, context):
    limits, limit = _stall_limits(runs, context)
    stretches = []
    busy = 0.0
    begin = None
    for s in timeline.stretches:
        if s.finished:
            if busy > limit and begin is not None:  # busy time always has a begin
                stretches.append((begin, s.begin, busy))
            busy, begin = 0.0, None
        if s.running > 0 and s.pending > 0 and s.length > 0:
            begin = s.begin if begin is None else begin
            busy += s.length
    # held against its own tasks: one of them ran far longer than its class's tasks do
    held = list(zip(runs, limits, strict=True))
    stalls = [
        (a, busy)
        for a, b, busy in stretches
        if any(r.started < b and r.finished > a and r.finished - r.started > cap for r, cap in held)
    ]
    if not stalls:
        return None
    lengths = [b for _, b in stalls]
    cause = "blocked_loop" if context.pool in GREEN_POOLS else None
    return Finding(
        "stalls",
        len(stalls),
        total_s=math.fsum(lengths),
        longest_s=max(lengths),
        period_s=_period([a + b for a, b in stalls]),
        cause=cause,
    )


def _late_starts_by_lane(published, runs, firsts, services, context):
    """Late starts under dedicated routing: each lane's tasks on its own
    workers' slots (a slot of another queue's workers never takes them),
    held to the run's one threshold; the lanes' findings as one."""
    lane = context.task_lane
    found = []
    for index, slots in enumerate(context.lane_slots):
        mine = {t: at for t, at in published.items() if lane.get(t) == index}
        its_runs = [r for r in runs if r.id in mine]
        if not its_runs:
            continue
        its_firsts = {t: firsts[t] for t in mine if t in firsts}
        timeline = _Timeline(mine, its_runs, its_firsts)
        own = replace(context, slots=slots, task_lane=None, lane_slots=())
        if (one := _late_starts(timeline, mine, its_firsts, services, own)) is not None:
            found.append(one)
    if not found:
        return None
    return Finding(
        "late_starts",
        sum(f.count for f in found),
        total_s=math.fsum(f.total_s or 0.0 for f in found),
        longest_s=max(f.longest_s or 0.0 for f in found),
        cause=next((f.cause for f in found if f.cause is not None), None),
        examples=tuple(t for f in found for t in f.examples)[:EXAMPLES],
    )


def _late_starts(timeline, published, firsts, services, context):
    if context.slots <= 1:
        return None
    limit = max(LATE_S, LATE_SERVICE_MULTIPLE * statistics.median(services))
    spans = _merge(
        timeline.stretches,
        inside=lambda s: 0 < s.running < context.slots and s.waiting > 0 and s.length > 0,
        breaks=lambda s: s.started,
    )
    spans = [(a, b) for a, b in spans if b - a > limit]
    if not spans:
        return None
    tasks = sorted(firsts)
    sent = np.array([published[t] for t in tasks])
    start = np.array([firsts[t][0] for t in tasks])
    covered = np.zeros(len(tasks))
    for a, b in spans:
        covered += np.clip(np.minimum(start, b) - np.maximum(sent, a), 0.0, None)
    late = covered > limit
    if not late.any():
        return None
    order = np.argsort(-covered[late], kind="stable")
    late_ids = [t for t, is_late in zip(tasks, late, strict=True) if is_late]
    waits = covered[late]
    cause = None
    if context.pool in GREEN_POOLS and (context.processes or 1) <= 1:
        cause = "blocked_loop"
    elif not context.disable_prefetch and (context.prefetch_multiplier is None or context.prefetch_multiplier != 1):
        cause = "prefetch"
    return Finding(
        "late_starts",
        int(late.sum()),
        total_s=float(waits.sum()),
        longest_s=float(waits.max()),
        cause=cause,
        examples=tuple(late_ids[i] for i in order[:EXAMPLES]),
    )

"""Deploy events during a run's measured batch: what an orchestrator or the
kernel does to a worker, done a given time after the batch's release, and
what it cost.

    --stop-at 3s        SIGTERM to worker 0, as `kubectl delete pod` or
                        `docker stop` send it (Celery's warm shutdown; a
                        cold one, with its soft shutdown, where the worker's
                        REMAP_SIGTERM=SIGQUIT); a fresh worker is started at
                        once, as a ReplicaSet does; SIGKILL to what is left
                        after --stop-grace (Kubernetes' default: 30 s)
    --kill-at 3s        SIGKILL to worker 0 and its pool processes, a crash;
                        a fresh worker is started at once
    --kill-child-at 3s  SIGKILL to one prefork pool process of worker 0 in
                        the middle of a task: what the OOM killer usually picks
    --rolling-restart 3s  across --workers N, one at a time: a fresh worker,
                        and once it is ready, the stop of the old one
                        (SIGTERM, SIGKILL after --stop-grace); the next node
                        once that one has exited
    --broker-restart-at 3s  SIGTERM to the embedded broker, then the same
                        server started again on its port (it writes nothing
                        to disk: what it held is gone, as with any broker
                        restarted without persistence); the workers reconnect

The fresh worker is worker 0's spec under a new node name, consuming the
measured queue from its start; its tasks count as node 0's. Every task's
start is recorded (BENCH_RECORD_STARTS), so what the event cost is counted
from the workers' records: the tasks lost (never finished), redelivered
(the broker's flag) and interrupted (started by a process that died before
it finished them), the stopped worker's drain time, and the time until the
throughput is back at 90% of its level before the event.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import psutil

from bench.analysis.stats import TaskRecord
from bench.harness.broker import EmbeddedServer
from bench.harness.worker import Worker
from bench.measure.config import DeployPlan
from bench.measure.crew import Crew
from bench.results.schema import DeployEvent, DeployFigures

BEFORE_S = 2.0  # the throughput before an event is measured over at most this long
MIN_BEFORE_S = 0.2  # with less than this before it, there is no level to recover to
RECOVERED_SHARE = 0.9  # "back" means this share of the level before
STEP_S = 0.05  # the recovery is found to this resolution


@dataclass
class _Struck:
    """One strike as it was done, filled in as it unfolds (monotonic s)."""

    at: float
    node: int | None  # None: the broker
    pid: int
    task_id: str | None = None
    target: Worker | None = None  # a stop: the worker signalled, followed until it exits
    exited: float | None = None  # a stop: the worker's main process ended
    forced: bool = False  # a stop: SIGKILL after the grace
    fresh: Worker | None = None  # the worker started in its place; None: none (a killed pool process)
    replacement_ready: float | None = None
    down_s: float | None = None  # a broker restart: how long the broker was down


class Deploy:
    """The event of `plan`, done on `crew` from the batch's watch loop
    (`tick`), `released` (monotonic s) being the batch's release; `finished`
    holds the batch's records as they arrive. A rolling restart strikes
    every node in turn, as a Deployment's rolling update does with one pod
    of surge: a fresh worker for the node, and once it is ready, the stop
    of the old one; the next node once that one has exited."""

    def __init__(
        self,
        plan: DeployPlan,
        crew: Crew,
        queue: str,
        released: float,
        finished: list[TaskRecord],
        broker: EmbeddedServer | None = None,
    ):
        self.plan, self.crew, self.queue, self.released, self.finished = plan, crew, queue, released, finished
        self.broker = broker  # the embedded broker's process, for a broker restart
        self.strikes: list[_Struck] = []
        self._nodes = len(crew.specs)  # the nodes before any replacement
        self._rolling: tuple[int, Worker, Worker] | None = None  # (node, old, fresh) while a fresh one boots

    def tick(self, now: float) -> None:
        if now - self.released < self.plan.at_s:
            return
        if self.plan.kind == "rolling":
            self._roll(now)
        elif not self.strikes:
            self._strike(now)
        self._follow(now)

    @property
    def settled(self) -> bool:
        """Whether what was struck has run its course: every stopped worker
        exited, every fresh one ready (a rolling restart's step under way
        done, no next one begun)."""
        if self._rolling is not None:
            return False
        return all(
            (s.target is None or s.exited is not None) and (s.fresh is None or s.replacement_ready is not None)
            for s in self.strikes
        )

    def settle(self, timeout_s: float) -> None:
        """After the batch: wait (at most `timeout_s`, and no longer than a
        stop's grace allows) for the event to run its course, to measure it."""
        deadline = time.monotonic() + timeout_s
        while not self.settled and time.monotonic() < deadline:
            now = time.monotonic()
            if self._rolling is not None:
                self._roll(now, begin=False)
            self._follow(now)
            time.sleep(0.02)

    def _strike(self, now: float) -> None:
        if self.plan.kind == "broker_restart":
            assert self.broker is not None  # config.check_deploy: the embedded broker only
            old, down = self.broker.restart()  # the watch waits the blip out: it is short
            self.strikes.append(_Struck(now, None, old or 0, down_s=down))
            return
        target = self.crew.nodes.live(0)
        if self.plan.kind == "kill_child":
            victim = self._busy_child(target)
            if victim is None:
                return  # no pool process is running a task this instant: the next tick looks again
            pid, task_id = victim
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self.strikes.append(_Struck(now, 0, pid, task_id))
            return
        if self.plan.kind == "kill":
            # The worker's session (it was started in one of its own): the worker and its pool, as a crash takes them
            with contextlib.suppress(ProcessLookupError):
                os.killpg(target.pid, signal.SIGKILL)
            self.strikes.append(_Struck(now, 0, target.pid, fresh=self.crew.replace(0, self.queue)))
            return
        target.popen.send_signal(signal.SIGTERM)
        self.strikes.append(_Struck(now, 0, target.pid, target=target, fresh=self.crew.replace(0, self.queue)))

    def _roll(self, now: float, begin: bool = True) -> None:
        """The rolling restart's next step, when the last one is done
        (`begin`: a next node too, not only the step under way)."""
        if self._rolling is not None:
            node, old, fresh = self._rolling
            if self.crew.ready(fresh):
                old.popen.send_signal(signal.SIGTERM)
                self.strikes.append(_Struck(now, node, old.pid, target=old, fresh=fresh, replacement_ready=now))
                self._rolling = None
            return
        node = len(self.strikes)
        if begin and node < self._nodes and (not self.strikes or self.strikes[-1].exited is not None):
            old = self.crew.nodes.live(node)
            self._rolling = (node, old, self.crew.replace(node, self.queue))

    def _busy_child(self, target: Worker) -> tuple[int, str] | None:
        """(pid, task id) of a pool process of `target` running a task now,
        the one that started its task last; None when none is."""
        try:
            children = {c.pid for c in psutil.Process(target.pid).children()}
        except psutil.Error:
            return None
        # What the workers wrote up to now, not what the watch has read yet: a task that ended
        # a moment ago is not running
        done = {(r["pid"], r["id"]) for r in self.crew.reader.finished()}
        running = [
            s
            for s in self.crew.reader.starts()
            if s["pid"] in children and not s.get("worker_lost") and (s["pid"], s["id"]) not in done
        ]
        if not running:
            return None
        latest = max(running, key=lambda s: s["started"])
        return latest["pid"], latest["id"]

    def _follow(self, now: float) -> None:
        for struck in self.strikes:
            target = struck.target
            if target is not None and struck.exited is None:
                if target.exited():
                    struck.exited = now
                elif now - struck.at >= self.plan.stop_grace_s and not struck.forced:
                    struck.forced = True  # what the orchestrator does once the grace is over
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(target.pid, signal.SIGKILL)
            if struck.fresh is not None and struck.replacement_ready is None and self.crew.ready(struck.fresh):
                struck.replacement_ready = now

    def figures(self, finished_at: Sequence[float]) -> DeployFigures:
        """What the event cost, from the batch's completions (`finished_at`,
        monotonic s); no event when the batch ended before it was due."""
        stops = self.plan.kind in ("stop", "rolling")
        grace = self.plan.stop_grace_s if stops else None
        asked = f"{self.plan.option} {self.plan.at_s:g}s"
        begun = min(r.started for r in self.finished) if self.finished else self.released
        events = []
        for struck in self.strikes:
            before, recovery = recovery_after(finished_at, struck.at, begun)
            events.append(
                DeployEvent(
                    kind="stop" if self.plan.kind == "rolling" else self.plan.kind,
                    at_s=round(struck.at - self.released, 6),
                    node=struck.node,
                    pid=struck.pid,
                    task_id=struck.task_id,
                    drain_s=_since(struck.at, struck.exited) if stops else None,
                    forced=struck.forced if stops else None,
                    # a rolling restart's fresh worker is ready before the stop: 0
                    replacement_ready_s=_since(struck.at, struck.replacement_ready),
                    throughput_before_per_s=before,
                    recovery_s=recovery,
                    recovered=None if before is None else recovery is not None,
                    down_s=None if struck.down_s is None else round(struck.down_s, 6),
                )
            )
        return DeployFigures(asked=asked, events=tuple(events), stop_grace_s=grace)


def _since(start: float, then: float | None) -> float | None:
    return None if then is None else round(then - start, 6)


def recovery_after(finished_at: Iterable[float], event_at: float, begun: float) -> tuple[float | None, float | None]:
    """(throughput before the event, tasks/s; s until it is back): the
    throughput over the BEFORE_S (at most, from `begun`) before `event_at`,
    and the first delay d >= 0 such that the window [event + d, event + d +
    that length) completes RECOVERED_SHARE of the tasks it did before
    (STEP_S resolution). None for the delay when the batch ended first;
    (None, None) with less than MIN_BEFORE_S of batch before the event."""
    times = sorted(finished_at)
    span = min(BEFORE_S, event_at - begun)
    if span < MIN_BEFORE_S:
        return None, None
    before = sum(1 for t in times if event_at - span <= t < event_at)
    if before == 0:
        return 0.0, None
    need = RECOVERED_SHARE * before
    last = times[-1]
    delay = 0.0
    while event_at + delay + span <= last + 1e-9:
        start = event_at + delay
        if sum(1 for t in times if start <= t < start + span) >= need:
            return before / span, round(delay, 6)
        delay += STEP_S
    return before / span, None


def counts(
    published: Collection[str],
    records: Iterable[TaskRecord],
    starts: Iterable[Mapping],
    dead: Collection[int],
    cut: Iterable[str] = (),
) -> tuple[int, int, int]:
    """(lost, redelivered, interrupted) of a batch: tasks never finished;
    tasks whose message came back with the broker's redelivered flag (in
    any start or finish); tasks started by a process now `dead` that never
    finished them there (Celery's own WorkerLostError lines left out: they
    are the main process's report, not a start), and tasks `cut` off
    mid-run (a cold shutdown cancelled them)."""
    records = list(records)
    starts = [s for s in starts if s.get("id") in published]
    finished = {r.id for r in records}
    pairs = {(r.pid, r.id) for r in records}
    redelivered = {r.id for r in records if r.redelivered} | {s["id"] for s in starts if s.get("redelivered")}
    interrupted = {
        s["id"] for s in starts if not s.get("worker_lost") and s["pid"] in dead and (s["pid"], s["id"]) not in pairs
    } | {task_id for task_id in cut if task_id in published}
    return len(set(published) - finished), len(redelivered), len(interrupted)

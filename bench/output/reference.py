"""The words of `run --reference`: the harness's figures and the plain
worker's side by side, their ratio, the misbehaviour each side saw, and a
one-line verdict. The plain worker's rate without task events (counted by
its queue's depth) comes first and decides the verdict; the pass with
events (-E) gives the accounting and the findings, and its rate too."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bench.analysis.health import LogEvidence
from bench.output.health import health_lines
from bench.results.records import Health, RunResult, TaskCounts
from bench.results.schema import HEALTH_KINDS

AGREE_WITHIN = 0.10  # |harness / reference - 1| at or under this: they agree


# The reference's result as this module reads it: bench/measure/reference.py's
# ReferenceResult and its parts, a layer above the output (tests/unit/test_architecture.py).


class DepthMoves(Protocol):
    """measure.queue_depth.DepthMoves: what the queue's depth did besides falling."""

    @property
    def rose_by(self) -> int: ...  # messages put back into the queue
    @property
    def pauses_s(self) -> tuple[float, ...]: ...  # s, each pause while messages waited


class DepthRate(Protocol):
    @property
    def steady_throughput_per_s(self) -> float | None: ...


class DepthPass(Protocol):
    """measure.queue_depth.DepthPass: the plain worker without task events."""

    @property
    def rate(self) -> DepthRate: ...
    @property
    def moves(self) -> DepthMoves: ...
    @property
    def log(self) -> LogEvidence | None: ...


class ReferenceSummary(Protocol):
    """measure.task_events.ReferenceSummary: what the plain worker's task events gave."""

    @property
    def throughput_per_s(self) -> float | None: ...
    @property
    def steady_throughput_per_s(self) -> float | None: ...
    @property
    def mean_concurrency(self) -> float | None: ...
    @property
    def tasks(self) -> TaskCounts: ...
    @property
    def started_more_than_once(self) -> int: ...
    @property
    def worker_cpu_per_task_s(self) -> float | None: ...


class ReferenceResult(Protocol):
    """measure.reference.ReferenceResult, as far as the comparison goes."""

    @property
    def summary(self) -> ReferenceSummary: ...
    @property
    def health(self) -> Health | None: ...
    @property
    def depth(self) -> DepthPass | None: ...


@dataclass(frozen=True)
class Side:
    """One side's figures, as the comparison needs them."""

    throughput_per_s: float | None  # tasks/s, first start to last end
    steady_throughput_per_s: float | None  # tasks/s, 10%-90% of completions
    mean_concurrency: float | None  # tasks in flight on average
    published: int | None
    succeeded: int | None
    failed: int | None
    missing: int | None
    ran_twice: int | None  # tasks reported (or started) more than once
    health: Health | None = None  # None: not diagnosed
    cpu_per_task_ms: float | None = None  # the worker tree's CPU per task, ms (the plain worker's events included)
    depth_steady_throughput_per_s: float | None = None  # tasks/s, plain worker without -E, by its queue's depth
    depth_moves: DepthMoves | None = None  # of that pass; None: not measured
    depth_log: LogEvidence | None = None  # what that pass's worker log said; None: not read


def harness_side(result: RunResult) -> Side:
    """The Side of a RunResult (bench/results/schema.py)."""
    s = result.summary
    t = s.tasks if s is not None else None
    return Side(
        throughput_per_s=s.throughput_per_s if s else None,
        steady_throughput_per_s=s.steady_throughput_per_s if s else None,
        mean_concurrency=s.mean_concurrency if s else None,
        published=t.published if t else None,
        succeeded=t.succeeded if t else None,
        failed=t.failed if t else None,
        missing=t.missing if t else None,
        ran_twice=t.duplicates if t else None,
        health=s.health if s else None,
        cpu_per_task_ms=_cpu_ms(s),
    )


def _cpu_ms(summary):
    """The harness worker's CPU per task, ms, from its resource samples."""
    if summary is None or summary.resources is None or summary.resources.worker_cpu_s is None:
        return None
    done = summary.tasks.succeeded
    return 1000.0 * summary.resources.worker_cpu_s / done if done else None


def reference_side(result: ReferenceResult) -> Side:
    """The Side of a measure/reference.py ReferenceResult."""
    s = result.summary
    return Side(
        throughput_per_s=s.throughput_per_s,
        steady_throughput_per_s=s.steady_throughput_per_s,
        mean_concurrency=s.mean_concurrency,
        published=s.tasks.published,
        succeeded=s.tasks.succeeded,
        failed=s.tasks.failed,
        missing=s.tasks.missing,
        ran_twice=max(s.tasks.duplicates or 0, s.started_more_than_once),
        health=result.health,
        cpu_per_task_ms=None if s.worker_cpu_per_task_s is None else 1000.0 * s.worker_cpu_per_task_s,
        depth_steady_throughput_per_s=result.depth.rate.steady_throughput_per_s if result.depth else None,
        depth_moves=result.depth.moves if result.depth else None,
        depth_log=result.depth.log if result.depth else None,
    )


def depth_text(moves: DepthMoves, log: LogEvidence | None = None) -> str:
    """What the queue's depth showed of the pass without events, and what
    its worker's log said of its acks and broker connection, in words."""
    said = []
    if moves.rose_by:
        said.append(f"the queue grew back by {moves.rose_by} messages (put back: redelivered, so run again)")
    if moves.pauses_s:
        longest = max(moves.pauses_s)
        said.append(f"{len(moves.pauses_s)} pause(s) while messages waited, longest {longest:.1f} s (idle gaps)")
    if log is not None and log.ack_failures:
        said.append(f'{len(log.ack_failures)} acknowledgement(s) failed (its log: "Couldn\'t ack")')
    if log is not None and log.reconnects:
        said.append(f"broker connection lost {log.reconnects} time(s)")
    if log is not None and log.pool_exhausted:
        said.append("kombu's Redis connection pool ran out (MaxConnectionsError)")
    return "; ".join(said) or "no rise and no pause of the queue's depth"


def ratio(harness: float | None, reference: float | None) -> float | None:
    """harness / reference; None when either is missing or the reference is 0."""
    if harness is None or reference is None or reference == 0:
        return None
    return harness / reference


def _num(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _ratio_text(value):
    return "-" if value is None else f"{value:.2f}"


def finding_kinds(health: Health | None) -> set[str]:
    """The kinds of misbehaviour a diagnosis found (empty: none, or not diagnosed)."""
    if health is None:
        return set()
    return {f.kind for f in health.findings}


def _health_text(health):
    """The findings, in bench/output/health.py's words (the harness's own)."""
    if health is None:
        return ["not diagnosed"]
    return list(health_lines(health)) or ["healthy"]


def plain_kinds(reference: Side) -> set[str]:
    """The finding kinds the plain worker showed in either pass: its events'
    findings, and what its queue's depth and log showed without events."""
    kinds = set(finding_kinds(reference.health))
    moves, log = reference.depth_moves, reference.depth_log
    if moves is not None and moves.pauses_s:
        kinds.add("idle_gaps")
    if moves is not None and moves.rose_by:
        kinds.add("duplicates")  # messages put back on the queue are run again
    if log is not None and log.ack_failures:
        kinds.add("ack_failures")
    if log is not None and log.reconnects:
        kinds.add("reconnects")
    return kinds


def _kinds(kinds):
    """ "ack failures, idle gaps": finding kinds in their fixed order, in words."""
    return ", ".join(k.replace("_", " ") for k in HEALTH_KINDS if k in kinds)


def verdict(harness: Side, reference: Side) -> str:
    """One line: do they agree? On the steady state against the plain
    worker without events (its queue's depth) where it has one, else
    against the pass with events: its steady state, else its throughput."""
    which = "steady state"
    r = ratio(harness.steady_throughput_per_s, reference.depth_steady_throughput_per_s)
    against = "plain worker"
    if r is not None:
        which = "steady state without events"
    else:
        r = ratio(harness.steady_throughput_per_s, reference.steady_throughput_per_s)
    if r is None:
        which, r = "throughput", ratio(harness.throughput_per_s, reference.throughput_per_s)
    if r is None:
        return "no verdict: one side measured no throughput"
    seen_h, seen_r = finding_kinds(harness.health), plain_kinds(reference)
    same = f"; both saw {_kinds(seen_h & seen_r)}" if seen_h & seen_r else ""
    notes = []
    if seen_h - seen_r:
        notes.append(f"only the harness saw {_kinds(seen_h - seen_r)}")
    if seen_r - seen_h:
        notes.append(f"only the plain worker saw {_kinds(seen_r - seen_h)}")
    slowed = _slowed_by_events(harness, reference)
    if slowed:
        notes.append(slowed)
    if abs(r - 1) <= AGREE_WITHIN:
        line = f"agree within {AGREE_WITHIN:.0%} ({which}: harness / {against} = {r:.2f}){same}"
        return line + (f"; but {'; '.join(notes)}" if notes else "")
    direction = "faster" if r > 1 else "slower"
    line = f"differ by {abs(r - 1):.0%}: the harness measured the {which} {direction} than the {against} ({r:.2f})"
    return line + same + (f"; {'; '.join(notes)}" if notes else "")


def _slowed_by_events(harness: Side, reference: Side):
    """Words for a plain worker slowed by its own task events (-E), when its
    CPU per task says so: its rate with events under the harness's (or
    under its own without events) by more than AGREE_WITHIN, and its CPU
    per task over the harness's by more than that; else None."""
    cpu = ratio(reference.cpu_per_task_ms, harness.cpu_per_task_ms)
    if cpu is None or cpu <= 1 + AGREE_WITHIN:
        return None
    with_events = reference.steady_throughput_per_s
    without = reference.depth_steady_throughput_per_s
    if without is not None:
        slower = ratio(without, with_events)
        if slower is None or slower <= 1 + AGREE_WITHIN:
            return None
        return (
            f"with task events (-E) the plain worker ran {1 - 1 / slower:.0%} slower and spent {cpu - 1:.0%} more "
            "CPU per task than the harness's: its events cost it where the worker's own CPU is the limit"
        )
    r = ratio(harness.steady_throughput_per_s, with_events)
    if r is None or r <= 1 + AGREE_WITHIN:
        return None
    return (
        f"the plain worker spent {cpu - 1:.0%} more CPU per task, part of it on its task events (-E): "
        "where the worker's own CPU is the limit, the reference runs slower than a worker without -E"
    )


def side_by_side(
    harness: Side,
    reference: Side,
    command: Sequence[str] | None = None,
    depth_command: Sequence[str] | None = None,
) -> str:
    """The comparison as text (the CLI prints it)."""
    depth = reference.depth_steady_throughput_per_s
    events = "" if depth is None else ", -E"
    rows = [
        *([("steady, no events (tasks/s)", harness.steady_throughput_per_s, depth, True)] if depth is not None else []),
        (f"throughput{events} (tasks/s)", harness.throughput_per_s, reference.throughput_per_s, True),
        (f"steady state{events} (tasks/s)", harness.steady_throughput_per_s, reference.steady_throughput_per_s, True),
        ("mean concurrency", harness.mean_concurrency, reference.mean_concurrency, True),
        (f"worker CPU per task{events} (ms)", harness.cpu_per_task_ms, reference.cpu_per_task_ms, True),
        ("tasks published", harness.published, reference.published, False),
        ("  succeeded", harness.succeeded, reference.succeeded, False),
        ("  failed", harness.failed, reference.failed, False),
        ("  missing", harness.missing, reference.missing, False),
        ("  ran twice", harness.ran_twice, reference.ran_twice, False),
    ]
    lines = ["", "reference: the same configuration in a plain `celery worker` (no harness code inside it)"]
    if depth_command:
        lines.append(f"  without events, counted by its queue's depth: {' '.join(depth_command)}")
    if command:
        lines.append(f"  {'with task events (-E), counted by them: ' if depth_command else ''}{' '.join(command)}")
    lines.append(f"  {'':<28}{'harness':>10}{'plain':>10}{'ratio':>8}")
    for name, h, r, with_ratio in rows:
        lines.append(f"  {name:<28}{_num(h):>10}{_num(r):>10}{_ratio_text(ratio(h, r)) if with_ratio else '':>8}")
    for who, side in (("harness", harness), ("plain worker", reference)):
        text = _health_text(side.health)
        lines.append(f"  {who + ':':<14}{text[0]}")
        lines.extend(f"  {'':<14}{more}" for more in text[1:])
    if reference.depth_moves is not None:
        lines.append(f"  {'no events:':<14}{depth_text(reference.depth_moves, reference.depth_log)}")
    lines.append(f"verdict: {verdict(harness, reference)}")
    return "\n".join(lines)

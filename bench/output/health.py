"""A run's health in words: what Celery did wrong, counted, with the likely
cause. Reporters return text; only the CLI prints."""

from bench.analysis.groups import plural
from bench.analysis.health import KNOWN_CAUSES, as_asked
from bench.harness.sizes import size_words
from bench.results.records import Finding, Health, LimitFigures

# What each known cause means, for people (the data is in KNOWN_CAUSES).
CAUSE_WORDS = {
    "redis_redelivery": "with task_acks_late on Redis, a message stays unacknowledged while it waits in the "
    "worker and while its task runs, and kombu puts unacknowledged messages back on the queue (when a channel "
    "closes, or after the visibility timeout), so they are delivered again",
    "redelivery": "the broker delivered unacknowledged messages again after a connection or consumer was lost",
    "deferred_ack_synloop": "with task_acks_late under gevent or eventlet, the worker's loop waits in "
    "drain_events(timeout=2.0) once its prefetch window is full, and asks for more tasks only when that wait "
    "ends, up to 2 s later; Celery 5.6.3 and earlier also held the acks back until then (fixed in 5.7.0, "
    "which still waits on Redis)",
    "broker_restart": "the broker restarted and kept nothing (no persistence): the messages it held were gone, "
    "and the workers dropped the tasks they had reserved, whose acknowledgements belonged to the lost connection",
    "reconnect_redelivery": "the worker lost its connection to the broker (see its log), and the broker delivered "
    "the messages it held unacknowledged again",
    "redis_pool_exhausted": "kombu's Redis transport ran out of connections (max_connections, 10 by default) "
    "while more tasks than that acknowledged at once, so Celery could not acknowledge some and dropped the "
    "broker connection; Celery 5.7 acknowledges from each task's own greenlet or thread (call_soon_ack)",
    "prefetch": "a busy pool process held tasks it had reserved (prefetch multiplier above 1) while other slots "
    "were free",
    "blocked_loop": "a task that does not yield blocked the event loop, and every other greenlet with it",
    "max_tasks_per_child": "--max-tasks-per-child replaces each pool process after that many tasks",
    "max_memory_per_child": "--max-memory-per-child replaces a pool process once its peak RSS is above that "
    "size after a task",
    "cut_short": "the harness stopped waiting (the batch timed out or was interrupted) before they were "
    "reported: they may still have been queued, not lost",
    "worker_lost": "a pool process exited or was killed, and was replaced",
    "oom_kill": "the kernel's OOM killer killed a worker process at its cgroup's memory limit (--memory-limit); "
    "the task it was running, acknowledged on receipt, was lost (task_acks_late with "
    "task_reject_on_worker_lost puts it back on the queue instead)",
}

# What the task records show; the log's findings (failed acks, a lost
# connection) are said when found, and a run on agents has no log to read.
HEALTHY = "health: no task run twice or lost; no idle gaps, stalls, late starts or replaced processes"
UNCHECKED_WORDS = {"idle_gaps": "idle gaps", "late_starts": "late starts"}


def cause_words(cause: str | None) -> str:
    """The likely cause in words with its references: "likely cause: ...
    (celery/celery#4968, celery/celery#4976)"; "" for none."""
    if cause is None:
        return ""
    refs = KNOWN_CAUSES[cause].refs if cause in KNOWN_CAUSES else ()
    words = CAUSE_WORDS.get(cause, cause)
    return f"likely cause: {words}" + (f" ({', '.join(refs)})" if refs else "")


def _s(seconds):
    return f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


def _times(finding, what):
    """ "(72.4 s in all, longest 2.0 s, every 2.00 s)": a finding's time."""
    parts = []
    if finding.total_s is not None and finding.count > 1:
        parts.append(f"{_s(finding.total_s)} in all")
    if finding.longest_s is not None:
        parts.append(f"{what} {_s(finding.longest_s)}")
    if finding.period_s is not None:
        parts.append(f"every {finding.period_s:.2f} s")
    return f" ({', '.join(parts)})" if parts else ""


def finding_line(
    finding: Finding, published: int | None = None, cause_said: bool = False, by_second: bool = False
) -> str:
    """One finding as a line: what happened, how much, and the likely cause.
    `published`: the tasks of the run, to say "210 of 400"; `cause_said`:
    the line above gave the same cause (it is not said twice); `by_second`:
    a soak's, whose stalls are whole seconds of its series."""
    of = f" of {published}" if published else ""
    kind, n = finding.kind, finding.count
    if kind == "duplicates":
        extra = finding.extra_runs or n
        head = f"tasks run twice: {n}{of}" if extra == n else f"tasks run more than once: {n}{of} ({extra} extra runs)"
        text = head
    elif kind == "lost":
        text = f"tasks lost: {n}{of}, published and never reported"
    elif kind == "idle_gaps":
        text = f"idle gaps: {n}{_times(finding, 'longest')} with nothing running while tasks were queued"
    elif kind == "stalls" and by_second:
        text = f"stalls: {n}{_times(finding, 'longest')} of whole seconds with tasks in flight and none finishing"
    elif kind == "stalls":
        text = f"stalls: {n}{_times(finding, 'longest')} with tasks running and none finishing"
    elif kind == "late_starts":
        text = f"tasks started late: {n}{of}{_times(finding, 'longest wait')} while a slot was free"
    elif kind == "ack_failures":
        text = f"acknowledgements failed: {n}{of} tasks (the worker's log: \"Couldn't ack\")"
    elif kind == "reconnects":
        text = f"broker connection lost: {n} time{'s' if n != 1 else ''} (the worker's log)"
    elif kind == "restarts":
        text = f"pool processes replaced: {n} during the batch"
    else:
        text = f"{kind}: {n}"
    cause = "likely cause: the same" if cause_said and finding.cause else cause_words(finding.cause)
    return f"{text}; {cause}" if cause else text


def health_lines(health: Health | None, published: int | None = None, struck: bool = False) -> list[str]:
    """A run's health as lines: one when it is healthy, else a heading and
    one line per finding; none when it was not diagnosed (an older file).
    `struck`: the run had a deploy event, which caused what it found."""
    if health is None:
        return []
    unchecked = ""
    if health.unchecked:
        names = " or ".join(UNCHECKED_WORDS.get(kind, kind) for kind in health.unchecked)
        unchecked = f"; not looked for: {names} (a soak keeps no task record, and they need every task's)"
    if health.ok and unchecked:
        return [f"health: no task run twice or lost; no stall second or replaced process{unchecked}"]
    if health.ok:
        return [HEALTHY]
    misbehaved = ""
    if health.misbehaviour:
        misbehaved = " (under the deploy event: its cost is above)" if struck else " (Celery misbehaved)"
        if not struck and as_asked(f.cause for f in health.misbehaviour):
            misbehaved = " (as its settings ask)"
    lines = [f"health: {plural(len(health.findings), 'finding')}{misbehaved}{unchecked}"]
    before = None
    for finding in health.findings:
        said = finding.cause == before
        lines.append(f"  - {finding_line(finding, published, cause_said=said, by_second=bool(health.unchecked))}")
        before = finding.cause
    return lines


def oom_words(figures: LimitFigures | None, memory_limit_bytes: int | None) -> str | None:
    """The OOM kills of a run under --memory-limit in words: "the worker was
    OOM-killed 3 times under --memory-limit 128 MiB: 3 tasks lost (1 each)";
    None when there were none."""
    if figures is None or not figures.oom_kills:
        return None
    limit = f" under --memory-limit {size_words(memory_limit_bytes)}" if memory_limit_bytes is not None else ""
    text = f"the worker was OOM-killed {plural(figures.oom_kills, 'time')}{limit}"
    if figures.oom_killed_main:
        whose = "main process" if figures.oom_killed_main == 1 else f"{figures.oom_killed_main} main processes"
        text += f" (its {whose} among them: the worker exited)"
    if figures.oom_lost_tasks is not None:
        text += f": {plural(figures.oom_lost_tasks, 'task')} lost"
        each = figures.oom_lost_by_process or ()
        if len(each) > 1:
            text += f" ({', '.join(str(n) for n in each)} by each killed process)"
    return text

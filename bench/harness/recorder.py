"""Worker-side records for the harness, connected to any Celery app.

The harness starts every worker through `bench.harness.worker_entry`, which
calls `install()` before the user's app is imported; Celery's signals are
process-wide, so no line of the user's code changes. `install()` reads
``BENCH_RECORD_DIR``: without it nothing is connected.

Each worker process (every prefork child, or the one process of the other
pools) appends one JSON line per finished task to its own file in that
directory: task id, state, start and end on ``time.monotonic()`` (one clock
for every process on the host, which the harness also uses), pid, the
task's CPU time where the pool makes it attributable, and the error if the
task raised, and `redelivered` when the broker delivered the task's message
again. A file per process means no locking and no broker traffic.
The main process writes ``ready`` there when the worker is ready. With
``BENCH_RECORD_STARTS=1`` (a worker under a memory limit or a deploy event) every process also
appends a line per task as it starts (task id, pid, start) to
``starts-<pid>.jsonl``: a task that a killed process had started, and so lost,
is told apart from one never delivered. The prefork pool's main process adds
a line there, marked ``worker_lost``, for each task Celery itself reports
lost with its pool process (``task_failure`` with ``WorkerLostError``): a
child killed after it took a task but before it started it wrote no start.
With ``BENCH_RECORD_RECEIVED=1`` (a traffic mix) the main process appends a
line per task as the consumer receives it (``task_received``: task id, pid,
time) to ``received-<pid>.jsonl``: from then to its start the task sat
reserved in this worker (head-of-line blocking, issue 24).

Per-task CPU time is the CPU time of the thread that ran the task
(``time.thread_time()``), which is the task's own under prefork (a child's
main thread), solo (the worker's main thread) and threads (one pool thread
per task at a time). Under gevent and eventlet every greenlet shares one OS
thread, so a task's thread CPU time would include every greenlet that ran
while it waited: it is not attributable, and the harness reports the
process's CPU instead (see bench.workloads.CPU_ATTRIBUTION).
"""

import json
import os
import signal
import time
from pathlib import Path

from celery import signals

from bench.harness.process import set_parent_death_signal
from bench.workloads import cpu_attribution

_started: dict[str, tuple[float, float | None]] = {}  # task id -> (monotonic s, thread CPU s)
_scheduled: dict[str, float] = {}  # task id -> the open-loop producer's `bench_scheduled` header
_redelivered: set[str] = set()  # ids of the running tasks whose message came with the redelivered flag
_out: dict = {"pid": None, "fd": None}
_starts: dict = {"pid": None, "fd": None}
_received: dict = {"pid": None, "fd": None}
_options = {"thread_cpu": False, "memory": False, "starts": False, "received": False}


def _fd(out, prefix):
    pid = os.getpid()
    if out["pid"] != pid:  # first task in this process, or a fresh fork
        path = Path(os.environ["BENCH_RECORD_DIR"]) / f"{prefix}-{pid}.jsonl"
        out["fd"] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        out["pid"] = pid
    return out["fd"]


def _record_fd():
    return _fd(_out, "tasks")


def _rss_bytes():
    """This process's resident memory now (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as fh:  # noqa: PTH123 (one cheap read per task)
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _on_prerun(task_id=None, task=None, **_):
    started = time.monotonic()
    _started[task_id] = (started, time.thread_time() if _options["thread_cpu"] else None)
    request = getattr(task, "request", None)
    # The broker's flag: AMQP sets it on a message delivered again, kombu's Redis transport on one it restored.
    redelivered = bool((getattr(request, "delivery_info", None) or {}).get("redelivered"))
    if redelivered:
        _redelivered.add(task_id)
    if _options["starts"]:
        start = {"id": task_id, "pid": os.getpid(), "started": started}
        if redelivered:
            start["redelivered"] = True
        os.write(_fd(_starts, "starts"), (json.dumps(start) + "\n").encode())
    scheduled = getattr(request, "bench_scheduled", None)
    if scheduled is not None:
        _scheduled[task_id] = scheduled


def _on_received(request=None, **_):
    # Sent in the worker's main process as the consumer takes the message: from here the task is
    # reserved by this worker, whether a pool slot is free or not.
    task_id = getattr(request, "id", None)
    if task_id is not None:
        line = {"id": task_id, "pid": os.getpid(), "received": time.monotonic()}
        os.write(_fd(_received, "received"), (json.dumps(line) + "\n").encode())


def _on_worker_lost(task_id=None, exception=None, **_):
    # Sent in the main process, for the task of a pool process that died;
    # the task's own failures (in the child) are not this.
    if type(exception).__name__ == "WorkerLostError":
        line = {"id": task_id, "pid": os.getpid(), "started": time.monotonic(), "worker_lost": True}
        os.write(_fd(_starts, "starts"), (json.dumps(line) + "\n").encode())


def _on_postrun(task_id=None, state=None, retval=None, **_):
    finished = time.monotonic()
    cpu_end = time.thread_time() if _options["thread_cpu"] else None
    started, cpu_start = _started.pop(task_id, (finished, cpu_end))
    record = {"id": task_id, "state": state, "started": started, "finished": finished, "pid": os.getpid()}
    if task_id in _redelivered:
        _redelivered.discard(task_id)
        record["redelivered"] = True
    if task_id in _scheduled:  # an open-loop task: when it was meant to be sent
        record["scheduled"] = _scheduled.pop(task_id)
    if cpu_start is not None and cpu_end is not None:
        record["cpu_s"] = cpu_end - cpu_start
    if _options["memory"]:
        record["rss_bytes"] = _rss_bytes()
    if isinstance(retval, BaseException):
        record["error"] = f"{type(retval).__name__}: {retval}"
    # One write() of one line per task: appends never interleave.
    os.write(_record_fd(), (json.dumps(record) + "\n").encode())


def _on_ready(**_):
    Path(os.environ["BENCH_RECORD_DIR"], "ready").write_text(str(os.getpid()))


def _die_with_the_worker(**_):
    # A prefork pool child outlives a worker that was killed outright (the
    # worker itself dies with the harness): tie the child to its parent too.
    # (The solo and threads pools send this signal in the main process itself.)
    if os.getpid() != _main_pid:
        set_parent_death_signal(signal.SIGKILL, parent_pid=_main_pid)


_main_pid = os.getpid()  # the worker's main process: this module loads before the pool forks


def install(pool: str | None = None) -> bool:
    """Connect the recorder when the harness asked for it (BENCH_RECORD_DIR).
    `pool` decides whether per-task CPU time is recorded (see the module's
    docstring); BENCH_RECORD_MEMORY=1 adds the process's RSS after each task."""
    if not os.environ.get("BENCH_RECORD_DIR"):
        return False
    _options["thread_cpu"] = pool is not None and cpu_attribution(pool) == "thread"
    _options["memory"] = os.environ.get("BENCH_RECORD_MEMORY") == "1"
    _options["starts"] = os.environ.get("BENCH_RECORD_STARTS") == "1"
    _options["received"] = os.environ.get("BENCH_RECORD_RECEIVED") == "1"
    signals.worker_process_init.connect(_die_with_the_worker, weak=False, dispatch_uid="celery-bench-death")
    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="celery-bench-prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="celery-bench-postrun")
    signals.worker_ready.connect(_on_ready, weak=False, dispatch_uid="celery-bench-ready")
    if _options["received"]:
        signals.task_received.connect(_on_received, weak=False, dispatch_uid="celery-bench-received")
    if _options["starts"]:
        signals.task_failure.connect(_on_worker_lost, weak=False, dispatch_uid="celery-bench-worker-lost")
    return True

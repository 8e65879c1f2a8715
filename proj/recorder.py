"""Worker-side timestamps for the benchmark harness.

When the harness starts a worker it sets ``BENCH_RECORD_DIR``. Each worker
process (every prefork child, or the one gevent/eventlet/solo process) then
appends one JSON line per finished task to its own file in that directory:
task id, state, start and end on ``time.monotonic()`` (one clock for every
process on the host, which the harness also uses), pid, and the error if the
task raised. A file per process means no locking and no broker traffic.
The main process writes ``ready`` there when the worker is ready.
Without ``BENCH_RECORD_DIR`` nothing is connected.
"""

import json
import os
import signal
import time
from pathlib import Path

from celery import signals

from bench.harness.process import set_parent_death_signal

_started = {}
_scheduled = {}  # task id -> the open-loop producer's `bench_scheduled` header
_out = {"pid": None, "fd": None}


def _record_fd():
    pid = os.getpid()
    if _out["pid"] != pid:  # first task in this process, or a fresh fork
        path = Path(os.environ["BENCH_RECORD_DIR"]) / f"tasks-{pid}.jsonl"
        _out["fd"] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _out["pid"] = pid
    return _out["fd"]


def _on_prerun(task_id=None, task=None, **_):
    _started[task_id] = time.monotonic()
    scheduled = getattr(getattr(task, "request", None), "bench_scheduled", None)
    if scheduled is not None:
        _scheduled[task_id] = scheduled


def _on_postrun(task_id=None, state=None, retval=None, **_):
    finished = time.monotonic()
    record = {
        "id": task_id,
        "state": state,
        "started": _started.pop(task_id, finished),
        "finished": finished,
        "pid": os.getpid(),
    }
    if task_id in _scheduled:  # an open-loop task: when it was meant to be sent
        record["scheduled"] = _scheduled.pop(task_id)
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


def install():
    if not os.environ.get("BENCH_RECORD_DIR"):
        return
    signals.worker_process_init.connect(_die_with_the_worker, weak=False)
    signals.task_prerun.connect(_on_prerun, weak=False)
    signals.task_postrun.connect(_on_postrun, weak=False)
    signals.worker_ready.connect(_on_ready, weak=False)

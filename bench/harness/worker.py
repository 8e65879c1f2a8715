"""One real Celery worker as a subprocess: started, waited for, and always
stopped with its whole process tree."""

import contextlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.errors import RunFailed
from bench.harness import signals
from bench.harness.process import stop_tree, tied_to_us, watcher

READY_TIMEOUT_S = 60.0
# After the measured batch nothing is left to lose, and no pool finishes a warm
# shutdown quickly (measured here: solo 1.1 s, prefork 2.5 s, gevent 5 s, most
# of it waiting out a 1 s BRPOP): a short grace, then the kill.
STOP_GRACE_S = 0.5
# The project root, so `-A proj` imports the same proj the harness sees.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class WorkerSpec:
    pool: str
    concurrency: int
    queue: str  # the queue it consumes from the start (the warm-up queue)
    nodename: str  # unique to the run, so control commands reach only it
    prefetch_multiplier: int
    loglevel: str
    result_backend: str  # "none" or "broker" (see Broker.result_backend)
    cpus: tuple[int, ...] | None = None  # pin the worker tree to these CPUs
    # The project under test: `-A proj` is imported from here (cwd, first on
    # PYTHONPATH); `ab` points it at a git worktree of another revision.
    project_root: Path = PROJECT_ROOT
    python: str = sys.executable  # the worker's interpreter (`ab` runs a side's virtualenv)

    def argv(self):
        return [
            self.python,
            "-m",
            "celery",
            "-A",
            "proj",
            "worker",
            "-P",
            self.pool,
            "-c",
            str(self.concurrency),
            "-Q",
            self.queue,
            "-n",
            self.nodename,
            "--prefetch-multiplier",
            str(self.prefetch_multiplier),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            self.loglevel,
        ]


@dataclass
class Worker:
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self):
        return self.popen.pid

    def exited(self):
        return self.popen.poll() is not None

    def last_error(self):
        return last_error_line(self.log_path)


# An exception's "SomethingError: ..." line or a log record's level; not every
# word that contains "error" (Celery's root warning quotes a function so named).
_ERROR_LINE = re.compile(r"\b\w*(Error|Exception)\b(:|$)|\b(CRITICAL|ERROR)\b")


def last_error_line(log_path):
    """The worker's own last error line (the end of a traceback, usually),
    else its last line."""
    try:
        lines = [ln.strip() for ln in Path(log_path).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no worker log"
    for line in reversed(lines):
        if _ERROR_LINE.search(line):
            return line
    return lines[-1] if lines else "the worker printed nothing"


@contextlib.contextmanager
def running(spec, broker, record_dir, log_path, ready_timeout_s=READY_TIMEOUT_S):
    """Start `celery worker` for `spec`, wait until it is ready, yield it;
    stop it and every process under it on the way out."""
    env = dict(os.environ)
    env.update(
        CELERY_BROKER_URL=broker.url,
        CELERY_RESULT_BACKEND=broker.result_backend(spec.result_backend),
        BENCH_RECORD_DIR=str(record_dir),
        PYTHONPATH=os.pathsep.join(filter(None, [str(spec.project_root), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    with Path(log_path).open("wb") as log:
        popen = subprocess.Popen(
            spec.argv(),
            env=env,
            cwd=spec.project_root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our signals, not the terminal's, stop it
            # Dies with the harness; affinity is inherited: pool children fork
            # from the pinned parent (and die with it: see proj/recorder.py).
            preexec_fn=tied_to_us((lambda: os.sched_setaffinity(0, spec.cpus)) if spec.cpus else None),
        )
    worker = Worker(popen, Path(log_path))
    try:
        _wait_ready(worker, Path(record_dir) / "ready", ready_timeout_s, watcher(broker.pid))
        yield worker
    finally:
        stop_tree(popen, grace_s=STOP_GRACE_S)


def _wait_ready(worker, ready_file, timeout_s, broker_alive):
    deadline = time.monotonic() + timeout_s
    while not ready_file.exists():
        signals.raise_if_stopping()
        if not broker_alive():
            raise RunFailed("broker lost: the embedded broker exited before the worker was ready")
        if worker.exited():
            raise RunFailed(
                f"the worker exited with code {worker.popen.returncode} before it was ready: {worker.last_error()}"
            )
        if time.monotonic() > deadline:
            raise RunFailed(f"the worker was not ready within {timeout_s:.0f} s: {worker.last_error()}")
        time.sleep(0.05)

"""A plain Celery worker, as a user's deployment runs it: the real
`celery -A APP worker` command, nothing of the harness inside it (no
worker entry point, no recorder, no wake-up task), started and always
stopped with its whole process tree like the harness's own workers.

The reference runs it twice (measure/reference.py): once without task
events, counted from outside by its queue's depth (nothing sent by it
either), and once with Celery's task events (-E), which count every task.

    python -m celery -b BROKER [--result-backend URL] -A APP worker
        [-E] -P POOL -c N -Q QUEUE -n NODE [--prefetch-multiplier N] --without-gossip
        --without-mingle -l LEVEL [--max-tasks-per-child N] [-O {default,fair}]
        [--disable-prefetch] [task.acks_late=true] [task.reject_on_worker_lost=true]
        [worker.soft_shutdown_timeout=S] [worker.eta_task_limit=N]
        [broker.transport_options=(json){"visibility_timeout": S}]

with REMAP_SIGTERM=SIGQUIT in its environment when the soft shutdown
timeout is above 0, as the harness's workers have it.

Its options after `worker` are the harness's own workers' (worker.worker_options),
but for the visibility timeout: a plain worker takes it on the command line,
which replaces the app's broker_transport_options (the harness's workers
merge it into them).
--without-gossip and --without-mingle stop the chatter between workers (the
user's other workers on a shared broker are neither asked nor told about
this one); on Redis, gossip's messages would also wake a green pool's
polling loop (see docs/fidelity.md), and the harness's
workers run without it too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.harness import signals
from bench.harness.process import tied_to_us
from bench.harness.worker import PROJECT_ROOT, Worker, worker_options

if TYPE_CHECKING:
    from bench.harness.broker import Broker


@dataclass(frozen=True)
class PlainSpec:
    app: str  # what `celery -A` takes
    pool: str
    concurrency: int
    queue: str  # consumed from the start (-Q)
    nodename: str  # -n, unique to the run
    loglevel: str
    broker_url: str | None  # -b; None: the app's own broker (--broker from-app)
    result_backend: str | None  # --result-backend URL; None: the app's own
    prefetch_multiplier: int | None = None  # None: the app's own setting (no option passed)
    acks_late: bool = False  # task.acks_late=true on the command line
    max_tasks_per_child: int = 0  # 0: not passed
    max_memory_per_child_kib: int = 0  # KiB: worker.max_memory_per_child=N on the command line; 0: not passed
    workdir: str | None = None  # cwd, where `-A` imports the app from; None: the project root (proj)
    cpus: tuple[int, ...] | None = None  # pinned as the harness pins its workers
    python: str = sys.executable
    events: bool = True  # -E: Celery's task events; False: none (counted by the queue's depth)
    reject_on_worker_lost: bool = False  # task.reject_on_worker_lost=true on the command line
    soft_shutdown_timeout: float | None = None  # s: worker.soft_shutdown_timeout=S on the command line; None: not
    visibility_timeout: float | None = None  # s: broker.transport_options on the command line; None: not passed
    remap_sigterm: str | None = None  # REMAP_SIGTERM in its environment; None: the user's own environment's
    optimization: str | None = None  # -O on the command line; None: not passed
    disable_prefetch: bool = False  # --disable-prefetch on the command line
    eta_task_limit: int | None = None  # worker.eta_task_limit=N on the command line; None: not passed

    def argv(self) -> list[str]:
        head = [self.python, "-m", "celery"]
        if self.broker_url is not None:
            head += ["-b", self.broker_url]
        if self.result_backend is not None:
            head += ["--result-backend", self.result_backend]
        # -E goes before the shared options: the argv differs from the events pass's by it alone
        transport = (
            []
            if self.visibility_timeout is None
            else ["broker.transport_options=(json)" + json.dumps({"visibility_timeout": self.visibility_timeout})]
        )
        return [*head, "-A", self.app, "worker", *(["-E"] if self.events else []), *worker_options(self), *transport]

    @property
    def cwd(self) -> Path:
        return Path(self.workdir) if self.workdir else PROJECT_ROOT


def start(spec: PlainSpec, log_path: str | Path, tmp_dir: str | Path) -> Worker:
    """Start the plain worker and return at once. The user's environment,
    but for TMPDIR (the harness's scratch directory: billiard's `pymp-`
    directories of a killed prefork worker go with it) and unbuffered
    output for its log. Call from the main thread (harness/process.py)."""
    Path(tmp_dir).mkdir(exist_ok=True)
    env = environment(spec, tmp_dir, os.environ)
    with Path(log_path).open("wb") as log, signals.forking():
        popen = subprocess.Popen(
            spec.argv(),
            env=env,
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=tied_to_us((lambda: os.sched_setaffinity(0, cpus)) if (cpus := spec.cpus) else None),
        )
    return Worker(popen, Path(log_path))


def environment(spec: PlainSpec, tmp_dir: str | Path, base: Mapping[str, str]) -> dict[str, str]:
    """The plain worker's environment: `base` (the user's), its TMPDIR,
    unbuffered output, and REMAP_SIGTERM where the spec sets it."""
    env = {**base, "TMPDIR": str(tmp_dir), "PYTHONUNBUFFERED": "1"}
    if spec.remap_sigterm is not None:
        env["REMAP_SIGTERM"] = spec.remap_sigterm
    return env


def redacted_argv(spec: PlainSpec, broker: Broker) -> tuple[str, ...]:
    """The command line of `spec`, its broker URL redacted (for documents)."""
    return tuple(broker.redacted_url if a == broker.url else a for a in spec.argv())

"""One real Celery worker as a subprocess: started, waited for, and always
stopped with its whole process tree."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bench.errors import RunFailed
from bench.harness import cgroups, signals
from bench.harness.process import stop_tree, tied_to_us

if TYPE_CHECKING:  # broker.py loads kombu, which the read-only paths never do
    from bench.harness.broker import Broker

READY_TIMEOUT_S = 60.0
READY_POLL_S = 0.01  # a stat() a poll; each repeat of a sweep waits for one boot
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
    prefetch_multiplier: int | None  # None: the app's own setting
    loglevel: str
    result_backend: str  # "none" or "broker" (see Broker.result_backend); "app": the app's own
    cpus: tuple[int, ...] | None = None  # pin the worker tree to these CPUs
    # The project under test: `-A proj` is imported from here (cwd, first on
    # PYTHONPATH); `ab` points it at a git worktree of another revision.
    project_root: Path = PROJECT_ROOT
    python: str = sys.executable  # the worker's interpreter (`ab` runs a side's virtualenv)
    acks_late: bool = False  # task_acks_late: acknowledge each message after its task ran
    max_tasks_per_child: int = 0  # replace a pool process after this many tasks; 0: never
    # replace a pool process once its peak RSS is above this after a task, KiB; 0: never
    max_memory_per_child_kib: int = 0
    app: str = "proj"  # what `celery -A` takes
    workdir: str | None = None  # the directory a user's app is imported from; None: project_root
    broker_from_app: bool = False  # True: the app's own broker and result backend, not overridden
    record_memory: bool = False  # record each process's RSS after every task (profile)
    limits: cgroups.Limits | None = None  # a cgroup of its own with a CPU quota and a memory limit; None: none
    # record each task's start too (always under a memory limit): the tasks a process took with it when it died
    record_starts: bool = False
    record_received: bool = False  # record when the consumer received each task (a traffic mix: reservations)
    reject_on_worker_lost: bool = False  # task_reject_on_worker_lost: requeue a task whose pool process died
    soft_shutdown_timeout: float | None = None  # s: worker_soft_shutdown_timeout; None: Celery's 0 or the app's
    visibility_timeout: float | None = None  # s: the Redis transport's, merged into the app's; None: not set
    remap_sigterm: str | None = None  # REMAP_SIGTERM in its environment ("SIGQUIT"); None: not set
    optimization: str | None = None  # its -O (default or fair); None: not passed, the worker's own
    disable_prefetch: bool = False  # worker_disable_prefetch (--disable-prefetch): a message only for a free slot
    eta_task_limit: int | None = None  # worker_eta_task_limit: the most ETA tasks it holds; None: no limit

    def argv(self) -> list[str]:
        """The worker's command line, through the harness's entry point (see
        worker_entry.py): `celery -A APP worker` plus the recorder. A
        project root holding an older celery-bench without that entry point
        (`ab` against an older revision of this project) runs `celery -A
        proj worker`, whose proj connected the recorder itself then; any
        other project (a user's, without a `bench` package of its own) gets
        the harness's entry point."""
        root = Path(self.project_root)
        older_harness = (root / "bench").is_dir() and not (root / "bench" / "harness" / "worker_entry.py").exists()
        entry = ["bench.harness.worker_entry", "worker", self.app]
        start = ["celery", "-A", self.app, "worker"] if older_harness else entry
        return [self.python, "-m", *start, *worker_options(self)]


class WorkerOptions(Protocol):
    """What worker_options reads: the fields WorkerSpec and the reference's
    PlainSpec (plain.py) share."""

    @property
    def pool(self) -> str: ...
    @property
    def concurrency(self) -> int: ...
    @property
    def queue(self) -> str: ...
    @property
    def nodename(self) -> str: ...
    @property
    def prefetch_multiplier(self) -> int | None: ...
    @property
    def loglevel(self) -> str: ...
    @property
    def max_tasks_per_child(self) -> int: ...
    @property
    def max_memory_per_child_kib(self) -> int: ...
    @property
    def acks_late(self) -> bool: ...
    @property
    def reject_on_worker_lost(self) -> bool: ...
    @property
    def soft_shutdown_timeout(self) -> float | None: ...
    @property
    def optimization(self) -> str | None: ...
    @property
    def disable_prefetch(self) -> bool: ...
    @property
    def eta_task_limit(self) -> int | None: ...


def worker_options(spec: WorkerOptions) -> list[str]:
    """The options of `celery worker` that the harness's workers and the
    reference's plain worker (plain.py) share, so both run the same worker:
    pool, -c, the queue consumed from the start, node name, the prefetch
    multiplier (only when given: None is the app's own), no gossip and no
    mingle (chatter between workers only; the heartbeat stays on, as in a
    plain worker), log level, tasks per child, -O and --disable-prefetch
    (only when given), and acks_late, reject_on_worker_lost, the soft
    shutdown timeout, the ETA task limit and the memory per child as app
    settings (extra arguments are Celery's config_from_cmdline). The memory
    per child goes as worker.max_memory_per_child=KIB, not as the option
    --max-memory-per-child, which gives the pool the same value (the
    worker takes the setting when the option is not given) but leaves it
    where remote control cannot read it back: conf() reports the setting,
    and the pool's stats do not report either."""
    prefetch, soft, eta = spec.prefetch_multiplier, spec.soft_shutdown_timeout, spec.eta_task_limit
    memory = spec.max_memory_per_child_kib
    return [
        "-P",
        spec.pool,
        "-c",
        str(spec.concurrency),
        "-Q",
        spec.queue,
        "-n",
        spec.nodename,
        *([] if prefetch is None else ["--prefetch-multiplier", str(prefetch)]),
        "--without-gossip",
        "--without-mingle",
        "-l",
        spec.loglevel,
        *(["--max-tasks-per-child", str(spec.max_tasks_per_child)] if spec.max_tasks_per_child else []),
        *([] if spec.optimization is None else ["-O", spec.optimization]),
        *(["--disable-prefetch"] if spec.disable_prefetch else []),
        *(["task.acks_late=true"] if spec.acks_late else []),
        *(["task.reject_on_worker_lost=true"] if spec.reject_on_worker_lost else []),
        *([] if soft is None else [f"worker.soft_shutdown_timeout={soft!r}"]),
        *([] if eta is None else [f"worker.eta_task_limit={eta}"]),
        *([f"worker.max_memory_per_child={memory}"] if memory else []),
    ]


@dataclass
class Worker:
    popen: subprocess.Popen
    log_path: Path
    cgroup: cgroups.Cgroup | None = None  # its own, with its limits (removed when it stops); None: not limited

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exited(self) -> bool:
        return self.popen.poll() is not None

    def last_error(self) -> str:
        """Why it ended, in a few words: the signal that killed it (a process
        killed outright writes nothing: its log's last line is not why), else
        its log's last error line."""
        code = self.popen.returncode
        if code is not None and code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return last_error_line(self.log_path)


# An exception's "SomethingError: ..." line or a log record's level; not every
# word that contains "error" (Celery's root warning quotes a function so named).
_ERROR_LINE = re.compile(r"\b\w*(Error|Exception)\b(:|$)|\b(CRITICAL|ERROR)\b")


def last_error_line(log_path: str | Path) -> str:
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


def start(
    spec: WorkerSpec, broker: Broker, record_dir: str | Path, log_path: str | Path, tmp_dir: str | Path
) -> Worker:
    """Start `celery worker` for `spec` and return at once, before it is
    ready (see wait_ready). Call from the main thread: the worker is tied to
    the thread that starts it (harness/process.py). `tmp_dir`, in the
    harness's scratch directory, is the worker's TMPDIR: a prefork worker
    killed after its stop grace cannot remove billiard's `pymp-` directory,
    and there it goes with the scratch directory."""
    Path(tmp_dir).mkdir(exist_ok=True)
    env = environment(spec, broker, record_dir, tmp_dir, os.environ)
    try:
        group = cgroups.create(spec.limits) if spec.limits else None
    except OSError as exc:  # checked before the run (cgroups.unavailable): something changed since
        raise RunFailed(f"the worker's cgroup could not be made: {exc}") from exc
    try:
        with Path(log_path).open("wb") as log, signals.forking():
            popen = subprocess.Popen(
                spec.argv(),
                env=env,
                cwd=spec.workdir or spec.project_root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our signals, not the terminal's, stop it
                # Dies with the harness; its cgroup and affinity are inherited: pool
                # children fork from the parent (and die with it: see harness/recorder.py).
                preexec_fn=tied_to_us(_in_child(group, spec.cpus)),
            )
    except BaseException as exc:
        if group is not None:
            group.remove()
        if isinstance(exc, subprocess.SubprocessError) and group is not None:  # the child could not join it
            raise RunFailed(f"the worker could not join its cgroup {group.places[0]}: {exc}") from exc
        raise
    return Worker(popen, Path(log_path), group)


def _memory_limited(spec: WorkerSpec) -> bool:
    return spec.limits is not None and spec.limits.memory_bytes is not None


def environment(
    spec: WorkerSpec, broker: Broker, record_dir: str | Path, tmp_dir: str | Path, base: Mapping[str, str]
) -> dict[str, str]:
    """The worker's environment: `base` (the harness's) with the recorder's
    directory and switches, the project on PYTHONPATH, REMAP_SIGTERM where
    the spec sets it, the harness's broker, and the settings it overrides."""
    env = dict(base)
    env.update(
        TMPDIR=str(tmp_dir),
        BENCH_RECORD_DIR=str(record_dir),
        BENCH_RECORD_MEMORY="1" if spec.record_memory else "0",
        # each task's start too: the tasks a process lost when it was OOM-killed or struck by a deploy event
        BENCH_RECORD_STARTS="1" if spec.record_starts or _memory_limited(spec) else "0",
        BENCH_RECORD_RECEIVED="1" if spec.record_received else "0",
        PYTHONPATH=os.pathsep.join(filter(None, [str(spec.project_root), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    if spec.remap_sigterm is not None:  # read by billiard when it is imported: the environment, not a setting
        env["REMAP_SIGTERM"] = spec.remap_sigterm
    overrides = setting_overrides(spec)
    if not spec.broker_from_app:
        # The harness's broker, whatever the app configures: the environment
        # for apps that read it (proj does, and Celery prefers it to the
        # app's setting), and the settings themselves for the others.
        backend = broker.result_backend(spec.result_backend)
        env.update(CELERY_BROKER_URL=broker.url, CELERY_RESULT_BACKEND=backend)
        overrides.update(broker_overrides(broker.url, backend))
    if overrides:
        env["BENCH_CONF_OVERRIDES"] = json.dumps(overrides)
    return env


def _in_child(group: cgroups.Cgroup | None, cpus: tuple[int, ...] | None) -> Callable[[], None] | None:
    """What the worker's process does before exec, after it is tied to the
    harness: join its cgroup, then take its CPUs; None: nothing."""
    join = group.joiner() if group is not None else None
    if join is None and not cpus:
        return None

    def then() -> None:
        if join is not None:
            join()
        if cpus:
            os.sched_setaffinity(0, cpus)

    return then


def wait_ready(worker: Worker, record_dir: str | Path, broker: Broker, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Return once the worker said it is ready; RunFailed when it exits,
    the broker goes, or `timeout_s` passes first."""
    _wait_ready(worker, Path(record_dir) / "ready", timeout_s, broker.watch())


def stop(worker: Worker) -> None:
    """Stop the worker and every process under it, then remove its cgroup."""
    try:
        stop_tree(worker.popen, grace_s=STOP_GRACE_S)
    finally:
        if worker.cgroup is not None:
            worker.cgroup.remove()


@contextlib.contextmanager
def running(
    spec: WorkerSpec,
    broker: Broker,
    record_dir: str | Path,
    log_path: str | Path,
    tmp_dir: str | Path,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> Iterator[Worker]:
    """Start `celery worker` for `spec`, wait until it is ready, yield it;
    stop it and every process under it on the way out."""
    worker = start(spec, broker, record_dir, log_path, tmp_dir)
    try:
        wait_ready(worker, record_dir, broker, ready_timeout_s)
        yield worker
    finally:
        stop(worker)


def setting_overrides(spec: WorkerSpec) -> dict[str, Any]:
    """The app settings the harness sets before the app's tasks are bound
    (see worker_entry.py), besides the command line's flags: acks_late, which
    a task takes when it is bound (the entry point binds the app's tasks
    before Celery applies `task.acks_late=true` from the command line, which
    a plain `celery worker` applies in time), and the prefetch multiplier,
    which `--prefetch-multiplier 0` alone does not set (Celery's option falls
    back to the app's setting on 0). reject_on_worker_lost too, which a task
    takes when it is bound as it does acks_late; worker_disable_prefetch
    and worker_eta_task_limit, as the soft shutdown timeout (the consumer
    reads them when it starts); and the visibility timeout
    as a transport option, merged into the app's own by the entry point
    (the command line would replace them all), before the worker's
    connection reads it."""
    out: dict[str, Any] = {}
    if spec.acks_late:
        out["task_acks_late"] = True
    if spec.reject_on_worker_lost:
        out["task_reject_on_worker_lost"] = True
    if spec.soft_shutdown_timeout is not None:
        out["worker_soft_shutdown_timeout"] = spec.soft_shutdown_timeout
    if spec.disable_prefetch:
        out["worker_disable_prefetch"] = True
    if spec.eta_task_limit is not None:
        out["worker_eta_task_limit"] = spec.eta_task_limit
    if spec.visibility_timeout is not None:
        out["broker_transport_options"] = {"visibility_timeout": spec.visibility_timeout}
    if spec.prefetch_multiplier is not None:
        out["worker_prefetch_multiplier"] = spec.prefetch_multiplier
    return out


def broker_overrides(broker_url: str, result_backend: str) -> dict[str, str]:
    """The app settings the harness replaces to point a worker at its broker:
    the read and write URLs too, which would otherwise win over broker_url.
    They are set to it rather than cleared: Celery's `inspect conf` masks the
    URLs of the settings an app changed, and a None among them makes kombu
    log "No hostname was supplied" twice in the worker's log at each ask
    (see readback.py)."""
    return {
        "broker_url": broker_url,
        "broker_read_url": broker_url,
        "broker_write_url": broker_url,
        "result_backend": result_backend,
    }


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
        time.sleep(READY_POLL_S)

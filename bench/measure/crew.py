"""The workers of one run (its crew), and the relay that lets a sweep stop
one run's crew while the next run's crew boots.

Between two measured windows of a sweep lie the stop of one crew (a grace,
then the kill) and the boot of the next (Celery's imports, the pool's
processes): about a second each on two cores, and neither is measured. The
relay overlaps them: a crew whose window has closed is stopped on a thread
of its own, and the run after it waits for every such stop (`settle`)
before it opens its own window, so no window ever shares the machine with a
crew that is booting or stopping.
"""

import dataclasses
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.errors import RunFailed
from bench.harness import cgroups, scratch, worker
from bench.measure.observe import NodeReaders, RecordReader

SETTLE_TIMEOUT_S = 60.0  # a stop is bounded well below this (process.stop_tree)
LOG_KEEP_BYTES = 4 * 2**20  # of each worker's log, its end, when it is kept
NOTABLE_LINES = 12  # a kept log's lines named in the run's document
# Lines worth naming: a log record's level, and kombu's redelivery of the
# messages a worker held when it went ("Restoring 3 unacknowledged message(s)").
_NOTABLE = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Restoring \d+ unacknowledged message")


class Crew:
    """The workers of one run, each with its private record directory:
    started together, waited for, stopped with every process under them.
    Start it from the main thread (workers are tied to the thread that
    starts them)."""

    def __init__(self, specs, broker):
        self.broker = broker
        self.specs = list(specs)
        self.workers = []
        self._dirs = []
        try:
            for spec in specs:
                workdir = scratch.make("run")
                self._dirs.append(workdir)
                (workdir / "records").mkdir()
                self.workers.append(
                    worker.start(spec, broker, workdir / "records", workdir / "worker.log", workdir / "tmp")
                )
        except BaseException:
            self.stop()
            raise
        self.nodes = Nodes(self.workers)
        self.reader = NodeReaders([RecordReader(d / "records") for d in self._dirs])

    def replace(self, node: int, queue: str) -> worker.Worker:
        """Start a fresh worker in `node`'s place, as an orchestrator does
        after a stop or a crash: the same spec under a new node name,
        consuming `queue` from its start. Returns at once (its `ready` file
        says when it is ready); its records count as `node`'s, and the
        worker it replaces may exit without failing the batch."""
        old = self.specs[node]
        spec = dataclasses.replace(old, queue=queue, nodename=_next_name(old.nodename, len(self.specs)))
        workdir = scratch.make("run")
        self._dirs.append(workdir)
        (workdir / "records").mkdir()
        fresh = worker.start(spec, self.broker, workdir / "records", workdir / "worker.log", workdir / "tmp")
        self.specs.append(spec)
        self.workers.append(fresh)
        self.nodes.retire(self.nodes.live(node))
        self.nodes.add(fresh, node)
        self.reader.add(node, RecordReader(workdir / "records"))
        return fresh

    def ready(self, proc: worker.Worker) -> bool:
        """Whether a worker of this crew said it is ready."""
        return (self._dirs[self.workers.index(proc)] / "records" / "ready").exists()

    def logs(self) -> list[tuple[str, str]]:
        """[(node name, the end of its log)], read now: the logs go with the
        workers' directories when the crew stops."""
        return [(spec.nodename, read_log(w.log_path)) for spec, w in zip(self.specs, self.workers, strict=False)]

    def cgroups(self) -> list[cgroups.Cgroup]:
        """The workers' cgroups, in node order ([] without limits)."""
        return [w.cgroup for w in self.workers if w.cgroup is not None]

    def wait_ready(self) -> None:
        for proc, workdir in zip(self.workers, self._dirs, strict=True):
            worker.wait_ready(proc, workdir / "records", self.broker)

    def stop(self) -> None:
        """Stop every worker, then remove their directories."""
        try:
            for proc in reversed(self.workers):
                worker.stop(proc)
        finally:
            for workdir in self._dirs:
                scratch.remove(workdir)


def _next_name(nodename: str, index: int) -> str:
    """A replacement's node name: `bench-RUN-r3@host` for the fourth worker of a crew."""
    name, _, host = nodename.partition("@")
    return f"{name}-r{index}@{host}"


class Nodes:
    """Several running workers, watched as one: a batch fails when any of
    them exits, but one retired by a deploy event (replaced)."""

    def __init__(self, procs):
        self.procs = list(procs)  # every worker started, replacements after the first ones
        self.node_of = list(range(len(procs)))  # the node each stands for
        self.retired: list[worker.Worker] = []  # stopped or killed on purpose

    @property
    def pid(self) -> int:
        return self.procs[0].pid

    def add(self, proc: worker.Worker, node: int) -> None:
        self.procs.append(proc)
        self.node_of.append(node)

    def retire(self, proc: worker.Worker) -> None:
        self.retired.append(proc)

    def live(self, node: int) -> worker.Worker:
        """The worker that stands for `node` now (the latest started)."""
        return [p for p, n in zip(self.procs, self.node_of, strict=True) if n == node][-1]

    def exited(self) -> bool:
        return any(p.exited() for p in self.procs if p not in self.retired)

    def last_error(self) -> str:
        gone = [(n, p) for n, p in zip(self.node_of, self.procs, strict=True) if p.exited() and p not in self.retired]
        if not gone:
            return self.procs[0].last_error()
        i, proc = gone[0]
        return proc.last_error() if len(self.procs) == 1 else f"worker {i}: {proc.last_error()}"


class Relay:
    """What ends one run of a sweep, done while the next run starts: `retire`
    runs it on a thread of its own; `settle` waits for all of it, and a run
    calls it before it opens its measured window."""

    def __init__(self):
        self._threads = []
        self._errors = []

    def retire(self, finish: Callable[[], object]) -> None:
        """Run `finish` (stop a crew, tidy its queues) in the background."""

        def run() -> None:
            try:
                finish()
            except BaseException as exc:  # re-raised by settle, in the caller's thread
                self._errors.append(exc)

        thread = threading.Thread(target=run, name="celery-bench-retire", daemon=True)
        thread.start()
        self._threads.append(thread)

    def settle(self, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Return once every retired crew is gone; re-raise what failed there."""
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout_s)
            if thread.is_alive():
                raise RunFailed(f"a worker did not stop within {timeout_s:.0f} s")
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error

    def close(self) -> None:
        self.settle()


def read_log(path: str | Path, limit: int = LOG_KEEP_BYTES) -> str:
    """The end of a log file (at most `limit` bytes) as text; "" when it is gone."""
    try:
        with Path(path).open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode(errors="replace")
    return text if size <= limit else f"[... the first {size - limit} bytes left out ...]\n" + text


def notable_lines(logs: Sequence[tuple[str, str]], limit: int = NOTABLE_LINES) -> list[str]:
    """Up to `limit` notable lines of the logs [(node, text)]: warnings,
    errors and kombu's redeliveries, in order, each named by its node
    when there are several."""
    out = []
    for node, text in logs:
        for line in text.splitlines():
            if _NOTABLE.search(line):
                out.append(line.strip() if len(logs) == 1 else f"{node}: {line.strip()}")
                if len(out) == limit:
                    return out
    return out


def keep_logs(document_path: str | Path, logs: Sequence[tuple[str, str]]) -> dict[str, Any] | None:
    """Write the workers' logs [(node, text)] beside the run's document, as
    `<its stem>.worker.log` (several workers: one file, a header per node);
    the document's `worker_log` {path relative to it, notable lines}.
    None when there is no log to keep."""
    if not logs:
        return None
    document_path = Path(document_path)
    path = document_path.with_name(document_path.name.removesuffix(".json") + ".worker.log")
    if len(logs) == 1:
        body = logs[0][1]
    else:
        body = "".join(
            f"===== worker {node} =====\n{text}{'' if text.endswith(chr(10)) else chr(10)}" for node, text in logs
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(body)
    tmp.replace(path)
    return {"path": path.name, "lines": notable_lines(logs)}

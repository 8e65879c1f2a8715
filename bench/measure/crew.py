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

import threading

from bench.errors import RunFailed
from bench.harness import scratch, worker
from bench.measure.observe import NodeReaders, RecordReader

SETTLE_TIMEOUT_S = 60.0  # a stop is bounded well below this (process.stop_tree)


class Crew:
    """The workers of one run, each with its private record directory:
    started together, waited for, stopped with every process under them.
    Start it from the main thread (workers are tied to the thread that
    starts them)."""

    def __init__(self, specs, broker):
        self.broker = broker
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

    def wait_ready(self):
        for proc, workdir in zip(self.workers, self._dirs, strict=True):
            worker.wait_ready(proc, workdir / "records", self.broker)

    def stop(self):
        """Stop every worker, then remove their directories."""
        try:
            for proc in reversed(self.workers):
                worker.stop(proc)
        finally:
            for workdir in self._dirs:
                scratch.remove(workdir)


class Nodes:
    """Several running workers, watched as one: a batch fails when any of
    them exits."""

    def __init__(self, procs):
        self.procs = procs

    @property
    def pid(self):
        return self.procs[0].pid

    def exited(self):
        return any(p.exited() for p in self.procs)

    def last_error(self):
        gone = [(i, p) for i, p in enumerate(self.procs) if p.exited()]
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

    def retire(self, finish):
        """Run `finish` (stop a crew, tidy its queues) in the background."""

        def run():
            try:
                finish()
            except BaseException as exc:  # re-raised by settle, in the caller's thread
                self._errors.append(exc)

        thread = threading.Thread(target=run, name="celery-bench-retire", daemon=True)
        thread.start()
        self._threads.append(thread)

    def settle(self, timeout_s=SETTLE_TIMEOUT_S):
        """Return once every retired crew is gone; re-raise what failed there."""
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout_s)
            if thread.is_alive():
                raise RunFailed(f"a worker did not stop within {timeout_s:.0f} s")
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error

    def close(self):
        self.settle()

"""How the suite's xdist workers share the machine: a readers-writer
lock held for each test (tests/conftest.py's machine_share fixture), and a
scheduling that keeps some modules on one worker and hands out no shared
test while a test that runs alone is unfinished."""

import contextlib
import fcntl
import os
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling


class MachineLock:
    """The machine, shared by the suite's xdist workers as a readers-writer
    lock: a test marked `exclusive` (it compares timings) holds it alone;
    every other test holds it shared, so two of them run side by side. A
    writer waits at the gate while it holds it, so a stream of readers cannot
    starve it. Besides, tests marked `local_brokers` take turns with the
    local Redis and RabbitMQ (test_broker_left_clean checks them as found).
    flock locks go with their process, so a killed worker frees them."""

    def __init__(self, directory):
        self.gate = Path(directory) / "celery-bench-tests.gate"
        self.machine = Path(directory) / "celery-bench-tests.machine"
        self.brokers = Path(directory) / "celery-bench-tests.brokers"
        # the node ids of the tests marked `exclusive`, one a line: the xdist
        # workers write it at collection, the scheduler reads it (OneWorkerModules)
        self.alone = Path(directory) / "celery-bench-tests.exclusive"

    def write_alone(self, nodeids):
        """Write the node ids of the tests that run alone (atomically: every
        xdist worker writes the same list)."""
        part = self.alone.with_name(f"{self.alone.name}.{os.getpid()}")
        part.write_text("".join(f"{nodeid}\n" for nodeid in nodeids))
        part.replace(self.alone)

    def read_alone(self):
        """The node ids write_alone wrote; none if nothing was written."""
        try:
            return set(self.alone.read_text().splitlines())
        except FileNotFoundError:
            return set()

    @contextlib.contextmanager
    def held(self, exclusive=False, local_brokers=False):
        with contextlib.ExitStack() as stack:
            gate = stack.enter_context(self.gate.open("a"))
            machine = stack.enter_context(self.machine.open("a"))
            fcntl.flock(gate, fcntl.LOCK_EX)
            try:
                fcntl.flock(machine, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)
            stack.callback(fcntl.flock, machine, fcntl.LOCK_UN)
            if local_brokers:  # taken last, while holding the machine: no cycle
                brokers = stack.enter_context(self.brokers.open("a"))
                fcntl.flock(brokers, fcntl.LOCK_EX)
                stack.callback(fcntl.flock, brokers, fcntl.LOCK_UN)
            yield


# Modules whose tests all go to one xdist worker, in their order: each of the
# fleet's modules shares one module-scoped fleet among its tests, and some
# start agents later ones use. (Three modules, three fleets: side by side.)
ONE_WORKER_MODULES = (
    "tests/integration/test_fleet_timing.py",  # all `exclusive`: run among the others that are
    "tests/integration/test_fleet.py",
    "tests/integration/test_fleet_sweeps.py",
)
# The shared tests that take longest (30-70 s each on this machine), started
# first among the shared ones: started last, one of them alone is the tail
# of the suite while the other workers have nothing left to do.
LONGEST_FIRST = (
    "tests/integration/test_readme_own_tasks.py",
    "tests/integration/test_tox.py",
    "tests/integration/test_settings_reach_the_worker.py",
)


class OneWorkerModules(LoadScopeScheduling):
    """xdist's scheduling by scope, where every test is a scope of its own
    but the tests of a module in ONE_WORKER_MODULES share one. (xdist's
    `xdist_group` marks do this, but not under pytest 9.2, whose node ids
    xdist 3.8 can no longer suffix.)

    And the tests that run alone (`alone`: node ids; None: the ones the
    workers wrote, MachineLock.write_alone) are handed out first, and no
    shared test while one of them is unfinished: a shared test started
    beside the end of that chain (a worker left with nothing alone to run)
    holds the next one's gate for all of its length, and every other worker
    waits too (CI 2026-12-05: 10-40 s at a time). A worker is handed a shared
    test behind a test of its own that runs alone all the same: xdist's
    worker runs a test once it holds the next one."""

    def __init__(self, config, log=None, alone=None):
        super().__init__(config, log)
        self.alone = alone
        self.alone_left = None  # how many of them are not completed yet

    def _split_scope(self, nodeid):
        module = nodeid.split("::", 1)[0]
        return module if module in ONE_WORKER_MODULES else nodeid

    def schedule(self):
        if self.alone is None:
            self.alone = MachineLock(run_directory(self.config)).read_alone()
        if self.alone_left is None:
            self.alone_left = sum(nodeid in self.alone for nodeid in self._collected())
        super().schedule()

    def _collected(self):
        return next(iter(self.registered_collections.values()), [])

    def _runs_alone(self, work_unit):
        return any(nodeid in self.alone for nodeid in work_unit)

    def _next_scope(self, node):
        """The scope `node` is handed next; None: none yet (it waits for the
        tests that run alone to end)."""
        for scope, work_unit in self.workqueue.items():
            if self._runs_alone(work_unit):
                return scope
        own = self.assigned_work.get(node, {}).values()
        if self.alone_left and not any(
            not done and nodeid in self.alone for unit in own for nodeid, done in unit.items()
        ):
            return None
        return next(iter(self.workqueue))

    def _assign_work_unit(self, node):
        scope = self._next_scope(node)
        if scope is None:
            return
        self.workqueue.move_to_end(scope, last=False)
        super()._assign_work_unit(node)

    def mark_test_complete(self, node, item_index, duration=0):
        nodeid = self.registered_collections[node][item_index]
        if nodeid in self.alone and not self.assigned_work[node][self._split_scope(nodeid)][nodeid]:
            self.alone_left -= 1
        super().mark_test_complete(node, item_index, duration)
        if nodeid in self.alone and not self.alone_left:  # the chain is over: every worker gets work
            for other in self.nodes:
                if other is not node:
                    self._reschedule(other)


def run_directory(config):
    """The directory every process of this pytest run shares: the base
    temporary directory of the run (an xdist worker's own is a child of
    it). pytest's private attribute, as xdist itself reads it."""
    base = config._tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base

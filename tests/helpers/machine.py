"""How the suite's xdist workers share the machine: a readers-writer
lock held for each test (tests/conftest.py's machine_share fixture), and a
scheduling that keeps some modules on one worker."""

import contextlib
import fcntl
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
    xdist 3.8 can no longer suffix.)"""

    def _split_scope(self, nodeid):
        module = nodeid.split("::", 1)[0]
        return module if module in ONE_WORKER_MODULES else nodeid

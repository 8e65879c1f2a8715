"""How the suite's two xdist workers share the machine: a readers-writer
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


# Modules whose tests all go to one xdist worker, in their order: the fleet's
# tests share one module-scoped fleet, and some start agents later ones use.
ONE_WORKER_MODULES = ("tests/integration/test_fleet.py",)


class OneWorkerModules(LoadScopeScheduling):
    """xdist's scheduling by scope, where every test is a scope of its own
    but the tests of a module in ONE_WORKER_MODULES share one. (xdist's
    `xdist_group` marks do this, but not under pytest 9.2, whose node ids
    xdist 3.8 can no longer suffix.)"""

    def _split_scope(self, nodeid):
        module = nodeid.split("::", 1)[0]
        return module if module in ONE_WORKER_MODULES else nodeid

"""The suite's MachineLock (tests/helpers/machine.py): two tests share the machine,
an `exclusive` test has it alone, a waiting exclusive test is not starved
by shared ones arriving after it, and tests of the local brokers take
turns. Threads stand in for the xdist workers: each hold opens its own file
description, as a process would. And the fleet's tests go to one worker."""

import threading

from tests.helpers.machine import ONE_WORKER_MODULES, MachineLock, OneWorkerModules

WAIT_S = 10.0  # for what must happen; what must not happen gets SETTLE_S
SETTLE_S = 0.3


def _hold(lock, exclusive, entered, leave, local_brokers=False):
    def run():
        with lock.held(exclusive, local_brokers):
            entered.set()
            leave.wait(WAIT_S)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_two_shared_holds_run_side_by_side(tmp_path):
    lock = MachineLock(tmp_path)
    first, second, leave = threading.Event(), threading.Event(), threading.Event()
    threads = [_hold(lock, False, first, leave), _hold(lock, False, second, leave)]
    try:
        assert first.wait(WAIT_S)
        assert second.wait(WAIT_S)
    finally:
        leave.set()
        for thread in threads:
            thread.join(WAIT_S)


def test_an_exclusive_hold_waits_for_the_shared_one_and_then_keeps_new_ones_out(tmp_path):
    lock = MachineLock(tmp_path)
    reader_in, reader_leave = threading.Event(), threading.Event()
    writer_in, writer_leave = threading.Event(), threading.Event()
    late_in, late_leave = threading.Event(), threading.Event()
    threads = [_hold(lock, False, reader_in, reader_leave)]
    try:
        assert reader_in.wait(WAIT_S)
        threads.append(_hold(lock, True, writer_in, writer_leave))
        assert not writer_in.wait(SETTLE_S)  # a test is still running beside it
        threads.append(_hold(lock, False, late_in, late_leave))
        assert not late_in.wait(SETTLE_S)  # the waiting writer holds the gate

        reader_leave.set()
        assert writer_in.wait(WAIT_S)
        assert not late_in.wait(SETTLE_S)  # nothing runs beside an exclusive test
        writer_leave.set()
        assert late_in.wait(WAIT_S)
    finally:
        for leave in (reader_leave, writer_leave, late_leave):
            leave.set()
        for thread in threads:
            thread.join(WAIT_S)


def test_tests_of_the_local_brokers_take_turns_while_sharing_the_machine(tmp_path):
    lock = MachineLock(tmp_path)
    first, second, other = threading.Event(), threading.Event(), threading.Event()
    leave_first, leave = threading.Event(), threading.Event()
    threads = [_hold(lock, False, first, leave_first, local_brokers=True)]
    try:
        assert first.wait(WAIT_S)
        threads.append(_hold(lock, False, second, leave, local_brokers=True))
        threads.append(_hold(lock, False, other, leave))
        assert other.wait(WAIT_S)  # the machine is shared meanwhile
        assert not second.wait(SETTLE_S)
        leave_first.set()
        assert second.wait(WAIT_S)
    finally:
        leave_first.set()
        leave.set()
        for thread in threads:
            thread.join(WAIT_S)


def test_each_fleet_modules_tests_are_one_scope_and_every_other_test_its_own():
    scope = OneWorkerModules._split_scope
    for fleet in ONE_WORKER_MODULES:
        assert scope(None, f"{fleet}::test_a") == scope(None, f"{fleet}::test_b[x]") == fleet
    assert scope(None, "tests/integration/test_sweep.py::test_a") == "tests/integration/test_sweep.py::test_a"
    assert scope(None, "tests/unit/test_plan.py::test_b[2]") == "tests/unit/test_plan.py::test_b[2]"


class FakeNode:
    """An xdist worker as the scheduler sees it: what it was sent, in order."""

    def __init__(self, collection, name):
        self.collection, self.sent, self.shutting_down = collection, [], False
        self.gateway = type("Gateway", (), {"id": name})()

    def send_runtest_some(self, indices):
        self.sent.extend(self.collection[i] for i in indices)

    def shutdown(self):
        self.shutting_down = True


class FakeConfig:
    option = type("Option", (), {"loadscopereorder": False})()

    def getvalue(self, name):
        assert name == "tx"
        return ["2*popen"]


def scheduled(collection, alone):
    sched = OneWorkerModules(FakeConfig(), alone=alone)
    nodes = [FakeNode(collection, "gw0"), FakeNode(collection, "gw1")]
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    sched.schedule()
    return sched, nodes


def complete(sched, node, nodeid):
    sched.mark_test_complete(node, node.collection.index(nodeid))


def test_no_shared_test_is_handed_out_while_one_that_runs_alone_is_unfinished():
    collection = ["t.py::alone_1", "t.py::alone_2", "t.py::shared_1", "t.py::shared_2", "t.py::shared_3",
                  "t.py::shared_4"]  # fmt: skip
    sched, (first, second) = scheduled(collection, alone={"t.py::alone_1", "t.py::alone_2"})
    # each has one that runs alone, and a shared one behind it (a worker runs a test once it holds the next)
    assert first.sent == ["t.py::alone_1", "t.py::shared_1"]
    assert second.sent == ["t.py::alone_2", "t.py::shared_2"]
    complete(sched, first, "t.py::alone_1")
    assert first.sent == ["t.py::alone_1", "t.py::shared_1"]  # nothing more while alone_2 is unfinished
    complete(sched, second, "t.py::alone_2")
    assert second.sent[2:] == ["t.py::shared_3"]
    assert first.sent[2:] == ["t.py::shared_4"]  # the waiting worker gets work once the chain is over


def test_without_tests_that_run_alone_the_work_goes_out_in_order():
    collection = [f"t.py::shared_{i}" for i in range(6)]
    sched, (first, second) = scheduled(collection, alone=set())
    assert first.sent == ["t.py::shared_0", "t.py::shared_2"]
    assert second.sent == ["t.py::shared_1", "t.py::shared_3"]
    complete(sched, first, "t.py::shared_0")
    assert first.sent[2:] == ["t.py::shared_4"]

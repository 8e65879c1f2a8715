"""OOM kills under --memory-limit: the leak workload, the tasks each kill
lost (from the workers' recorded starts), the health finding's cause, the
words in the limits line and in a failed run's reason, and the round trip
of the figures. A live kill is tests/integration/test_oom_kills.py's."""

import dataclasses
import json
import os
from types import SimpleNamespace

from bench.analysis.health import diagnose
from bench.analysis.stats import TaskRecord
from bench.harness.cgroups import Cgroup
from bench.harness.worker import Worker
from bench.measure import load
from bench.measure.limits import oom_losses
from bench.measure.observe import NodeReaders, RecordReader
from bench.measure.result import decide_status, health_context
from bench.measure.runner import lost_for_good, with_oom
from bench.output.health import finding_line, oom_words
from bench.output.terminal import limits_line
from bench.results.codec import run_from_json, run_to_json
from bench.results.schema import LimitFigures, RunSettings, RunSummary, TaskCounts, WorkerLimits
from bench.workloads import LEAK_KIB, WORKLOADS, ceiling
from tests.helpers.hand_made_run import golden_result

MIB = 2**20
LEAK = WORKLOADS["leak"]


def test_the_leak_workload_keeps_a_mebibyte_per_call_and_waits_its_time():
    assert LEAK.task == "proj.tasks.leak"
    assert LEAK.args(10.0) == [10.0, LEAK_KIB] == [10.0, 1024]
    # it waits: c / S, like sleep
    assert ceiling(LEAK, "prefork", 2, 10.0, cores=2.0).per_s == 200.0


def test_the_leak_task_keeps_its_blocks_resident():
    from proj import tasks

    before = len(tasks._LEAKED)
    tasks.leak.run(0, kib=64)
    block = tasks._LEAKED.pop()
    assert len(tasks._LEAKED) == before
    assert len(block) == 64 * 1024
    assert block[0] == block[4096] == 1  # every page written


# --- The tasks each kill lost -----------------------------------------------------


def start(task, pid, at, node=0):
    return {"id": task, "pid": pid, "started": at, "node": node}


KILLED = LimitFigures(memory_peak_bytes=128 * MIB, oom_kills=2)


def test_the_tasks_a_killed_process_started_and_never_finished_are_its_loss():
    starts = [
        start("a", 10, 1.0),
        start("b", 11, 1.1),
        start("c", 10, 1.2),  # 10 is killed here
        start("d", 12, 1.3),  # its replacement
        start("e", 11, 1.4),  # 11 is killed here
        start("f", 12, 1.5),  # still running when the window ended: not lost to a kill
    ]
    published = {"a", "b", "c", "d", "e", "f", "g"}  # g never started
    figures = oom_losses(KILLED, starts, published, finished={"a", "b", "d"}, dead={(0, 10), (0, 11)}, killed_mains=0)
    assert figures.oom_lost_tasks == 2
    assert figures.oom_lost_by_process == (1, 1)
    assert figures.oom_killed_main == 0
    assert (figures.oom_kills, figures.memory_peak_bytes) == (2, 128 * MIB)


def test_a_task_started_again_after_its_process_died_counts_once_and_only_if_never_finished():
    starts = [start("a", 10, 1.0), start("a", 12, 2.0), start("b", 10, 1.1), start("b", 13, 2.1)]
    figures = oom_losses(KILLED, starts, {"a", "b"}, finished={"a"}, dead={(0, 10), (0, 13)}, killed_mains=0)
    assert (figures.oom_lost_tasks, figures.oom_lost_by_process) == (1, (1,))


def test_processes_are_told_apart_by_their_node_and_warm_up_tasks_are_not_counted():
    starts = [start("a", 10, 1.0, node=0), start("b", 10, 1.0, node=1), start("warm", 10, 0.5, node=1)]
    figures = oom_losses(KILLED, starts, {"a", "b"}, finished={"a"}, dead={(1, 10)}, killed_mains=0)
    assert (figures.oom_lost_tasks, figures.oom_lost_by_process) == (1, (1,))


def test_the_main_process_killed_takes_its_childrens_tasks_with_it():
    starts = [start("a", 10, 1.0), start("b", 11, 1.0), start("c", 10, 0.5)]
    one_kill = dataclasses.replace(KILLED, oom_kills=1)
    figures = oom_losses(one_kill, starts, {"a", "b", "c", "d"}, {"c"}, dead={(0, 10), (0, 11)}, killed_mains=1)
    assert (figures.oom_lost_tasks, figures.oom_lost_by_process, figures.oom_killed_main) == (2, (1, 1), 1)


def test_a_task_celery_reports_lost_with_its_child_is_lost_even_without_the_childs_start():
    # seen live: of 5 kills, one child died after it took its task and before
    # task_prerun; the main process's task_failure (WorkerLostError) names it
    starts = [
        start("a", 10, 1.0),
        {**start("a", 1, 1.05), "worker_lost": True},  # the same task: counted once, as its child's
        {**start("b", 1, 1.2), "worker_lost": True},  # no start of its own
        {**start("c", 1, 1.3), "worker_lost": True},  # reported lost, but it finished after all: not lost
    ]
    figures = oom_losses(KILLED, starts, {"a", "b", "c"}, finished={"c"}, dead={(0, 10)}, killed_mains=0)
    assert (figures.oom_lost_tasks, figures.oom_lost_by_process) == (2, (1, 1))


def test_a_pending_task_celery_reports_lost_is_lost_for_good(tmp_path):
    (tmp_path / "starts-1.jsonl").write_text(
        json.dumps({**start("b", 1, 1.2), "worker_lost": True}) + "\n" + json.dumps(start("c", os.getpid(), 1.3)) + "\n"
    )
    check = lost_for_good(NodeReaders([RecordReader(tmp_path)]))
    assert check({"b"})  # Celery said its pool process was lost
    assert not check({"b", "c"})  # c runs in a process that is alive (this one)
    assert not check({"b", "d"})  # d never started


def test_with_acks_late_only_celerys_word_makes_a_task_lost_for_good(tmp_path):
    dead = 2**22 + 1  # above any pid this machine hands out
    (tmp_path / "starts-1.jsonl").write_text(
        json.dumps({**start("b", 1, 1.2), "worker_lost": True}) + "\n" + json.dumps(start("e", dead, 1.3)) + "\n"
    )
    reader = NodeReaders([RecordReader(tmp_path)])
    assert lost_for_good(reader)({"e"})  # acked on receipt, started by a dead process
    acks_late = lost_for_good(reader, acks_late=True)
    assert acks_late({"b"})  # failed with WorkerLostError, so acknowledged: not requeued
    assert not acks_late({"e"})  # unacknowledged: the broker may deliver it again


def test_without_oom_kills_nothing_is_put_on_them():
    figures = oom_losses(
        LimitFigures(oom_kills=0), [start("a", 10, 1.0)], {"a"}, finished=set(), dead={(0, 10)}, killed_mains=0
    )
    assert (figures.oom_lost_tasks, figures.oom_lost_by_process, figures.oom_killed_main) == (0, (), 0)


def test_the_recorded_starts_are_read_whole_lines_only_and_by_node(tmp_path):
    nodes = [tmp_path / "n0", tmp_path / "n1"]
    for d in nodes:
        d.mkdir()
    (nodes[0] / "starts-10.jsonl").write_text(json.dumps({"id": "a", "pid": 10, "started": 1.0}) + '\n{"id": ')
    (nodes[1] / "starts-11.jsonl").write_text(json.dumps({"id": "b", "pid": 11, "started": 2.0}) + "\n")
    (nodes[1] / "tasks-11.jsonl").write_text(json.dumps({"id": "b"}) + "\n")
    reader = NodeReaders([RecordReader(d) for d in nodes])
    assert reader.starts() == [
        {"id": "a", "pid": 10, "started": 1.0, "node": 0},
        {"id": "b", "pid": 11, "started": 2.0, "node": 1},
    ]


def test_a_v1_cgroup_counts_its_oom_kills_from_memory_oom_control(tmp_path):
    memory = tmp_path / "memory"
    memory.mkdir()
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    (memory / "memory.max_usage_in_bytes").write_text(str(128 * MIB))
    assert Cgroup(1, {"memory": memory}).figures().oom_kills == 3
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 41\noom 2\noom_kill 2\noom_group_kill 0\n")
    assert Cgroup(2, {"memory": v2}).figures().oom_kills == 2


# --- In words ---------------------------------------------------------------------

LOST = LimitFigures(
    memory_peak_bytes=128 * MIB, oom_kills=3, oom_lost_tasks=3, oom_lost_by_process=(1, 1, 1), oom_killed_main=0
)


def test_the_kills_and_their_lost_tasks_in_words():
    assert oom_words(LOST, 128 * MIB) == (
        "the worker was OOM-killed 3 times under --memory-limit 128 MiB: 3 tasks lost (1, 1, 1 by each killed process)"
    )
    one = dataclasses.replace(LOST, oom_kills=1, oom_lost_tasks=1, oom_lost_by_process=(1,))
    assert oom_words(one, 64 * MIB) == "the worker was OOM-killed 1 time under --memory-limit 64 MiB: 1 task lost"
    main = dataclasses.replace(one, oom_lost_tasks=2, oom_lost_by_process=(1, 1), oom_killed_main=1)
    assert oom_words(main, 64 * MIB) == (
        "the worker was OOM-killed 1 time under --memory-limit 64 MiB (its main process among them: the worker "
        "exited): 2 tasks lost (1, 1 by each killed process)"
    )
    assert oom_words(LimitFigures(oom_kills=0, oom_lost_tasks=0), 64 * MIB) is None
    assert oom_words(None, 64 * MIB) is None


def test_the_limits_line_says_the_kills_and_the_tasks_they_lost():
    line = limits_line(WorkerLimits(1, None, None, None, 128 * MIB, 0, 2, None), LOST)
    assert line == (
        "  limits          memory 128 MiB (swap off) per worker, cgroup v1: memory high-water 128.0 MiB, the worker "
        "was OOM-killed 3 times under --memory-limit 128 MiB: 3 tasks lost (1, 1, 1 by each killed process)"
    )


def test_a_run_that_lost_tasks_to_oom_kills_fails_in_one_line_that_says_so():
    summary = RunSummary(tasks=TaskCounts(published=40, succeeded=37, failed=0, missing=3), limits=LOST)
    status = decide_status("stalled", "no task finished in the last 10 s", summary, None, oom_words(LOST, 128 * MIB))
    assert status.state == "failed"
    assert status.reason == (
        "0 failed and 3 missing of 40 tasks (stalled: no task finished in the last 10 s); the worker was "
        "OOM-killed 3 times under --memory-limit 128 MiB: 3 tasks lost (1, 1, 1 by each killed process)"
    )
    assert "\n" not in status.reason


def test_lost_tasks_and_replaced_children_under_oom_kills_have_that_cause():
    settings = RunSettings(pool="prefork", concurrency=2, slots=2, acks_late=False)
    published = {f"t{i}": 0.0 for i in range(6)}
    # prefork -c 2: child 10 ran t0, then was killed with t5 (never reported); 12 replaced it
    records = [
        TaskRecord(id=f"t{i}", published=0.0, started=0.1 * i, finished=0.1 * i + 0.05, state="SUCCESS", pid=pid)
        for i, pid in enumerate([10, 11, 12, 11, 12])
    ]
    health = diagnose(published, records, health_context(settings, "stalled", None, oom_kills=1))
    lost, restarts = health.of("lost"), health.of("restarts")
    assert (lost.count, lost.cause) == (1, "oom_kill")
    assert (restarts.count, restarts.cause) == (1, "oom_kill")
    assert finding_line(lost, 6).startswith("tasks lost: 1 of 6, published and never reported; likely cause: the ")
    assert "OOM killer" in finding_line(lost, 6)
    # without kills counted, the same records are a lost worker
    assert diagnose(published, records, health_context(settings, "stalled")).of("lost").cause == "worker_lost"


def test_the_oom_figures_survive_the_json():
    result = golden_result()
    result = dataclasses.replace(
        result,
        config=dataclasses.replace(result.config, limits=WorkerLimits(1, None, None, None, 128 * MIB, 0, 2, None)),
        summary=dataclasses.replace(result.summary, limits=LOST),
    )
    document = json.loads(json.dumps(run_to_json(result)))
    assert document["summary"]["limits"]["oom_lost_by_process"] == [1, 1, 1]
    assert run_from_json(document) == result


# --- The batch ends once only lost tasks are left -----------------------------------


class Reader:
    def __init__(self, records):
        self.records = records

    def read_new(self):
        out, self.records = self.records, []
        return out


class Alive:
    def exited(self):
        return False

    def last_error(self):
        return ""


def reported(task):
    return {"id": task, "started": 1.0, "finished": 1.1, "state": "SUCCESS", "pid": 10}


def test_a_batch_whose_only_pending_tasks_are_lost_for_good_ends_at_once(monkeypatch):
    monkeypatch.setattr(load, "LOST_CHECK_S", 0.0)
    asked = []

    def lost(pending):
        asked.append(set(pending))
        return pending == {"c"}

    batch = load.Batch({"a": 0.0, "b": 0.0, "c": 0.0})
    load.watch(batch, Reader([reported("a"), reported("b")]), Alive(), lambda: True, 60.0, 60.0, lost=lost)
    assert (batch.outcome, batch.detail) == ("lost", "1 task left, started by a process that died")
    assert asked == [{"c"}]
    # without it, the same batch waits out the stall
    batch = load.Batch({"a": 0.0, "b": 0.0, "c": 0.0})
    load.watch(batch, Reader([reported("a"), reported("b")]), Alive(), lambda: True, 0.05, 60.0)
    assert batch.outcome == "stalled"


def test_a_worker_killed_outright_says_by_which_signal_not_its_logs_last_line(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text(".> celery exchange=celery(direct) key=celery\n")
    assert Worker(SimpleNamespace(returncode=-9), log).last_error() == "killed by SIGKILL"
    assert Worker(SimpleNamespace(returncode=1), log).last_error() == ".> celery exchange=celery(direct) key=celery"


def test_a_worker_oom_killed_before_its_window_fails_the_run_in_one_line_that_says_so(tmp_path):
    memory = tmp_path / "memory"
    memory.mkdir()
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    group = Cgroup(1, {"memory": memory})
    reason = with_oom("the warm-up batch did not complete (worker exited: killed by SIGKILL)", [group], 64 * MIB)
    assert reason == (
        "the warm-up batch did not complete (worker exited: killed by SIGKILL); "
        "the worker was OOM-killed 1 time under --memory-limit 64 MiB"
    )
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    assert with_oom("boom", [group], 64 * MIB) == "boom"

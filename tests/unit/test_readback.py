"""The workers' reports of their settings, on hand-built answers: the
multiplier derived from prefetch_count, the task's own acks_late, a
disagreement failing in one line; a failed run's worker log kept; both
fields through the run document's JSON."""

import dataclasses

import pytest

from bench.harness import readback
from bench.measure.crew import keep_logs, notable_lines
from bench.results.schema import Metadata, RunResult, RunSettings, RunStatus, run_from_json, run_to_json

STATS = {
    "pid": 4242,
    "pool": {"implementation": "celery.concurrency.prefork:TaskPool", "max-concurrency": 2, "max-tasks-per-child": 7},
    "prefetch_count": 2,
    "broker": {"transport": "redis", "hostname": "127.0.0.1"},
}
CONF = {
    "task_acks_late": True,
    "worker_prefetch_multiplier": 4,  # what app.conf says, not what the consumer asked for
    "result_backend": "redis://:pw@127.0.0.1:6379/0",
    "task_serializer": "json",
}
REGISTERED = ["proj.tasks.noop [acks_late=False]", "proj.tasks.sleep [acks_late=True]"]
QUEUES = [{"name": "celery-bench.x.warmup", "exchange": {}}]


def report(**changes):
    stats = {**STATS, **changes.pop("stats", {})}
    return readback.report_of(stats, CONF, REGISTERED, QUEUES, "proj.tasks.sleep", changes.pop("concurrency", 2))


def test_the_multiplier_is_prefetch_count_over_c_not_the_apps_configuration():
    got = report()
    assert (got["prefetch_count"], got["prefetch_multiplier"], got["conf_worker_prefetch_multiplier"]) == (2, 1, 4)
    assert report(stats={"prefetch_count": 0})["prefetch_multiplier"] == 0  # no limit


def test_solo_divides_by_the_c_it_was_given():
    solo = {"implementation": "celery.concurrency.solo:TaskPool", "max-concurrency": 1, "max-tasks-per-child": None}
    got = report(stats={"pool": solo, "prefetch_count": 12}, concurrency=3)
    assert (got["pool"], got["max_concurrency"], got["prefetch_multiplier"]) == ("solo", 1, 4)


def test_the_report_names_the_measured_tasks_own_acks_late_and_redacts_the_backend():
    got = report()
    assert (got["task_acks_late"], got["conf_task_acks_late"]) == (True, True)
    assert got["result_backend"] == "redis://:**@127.0.0.1:6379/0"
    assert (got["pool"], got["max_tasks_per_child"], got["transport"]) == ("prefork", 7, "redis")
    assert got["queues"] == ["celery-bench.x.warmup"]
    no_limit = report(stats={"pool": {**STATS["pool"], "max-tasks-per-child": "N/A"}})
    assert no_limit["max_tasks_per_child"] == 0


def test_agreeing_settings_are_returned_as_the_workers_own():
    agreed = readback.check({"prefetch_multiplier": 1, "acks_late": True, "pool": "prefork"}, {"a@h": report()})
    assert (agreed["prefetch_multiplier"], agreed["acks_late"], agreed["concurrency"]) == (1, True, 2)


@pytest.mark.parametrize(
    ("intended", "words"),
    [
        ({"prefetch_multiplier": 4}, "prefetch_multiplier=1, not the 4 the harness meant"),
        ({"acks_late": False}, "acks_late=True, not the False the harness meant"),
        ({"concurrency": 3}, "concurrency=2, not the 3"),
        ({"max_tasks_per_child": 0}, "max_tasks_per_child=7, not the 0"),
    ],
)
def test_a_disagreement_fails_in_one_line_naming_the_setting(intended, words):
    with pytest.raises(readback.SettingMismatch) as failure:
        readback.check(intended, {"a@h": report()})
    message = str(failure.value)
    assert words in message
    assert "a@h" in message
    assert "\n" not in message
    assert failure.value.reported == {"a@h": report()}


def test_two_nodes_that_disagree_fail_the_run():
    other = report(stats={"prefetch_count": 8})
    with pytest.raises(readback.SettingMismatch, match="different prefetch_multiplier"):
        readback.check({}, {"a@h": report(), "b@h": other})


def test_a_node_that_does_not_answer_is_named():
    with pytest.raises(readback.RunFailed, match=r"worker b@h did not answer remote control \(stats\)"):
        readback._one({"a@h": {}}, "b@h", "stats")


def test_a_kept_log_names_its_warnings_errors_and_redeliveries(tmp_path):
    text = "\n".join(
        [
            "celery@h ready.",
            "[2026-12-04 18:00:00,000: ERROR/MainProcess] Task t[1] raised unexpected: ValueError('x')",
            "Traceback (most recent call last):",
            "[2026-12-04 18:00:01,000: WARNING/MainProcess] Restoring 3 unacknowledged message(s)",
            *[f"[x: ERROR/MainProcess] error {i}" for i in range(20)],
        ]
    )
    kept = keep_logs(tmp_path / "r01.json", [("w@h", text)])
    assert kept["path"] == "r01.worker.log"
    assert (tmp_path / "r01.worker.log").read_text() == text
    assert len(kept["lines"]) == 12
    assert kept["lines"][0].startswith("[2026-12-04 18:00:00,000: ERROR")
    assert "Restoring 3 unacknowledged message(s)" in kept["lines"][1]


def test_several_workers_logs_go_in_one_file_with_a_header_each(tmp_path):
    kept = keep_logs(tmp_path / "r.json", [("w0@h", "ok\n"), ("w1@h", "[x: CRITICAL/MainProcess] gone")])
    body = (tmp_path / "r.worker.log").read_text()
    assert body == "===== worker w0@h =====\nok\n===== worker w1@h =====\n[x: CRITICAL/MainProcess] gone\n"
    assert kept["lines"] == ["w1@h: [x: CRITICAL/MainProcess] gone"]
    assert notable_lines([("w@h", "all fine\n")]) == []


def test_the_report_and_the_kept_log_go_through_the_json_and_old_files_read_none():
    result = RunResult(RunStatus("failed", "x", "not measured"), RunSettings(pool="prefork"), Metadata())
    plain = run_to_json(result)
    assert "worker_reported" not in plain["config"]
    assert "worker_log" not in plain
    back = run_from_json(plain)
    assert (back.config.worker_reported, back.worker_log) == (None, None)
    full = dataclasses.replace(
        result,
        config=dataclasses.replace(result.config, worker_reported={"a@h": report()}),
        worker_log={"path": "r.worker.log", "lines": ["x"]},
    )
    again = run_from_json(run_to_json(full))
    assert again.config.worker_reported == {"a@h": report()}
    assert again.worker_log == {"path": "r.worker.log", "lines": ["x"]}


def test_workers_on_agents_may_reach_the_result_backend_by_their_own_address_but_not_another_kind():
    here = report()
    there = {**here, "result_backend": "redis://:**@10.0.0.5:6379/0"}
    assert here["result_backend_kind"] == there["result_backend_kind"] == "redis"
    with pytest.raises(readback.SettingMismatch, match="different result_backend"):
        readback.check({}, {"a@h": here, "b@g": there})
    agreed = readback.check({"result_backend_kind": "redis"}, {"a@h": here, "b@g": there}, ignore=("result_backend",))
    assert (agreed["result_backend"], agreed["result_backend_kind"]) == (None, "redis")
    with pytest.raises(readback.SettingMismatch, match="result_backend_kind='redis', not the 'disabled'"):
        readback.check({"result_backend_kind": "disabled"}, {"a@h": here}, ignore=("result_backend",))


def test_a_setting_the_worker_did_not_change_reads_as_celerys_default():
    got = readback.report_of(STATS, {"task_serializer": "pickle"}, REGISTERED, QUEUES, "proj.tasks.sleep", 2)
    assert (got["conf_task_acks_late"], got["conf_worker_prefetch_multiplier"]) == (False, 4)
    assert (got["result_backend"], got["result_backend_kind"], got["task_serializer"]) == (None, None, "pickle")

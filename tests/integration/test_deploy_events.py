"""Deploy events, live, on prefork -c 4 with 500 ms tasks: the harness kills
a pool process, crashes the worker or stops it as an orchestrator does, in
the middle of the measured batch, and counts exactly what that cost. Each
case is what Celery's documentation says it should be:

- a killed pool process loses the one task it ran (WorkerLostError), with
  acks on receipt (Celery's default) and with acks_late alone (Celery
  acknowledges it as failed); acks_late with reject_on_worker_lost requeues
  it, and it runs to its end;
- a crashed worker on RabbitMQ: the messages it held unacknowledged come
  back at once; acks on receipt lose the tasks that were running, acks_late
  loses none (the fresh worker runs them again);
- on Redis they come back only once older than the visibility timeout, at a
  sweep of kombu's restore: the fresh worker's first sweep is at its start
  (the next ones every 100 s), so with a visibility timeout shorter than
  its boot they come back then (with kombu's default of an hour they are
  still held when the run ends: lost to it);
- a warm shutdown (SIGTERM) finishes the running tasks and gives back the
  prefetched ones, and so does a soft shutdown (REMAP_SIGTERM=SIGQUIT) long
  enough for them; one too short cancels them: lost with acks on receipt,
  run again by the fresh worker with acks_late.
"""

import json

import pytest

from tests.helpers.cli import run_bench

pytestmark = pytest.mark.integration
AMQP = "amqp://guest:guest@127.0.0.1:5672//"
POINT = ["--pool", "prefork", "-c", "4", "--workload", "sleep", "--task-ms", "500", "--warmup", "4"]


def measured(tmp_path, *options):
    out = tmp_path / "run.json"
    done = run_bench("run", *POINT, *options, "--json", out)
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    assert doc["status"]["state"] == "ok", doc["status"]
    return doc, done.stdout


def killed_child_cost(doc, lost):
    tasks = doc["summary"]["tasks"]
    assert (tasks["lost"], tasks["missing"], tasks["interrupted"], tasks["duplicates"]) == (lost, lost, 1, 0)
    assert tasks["redelivered"] == 1 - lost  # requeued: delivered again, with the broker's flag


@pytest.mark.parametrize(("settings", "lost"), [(("--acks-late",), 1), (("--acks-late", "--reject-on-worker-lost"), 0)])
def test_a_killed_pool_process_loses_its_task_unless_it_is_rejected_back_to_the_queue(tmp_path, settings, lost):
    doc, _ = measured(tmp_path, "--kill-child-at", "1.75s", *settings)
    killed_child_cost(doc, lost)


def test_a_killed_pool_process_loses_its_task_with_acks_on_receipt_and_is_named_with_it(tmp_path):
    # Celery's default: the case above without its settings, and the run that names the task (one run for both)
    doc, shown = measured(tmp_path, "--kill-child-at", "1.75s")
    killed_child_cost(doc, 1)
    tasks, deploy = doc["summary"]["tasks"], doc["summary"]["deploy"]
    (event,) = deploy["events"]
    assert event["kind"] == "kill_child"
    assert event["at_s"] >= 1.75
    assert event["task_id"] in doc["samples"]["missing_ids"]
    assert (tasks["lost"], tasks["interrupted"], tasks["duplicates"]) == (1, 1, 0)
    assert tasks["missing"] == 1
    assert tasks["published"] == tasks["succeeded"] + tasks["lost"]
    assert "deploy event    --kill-child-at 1.75s: SIGKILL to pool process" in shown
    assert "cost            lost 1, interrupted 1, redelivered 0, ran twice 0" in shown


@pytest.mark.parametrize("acks_late", [False, True])
def test_a_crash_on_rabbitmq_loses_the_running_tasks_unless_acks_late(tmp_path, acks_late):
    # 1.75 s: halfway through the fourth 500 ms task of each pool process
    options = ["--broker", AMQP, "--kill-at", "1.75s", *(["--acks-late"] if acks_late else [])]
    doc, _ = measured(tmp_path, *options)
    tasks, (event,) = doc["summary"]["tasks"], doc["summary"]["deploy"]["events"]
    assert event["kind"] == "kill"
    assert event["replacement_ready_s"] is not None
    # 4 slots busy with 500 ms tasks: the crash interrupts the ones running (up to 4)
    assert 1 <= tasks["interrupted"] <= 4
    # What the worker held unacknowledged comes back at once: the prefetched tasks (and, with
    # acks_late, the running ones), with RabbitMQ's redelivered flag
    assert tasks["redelivered"] >= 1
    if acks_late:
        assert (tasks["lost"], tasks["missing"]) == (0, 0)  # the fresh worker ran them again
        assert tasks["redelivered"] >= tasks["interrupted"]
    else:
        # Acknowledged on receipt, gone with the worker: a task whose acknowledgement had not reached
        # the broker yet (just started) comes back instead
        assert 1 <= tasks["lost"] <= tasks["interrupted"]
    assert tasks["duplicates"] == 0


def test_a_warm_shutdown_loses_nothing(tmp_path):
    doc, shown = measured(tmp_path, "--stop-at", "1.75s")
    tasks, deploy = doc["summary"]["tasks"], doc["summary"]["deploy"]
    (event,) = deploy["events"]
    assert (event["kind"], event["forced"], deploy["stop_grace_s"]) == ("stop", False, 30.0)
    assert 0 < event["drain_s"] < 30
    assert (tasks["lost"], tasks["interrupted"], tasks["duplicates"]) == (0, 0, 0)
    assert "the worker drained and exited in" in shown


def test_a_crash_on_redis_gives_back_what_it_held_once_older_than_the_visibility_timeout(tmp_path):
    # The fresh worker's first sweep is at its start, about half a second after the crash: what the
    # dead worker fetched last is that old then, so the timeout is lower still
    doc, _ = measured(tmp_path, "--kill-at", "1.75s", "--acks-late", "--visibility-timeout", "0.2")
    tasks, (event,) = doc["summary"]["tasks"], doc["summary"]["deploy"]["events"]
    assert doc["config"]["visibility_timeout"] == 0.2
    assert (tasks["lost"], tasks["missing"]) == (0, 0)
    assert tasks["redelivered"] >= max(1, tasks["interrupted"])
    # at least once: a task finished but not yet acknowledged when the worker died runs again
    assert tasks["duplicates"] <= 4
    assert event["replacement_ready_s"] is not None


def test_a_crash_on_redis_with_kombus_visibility_timeout_holds_the_tasks_past_the_run(tmp_path):
    doc, _ = measured(tmp_path, "--kill-at", "1.75s", "--acks-late")
    tasks = doc["summary"]["tasks"]
    assert doc["status"]["outcome"] == "stalled"  # nothing came back within the wait
    assert tasks["lost"] >= tasks["interrupted"] >= 1  # the prefetched ones as well as the running ones
    assert tasks["redelivered"] == 0


@pytest.mark.parametrize(("acks_late", "lost"), [(False, True), (True, False)])
def test_a_soft_shutdown_too_short_cancels_the_running_tasks(tmp_path, acks_late, lost):
    options = ["--stop-at", "1.75s", "--soft-shutdown-timeout", "0.1", *(["--acks-late"] if acks_late else [])]
    doc, _ = measured(tmp_path, *options)
    tasks = doc["summary"]["tasks"]
    assert doc["config"]["remap_sigterm"] == "SIGQUIT"
    assert 1 <= tasks["interrupted"] <= 4  # cancelled mid-run by the cold shutdown
    assert tasks["lost"] == (tasks["interrupted"] if lost else 0)
    assert tasks["failed"] == 0  # a cancelled task is interrupted, not failed
    assert tasks["duplicates"] == 0


def test_a_soft_shutdown_long_enough_loses_nothing(tmp_path):
    doc, _ = measured(tmp_path, "--stop-at", "1.75s", "--soft-shutdown-timeout", "2")
    tasks, (event,) = doc["summary"]["tasks"], doc["summary"]["deploy"]["events"]
    assert (tasks["lost"], tasks["interrupted"], tasks["duplicates"]) == (0, 0, 0)
    assert event["drain_s"] >= 2  # Celery waits out the whole soft shutdown while tasks run


def test_a_sweep_under_a_deploy_event_names_the_settings_that_lose_nothing(tmp_path):
    swept = run_bench(
        "sweep", "--pools", "prefork", "--concurrency", "4", "--workloads", "sleep", "--task-ms", "500",
        "--profile", "quick", "--repeats", "1", "--vary", "acks_late=false,true", "--reject-on-worker-lost",
        "--kill-child-at", "1.75s", "--output-dir", tmp_path,
    )  # fmt: skip
    assert swept.returncode == 0, swept.stderr
    assert "lost nothing: prefork -c 4, acks_late=true\n" in swept.stdout
    (report,) = tmp_path.glob("sweep-*/report.md")
    text = report.read_text()
    assert "## Deploy safety" in text
    rows = [line for line in text.splitlines() if line.startswith("| prefork -c 4")]
    # point, event, repeats, lost, ran twice, redelivered, interrupted, back to 90%, drain
    cells = {row.split("|")[1].strip(): [c.strip() for c in row.split("|")[2:-1]] for row in rows}
    assert cells["prefork -c 4, acks_late=false"][:6] == ["--kill-child-at 1.75s", "1", "1", "0", "0", "1"]
    assert cells["prefork -c 4, acks_late=true"][:6] == ["--kill-child-at 1.75s", "1", "0", "0", "1", "1"]
    # the loss is the event's doing, and said so, not Celery's misbehaviour
    assert "acks_late=false: under its deploy event (--kill-child-at 1.75s), in 1 of 1 repeat: 1 task lost" in text


def test_a_rolling_restart_stops_each_worker_once_its_fresh_one_is_ready_and_loses_nothing(tmp_path):
    out = tmp_path / "run.json"
    done = run_bench(
        "run", "--pool", "prefork", "-c", "2", "--workers", "2", "--workload", "sleep", "--task-ms", "500",
        "--warmup", "2", "--rolling-restart", "1.75s", "--json", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    tasks, events = doc["summary"]["tasks"], doc["summary"]["deploy"]["events"]
    assert [e["node"] for e in events] == [0, 1]  # one at a time, in order
    assert all(e["kind"] == "stop" and e["replacement_ready_s"] == 0 and not e["forced"] for e in events)
    assert events[1]["at_s"] >= events[0]["at_s"] + events[0]["drain_s"]  # the next once the last one exited
    assert (tasks["lost"], tasks["interrupted"], tasks["duplicates"]) == (0, 0, 0)
    assert "its fresh worker was ready before it" in done.stdout


def test_a_live_workers_task_held_past_the_visibility_timeout_is_not_delivered_again(tmp_path):
    # Celery's documentation: redelivered once unacknowledged for longer than the visibility timeout.
    # Observed (kombu 5.7.0): kombu sweeps a worker's unacknowledged messages when it starts, and not
    # again within minutes, so a worker that stays up runs its task once (docs/deploys.md).
    out = tmp_path / "run.json"
    options = ["--pool", "prefork", "-c", "2", "--workload", "sleep", "--task-ms", "12000", "--tasks", "1"]
    done = run_bench("run", *options, "--warmup", "0", "--acks-late", "--visibility-timeout", "5", "--json", out)
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    assert (doc["config"]["visibility_timeout"], doc["config"]["acks_late"]) == (5.0, True)
    assert doc["summary"]["tasks"]["duplicates"] == 0
    assert doc["samples"]["state"] == ["SUCCESS"]


def test_a_broker_restart_loses_what_the_broker_and_the_workers_held_and_the_workers_reconnect(tmp_path):
    doc, shown = measured(tmp_path, "--broker-restart-at", "1.25s")
    tasks, (event,) = doc["summary"]["tasks"], doc["summary"]["deploy"]["events"]
    assert event["kind"] == "broker_restart"
    assert event["node"] is None
    assert 0 < event["down_s"] < 5
    # By construction: waves of 4 x 500 ms start at 0, 0.5 and 1.0 s. At 1.25 s, what the broker held (it
    # keeps nothing on disk) and what the workers had reserved (dropped with the lost connection) never runs;
    # what was running finishes.
    assert 4 <= tasks["succeeded"] <= 12
    assert tasks["lost"] == tasks["missing"] == tasks["published"] - tasks["succeeded"]
    assert (tasks["duplicates"], tasks["redelivered"]) == (0, 0)
    findings = {f["kind"]: f for f in doc["summary"]["health"]["findings"]}
    assert findings["lost"]["cause"] == "broker_restart"
    assert findings["reconnects"]["count"] >= 1  # the worker's log: it lost the broker and came back
    assert "SIGTERM to the embedded broker" in shown
    assert "the broker answered again" in shown
    # the broker's CPU over the window, its first process's and the restarted one's, is counted (it was None: the
    # first process was gone at the end); a light batch's may round to 0.0 (the kernel counts it in 10 ms ticks)
    assert doc["summary"]["resources"]["broker_cpu_s"] is not None


def test_a_broker_restart_is_the_embedded_brokers_only(tmp_path):
    done = run_bench("run", *POINT, "--broker", "redis://127.0.0.1:6379/0", "--broker-restart-at", "1s")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "python -m bench run: error: --broker-restart-at: restarts the embedded broker, not one of yours (left "
        "as it was found); leave out --broker"
    ]

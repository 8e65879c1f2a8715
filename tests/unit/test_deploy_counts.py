"""Deploy events on known-by-construction records: what a stop, a crash or
a killed pool process cost (measure/deploy.py), the options that ask for
one, and how a run with one is judged."""

import argparse

import pytest

from bench.analysis.stats import TaskRecord
from bench.cli import option_types
from bench.errors import UsageError
from bench.measure.config import build_run_config, deploy_plan
from bench.measure.deploy import counts, recovery_after
from bench.measure.result import decide_status
from bench.results.schema import DeployEvent, DeployFigures, RunSummary, TaskCounts
from bench.sweep.plan import run_config_for


def record(task_id, pid, finished=1.0, redelivered=False):
    return TaskRecord(task_id, 0.0, finished - 0.5, finished, "SUCCESS", pid, redelivered=redelivered)


def test_a_killed_childs_task_is_lost_and_interrupted():
    published = ["a", "b", "c"]
    records = [record("a", 11), record("b", 12)]
    starts = [{"id": "a", "pid": 11}, {"id": "b", "pid": 12}, {"id": "c", "pid": 13}]
    assert counts(published, records, starts, dead={13}) == (1, 0, 1)


def test_a_task_requeued_from_a_dead_process_and_finished_elsewhere_is_interrupted_and_redelivered_not_lost():
    published = ["a", "b"]
    records = [record("a", 11), record("b", 12, redelivered=True)]
    starts = [
        {"id": "a", "pid": 11},
        {"id": "b", "pid": 13},  # killed mid-task
        {"id": "b", "pid": 13, "worker_lost": True},  # Celery's own report: not a start
        {"id": "b", "pid": 12, "redelivered": True},
    ]
    assert counts(published, records, starts, dead={13}) == (0, 1, 1)


def test_a_task_still_running_in_a_live_process_is_not_interrupted():
    assert counts(["a"], [], [{"id": "a", "pid": 11}], dead=set()) == (1, 0, 0)


def test_starts_of_tasks_outside_the_batch_are_left_out():
    starts = [{"id": "warm", "pid": 13, "redelivered": True}]
    assert counts(["a"], [record("a", 11)], starts, dead={13}) == (0, 0, 0)


def test_no_dip_recovers_at_once():
    finished = [i * 0.1 for i in range(1, 61)]  # 10 tasks/s for 6 s
    before, recovery = recovery_after(finished, event_at=3.0, begun=0.0)
    assert before == pytest.approx(10.0)
    assert recovery == 0.0


def test_a_gap_after_the_event_is_the_time_to_recover():
    # 10/s until 3 s, nothing for 1.5 s, 10/s again to 8 s
    finished = [i * 0.1 for i in range(1, 31)] + [4.5 + i * 0.1 for i in range(1, 36)]
    before, recovery = recovery_after(finished, event_at=3.0, begun=0.0)
    assert before == pytest.approx(10.0)
    # 20 tasks in the 2 s before; the first 2 s window after the event with 18 of them
    # starts 1.3 s after it ([4.3, 6.3): 0.2 s of the gap, then 1.8 s at 10/s)
    assert recovery == pytest.approx(1.3, abs=0.06)


def test_a_batch_that_ends_before_the_level_comes_back_has_not_recovered():
    finished = [i * 0.1 for i in range(1, 31)] + [3.5, 3.9, 4.4]
    before, recovery = recovery_after(finished, event_at=3.0, begun=0.0)
    assert before == pytest.approx(10.0)
    assert recovery is None


def test_an_event_at_the_very_start_has_no_level_to_recover_to():
    assert recovery_after([0.05, 0.1, 0.2], event_at=0.1, begun=0.0) == (None, None)


def test_one_deploy_event_a_run():
    assert deploy_plan() is None
    plan = deploy_plan(kill_child_at=1.5)
    assert (plan.kind, plan.at_s, plan.option) == ("kill_child", 1.5, "--kill-child-at")
    assert deploy_plan(stop_at=2, stop_grace=5).stop_grace_s == 5
    assert deploy_plan(stop_at=2).stop_grace_s == 30.0  # Kubernetes' default
    with pytest.raises(UsageError, match="--stop-at/--kill-at: one deploy event a run"):
        deploy_plan(stop_at=1, kill_at=2)
    with pytest.raises(UsageError, match="--stop-grace: the grace of a --stop-at"):
        deploy_plan(kill_at=1, stop_grace=5)


def test_a_deploy_event_refuses_what_it_cannot_strike():
    with pytest.raises(UsageError, match="--kill-child-at: kills a pool process, and only prefork has them"):
        build_run_config(pool="threads", concurrency=4, workload="sleep", task_ms=100, kill_child_at=1)
    with pytest.raises(UsageError, match="--kill-at: drained runs only for now; leave out --rate"):
        build_run_config(pool="threads", concurrency=4, workload="sleep", task_ms=100, rate=10, kill_at=1)


def test_a_default_batch_outlasts_its_event():
    plain = build_run_config(pool="prefork", concurrency=4, workload="sleep", task_ms=500)
    struck = build_run_config(pool="prefork", concurrency=4, workload="sleep", task_ms=500, kill_child_at=3)
    assert struck.deploy is not None
    # 8 tasks/s expected: at least 2 x 3 s + 2 s of them
    assert struck.tasks >= 8 * 8 > plain.tasks


@pytest.mark.parametrize(("text", "seconds"), [("3", 3.0), ("3s", 3.0), ("500ms", 0.5), ("2m", 120.0), ("1.5h", 5400)])
def test_durations_read_as_people_write_them(text, seconds):
    assert option_types.duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["0", "-1s", "soon", "3 weeks", "nan"])
def test_a_bad_duration_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        option_types.duration(text)


def _summary(missing, events=True):
    event = DeployEvent(kind="kill_child", at_s=1.5, node=0, pid=13)
    deploy = DeployFigures(asked="--kill-child-at 1.5s", events=(event,) if events else ())
    tasks = TaskCounts(published=10, succeeded=10 - missing, failed=0, missing=missing, duplicates=0, lost=missing)
    return RunSummary(throughput_per_s=5.0, tasks=tasks, deploy=deploy)


def test_tasks_lost_to_a_deploy_event_are_the_result_not_a_failure():
    assert decide_status("lost", "1 task left", _summary(missing=1)).state == "ok"
    assert decide_status("complete", None, _summary(missing=0)).state == "ok"


def test_a_run_whose_batch_ended_before_its_event_failed():
    status = decide_status("complete", None, _summary(missing=0, events=False))
    assert status.state == "failed"
    assert (
        status.reason == "the batch ended (complete) before --kill-child-at 1.5s: nothing was struck; give more --tasks"
    )


def test_a_worker_that_died_of_itself_under_a_deploy_event_still_fails_the_run():
    assert decide_status("worker exited", "killed by SIGSEGV", _summary(missing=3)).state == "failed"


def configure(*argv):
    from bench.cli import COMMANDS, create_parser

    return COMMANDS[argv[0]].configure(create_parser().parse_args(list(argv)))


@pytest.mark.usefixtures("nothing_is_started")
def test_acks_late_and_a_deploy_event_reach_a_run_and_every_run_of_a_sweep():
    cfg = configure("run", "--acks-late", "--kill-child-at", "1.5s", "--pool", "prefork", "--task-ms", "500")
    assert cfg.acks_late is True
    assert (cfg.deploy.kind, cfg.deploy.at_s) == ("kill_child", 1.5)
    assert configure("run").acks_late is False
    request = configure("sweep", "--acks-late", "--stop-at", "2s", "--stop-grace", "5s", "--pools", "prefork",
                        "--concurrency", "4", "--workloads", "sleep", "--task-ms", "500", "--dry-run")  # fmt: skip
    sweep_cfg = request.config
    assert (sweep_cfg.acks_late, sweep_cfg.stop_at, sweep_cfg.stop_grace) == (True, 2.0, 5.0)
    one = run_config_for(sweep_cfg, request.plan[0])
    assert one.acks_late is True
    assert (one.deploy.kind, one.deploy.at_s, one.deploy.stop_grace_s) == ("stop", 2.0, 5.0)
    # its batch outlasts the event: 8 tasks/s for at least 2 x 2 s + 2 s
    assert request.plan[0].tasks >= 48


@pytest.mark.usefixtures("nothing_is_started")
def test_acks_late_as_an_option_and_an_axis_is_refused():
    with pytest.raises(UsageError, match="--acks-late: acks_late is also varied"):
        configure("sweep", "--acks-late", "--vary", "acks_late=false,true", "--dry-run")


def test_a_rolling_restart_needs_workers_to_roll_over_and_its_batch_outlasts_every_step():
    with pytest.raises(UsageError, match="--rolling-restart: restarts --workers N one at a time"):
        build_run_config(pool="prefork", concurrency=2, workload="sleep", task_ms=500, rolling_restart=1)
    cfg = build_run_config(pool="prefork", concurrency=2, workers=2, workload="sleep", task_ms=500, rolling_restart=1)
    assert (cfg.deploy.kind, cfg.deploy.option, cfg.deploy.stop_grace_s) == ("rolling", "--rolling-restart", 30.0)
    # 8 tasks/s over both workers, for 2 x 1 s + 2 s and a 3 s step per worker
    assert cfg.tasks >= 8 * 10
    assert deploy_plan(rolling_restart=1, stop_grace=5).stop_grace_s == 5


def test_the_ceiling_counts_the_fresh_worker_that_runs_beside_a_draining_one():
    def peak(**event):
        return build_run_config(pool="prefork", concurrency=2, workers=2, workload="sleep", task_ms=500, **event)

    # a rolling restart's surge and a stop's replacement run beside the old worker while it drains
    assert peak(rolling_restart=1).peak_workers == peak(stop_at=1).peak_workers == 3
    # a crash's fresh worker replaces a dead one; a killed pool process is replaced inside its worker
    assert peak(kill_at=1).peak_workers == peak(kill_child_at=1).peak_workers == peak().peak_workers == 2


def test_what_a_deploy_event_caused_is_not_called_celerys_misbehaviour():
    from bench.analysis.summary import warning_about
    from bench.output.health import health_lines
    from bench.results.schema import Finding, Health

    health = Health((Finding(kind="lost", count=1, cause="pool_restart"),))
    assert health_lines(health, 40)[0] == "health: 1 finding (Celery misbehaved)"
    assert health_lines(health, 40, struck=True)[0] == "health: 1 finding (under the deploy event: its cost is above)"
    assert warning_about("under its deploy event (--kill-at 1.75s), in 3 of 3 repeats: 12 tasks lost") == "deploy event"


def test_a_broker_restart_is_one_deploy_event_of_the_embedded_broker_only():
    from bench.errors import UsageError
    from bench.measure.config import build_run_config, deploy_plan

    plan = deploy_plan(broker_restart_at=2.0)
    assert plan is not None
    assert (plan.kind, plan.at_s, plan.option) == ("broker_restart", 2.0, "--broker-restart-at")
    with pytest.raises(UsageError, match="one deploy event a run"):
        deploy_plan(kill_at=1.0, broker_restart_at=2.0)
    cfg = build_run_config(pool="solo", workload="sleep", broker_restart_at=1.0)
    assert cfg.deploy is not None
    assert cfg.deploy.kind == "broker_restart"
    with pytest.raises(UsageError, match="restarts the embedded broker, not one of yours"):
        build_run_config(pool="solo", workload="sleep", broker="redis://127.0.0.1:6379/0", broker_restart_at=1.0)


def test_a_sweep_restarts_the_embedded_broker_in_every_repeat_and_refuses_a_broker_of_yours():
    from bench.errors import UsageError
    from bench.sweep.config import build_sweep_config
    from bench.sweep.plan import plan_sweep, run_config_for

    cfg = build_sweep_config(pools=["prefork"], concurrency=[2], workloads=["sleep"], broker_restart_at=1.5)
    point = plan_sweep(cfg, cores=2.0)[0]
    deploy = run_config_for(cfg, point).deploy
    assert deploy is not None
    assert (deploy.kind, deploy.at_s) == ("broker_restart", 1.5)
    with pytest.raises(UsageError, match="--broker-restart-at: restarts the embedded broker"):
        build_sweep_config(pools=["prefork"], broker="redis://127.0.0.1:6379/0", broker_restart_at=1.5)

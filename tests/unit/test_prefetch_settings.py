"""Who waits (issue 24): -O, worker_disable_prefetch and worker_eta_task_limit
as run options and --vary axes, the worker they make (command line, app
settings, the plain worker's and an agent's), their read-back from the
worker, and what the run records."""

import dataclasses
import json

import pytest

from bench.cli import COMMANDS, create_parser, main
from bench.errors import UsageError
from bench.fleet.agent import Agent
from bench.fleet.options import AgentConfig
from bench.fleet.remote import _worker_spec
from bench.fleet.signing import Refused
from bench.harness import readback
from bench.harness.broker import Broker
from bench.harness.plain import PlainSpec
from bench.harness.worker import WorkerSpec, setting_overrides
from bench.measure import runner
from bench.measure.config import build_run_config
from bench.measure.reference import plain_spec
from bench.measure.result import run_settings
from bench.measure.settings import parse_value
from bench.output.terminal import prefetch_lines
from bench.results.schema import BrokerInfo, RunSettings, run_from_json, run_to_json
from bench.sweep.config import PROFILES, build_sweep_config
from bench.sweep.plan import build_plan, run_config_for
from tests.helpers.hand_made_run import golden_result

AMQP = "amqp://guest:s3cret@127.0.0.1:5672//"
REDIS = Broker(url="redis://:pw@127.0.0.1:6390/0", kind="redis", server="valkey 9", embedded=True)
EVERY_SETTING = {"optimization": "fair", "disable_prefetch": True, "eta_task_limit": 10}


def configure(*argv):
    return COMMANDS[argv[0]].configure(create_parser().parse_args(list(argv)))


def spec(**changes):
    base = dict(pool="prefork", concurrency=2, queue="q", nodename="n@h", prefetch_multiplier=4, loglevel="warning")
    return WorkerSpec(**{**base, "result_backend": "none", **changes})


# --- Options and axes -------------------------------------------------------------


@pytest.mark.usefixtures("nothing_is_started")
def test_the_run_options_reach_the_run_config():
    cfg = configure("run", "--optimization", "fair", "--disable-prefetch", "--eta-task-limit", "10")
    assert (cfg.optimization, cfg.disable_prefetch, cfg.eta_task_limit) == ("fair", True, 10)
    default = configure("run")
    assert (default.optimization, default.disable_prefetch, default.eta_task_limit) == (None, False, None)
    assert configure("run", "--optimization", "default").optimization == "default"


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("optimization", "default", "default"),
        ("optimization", " fair", "fair"),
        ("disable_prefetch", "true", True),
        ("disable_prefetch", "off", False),
        ("eta_task_limit", "1", 1),
        ("eta_task_limit", "250", 250),
    ],
)
def test_each_axis_parses_its_values(name, text, value):
    assert parse_value(name, text) == value


def test_the_axes_cross_and_each_point_runs_with_its_own_values():
    cfg = build_sweep_config(
        pools=["prefork"],
        workloads=["sleep"],
        concurrency=[2],
        profile="quick",
        vary=[
            ("optimization", ("default", "fair")),
            ("disable_prefetch", ("false", "true")),
            ("eta_task_limit", ("5", "50")),
        ],
    )
    points = build_plan(cfg.pools, cfg.workloads, PROFILES["quick"], 2.0, [0, 1], concurrency=[2], vary=cfg.vary)
    assert len(points) == 8
    assert "sleep-50ms-prefork-c2-optimization=fair-disable_prefetch=true-eta_task_limit=50" in {p.key for p in points}
    first, last = run_config_for(cfg, points[0]), run_config_for(cfg, points[-1])
    assert (first.optimization, first.disable_prefetch, first.eta_task_limit) == ("default", False, 5)
    assert (last.optimization, last.disable_prefetch, last.eta_task_limit) == ("fair", True, 50)


@pytest.mark.usefixtures("nothing_is_started")
def test_a_sweep_takes_them_as_axes():
    request = configure(
        "sweep", "--pools", "prefork", "--workloads", "sleep", "--concurrency", "2", "--profile", "quick",
        "--vary", "optimization=default,fair", "--vary", "disable_prefetch=true", "--vary", "eta_task_limit=4",
    )  # fmt: skip
    runs = [run_config_for(request.config, point) for point in request.plan]
    assert {(r.optimization, r.disable_prefetch, r.eta_task_limit) for r in runs} == {
        ("default", True, 4),
        ("fair", True, 4),
    }


BAD_INPUT = [
    (["run", "--optimization", "fast"], "--optimization"),
    (["run", "--eta-task-limit", "-1"], "--eta-task-limit"),
    (["run", "--eta-task-limit", "0"], "--eta-task-limit"),
    (["run", "--eta-task-limit", "ten"], "--eta-task-limit"),
    (["run", "--disable-prefetch", "yes"], "unrecognized arguments"),
    (["run", "--disable-prefetch", "--broker", AMQP], "--disable-prefetch"),
    (["sweep", "--vary", "optimization=x"], "--vary optimization"),
    (["sweep", "--vary", "optimization=fair,fair"], "--vary optimization"),
    (["sweep", "--vary", "disable_prefetch=maybe"], "--vary disable_prefetch"),
    (["sweep", "--vary", "eta_task_limit=0"], "--vary eta_task_limit"),
    (["sweep", "--vary", "eta_task_limit=-1"], "--vary eta_task_limit"),
    (["sweep", "--vary", "disable_prefetch=false,true", "--broker", AMQP], "--vary disable_prefetch"),
    (["sweep", "--vary", f"broker=embedded,{AMQP}", "--vary", "disable_prefetch=true"], "--vary disable_prefetch"),
]


@pytest.mark.usefixtures("nothing_is_started")
@pytest.mark.parametrize(("argv", "option"), BAD_INPUT, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input_exits_2_with_one_line_naming_the_option(capsys, argv, option):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert option in err
    assert "s3cret" not in err
    assert out == ""


def test_disabling_prefetch_with_amqp_says_why_and_redis_is_taken():
    with pytest.raises(UsageError, match=r"Redis brokers only, and the broker .* is AMQP") as refused:
        build_run_config(broker=AMQP, disable_prefetch=True)
    assert "s3cret" not in str(refused.value)
    assert build_run_config(broker="rediss://127.0.0.1:6379/0", disable_prefetch=True).disable_prefetch is True
    assert build_run_config(broker=AMQP).disable_prefetch is False  # off: nothing to refuse
    # a sweep whose AMQP points do not disable it is fine
    cfg = build_sweep_config(broker=AMQP, vary=[("disable_prefetch", ("false",))])
    assert cfg.vary == (("disable_prefetch", ("false",)),)


def test_the_config_builder_checks_what_the_cli_types_check():
    with pytest.raises(UsageError, match="--optimization: unknown 'fast'"):
        build_run_config(optimization="fast")
    for bad in (0, -1, True):
        with pytest.raises(UsageError, match="--eta-task-limit"):
            build_run_config(eta_task_limit=bad)


def test_the_help_teaches_what_each_does():
    sub = next(a for a in create_parser()._actions if a.dest == "command")
    text = " ".join(sub.choices["run"].format_help().split())
    for words in (
        "--optimization {default,fair} the worker's -O",
        "--disable-prefetch worker_disable_prefetch, Redis brokers only",
        "--eta-task-limit N worker_eta_task_limit",
    ):
        assert words in text
    swp = " ".join(sub.choices["sweep"].format_help().split())
    assert all(name in swp for name in EVERY_SETTING)  # the --vary axes


# --- The worker -----------------------------------------------------------------------


def test_the_worker_gets_each_setting_on_its_command_line_and_as_app_settings():
    argv = spec(**EVERY_SETTING).argv()
    assert argv[argv.index("-O") : argv.index("-O") + 3] == ["-O", "fair", "--disable-prefetch"]
    assert argv[-1] == "worker.eta_task_limit=10"
    assert setting_overrides(spec(**EVERY_SETTING)) == {
        "worker_disable_prefetch": True,
        "worker_eta_task_limit": 10,
        "worker_prefetch_multiplier": 4,
    }
    plain = spec().argv()
    assert not any(a in ("-O", "--disable-prefetch") or "eta_task_limit" in a for a in plain)
    assert setting_overrides(spec()) == {"worker_prefetch_multiplier": 4}


def test_the_run_config_makes_the_workers_spec_and_the_plain_workers():
    cfg = build_run_config(**EVERY_SETTING)
    made = runner.worker_spec(cfg, "r1", "q")
    assert (made.optimization, made.disable_prefetch, made.eta_task_limit) == ("fair", True, 10)
    plain = plain_spec(cfg, REDIS, "r1", "q")
    assert (plain.optimization, plain.disable_prefetch, plain.eta_task_limit) == ("fair", True, 10)


def test_the_plain_worker_runs_the_same_options():
    same = dict(pool="prefork", concurrency=2, queue="q", nodename="n@h", loglevel="info", **EVERY_SETTING)
    argv = PlainSpec(app="proj", broker_url=REDIS.url, result_backend=None, events=False, **same).argv()
    harness = WorkerSpec(**same, prefetch_multiplier=None, result_backend="none").argv()
    assert argv[argv.index("worker") + 1 :] == harness[harness.index("proj") + 1 :]


def test_an_agent_starts_its_workers_with_the_settings_and_refuses_bad_ones():
    agent = Agent(AgentConfig("redis://:pw@127.0.0.1:1/0", "a", ("proj",), None, b"s" * 32), broker=None)
    base = {"pool": "prefork", "concurrency": 2, "prefetch_multiplier": 4, "loglevel": "warning"}
    base |= {"result_backend": "none", "queue": "q"}
    made = agent._spec({**base, **EVERY_SETTING}, "proj", "n@h")
    assert (made.optimization, made.disable_prefetch, made.eta_task_limit) == ("fair", True, 10)
    older = agent._spec(base, "proj", "n@h")  # an older harness's spec: the worker's own
    assert (older.optimization, older.disable_prefetch, older.eta_task_limit) == (None, False, None)
    for bad in ({"optimization": "fast"}, {"disable_prefetch": "yes"}, {"eta_task_limit": 0}):
        with pytest.raises(Refused, match=f"bad {next(iter(bad))}"):
            agent._spec({**base, **bad}, "proj", "n@h")


def test_the_harness_sends_agents_the_settings():
    sent = _worker_spec(build_run_config(**EVERY_SETTING), ["n@h"], "q")
    assert {name: sent[name] for name in EVERY_SETTING} == EVERY_SETTING


# --- Read back, checked and recorded ----------------------------------------------------------

PREFORK = {
    "implementation": "celery.concurrency.prefork:TaskPool",
    "max-concurrency": 2,
    "max-tasks-per-child": "N/A",
    "writes": {"total": 0, "strategy": "fair"},
}
STATS = {"pid": 4242, "pool": PREFORK, "prefetch_count": 8, "broker": {"transport": "redis"}}
CONF = {"worker_disable_prefetch": True, "worker_eta_task_limit": 10}


def report(stats=None, conf=None):
    return readback.report_of({**STATS, **(stats or {})}, CONF if conf is None else conf, [], [], "proj.tasks.sleep", 2)


def test_the_report_has_each_setting_as_the_worker_runs_it():
    got = report()
    assert (got["sched_strategy"], got["disable_prefetch"], got["eta_task_limit"]) == ("fair", True, 10)


def test_settings_the_worker_left_alone_read_as_celerys_defaults_and_other_pools_have_no_strategy():
    threads = {"implementation": "celery.concurrency.thread:TaskPool", "max-concurrency": 2}
    got = report(stats={"pool": threads}, conf={})
    assert (got["sched_strategy"], got["disable_prefetch"], got["eta_task_limit"]) == (None, False, None)
    fcfs = report(stats={"pool": {**PREFORK, "writes": {"strategy": "fcfs"}}})
    assert fcfs["sched_strategy"] == "fcfs"
    assert report(stats={"pool": {**PREFORK, "writes": "N/A"}})["sched_strategy"] is None


@pytest.mark.parametrize(
    ("intended", "words"),
    [
        ({"sched_strategy": "fcfs"}, "sched_strategy='fair', not the 'fcfs' the harness meant"),
        ({"disable_prefetch": False}, "disable_prefetch=True, not the False the harness meant"),
        ({"eta_task_limit": 5}, "eta_task_limit=10, not the 5 the harness meant"),
    ],
)
def test_a_setting_the_worker_did_not_take_fails_the_run_in_one_line(intended, words):
    with pytest.raises(readback.SettingMismatch) as failure:
        readback.check(intended, {"a@h": report()})
    assert words in str(failure.value)
    assert "\n" not in str(failure.value)


def test_the_harness_means_its_own_settings_and_leaves_the_default_strategy_to_the_worker():
    meant = runner.intended_settings(build_run_config(**EVERY_SETTING), REDIS)
    assert (meant["sched_strategy"], meant["disable_prefetch"], meant["eta_task_limit"]) == ("fair", True, 10)
    agreed = readback.check(meant, {"a@h": report()})
    assert (agreed["sched_strategy"], agreed["disable_prefetch"], agreed["eta_task_limit"]) == ("fair", True, 10)
    default = runner.intended_settings(build_run_config(optimization="default"), REDIS)
    # -O default (or none) is whatever the worker's Celery makes of it: 5.7 makes it fair
    assert (default["sched_strategy"], default["disable_prefetch"], default["eta_task_limit"]) == (None, False, None)
    other = runner.intended_settings(build_run_config(pool="threads", optimization="fair"), REDIS)
    assert other["sched_strategy"] is None  # the other pools take no strategy


def test_the_run_records_each_setting_and_then_the_workers_own():
    cfg = build_run_config(optimization="default", disable_prefetch=True, eta_task_limit=10)
    settings = run_settings(cfg, BrokerInfo(kind="redis"), "disabled://", None)
    assert (settings.optimization, settings.sched_strategy) == ("default", None)
    assert (settings.disable_prefetch, settings.eta_task_limit) == (True, 10)
    reported = runner.with_report(settings, {"a@h": report()})
    assert (reported.optimization, reported.sched_strategy) == ("default", "fair")
    unset = run_settings(build_run_config(), BrokerInfo(kind="redis"), "disabled://", None)
    assert (unset.optimization, unset.sched_strategy, unset.disable_prefetch, unset.eta_task_limit) == (
        None,
        None,
        False,
        None,
    )


def test_the_settings_go_through_the_run_document():
    result = golden_result()
    config = dataclasses.replace(result.config, **EVERY_SETTING, sched_strategy="fair")
    plain = run_to_json(dataclasses.replace(result, config=config))
    assert {name: plain["config"][name] for name in EVERY_SETTING} == EVERY_SETTING
    assert plain["config"]["sched_strategy"] == "fair"
    assert run_from_json(json.loads(json.dumps(plain))).config == config


def test_the_terminal_says_them_only_where_given():
    assert prefetch_lines(RunSettings(pool="prefork", disable_prefetch=False)) == []
    line = "  prefetch        -O default (the pool schedules fair), prefetch disabled, ETA task limit 10"
    given = RunSettings(optimization="default", sched_strategy="fair", disable_prefetch=True, eta_task_limit=10)
    assert prefetch_lines(given) == [line]
    threads = RunSettings(pool="threads", optimization="fair", disable_prefetch=False)
    assert prefetch_lines(threads) == ["  prefetch        -O fair (no strategy in this pool), prefetch on"]

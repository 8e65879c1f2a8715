"""The settings of tasks in flight when a worker stops or dies (issue 26):
reject_on_worker_lost, soft_shutdown_timeout and visibility_timeout as run
and sweep options and --vary axes, the worker they make (command line,
environment, app settings), their read-back from the worker, and what the
run records."""

import dataclasses
import json
import sys

import pytest

from bench.analysis.summary import analyze
from bench.cli import COMMANDS, create_parser, main
from bench.errors import UsageError
from bench.fleet.agent import Agent
from bench.fleet.options import AgentConfig
from bench.fleet.remote import _worker_spec
from bench.fleet.signing import Refused
from bench.harness import readback, worker_entry
from bench.harness.broker import Broker
from bench.harness.plain import PlainSpec
from bench.harness.plain import environment as plain_environment
from bench.harness.worker import WorkerSpec, environment, setting_overrides
from bench.measure import runner
from bench.measure.config import build_run_config
from bench.measure.reference import plain_spec
from bench.measure.result import run_settings
from bench.measure.settings import parse_value
from bench.output import markdown
from bench.results.io import read_sweep_summary
from bench.results.schema import BrokerInfo, run_from_json, run_to_json
from bench.sweep.config import PROFILES, build_sweep_config
from bench.sweep.plan import build_plan, run_config_for
from tests.helpers.hand_made_run import golden_result
from tests.helpers.paths import DATA

AMQP = "amqp://guest:s3cret@127.0.0.1:5672//"
REDIS = Broker(url="redis://:pw@127.0.0.1:6390/0", kind="redis", server="valkey 9", embedded=True)
EVERY_SETTING = {"reject_on_worker_lost": True, "soft_shutdown_timeout": 3.0, "visibility_timeout": 7.0}


def configure(*argv):
    return COMMANDS[argv[0]].configure(create_parser().parse_args(list(argv)))


def spec(**changes):
    base = dict(pool="prefork", concurrency=2, queue="q", nodename="n@h", prefetch_multiplier=4, loglevel="warning")
    return WorkerSpec(**{**base, "result_backend": "none", **changes})


# --- Options and axes -------------------------------------------------------------


@pytest.mark.usefixtures("nothing_is_started")
def test_the_run_options_reach_the_run_config_and_seconds_may_say_s():
    cfg = configure("run", "--reject-on-worker-lost", "--soft-shutdown-timeout", "10s", "--visibility-timeout", "60")
    assert (cfg.reject_on_worker_lost, cfg.soft_shutdown_timeout, cfg.visibility_timeout) == (True, 10.0, 60.0)
    assert cfg.remap_sigterm == "SIGQUIT"
    default = configure("run")
    assert (default.reject_on_worker_lost, default.soft_shutdown_timeout, default.visibility_timeout) == (
        False,
        None,
        None,
    )
    assert default.remap_sigterm is None


def test_a_soft_shutdown_timeout_of_0_is_celerys_and_needs_no_remapped_sigterm():
    cfg = build_run_config(soft_shutdown_timeout=0.0)
    assert (cfg.soft_shutdown_timeout, cfg.remap_sigterm) == (0.0, None)


@pytest.mark.usefixtures("nothing_is_started")
def test_the_sweep_options_reach_the_sweep_config_and_every_run_of_it():
    request = configure(
        "sweep", "--pools", "solo", "--workloads", "sleep", "--reject-on-worker-lost",
        "--soft-shutdown-timeout", "10", "--visibility-timeout", "5s",
    )  # fmt: skip
    cfg = request.config
    assert (cfg.reject_on_worker_lost, cfg.soft_shutdown_timeout, cfg.visibility_timeout) == (True, 10.0, 5.0)
    run = run_config_for(cfg, request.plan[0])
    assert (run.reject_on_worker_lost, run.soft_shutdown_timeout, run.visibility_timeout) == (True, 10.0, 5.0)
    assert json.loads(json.dumps(cfg.to_json()))["soft_shutdown_timeout"] == 10.0


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("reject_on_worker_lost", "true", True),
        ("reject_on_worker_lost", "off", False),
        ("soft_shutdown_timeout", "0", 0.0),
        ("soft_shutdown_timeout", "10s", 10.0),
        ("soft_shutdown_timeout", " 2.5 s", 2.5),
        ("visibility_timeout", "60", 60.0),
        ("visibility_timeout", "0.5s", 0.5),
    ],
)
def test_each_axis_parses_its_values(name, text, value):
    assert parse_value(name, text) == value


def test_the_axes_cross_and_each_point_runs_with_its_own_values():
    cfg = build_sweep_config(
        pools=["gevent"],
        workloads=["sleep"],
        concurrency=[4],
        profile="quick",
        vary=[
            ("reject_on_worker_lost", ("false", "true")),
            ("soft_shutdown_timeout", ("0", "10")),
            ("visibility_timeout", ("5", "60")),
        ],
    )
    points = build_plan(cfg.pools, cfg.workloads, PROFILES["quick"], 2.0, [0, 1], concurrency=[4], vary=cfg.vary)
    assert len(points) == 8
    assert "sleep-50ms-gevent-c4-reject_on_worker_lost=true-soft_shutdown_timeout=10-visibility_timeout=60" in {
        p.key for p in points
    }
    runs = {p.key: run_config_for(cfg, p) for p in points}
    last = runs[points[-1].key]
    assert (last.reject_on_worker_lost, last.soft_shutdown_timeout, last.visibility_timeout) == (True, 10.0, 60.0)
    assert last.remap_sigterm == "SIGQUIT"
    first = runs[points[0].key]
    assert (first.reject_on_worker_lost, first.soft_shutdown_timeout, first.visibility_timeout) == (False, 0.0, 5.0)
    assert first.remap_sigterm is None


BAD_INPUT = [
    (["run", "--soft-shutdown-timeout", "-1"], "--soft-shutdown-timeout"),
    (["run", "--soft-shutdown-timeout", "soon"], "--soft-shutdown-timeout"),
    (["run", "--soft-shutdown-timeout", "nan"], "--soft-shutdown-timeout"),
    (["run", "--soft-shutdown-timeout", "inf"], "--soft-shutdown-timeout"),
    (["run", "--visibility-timeout", "0"], "--visibility-timeout"),
    (["run", "--visibility-timeout", "ten"], "--visibility-timeout"),
    (["run", "--reject-on-worker-lost", "yes"], "unrecognized arguments"),
    (["run", "--visibility-timeout", "7", "--broker", AMQP], "--visibility-timeout"),
    (["sweep", "--visibility-timeout", "7", "--broker", AMQP], "--visibility-timeout"),
    (["sweep", "--vary", "visibility_timeout=5,60", "--broker", AMQP], "--vary visibility_timeout"),
    (["sweep", "--vary", f"broker=embedded,{AMQP}", "--visibility-timeout", "7"], "--visibility-timeout"),
    (["sweep", "--vary", "visibility_timeout=5,60", "--visibility-timeout", "7"], "--visibility-timeout"),
    (["sweep", "--vary", "soft_shutdown_timeout=0,10", "--soft-shutdown-timeout", "3"], "--soft-shutdown-timeout"),
    (["sweep", "--vary", "reject_on_worker_lost=true", "--reject-on-worker-lost"], "--reject-on-worker-lost"),
    (["sweep", "--vary", "reject_on_worker_lost=maybe"], "--vary reject_on_worker_lost"),
    (["sweep", "--vary", "soft_shutdown_timeout=0,-1"], "--vary soft_shutdown_timeout"),
    (["sweep", "--vary", "visibility_timeout=0"], "--vary visibility_timeout"),
    (["sweep", "--vary", "visibility_timeout=5,5s"], "--vary visibility_timeout"),
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


def test_the_visibility_timeout_with_amqp_is_refused_by_the_config_builder_too():
    with pytest.raises(UsageError, match="--visibility-timeout: a Redis transport option") as refused:
        build_run_config(broker=AMQP, visibility_timeout=7.0)
    assert "s3cret" not in str(refused.value)
    assert build_run_config(broker="redis://127.0.0.1:6379/0", visibility_timeout=7.0).visibility_timeout == 7.0
    with pytest.raises(UsageError, match="--soft-shutdown-timeout"):
        build_run_config(soft_shutdown_timeout=-1.0)


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_the_help_says_what_each_does_and_that_sigterm_is_remapped(command):
    sub = next(a for a in create_parser()._actions if a.dest == "command")
    text = " ".join(sub.choices[command].format_help().split())
    for option in ("--reject-on-worker-lost", "--soft-shutdown-timeout SECONDS", "--visibility-timeout SECONDS"):
        assert option in text
    assert "REMAP_SIGTERM=SIGQUIT" in text
    assert "Redis brokers only" in text


# --- The worker -----------------------------------------------------------------------


def test_the_worker_gets_each_setting_on_its_command_line_and_before_its_tasks_are_bound():
    argv = spec(acks_late=True, **EVERY_SETTING).argv()
    assert argv[-3:] == ["task.acks_late=true", "task.reject_on_worker_lost=true", "worker.soft_shutdown_timeout=3.0"]
    assert not any("transport_options" in a for a in argv)  # merged into the app's, not replaced (worker_entry)
    assert setting_overrides(spec(**EVERY_SETTING)) == {
        "task_reject_on_worker_lost": True,
        "worker_soft_shutdown_timeout": 3.0,
        "worker_prefetch_multiplier": 4,
        "broker_transport_options": {"visibility_timeout": 7.0},
    }
    plain = spec().argv()
    assert not any("reject_on_worker_lost" in a or "soft_shutdown" in a for a in plain)
    assert setting_overrides(spec()) == {"worker_prefetch_multiplier": 4}


def test_an_explicit_soft_shutdown_timeout_of_0_is_passed():
    assert spec(soft_shutdown_timeout=0.0).argv()[-1] == "worker.soft_shutdown_timeout=0.0"


def test_sigterm_is_remapped_in_the_workers_environment_only_where_the_spec_says():
    remapped = environment(spec(soft_shutdown_timeout=3.0, remap_sigterm="SIGQUIT"), REDIS, "/r", "/t", {})
    assert remapped["REMAP_SIGTERM"] == "SIGQUIT"
    assert json.loads(remapped["BENCH_CONF_OVERRIDES"])["worker_soft_shutdown_timeout"] == 3.0
    assert "REMAP_SIGTERM" not in environment(spec(), REDIS, "/r", "/t", {"PATH": "/bin"})


def test_the_run_config_makes_the_workers_spec():
    cfg = build_run_config(**EVERY_SETTING)
    made = runner.worker_spec(cfg, "r1", "q")
    assert (made.reject_on_worker_lost, made.soft_shutdown_timeout, made.visibility_timeout) == (True, 3.0, 7.0)
    assert made.remap_sigterm == "SIGQUIT"
    assert runner.worker_spec(build_run_config(), "r1", "q").remap_sigterm is None


def test_the_entry_point_merges_the_visibility_timeout_into_the_apps_transport_options(tmp_path, monkeypatch):
    name = "deploy_settings_app"
    (tmp_path / f"{name}.py").write_text(
        "from celery import Celery\n"
        "app = Celery('x', broker='memory://')\n"
        "app.conf.broker_transport_options = {'max_retries': 3, 'visibility_timeout': 10}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_app puts the directory first, as `celery -A` does
    monkeypatch.delitem(sys.modules, name, raising=False)
    app = worker_entry.load_app(name, {"broker_transport_options": {"visibility_timeout": 7.0}})
    assert app.conf.broker_transport_options == {"max_retries": 3, "visibility_timeout": 7.0}
    sys.modules.pop(name, None)


def test_the_plain_worker_runs_the_same_settings_its_own_way():
    same = dict(pool="prefork", concurrency=2, queue="q", nodename="n@h", loglevel="info", reject_on_worker_lost=True,
                soft_shutdown_timeout=3.0, visibility_timeout=7.0, remap_sigterm="SIGQUIT")  # fmt: skip
    plain = PlainSpec(app="proj", broker_url=REDIS.url, result_backend=None, events=False, **same)
    argv = plain.argv()
    harness = WorkerSpec(**same, prefetch_multiplier=None, result_backend="none").argv()
    assert argv[argv.index("worker") + 1 : -1] == harness[harness.index("proj") + 1 :]
    # the command line replaces the app's transport options: a plain worker cannot merge them
    assert argv[-1] == 'broker.transport_options=(json){"visibility_timeout": 7.0}'
    assert plain_environment(plain, "/t", {})["REMAP_SIGTERM"] == "SIGQUIT"
    assert "REMAP_SIGTERM" not in plain_environment(dataclasses.replace(plain, remap_sigterm=None), "/t", {})


def test_the_reference_makes_the_plain_worker_of_the_run():
    made = plain_spec(build_run_config(**EVERY_SETTING), REDIS, "r1", "q")
    assert (made.reject_on_worker_lost, made.soft_shutdown_timeout, made.visibility_timeout) == (True, 3.0, 7.0)
    assert made.remap_sigterm == "SIGQUIT"


def test_an_agent_starts_its_workers_with_the_settings_and_refuses_bad_ones():
    agent = Agent(AgentConfig("redis://:pw@127.0.0.1:1/0", "a", ("proj",), None, b"s" * 32), broker=None)
    base = {"pool": "prefork", "concurrency": 2, "prefetch_multiplier": 4, "loglevel": "warning"}
    base |= {"result_backend": "none", "queue": "q"}
    made = agent._spec({**base, **EVERY_SETTING}, "proj", "n@h")
    assert (made.reject_on_worker_lost, made.soft_shutdown_timeout, made.visibility_timeout) == (True, 3.0, 7.0)
    assert made.remap_sigterm == "SIGQUIT"
    older = agent._spec(base, "proj", "n@h")  # an older harness's spec: Celery's defaults
    assert (older.reject_on_worker_lost, older.soft_shutdown_timeout, older.remap_sigterm) == (False, None, None)
    for bad in ({"reject_on_worker_lost": "yes"}, {"soft_shutdown_timeout": -1}, {"visibility_timeout": 0}):
        with pytest.raises(Refused, match=f"bad {next(iter(bad))}"):
            agent._spec({**base, **bad}, "proj", "n@h")


def test_the_harness_sends_agents_the_settings():
    sent = _worker_spec(build_run_config(**EVERY_SETTING), ["n@h"], "q")
    assert {name: sent[name] for name in EVERY_SETTING} == EVERY_SETTING


# --- Read back, checked and recorded ----------------------------------------------------------

STATS = {
    "pid": 4242,
    "pool": {"implementation": "celery.concurrency.prefork:TaskPool", "max-concurrency": 2, "max-tasks-per-child": 0},
    "prefetch_count": 8,
    "broker": {"transport": "redis", "transport_options": {"visibility_timeout": 7.0}},
}
CONF = {
    "task_reject_on_worker_lost": True,
    "worker_soft_shutdown_timeout": 3.0,
    "broker_transport_options": {"visibility_timeout": 7.0},
}
REGISTERED = ["proj.tasks.sleep [acks_late=True reject_on_worker_lost=True]"]


def report(stats=None, conf=None, registered=None):
    return readback.report_of(
        {**STATS, **(stats or {})},
        conf if conf is not None else CONF,
        registered or REGISTERED,
        [],
        "proj.tasks.sleep",
        2,
    )


def test_the_report_has_each_setting_as_the_worker_runs_it():
    got = report()
    assert (got["task_reject_on_worker_lost"], got["conf_task_reject_on_worker_lost"]) == (True, True)
    assert got["soft_shutdown_timeout"] == 3.0
    assert (got["visibility_timeout"], got["conf_visibility_timeout"]) == (7.0, 7.0)


def test_settings_the_worker_left_alone_read_as_celerys_and_kombus_defaults():
    got = report(stats={"broker": {"transport": "redis", "transport_options": {}}}, conf={}, registered=[
        "proj.tasks.sleep [acks_late=False reject_on_worker_lost=None]"
    ])  # fmt: skip
    assert (got["task_reject_on_worker_lost"], got["conf_task_reject_on_worker_lost"]) == (False, None)
    assert (got["soft_shutdown_timeout"], got["visibility_timeout"], got["conf_visibility_timeout"]) == (
        0.0,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("intended", "words"),
    [
        ({"reject_on_worker_lost": False}, "reject_on_worker_lost=True, not the False the harness meant"),
        ({"soft_shutdown_timeout": 10.0}, "soft_shutdown_timeout=3.0, not the 10.0 the harness meant"),
        ({"visibility_timeout": 60.0}, "visibility_timeout=7.0, not the 60.0 the harness meant"),
        ({"remap_sigterm": "SIGINT"}, "remap_sigterm='SIGQUIT', not the 'SIGINT' the harness meant"),
    ],
)
def test_a_setting_the_worker_did_not_take_fails_the_run_in_one_line(intended, words):
    reported = {"a@h": {**report(), "remap_sigterm": "SIGQUIT"}}
    with pytest.raises(readback.SettingMismatch) as failure:
        readback.check(intended, reported)
    assert words in str(failure.value)
    assert "\n" not in str(failure.value)


def test_the_harness_means_its_own_settings_and_celerys_defaults_but_not_a_user_apps():
    meant = runner.intended_settings(build_run_config(acks_late=True, **EVERY_SETTING), REDIS)
    assert {name: meant[name] for name in (*EVERY_SETTING, "remap_sigterm")} == {
        **EVERY_SETTING,
        "remap_sigterm": "SIGQUIT",
    }
    default = runner.intended_settings(build_run_config(), REDIS)
    assert (default["reject_on_worker_lost"], default["soft_shutdown_timeout"]) == (False, 0.0)
    assert (default["visibility_timeout"], default["remap_sigterm"]) == (None, None)
    agreed = readback.check(meant, {"a@h": {**report(), "remap_sigterm": "SIGQUIT"}})
    assert {name: agreed[name] for name in EVERY_SETTING} == EVERY_SETTING


def test_the_run_records_each_setting_and_then_the_workers_own():
    cfg = build_run_config(**EVERY_SETTING)
    settings = run_settings(cfg, BrokerInfo(kind="redis"), "disabled://", None)
    assert (settings.reject_on_worker_lost, settings.soft_shutdown_timeout, settings.visibility_timeout) == (
        True,
        3.0,
        7.0,
    )
    assert settings.remap_sigterm == "SIGQUIT"
    unset = runner.with_report(run_settings(build_run_config(), BrokerInfo(kind="redis"), "disabled://", None), None)
    assert (unset.reject_on_worker_lost, unset.soft_shutdown_timeout, unset.visibility_timeout) == (False, 0.0, None)
    # a user's app's own visibility timeout: the workers say what it was
    reported = runner.with_report(unset, {"a@h": report(conf={}, registered=["proj.tasks.sleep [acks_late=False]"])})
    assert (reported.visibility_timeout, reported.reject_on_worker_lost) == (7.0, False)


def test_the_settings_go_through_the_run_document():
    result = golden_result()
    config = dataclasses.replace(result.config, **EVERY_SETTING, remap_sigterm="SIGQUIT")
    plain = run_to_json(dataclasses.replace(result, config=config))
    assert {name: plain["config"][name] for name in EVERY_SETTING} == EVERY_SETTING
    assert plain["config"]["remap_sigterm"] == "SIGQUIT"
    assert run_from_json(json.loads(json.dumps(plain))).config == config


def test_the_sweep_report_names_the_sweep_wide_settings_only_where_given():
    summary = read_sweep_summary(DATA / "v20" / "summary.json")
    text = markdown.render(summary, "complete", analyze(summary), "sweep-x")
    line = "- tasks in flight at a stop: task_reject_on_worker_lost on; soft shutdown timeout 10 s (SIGTERM as SIGQUIT)"
    assert line + "; visibility timeout 60 s\n" in text
    older = read_sweep_summary(DATA / "v19" / "summary.json")
    assert "tasks in flight" not in markdown.render(older, "complete", analyze(older), "sweep-x")

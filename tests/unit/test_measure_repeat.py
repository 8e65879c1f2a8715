"""sweep/repeat.measure_repeat, the one path from a planned point to a
written repeat, with the measuring functions replaced by seams: where each
config goes, and what is kept of a failure and of an interruption."""

import json
import signal

import pytest

from bench.errors import Interrupted, RunFailed
from bench.harness import signals
from bench.measure import runner
from bench.measure.config import build_run_config
from bench.results.io import write_run
from bench.results.schema import Metadata, RunResult, RunSettings, RunStatus
from bench.sweep import repeat
from bench.sweep.config import build_sweep_config
from bench.sweep.plan import make_plan, run_config_for


class FakeBroker:
    kind, redacted_url, server, embedded, pid = "redis", "redis://127.0.0.1:1/0", "valkey 8", True, None

    def result_backend(self, mode):
        return "disabled://" if mode == "none" else "redis://127.0.0.1:1/0"


def ok_result(cfg):
    return RunResult(
        RunStatus("ok"), RunSettings(pool=cfg.pool, prefetch_multiplier=cfg.prefetch_multiplier), Metadata()
    )


@pytest.fixture
def calls(monkeypatch):
    """Which measuring function got which config; each writes its document."""
    seen = []

    def fake(name):
        def measure(cfg, *_args, **_kwargs):
            seen.append((name, cfg))
            write_run(cfg.json_path, ok_result(cfg))
            return runner.Measured(ok_result(cfg), cfg.json_path)

        return measure

    monkeypatch.setattr(repeat.runner, "measure", fake("drain"))
    monkeypatch.setattr(repeat.openloop, "measure", fake("open loop"))
    monkeypatch.setattr(repeat.remote, "measure_on_hosts", fake("hosts"))
    monkeypatch.setattr(repeat, "secret_from_env", lambda: "s")
    return seen


def sweep_cfg(**options):
    return build_sweep_config(
        pools=("prefork",), workloads=("sleep",), concurrency=(2,), task_ms=5.0, profile="quick", **options
    )


def test_each_config_goes_to_its_own_way_of_measuring(tmp_path, calls):
    cfg = sweep_cfg(vary=(("prefetch_multiplier", ("1", "4")),))
    plan = make_plan(cfg)
    for point in plan:
        repeat.measure_repeat(run_config_for(cfg, point), tmp_path / f"{point.key}.json", FakeBroker(), None)
        repeat.measure_repeat(run_config_for(cfg, point, rate=40.0, duration=1.0, seed=1), tmp_path / "o.json",
                              FakeBroker(), None)  # fmt: skip
    hosts = sweep_cfg(hosts=("a", "b"))
    repeat.measure_repeat(run_config_for(hosts, make_plan(hosts)[0]), tmp_path / "h.json", FakeBroker(), None)
    assert [name for name, _ in calls] == ["drain", "open loop", "drain", "open loop", "hosts"]
    # the open-loop runs keep the point's varied setting, at the rate
    assert [(c.prefetch_multiplier, c.open_loop) for _, c in calls[:4]] == [
        (1, False),
        (1, True),
        (4, False),
        (4, True),
    ]
    assert calls[1][1].schedule.rate_per_s == 40.0
    assert all(c.json_path is not None for _, c in calls)


def test_a_failure_before_the_window_is_kept_with_the_workers_log_and_report(tmp_path, monkeypatch):
    def fails(cfg, *_args, **_kwargs):
        raise runner.NotMeasured(
            "the worker exited", [("w@h", "[x: ERROR/MainProcess] boom\n")], {"w@h": {"pool": "prefork"}}
        )

    monkeypatch.setattr(repeat.runner, "measure", fails)
    cfg = build_run_config(pool="prefork", concurrency=2, workload="sleep", task_ms=5.0, tasks=20, warmup=0)
    doc = repeat.measure_repeat(cfg, tmp_path / "r01.json", FakeBroker(), None)
    assert (doc.status.state, doc.status.outcome, doc.status.reason) == ("failed", "not measured", "the worker exited")
    assert doc.config.worker_reported == {"w@h": {"pool": "prefork"}}
    assert doc.worker_log == {"path": "r01.worker.log", "lines": ["[x: ERROR/MainProcess] boom"]}
    assert (tmp_path / "r01.worker.log").read_text() == "[x: ERROR/MainProcess] boom\n"
    assert json.loads((tmp_path / "r01.json").read_text())["config"]["prefetch_multiplier"] == 4


def test_a_failure_without_workers_is_kept_with_its_reason_only(tmp_path, monkeypatch):
    monkeypatch.setattr(repeat.runner, "measure", lambda *a, **k: (_ for _ in ()).throw(RunFailed("no broker")))
    cfg = build_run_config(pool="solo", workload="noop", tasks=20, warmup=0)
    doc = repeat.measure_repeat(cfg, tmp_path / "r01.json", FakeBroker(), None)
    assert (doc.status.reason, doc.worker_log, doc.config.worker_reported) == ("no broker", None, None)
    assert not (tmp_path / "r01.worker.log").exists()


def test_an_interrupted_repeat_is_renamed_so_a_resume_measures_it_again(tmp_path, monkeypatch):
    def interrupted(cfg, *_args, **_kwargs):
        write_run(cfg.json_path, ok_result(cfg))
        raise Interrupted("stop")

    monkeypatch.setattr(repeat.runner, "measure", interrupted)
    cfg = build_run_config(pool="solo", workload="noop", tasks=20, warmup=0)
    with pytest.raises(Interrupted):
        repeat.measure_repeat(cfg, tmp_path / "r01.json", FakeBroker(), None)
    assert not (tmp_path / "r01.json").exists()
    assert (tmp_path / "r01.interrupted.json").exists()


def test_a_sweep_of_a_users_task_keeps_its_apps_prefetch_multiplier_unless_one_is_given():
    assert sweep_cfg().prefetch_multiplier == 4
    assert build_sweep_config(user_task=object(), pools=("prefork",)).prefetch_multiplier is None
    assert build_sweep_config(user_task=object(), pools=("prefork",), prefetch_multiplier=3).prefetch_multiplier == 3


@pytest.mark.parametrize("error", [RunFailed("the broker went away"), TypeError("unsupported callable")])
def test_an_error_raised_after_a_stop_signal_is_the_interruption(tmp_path, monkeypatch, error):
    # A library that catches the handler's Interrupted and raises its own error
    # must not turn the user's stop into a failed attempt or a traceback.
    installed = signals.install()

    def stopped_then_failed(cfg, *_args, **_kwargs):
        write_run(cfg.json_path, ok_result(cfg))
        installed.first = signal.SIGTERM  # what the handler records before it raises
        raise error

    monkeypatch.setattr(repeat.runner, "measure", stopped_then_failed)
    cfg = build_run_config(pool="solo", workload="noop", tasks=20, warmup=0)
    try:
        with pytest.raises(Interrupted):
            repeat.measure_repeat(cfg, tmp_path / "r01.json", FakeBroker(), None)
    finally:
        installed.restore()
    assert not (tmp_path / "r01.json").exists()
    assert (tmp_path / "r01.interrupted.json").exists()


def test_an_error_without_a_stop_signal_is_not_taken_for_one(tmp_path, monkeypatch):
    monkeypatch.setattr(repeat.runner, "measure", lambda *a, **k: (_ for _ in ()).throw(TypeError("a bug")))
    cfg = build_run_config(pool="solo", workload="noop", tasks=20, warmup=0)
    with pytest.raises(TypeError, match="a bug"):
        repeat.measure_repeat(cfg, tmp_path / "r01.json", FakeBroker(), None)

"""Resume bookkeeping of a sweep directory, on hand-made repeat files."""

import json

import pytest

from bench.analysis.summarize import summarize_point
from bench.errors import RunFailed, UsageError
from bench.measure import runner
from bench.results.io import write_atomic
from bench.results.schema import sweep_summary_from_json
from bench.results.versions import SCHEMA_VERSION
from bench.sweep import run as run_mod
from bench.sweep.config import PROFILES, build_sweep_config
from bench.sweep.plan import build_plan
from bench.sweep.run import remaining_repeats, wants_more
from bench.sweep.store import SweepDir, resume, summarize


@pytest.fixture
def cfg():
    return build_sweep_config(pools=["prefork"], workloads=["sleep"], concurrency=[1, 2], profile="quick", seed=7)


@pytest.fixture
def plan(cfg):
    return build_plan(cfg.pools, cfg.workloads, PROFILES[cfg.profile], 2.0, [0, 1], concurrency=cfg.concurrency)


@pytest.fixture
def sweep(tmp_path, cfg, plan):
    target = SweepDir(tmp_path / "sweep")
    target.path.mkdir()
    target.write_manifest(cfg, plan, status="interrupted", metadata={"hostname": "test"})
    return target


def agent(name, cores):
    """One agent of a run on several hosts, as a run document holds it."""
    return {"name": name, "hostname": name, "cores": cores, "workers": 1, "tasks": 50, "offset_s": 0.0,
            "error_s": 0.0001, "probes": 10, "bound_too_wide": False}  # fmt: skip


def repeat(sweep, point, throughput, state="ok", name=None, hosts=None):
    path = sweep.point_dir(point) / name if name else sweep.next_repeat_path(point)
    write_atomic(
        path,
        {
            **({"hosts": hosts} if hosts else {}),
            "schema_version": 1,
            "kind": "run",
            "status": {"state": state, "reason": None if state == "ok" else "2 missing"},
            "config": {},
            "summary": {
                "throughput_per_s": throughput,
                "ceiling_per_s": 20.0 * point.concurrency,
                "ceiling_basis": "slots",
                "steady_throughput_per_s": throughput,
                "wait_p50_s": 0.1,
                "wait_p99_s": 0.2,
                "service_p50_s": 0.05,
                "service_p99_s": 0.06,
                "sojourn_p50_s": 0.15,
                "sojourn_p99_s": 0.25,
                "mean_concurrency": 1.0,
                "max_concurrency": 1,
                "load_average_before": [0.1, 0.1, 0.1],
                "resources": {"worker_cpu_cores": 0.1, "worker_uss_peak_bytes": 1000},
            },
            "metadata": {},
        },
    )
    return path


def test_resume_reads_the_sweeps_own_config_and_plan(sweep, cfg, plan):
    again, cfg2, plan2 = resume(sweep.path)
    assert cfg2 == cfg
    assert plan2 == plan
    assert again.path == sweep.path


def test_resume_refuses_a_directory_that_is_not_a_sweep(tmp_path):
    with pytest.raises(UsageError, match="not a sweep directory"):
        resume(tmp_path)


def test_resume_refuses_a_manifest_from_a_newer_version(sweep):
    manifest = json.loads((sweep.path / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (sweep.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match="newer"):
        resume(sweep.path)


def test_finished_repeats_are_not_redone(sweep, cfg, plan):
    first, second = plan
    for value in (19.0, 19.2, 19.1):
        repeat(sweep, first, value)
    repeat(sweep, second, 38.0)
    assert not wants_more(cfg, sweep.attempts(first))
    assert wants_more(cfg, sweep.attempts(second))
    assert remaining_repeats(cfg, sweep, plan) == 2


def test_an_interrupted_repeat_is_ignored_and_its_number_not_reused(sweep, plan):
    point = plan[0]
    repeat(sweep, point, 19.0)
    repeat(sweep, point, 5.0, state="interrupted", name="r02.interrupted.json")
    assert len(sweep.attempts(point)) == 1
    assert sweep.next_repeat_path(point).name == "r03.json"


def test_failed_repeats_count_as_attempts_and_stop_retrying(sweep, cfg, plan):
    point = plan[0]
    repeat(sweep, point, None, state="failed")
    assert wants_more(cfg, sweep.attempts(point))
    repeat(sweep, point, None, state="failed")
    assert not wants_more(cfg, sweep.attempts(point))


def test_point_summary_has_median_interval_and_raw_values(plan, sweep, cfg):
    point = plan[1]
    for value in (38.0, 39.0, 37.0):
        repeat(sweep, point, value)
    out = summarize_point(point, sweep.attempts(point), cfg.ci_target)
    assert out.repeats == 3
    assert out.throughput.median_per_s == 38.0
    assert out.throughput.values_per_s == (38.0, 39.0, 37.0)
    assert 37.0 <= out.throughput.ci95_low_per_s <= 38.0 <= out.throughput.ci95_high_per_s <= 39.0
    assert out.efficiency == pytest.approx(38.0 / 40.0)
    assert out.warnings == ()


def test_a_point_run_on_hosts_is_judged_on_their_cores(plan, sweep, cfg):
    point = plan[1]  # planned for 2 cores: the hosts' (sweep --hosts plans for them)
    for value in (38.0, 39.0, 37.0):
        repeat(sweep, point, value, hosts=[agent("a", 2.0), agent("b", 2.0)])
    out = summarize_point(point, sweep.attempts(point), cfg.ci_target)
    assert (out.cores, out.on_hosts) == (2.0, 2)
    assert out.warnings == ()


def test_hosts_with_other_cores_than_the_plans_are_judged_on_theirs_and_said_so(plan, sweep, cfg):
    point = plan[1]  # planned for 2 cores
    for value in (38.0, 39.0, 37.0):
        repeat(sweep, point, value, hosts=[agent("a", 8.0), agent("b", 8.0)])
    out = summarize_point(point, sweep.attempts(point), cfg.ci_target)
    assert (out.cores, out.on_hosts) == (8.0, 2)
    assert out.warnings == (
        "planned for 2 usable cores, run on hosts with 8: judged on theirs, but the sweep's -c values were "
        "chosen for the plan's",
    )


def test_hosts_that_differ_in_cores_are_judged_on_the_fewest_and_said_so(plan, sweep, cfg):
    point = plan[1]
    for value in (38.0, 39.0, 37.0):
        repeat(sweep, point, value, hosts=[agent("a", 2.0), agent("b", 8.0)])
    out = summarize_point(point, sweep.attempts(point), cfg.ci_target)
    assert out.cores == 2.0
    assert out.warnings == ("its hosts differ in cores (2, 8): judged on the fewest, 2",)


def test_summary_lists_every_point_once(sweep, cfg, plan):
    for point in plan:
        repeat(sweep, point, 10.0)
    summary = summarize(sweep, cfg, plan)
    assert [p.key for p in summary.points] == [p.key for p in plan]
    assert sweep_summary_from_json(json.loads((sweep.path / "summary.json").read_text())) == summary


def test_repeats_option_raises_the_minimum():
    cfg = build_sweep_config(profile="standard", repeats=5, seed=1)
    assert (cfg.min_repeats, cfg.max_repeats) == (5, 6)
    with pytest.raises(UsageError, match="--repeats"):
        build_sweep_config(repeats=0)
    with pytest.raises(UsageError, match="--profile"):
        build_sweep_config(profile="fast")


def test_a_broker_password_is_stored_redacted_and_asked_for_on_resume(tmp_path, plan):
    url = "redis://:s3cret-pw@127.0.0.1:6390/0"
    cfg = build_sweep_config(pools=["prefork"], workloads=["sleep"], concurrency=[1, 2], broker=url, seed=7)
    target = SweepDir(tmp_path / "sweep")
    target.path.mkdir()
    target.write_manifest(cfg, plan, status="interrupted", metadata={})
    assert "s3cret-pw" not in (target.path / "manifest.json").read_text()
    with pytest.raises(UsageError, match="give its URL again with --broker"):
        resume(target.path)
    with pytest.raises(UsageError, match="is not the sweep's broker"):
        resume(target.path, broker_url="redis://:other@127.0.0.1:6391/0")
    _, again, _ = resume(target.path, broker_url=url)
    assert again.broker_url == url


class _Broker:
    """What a repeat's result records of its broker."""

    kind, redacted_url, server, embedded, pid = "redis", "redis://:**@127.0.0.1:1/0", "valkey 8", True, None

    def result_backend(self, mode):
        return "disabled://"


def test_a_repeat_that_failed_before_measuring_is_kept_as_a_failed_result(sweep, cfg, plan, monkeypatch):
    def worker_did_not_start(*args, **kwargs):
        raise RunFailed("the worker did not start: ImportError: no module named proj")

    monkeypatch.setattr(runner, "measure", worker_did_not_start)
    monkeypatch.setattr(run_mod, "_pin_others", lambda cpus, pid: None)
    result = run_mod._measure_repeat(sweep, cfg, plan[0], _Broker(), None)
    assert result.status.state == "failed"
    assert result.status.outcome == "not measured"
    assert "ImportError" in result.status.reason
    assert result.summary is None
    assert result.config.pool == plan[0].pool
    assert result.config.concurrency == plan[0].concurrency
    assert result.config.broker.kind == "redis"
    ((path, kept),) = sweep.attempts(plan[0])
    assert kept == result
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION

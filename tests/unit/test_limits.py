"""Limits like a pod's (--cpu-limit, --memory-limit, --vary cpu_limit and
memory_limit): the options into the config, the ceiling on the quota and
its words, the sweep's axes, the records' round trip, the terminal's line,
and the one-line refusal where no cgroup can be made. The cgroups
themselves are tests/unit/test_cgroups.py's; a live run is
tests/integration/test_limits.py's."""

import dataclasses

import pytest

from bench.analysis.limits import UnderLimit, under_limits
from bench.analysis.summary import analyze
from bench.analysis.verdict import Best
from bench.cli import main
from bench.errors import UsageError
from bench.harness import cgroups
from bench.harness.cgroups import Applied, Figures
from bench.measure.config import build_run_config
from bench.measure.limits import window_figures, worker_limits
from bench.output.sweep_terminal import report_end
from bench.output.terminal import limits_line, run_summary
from bench.results.codec import run_from_json, run_to_json
from bench.results.schema import (
    LimitFigures,
    Metadata,
    PointSummary,
    SweepSettings,
    SweepSummary,
    ThroughputEstimate,
    WorkerLimits,
)
from bench.sweep.config import PROFILES, build_sweep_config
from bench.sweep.plan import build_plan
from bench.sweep.run import run_config_for
from bench.workloads import WORKLOADS, ceiling
from tests.helpers.hand_made_run import golden_result

MIB = 2**20
CPU = WORKLOADS["cpu"]


@pytest.fixture
def cgroups_here(monkeypatch):
    """Whether this machine could make cgroups is not these tests' concern."""
    monkeypatch.setattr(cgroups, "unavailable", lambda limits, mount=None: None)


@pytest.fixture
def no_cgroups(monkeypatch, tmp_path):
    """A machine with no cgroup hierarchy to write in."""
    empty = tmp_path / "no-cgroups"
    empty.mkdir()
    real = cgroups.unavailable
    monkeypatch.setattr(cgroups, "unavailable", lambda limits, mount=None: real(limits, empty))


# --- The ceiling -------------------------------------------------------------------


def test_the_ceiling_of_prefork_cpu_work_uses_the_quota_and_says_so():
    free = ceiling(CPU, "prefork", 2, 20.0, 2.0)
    limited = ceiling(CPU, "prefork", 2, 20.0, 2.0, cpu_limit=0.5)
    assert free.per_s == pytest.approx(100.0)
    assert limited.per_s == pytest.approx(25.0)
    assert limited.basis == "0.5 cores (the CPU quota: --cpu-limit 0.5) x 20 ms CPU per task"
    assert "quota" not in free.basis


def test_a_quota_above_what_the_pool_can_use_does_not_bind_nor_show():
    bound = ceiling(CPU, "prefork", 2, 20.0, 2.0, cpu_limit=4.0)
    assert bound == ceiling(CPU, "prefork", 2, 20.0, 2.0)
    # one process of gevent uses one core at most: a quota of 1.5 changes nothing
    assert ceiling(CPU, "gevent", 8, 20.0, 2.0, cpu_limit=1.5) == ceiling(CPU, "gevent", 8, 20.0, 2.0)


def test_each_worker_has_its_own_quota():
    bound = ceiling(CPU, "prefork", 2, 20.0, 4.0, workers=2, cpu_limit=0.5)
    assert bound.per_s == pytest.approx(50.0)
    assert "2 workers x --cpu-limit 0.5" in bound.basis
    assert ceiling(CPU, "gevent", 8, 20.0, 2.0, cpu_limit=0.25).per_s == pytest.approx(12.5)


def test_the_quota_does_not_bound_waiting():
    sleep = WORKLOADS["sleep"]
    assert ceiling(sleep, "gevent", 16, 50.0, 2.0, cpu_limit=0.5) == ceiling(sleep, "gevent", 16, 50.0, 2.0)


# --- The run's config --------------------------------------------------------------


def test_a_run_under_limits_keeps_celerys_default_c_and_sizes_its_batch_for_the_quota(cgroups_here):
    free = build_run_config(pool="prefork", workload="cpu", cores=2.0)
    cfg = build_run_config(pool="prefork", workload="cpu", cores=2.0, cpu_limit=0.5, memory_limit=256 * MIB)
    assert cfg.concurrency == free.concurrency == 2  # Celery's default: the cores, blind to the quota
    assert cfg.limits == cgroups.Limits(0.5, 256 * MIB)
    assert cfg.quota_cores == 0.5
    assert free.limits is None
    assert free.quota_cores == 2.0
    assert cfg.tasks == pytest.approx(free.tasks / 4, rel=0.1)  # the same window at a quarter of the rate


def test_limits_are_refused_in_one_line_where_no_cgroup_can_be_made(no_cgroups):
    with pytest.raises(UsageError) as caught:
        build_run_config(workload="cpu", cores=2.0, cpu_limit=0.5)
    message = str(caught.value)
    assert message.startswith("--cpu-limit: needs write access to the cgroup hierarchy")
    assert "root" in message
    assert "\n" not in message


def test_the_cli_refuses_limits_it_cannot_set_with_exit_2(no_cgroups, nothing_is_started, capsys):
    assert main(["run", "--workload", "cpu", "--memory-limit", "512MiB"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert "--memory-limit: needs write access to the cgroup hierarchy" in line


def test_the_cli_takes_the_limits_as_a_user_writes_them(cgroups_here, nothing_is_started, monkeypatch):
    seen = {}

    def capture(cfg):
        seen["cfg"] = cfg
        return 0

    monkeypatch.setattr("bench.commands.run.execute", capture)
    assert main(["run", "--workload", "cpu", "--cpu-limit", "1.5", "--memory-limit", "512MiB"]) == 0
    assert (seen["cfg"].cpu_limit, seen["cfg"].memory_limit) == (1.5, 512 * MIB)


def test_limits_with_agents_or_an_arrival_rate_are_refused(cgroups_here):
    with pytest.raises(UsageError, match="leave out --rate"):
        build_run_config(workload="cpu", cores=2.0, cpu_limit=1.0, rate=10.0)
    with pytest.raises(UsageError, match="leave out --hosts"):
        build_run_config(workload="cpu", cores=2.0, cpu_limit=1.0, hosts=["h1"])


def test_a_reference_run_under_limits_is_refused_in_one_line(cgroups_here, nothing_is_started, capsys):
    assert main(["run", "--workload", "cpu", "--cpu-limit", "1", "--reference"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "--reference: its plain worker runs without limits" in line


# --- The sweep's axes --------------------------------------------------------------


def sweep_plan(**options):
    cfg = build_sweep_config(pools=["prefork"], workloads=["cpu"], concurrency=[1, 2], profile="quick", **options)
    points = build_plan(
        cfg.pools,
        cfg.workloads,
        PROFILES["quick"],
        2.0,
        [0, 1],
        concurrency=cfg.concurrency,
        vary=cfg.vary,
        cpu_limit=cfg.cpu_limit,
    )
    return cfg, points


def test_cpu_and_memory_limits_are_axes_and_each_point_runs_under_its_own(cgroups_here):
    cfg, points = sweep_plan(vary=[("cpu_limit", ("0.5", "1", "2")), ("memory_limit", ("256MiB", "1GiB"))])
    assert len(points) == 2 * 3 * 2
    point = next(p for p in points if p.settings == (("cpu_limit", "0.5"), ("memory_limit", "1GiB")))
    assert point.key.endswith("-cpu_limit=0.5-memory_limit=1GiB")
    assert point.variant == "cpu_limit=0.5, memory_limit=1GiB"
    run = run_config_for(cfg, point)
    assert (run.cpu_limit, run.memory_limit) == (0.5, 2**30)
    # the batches are sized for each quota: the same window holds fewer tasks under a smaller one
    by_limit = {p.settings[0][1]: p.tasks for p in points if p.concurrency == 2 and p.settings[1][1] == "1GiB"}
    assert by_limit["0.5"] < by_limit["1"] < by_limit["2"]


def test_a_sweeps_own_limit_applies_to_every_point(cgroups_here):
    cfg, points = sweep_plan(cpu_limit=1.0, memory_limit=512 * MIB)
    assert (cfg.cpu_limit, cfg.memory_limit) == (1.0, 512 * MIB)
    assert cfg.to_json()["cpu_limit"] == 1.0
    assert all(
        (run_config_for(cfg, p).cpu_limit, run_config_for(cfg, p).memory_limit) == (1.0, 512 * MIB) for p in points
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"vary": [("cpu_limit", ("0.5", "0"))]}, "--vary cpu_limit: must be"),
        ({"vary": [("cpu_limit", ("half",))]}, "--vary cpu_limit: expected cores"),
        ({"vary": [("memory_limit", ("12XB",))]}, "--vary memory_limit: expected a size"),
        ({"vary": [("memory_limit", ("1KiB",))]}, "--vary memory_limit: must be at least 1MiB"),
        ({"vary": [("memory_limit", ("1GiB",))], "memory_limit": 2**30}, "--memory-limit: memory_limit is also varied"),
        ({"cpu_limit": 1.0, "rates": (5.0,)}, "leave out --rates"),
    ],
)
def test_bad_limits_in_a_sweep_are_refused(options, message):
    with pytest.raises(UsageError, match=message):
        build_sweep_config(pools=["prefork"], workloads=["cpu"], **options)


# --- What a run records ------------------------------------------------------------


def test_the_limits_are_recorded_as_read_back_with_the_c_celery_would_pick():
    limits = worker_limits(Applied(2, 50_000, 100_000, 256 * MIB, 0), cpus=2, celery_default=2)
    assert limits == WorkerLimits(2, 0.5, 50_000, 100_000, 256 * MIB, 0, 2, 1)
    memory_only = worker_limits(Applied(1, None, None, 256 * MIB, 0), cpus=2, celery_default=2)
    assert (memory_only.cpu_limit_cores, memory_only.quota_concurrency) == (None, None)


def test_the_figures_are_the_windows_throttling_and_the_highest_peak():
    before = [Figures(1.0, 10, 20, 50 * MIB, 0), Figures(0.5, 5, 10, 40 * MIB, 0)]
    after = [Figures(3.5, 40, 60, 90 * MIB, 0), Figures(1.5, 15, 30, 120 * MIB, 1)]
    figures = window_figures(before, after)
    assert figures == LimitFigures(
        throttled_s=3.5, throttled_periods=40, periods=60, memory_peak_bytes=120 * MIB, oom_kills=1
    )
    # a memory limit alone counts no throttling: unknown, not 0
    only_memory = window_figures(
        [Figures(memory_peak_bytes=MIB, oom_kills=0)], [Figures(memory_peak_bytes=MIB, oom_kills=0)]
    )
    assert (only_memory.throttled_s, only_memory.oom_kills) == (None, 0)


def limited_result():
    result = golden_result()
    return dataclasses.replace(
        result,
        config=dataclasses.replace(result.config, limits=WorkerLimits(1, 0.5, 50_000, 100_000, 512 * MIB, 0, 2, 1)),
        summary=dataclasses.replace(result.summary, limits=LimitFigures(1.25, 40, 50, 100 * MIB, 0)),
    )


def test_the_limits_and_figures_survive_the_json():
    result = limited_result()
    assert run_from_json(run_to_json(result)) == result
    document = run_to_json(result)
    assert document["config"]["limits"]["cpu_limit_cores"] == 0.5
    assert document["summary"]["limits"]["throttled_s"] == 1.25


def test_the_terminal_says_the_limits_and_what_they_did_in_one_line():
    line = limits_line(
        WorkerLimits(1, 0.5, 50_000, 100_000, 512 * MIB, 0, 2, 1), LimitFigures(1.25, 40, 50, 100 * MIB, 0)
    )
    assert line == (
        "  limits          CPU 0.5 cores, memory 512 MiB (swap off) per worker, cgroup v1: throttled 1.25 s "
        "in 80% of periods, memory high-water 100.0 MiB; Celery's default -c would be 2, the quota gives 1"
    )
    result = limited_result()
    shown = limits_line(result.config.limits, result.summary.limits)
    assert shown in run_summary(result).splitlines()
    assert "limits " not in run_summary(golden_result())


# --- A sweep's report: the best -c under each quota -------------------------------


def point(c, per_s, limit, spread=0.01):
    values = (per_s * (1 - spread), per_s, per_s * (1 + spread))
    return PointSummary(
        pool="prefork",
        concurrency=c,
        workload="cpu",
        task_ms=20.0,
        cpus=None,
        cores=2.0,
        tasks=50,
        warmup=4,
        key=f"cpu-20ms-prefork-c{c}-cpu_limit={limit:g}",
        repeats=3,
        throughput=ThroughputEstimate(per_s, values[0], values[2], spread, False, values),
        settings=(("cpu_limit", f"{limit:g}"),),
        cpu_limit=limit,
    )


def limited_sweep():
    points = (
        point(1, 24.0, 0.5),
        point(2, 21.0, 0.5),
        point(4, 19.0, 0.5),
        point(1, 47.0, 2.0),
        point(2, 88.0, 2.0),
        point(4, 87.0, 2.0),
    )
    return SweepSummary(SweepSettings(pools=("prefork",)), Metadata(cpu_count=2, usable_cores=2.0), "complete", points)


def test_the_report_says_the_best_c_under_each_quota_and_whether_celerys_default_was_it():
    summary = limited_sweep()
    analysis = analyze(summary)
    half, two = under_limits(summary, analysis)
    assert (half.cpu_limit, half.best.c, half.default_c, half.default_is_best) == (0.5, 1, 2, False)
    assert half.words == "no: Celery's default -c 2 gives 21.0/s, 12% less"
    assert (two.best.c, two.default_is_best) == (2, True)
    assert two.words == "yes: Celery's default -c 2 is the best"
    # 2x cores under half a core's quota is -c 1: -c 2 and 4 are beyond it
    assert analysis.verdicts["cpu-20ms"]["prefork [cpu_limit=0.5]"].beyond_c == 2
    text = report_end(summary, analysis)
    assert "Under limits: the best -c, and would Celery's default (os.cpu_count()) have been it?" in text
    assert "no: Celery's default -c 2 gives 21.0/s, 12% less" in text
    assert under_limits(dataclasses.replace(summary, points=summary.points[:0]), analysis) == []


def test_on_a_flat_curve_celerys_default_is_as_good_as_any():
    flat = UnderLimit("cpu 20 ms", "prefork [cpu_limit=0.5]", 0.5, Best(None, 23.5, True, None, (1, 2)), 2, 23.5, True)
    assert flat.words == "as good: no -c stands out (flat), Celery's default -c 2 neither"


def memory_point(c, per_s, failed=False):
    limited = dataclasses.replace(point(c, per_s, 2.0), settings=(("memory_limit", "192MiB"),), cpu_limit=None)
    limited = dataclasses.replace(limited, key=f"cpu-20ms-prefork-c{c}-memory_limit=192MiB", memory_limit=192 * MIB)
    if failed:  # every repeat OOM-killed: nothing measured
        reason = "3 repeats failed: 0 failed and 5 missing of 40 tasks (lost); the worker was OOM-killed 3 times"
        return dataclasses.replace(limited, repeats=0, failed_repeats=3, throughput=None, warnings=(reason,))
    return limited


def test_under_a_memory_limit_celerys_default_may_be_oom_killed_and_the_best_c_is_one_that_fits():
    points = (memory_point(1, 47.0), memory_point(2, 0.0, failed=True), memory_point(4, 0.0, failed=True))
    summary = SweepSummary(
        SweepSettings(pools=("prefork",)), Metadata(cpu_count=2, usable_cores=2.0), "complete", points
    )
    analysis = analyze(summary)
    (limited,) = under_limits(summary, analysis)
    assert (limited.memory_limit, limited.cpu_limit, limited.best.c) == (192 * MIB, None, 1)
    assert limited.words == "no: Celery's default -c 2 failed every repeat (OOM-killed)"
    text = report_end(summary, analysis)
    assert "memory 192 MiB" in text
    assert "no: Celery's default -c 2 failed every repeat (OOM-killed)" in text


def test_the_figures_mark_the_cores_a_shared_quota_gives_and_the_machines_under_several():
    from bench.analysis.groups import groups
    from bench.output.plot_style import marked_cores

    (varied,) = groups(limited_sweep()).values()  # quotas of 0.5 and 2 cores: each curve's verdict says its own
    assert marked_cores(varied, 2.0) == (2.0, "cores")
    one = [dataclasses.replace(p, settings=(), key=p.key.split("-cpu_limit")[0]) for p in limited_sweep().points[:3]]
    shared = SweepSummary(SweepSettings(pools=("prefork",)), Metadata(cpu_count=2, usable_cores=2.0), "complete", one)
    (curves,) = groups(shared).values()
    assert marked_cores(curves, 2.0) == (0.5, "quota cores")  # --cpu-limit 0.5: 2x cores is -c 1

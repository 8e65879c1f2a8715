"""sweep --traffic (issue 24): the mix in a sweep's config and manifest (so
--resume runs the same classes, whatever the file holds by then), its
points, each repeat's run config seeded with the sweep's --seed, the
scenario file's traffic table, and what it refuses in one line."""

import json

import pytest

from bench.cli import main, scenario
from bench.errors import UsageError
from bench.measure import traffic_file
from bench.sweep import rates
from bench.sweep.config import SweepConfig, build_sweep_config
from bench.sweep.plan import make_plan, run_config_for
from bench.sweep.point import Point
from bench.workloads import MIX_WORKLOAD, mix_workload

HOL = """
[[class]]
name = "short"
task_ms = 10
weight = 99

[[class]]
name = "long"
task_ms = 2000
weight = 1
"""


@pytest.fixture
def mix(tmp_path):
    path = tmp_path / "hol.toml"
    path.write_text(HOL)
    return traffic_file.read(path)


def test_the_config_keeps_the_parsed_classes_and_reads_them_back(mix, tmp_path):
    cfg = build_sweep_config(traffic=mix, pools=["prefork"], concurrency=[1], seed=5)
    assert cfg.workloads == (MIX_WORKLOAD,)
    assert cfg.traffic is not None
    assert cfg.traffic.seed == 5  # the sweep's seed is the mix's
    stored = json.loads(json.dumps(cfg.to_json()))
    (tmp_path / "hol.toml").unlink()  # a resume reads the manifest, not the file
    back = SweepConfig.from_json(stored)
    assert back.traffic == cfg.traffic
    assert back == cfg


def test_a_sweep_without_a_mix_stores_none_and_reads_back_unchanged():
    cfg = build_sweep_config(pools=["solo"], workloads=["sleep"], seed=1)
    stored = json.loads(json.dumps(cfg.to_json()))
    assert stored["traffic"] is None
    assert SweepConfig.from_json(stored) == cfg
    del stored["traffic"]  # a manifest from before sweep --traffic
    assert SweepConfig.from_json(stored) == cfg


def test_every_point_runs_the_mix_sized_by_its_weighted_demands(mix):
    cfg = build_sweep_config(
        traffic=mix, pools=["prefork"], concurrency=[1], vary=[("prefetch_multiplier", ["1", "4"])], workers=[2]
    )
    plan = make_plan(cfg)
    assert [p.workload for p in plan] == [MIX_WORKLOAD, MIX_WORKLOAD]
    assert [p.settings for p in plan] == [(("prefetch_multiplier", "1"),), (("prefetch_multiplier", "4"),)]
    point = plan[0]
    assert point.spec == mix_workload(mix.classes)
    assert point.task_ms == pytest.approx(0.99 * 10 + 0.01 * 2000)
    assert point.tasks * 0.01 >= 2  # a batch holds a few of its rarest class
    again = Point.from_json(json.loads(json.dumps(point.to_json())))
    assert again == point
    assert again.spec == point.spec


def test_each_repeat_runs_the_mix_with_the_sweeps_seed_in_both_modes(mix):
    cfg = build_sweep_config(traffic=mix, pools=["prefork"], concurrency=[1], seed=11, workers=[2], rates=[6])
    (point,) = make_plan(cfg)
    drained = run_config_for(cfg, point)
    assert drained.traffic is not None
    assert (drained.workload, drained.traffic.seed, drained.tasks, drained.workers) == ("mix", 11, point.tasks, 2)
    assert drained.traffic.classes == mix.classes
    timed = run_config_for(cfg, point, rate=6.0, duration=2.0, seed=3)
    assert timed.open_loop
    assert timed.traffic is not None
    assert timed.traffic.seed == 11  # the schedule's seed is the repeat's; the mix's stays the sweep's


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"workloads": ["sleep"]}, "leave out --workloads/--task-ms"),
        ({"task_ms": 5.0}, "leave out --workloads/--task-ms"),
        ({"hosts": ["a"]}, "leave out --hosts"),
        ({"kill_at": 1.0}, "deploy event is not supported yet; leave out --kill-at"),
    ],
)
def test_what_a_mix_sweep_refuses(mix, options, said):
    with pytest.raises(UsageError, match=said):
        build_sweep_config(traffic=mix, **options)


def test_a_mix_whose_classes_give_their_own_rates_is_refused_in_a_sweep():
    own = traffic_file.parse({"class": [{"name": "a", "rate": 5}, {"name": "b", "rate": 1}]}, "t")
    with pytest.raises(UsageError, match="give its classes weights, not rates"):
        build_sweep_config(traffic=own)


def test_an_open_loop_run_of_a_mix_lasts_long_enough_for_a_few_of_its_rarest_class(mix):
    cfg = build_sweep_config(traffic=mix, profile="quick", rates=[6, 400])
    assert rates.duration_of(cfg, 6.0) == 34.0  # 2 long tasks at 1% of 6/s
    assert rates.duration_of(cfg, 400.0) == rates.duration_of(cfg)  # the profile's window holds them
    assert rates.duration_of(cfg, 0.5) == rates.MIX_MAX_DURATION_S


@pytest.mark.usefixtures("nothing_is_started")
@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--workloads", "sleep"], "--traffic: its classes give the workloads and their sizes"),
        (["--task-ms", "5"], "--traffic: its classes give the workloads and their sizes"),
        (["--app", "proj", "--task", "proj.tasks.add"], "leave out --app/--task"),
        (["--hosts", "a,b"], "leave out --hosts"),
    ],
)
def test_bad_mix_sweeps_exit_2_in_one_line(tmp_path, capsys, extra, said):
    (tmp_path / "hol.toml").write_text(HOL)
    assert main(["sweep", "--traffic", str(tmp_path / "hol.toml"), *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert said in err


def test_the_scenario_files_traffic_table_is_the_sweeps_mix(tmp_path):
    nested = HOL.replace("[[class]]", "[[tool.celery-bench.traffic.class]]")
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.celery-bench]\nprofile = "quick"\n' + nested)
    found = scenario.read(path)
    options = scenario.options(found, "sweep", [])
    assert options["traffic"].names == ("short", "long")
    assert [c.share for c in options["traffic"].classes] == [0.99, 0.01]
    assert "traffic" not in scenario.options(found, "sweep", ["--traffic=other.toml"])  # the command line wins
    assert "traffic" not in scenario.options(found, "ab", [])


def test_a_bad_traffic_table_in_the_scenario_file_is_one_line(tmp_path):
    path = tmp_path / "celery-bench.toml"
    path.write_text('[[traffic.class]]\nname = "a"\nweight = 0\n')
    with pytest.raises(UsageError, match="weight must be above 0"):
        scenario.read(path)


@pytest.mark.usefixtures("nothing_is_started")
def test_a_dry_run_of_a_mix_sweep_shows_its_points(tmp_path, capsys):
    (tmp_path / "hol.toml").write_text(HOL)
    argv = ["sweep", "--traffic", str(tmp_path / "hol.toml"), "--pools", "prefork", "--concurrency", "1"]
    assert main([*argv, "--vary", "prefetch_multiplier=1,4", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("mix 29.9 ms") == 2

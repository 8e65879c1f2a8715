"""Paths and commands that forgive: a folder of sweeps names its latest, a
dry run starts nothing, a finished sweep says so, solo is one slot."""

import json
import shutil

import pytest

from bench.cli import main
from bench.errors import UsageError
from bench.measure.config import build_run_config
from bench.results.io import write_atomic
from bench.results.sweepdir import find_sweep
from bench.sweep.config import PROFILES, build_sweep_config
from bench.sweep.plan import build_plan
from bench.sweep.store import SweepDir
from tests.helpers.paths import DATA

SMALL_SWEEP = DATA / "sweep-small"


def test_a_sweep_directory_names_itself():
    found = find_sweep(SMALL_SWEEP)
    assert found.path == SMALL_SWEEP
    assert found.note is None


def test_a_folder_with_one_sweep_names_it_with_a_note(tmp_path):
    shutil.copytree(SMALL_SWEEP, tmp_path / "sweep-20260101T000000-quick")
    found = find_sweep(tmp_path)
    assert found.path == tmp_path / "sweep-20260101T000000-quick"
    assert "using the sweep in" in found.note


def test_a_folder_with_several_sweeps_names_the_latest_and_says_so(tmp_path):
    for stamp in ("20260102T000000", "20260101T000000", "20251231T235959"):
        shutil.copytree(SMALL_SWEEP, tmp_path / f"sweep-{stamp}-quick")
    found = find_sweep(tmp_path)
    assert found.path.name == "sweep-20260102T000000-quick"
    assert "holds 3 sweeps; using the latest" in found.note
    assert "sweep-20260101T000000-quick" in found.note


@pytest.mark.parametrize("make", ["nothing", "empty-folder"])
def test_a_path_with_no_sweep_says_so(tmp_path, make):
    path = tmp_path / "missing" if make == "nothing" else tmp_path
    with pytest.raises(UsageError, match="sweep"):
        find_sweep(path)


@pytest.mark.usefixtures("nothing_is_started")
def test_a_dry_run_prints_the_plan_and_creates_nothing(tmp_path, capsys):
    assert main(["sweep", "--profile", "quick", "--pools", "prefork", "--workloads", "sleep", "--dry-run",
                 "--output-dir", str(tmp_path / "out")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "dry run, nothing started" in out
    assert "estimated" in out
    assert "prefork" in out
    assert not (tmp_path / "out").exists()


def finished_sweep(path):
    cfg = build_sweep_config(pools=["solo"], workloads=["sleep"], profile="quick", seed=1)
    plan = build_plan(cfg.pools, cfg.workloads, PROFILES["quick"], 2.0, [0, 1])
    sweep = SweepDir(path)
    path.mkdir()
    sweep.write_manifest(cfg, plan, status="complete", metadata={"hostname": "test"})
    for _ in range(cfg.min_repeats):
        write_atomic(sweep.next_repeat_path(plan[0]), {
            "schema_version": 1, "kind": "run", "status": {"state": "ok", "reason": None}, "config": {},
            "summary": {"throughput_per_s": 19.0}, "metadata": {},
        })  # fmt: skip
    return sweep


@pytest.mark.usefixtures("nothing_is_started")
def test_resuming_a_finished_sweep_says_it_is_finished_without_an_estimate(tmp_path, capsys):
    sweep = finished_sweep(tmp_path / "sweep")
    assert main(["sweep", "--resume", str(sweep.path)]) == 0
    out = capsys.readouterr().out
    assert "is finished" in out
    assert "estimated" not in out


@pytest.mark.usefixtures("nothing_is_started")
def test_solo_is_one_slot_and_a_plain_solo_run_says_c_1(capsys):
    assert build_run_config(pool="solo").concurrency == 1
    four = build_run_config(pool="solo", concurrency=4)
    assert four.slots == 1
    assert main(["sweep", "--pools", "solo", "--workloads", "sleep", "--dry-run"]) == 0
    assert "-c 1" in capsys.readouterr().out


def test_compare_matches_solo_runs_by_what_ran(tmp_path, capsys):
    def run_file(name, concurrency, rate):
        doc = {
            "schema_version": 1, "kind": "run", "status": {"state": "ok", "reason": None},
            "config": {"pool": "solo", "concurrency": concurrency, "slots": 1, "workload": "sleep",
                       "task_ms": 50.0, "cores": 2.0, "broker": {"kind": "redis"}},
            "summary": {"throughput_per_s": rate}, "metadata": {"hostname": "vm"},
        }  # fmt: skip
        path = tmp_path / name
        path.write_text(json.dumps(doc))
        return str(path)

    code = main(["compare", run_file("a.json", 1, 19.0), run_file("b.json", 4, 19.1)])
    out = capsys.readouterr().out
    assert code == 0
    assert "sleep-50ms-solo-c1" in out
    assert "only in the" not in out

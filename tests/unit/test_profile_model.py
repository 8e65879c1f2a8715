"""profile's prediction with Celery's own per-task cost: the model (mva.py)
on each pool's sweep grid, from the overheads `advise` caches, beside the
C-and-W-only prediction; checked against a sweep measured on the CI machine
(tests/data/model/c5w20-quick.json: proj.tasks.mixed, 5 ms CPU + 20 ms
sleep), and said when no overheads are cached."""

import dataclasses
import json

import pytest

from bench.commands.profile import model_block
from bench.output.profile import profile_table
from bench.results.io import read_sweep_summary
from bench.results.overheads import from_json
from tests.helpers.paths import DATA

CALIBRATION_JSON = json.loads((DATA / "model" / "overheads.json").read_text())


def calibration():
    return from_json(CALIBRATION_JSON)


def doc(cpu_s, wait_s, releases_gil=False, cores=2.0, model=None):
    """A profile document with what profile_table and model_block read."""
    document = {
        "schema_version": 4, "task": "myapp.work", "app": "myapp", "config": {"warmup": 10},
        "per_call": {
            "calls": 100, "wall_s": cpu_s + wait_s, "wall_p90_s": cpu_s + wait_s, "cpu_s": cpu_s, "wait_s": wait_s,
            "waiting_share": wait_s / (cpu_s + wait_s), "wall_ci95_rel": 0.01, "stable": True,
        },
        "memory": {"rss_growth_bytes": None},
        "gil": {"releases_gil": releases_gil, "basis": "measured"},
        "prediction": {"cores": cores, "favoured": "prefork", "reason": "r", "pools": []},
        "budget": None,
    }  # fmt: skip
    return {**document, "model": model}


def pools(block):
    return {p["pool"]: p for p in block["pools"]}


def test_the_model_finds_the_measured_knee_and_level_of_a_five_plus_twenty_ms_task():
    sweep = read_sweep_summary(DATA / "model" / "c5w20-quick.json")
    (solo,) = [p for p in sweep.points if p.pool == "solo"]
    cpu_s, wait_s = solo.profile  # the C and W profile measured for it
    block = pools(model_block(doc(cpu_s, wait_s), calibration()))
    measured = {(p.pool, p.concurrency): p.median_per_s for p in sweep.points}
    prefork = block["prefork"]
    # the C-and-W-only prediction said -c 10 at 380/s; the sweep measured 275.5/s at -c 16, its best
    assert prefork["best_c"] == 16
    assert prefork["per_s"] == pytest.approx(measured[("prefork", 16)], rel=0.10)
    for pool in ("gevent", "threads"):  # the GIL binds both at about 1 / (C + Celery's cost)
        best = max(rate for (p, _c), rate in measured.items() if p == pool)
        assert block[pool]["top_per_s"] == pytest.approx(best, rel=0.10)
    assert dict(prefork["curve"])[16] == prefork["per_s"]


def test_a_task_that_only_waits_is_bounded_by_celerys_cost_not_by_its_own():
    """5 ms of sleep on 2 cores: C and W alone give no bound (a -c of 97
    was printed before); Celery's per-task cost caps prefork at -c 8."""
    block = pools(model_block(doc(0.0, 0.005), calibration()))
    assert block["prefork"]["best_c"] == 8
    assert 1000 < block["prefork"]["per_s"] < 1400  # about the measured no-op rate: Celery's own cost binds


def test_the_profile_says_the_model_and_how_to_get_it_when_none_is_cached():
    with_model = profile_table(doc(0.005, 0.020, model=model_block(doc(0.005, 0.020), calibration())))
    assert "with Celery's own per-task cost (the model, on each pool's sweep grid" in with_model
    assert any(line.split()[:2] == ["prefork", "16"] for line in with_model.splitlines())
    missing = model_block(doc(0.005, 0.020), None)
    assert missing == {"missing": "Celery's per-task cost is not measured for this machine and broker"}
    text = profile_table(doc(0.005, 0.020, model=missing))
    assert "`python -m bench advise` measures it once" in text
    assert "with Celery's own per-task cost" not in profile_table({**doc(0.005, 0.020), "model": None})  # before 4


def test_a_pool_without_its_cost_cached_is_not_modelled_and_said():
    """advise --pools prefork,threads caches those two (and solo) only: gevent
    modelled without Celery's cost would read 1 / C, 20% above what it measures."""
    only = dataclasses.replace(calibration(), pools=tuple(p for p in calibration().pools if p.pool != "gevent"))
    block = model_block(doc(0.005, 0.020), only)
    assert "gevent" not in pools(block)
    assert block["not_measured"] == ["gevent"]
    assert "not modelled: gevent: Celery's cost there is not measured" in profile_table(doc(0.005, 0.020, model=block))


def test_threads_with_the_gil_unknown_hold_it_with_the_released_bound_beside():
    block = model_block(doc(0.005261, 0.020095, releases_gil=None), calibration())
    threads = pools(block)["threads"]
    # holding it: about gevent's level (measured 152.8-159/s); releasing it: about prefork's
    assert threads["per_s"] == pytest.approx(pools(block)["gevent"]["per_s"], rel=0.05)
    assert threads["per_s_if_gil_released"] > 1.5 * threads["per_s"]
    text = profile_table(doc(0.005261, 0.020095, releases_gil=None, model=block))
    assert "(threads: if the task's CPU holds the GIL; in brackets, if it releases it)" in text

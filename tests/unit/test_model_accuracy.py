"""The worker model against sweeps measured on the CI machine (tests/data/
model/): every point's predicted throughput beside its measured median.

The model's inputs come from the same sweep, never from the point predicted:
Celery's per-task cost from the sweep's no-op points, the task's C and W
from its solo point (a task run alone, as `profile` runs it). The table is
printed (pytest -s) and is the one in docs/advise.md.

Where the model is known to miss, it is named here, with why, so that a
change that fixes it (or breaks something else) shows."""

import json
from pathlib import Path

import pytest

from bench.analysis.accuracy import BAD, GOOD, accuracy, calibration_from_points
from bench.results.io import read_sweep_summary
from bench.results.overheads import from_json

DATA = Path(__file__).resolve().parents[1] / "data" / "model"

# The socket round trip (`net`) costs far more CPU per task under the
# one-process pools at high -c than the same call run alone shows (patched
# sockets and the hub's work), so the model, which takes the task's CPU from
# its run alone, is too high there. Measured 2026-12-05 on the CI machine.
KNOWN_MISSES = {"net-50ms-gevent-c256", "net-50ms-eventlet-c256", "net-50ms-threads-c256"}


@pytest.fixture(scope="module")
def builtins():
    summary = read_sweep_summary(DATA / "builtins-quick.json")
    return accuracy(summary.points, calibration_from_points(summary.points))


def table(found):
    lines = ["| point | model | measured | error |", "|---|---|---|---|"]
    for p in sorted(found.points, key=lambda p: (p.workload, p.pool, p.concurrency)):
        lines.append(f"| {p.key} | {p.predicted_per_s:.1f} | {p.measured_per_s:.1f} | {p.error:+.1%} |")
    return "\n".join(lines)


def test_every_point_of_the_sized_workloads_is_predicted(builtins):
    print(table(builtins))
    workloads = {p.workload for p in builtins.points}
    assert workloads == {"cpu", "sleep", "mixed", "net"}  # the no-op and solo points are the model's inputs
    assert {p.pool for p in builtins.points} == {"prefork", "gevent", "eventlet", "threads"}
    assert len(builtins.points) >= 70


def test_nine_in_ten_predictions_are_within_ten_percent_but_for_the_known_misses(builtins):
    kept = [p for p in builtins.points if p.key not in KNOWN_MISSES]
    within = sum(abs(p.error) <= GOOD for p in kept) / len(kept)
    assert within >= 0.88, f"{within:.0%} within {GOOD:.0%}"


def test_no_prediction_is_off_by_more_than_twenty_percent_but_the_known_misses(builtins):
    beyond = {p.key for p in builtins.beyond_bad}
    assert beyond <= KNOWN_MISSES, sorted(beyond - KNOWN_MISSES)


def test_the_known_misses_still_miss(builtins):
    """If this fails the model got better: take the point off the list."""
    errors = {p.key: p.error for p in builtins.points}
    assert all(abs(errors[key]) > BAD for key in KNOWN_MISSES), {k: errors[k] for k in KNOWN_MISSES}


def test_the_predicted_best_c_is_within_one_grid_step_of_the_measured_best(builtins):
    far = [b for b in builtins.best if b.grid_steps > 1]
    assert not far, far


@pytest.mark.parametrize("name", ["thumbs", "c5w20"])
def test_on_a_users_task_the_model_finds_the_best_c_but_misses_the_level(name):
    """A user's task: examples/thumbnails (a 20 ms HTTP download, then Pillow)
    and proj.tasks.mixed with 5 ms CPU + 20 ms sleep, measured with the
    overheads in overheads.json. The model names each pool's best -c within
    one grid step. On thumbnails its level is off (see docs/advise.md): a
    sweep's predictions take an unknown task's CPU as holding the GIL (Pillow
    releases it, so threads measure far above), and the image server's own
    limits are not in the model."""
    summary = read_sweep_summary(DATA / f"{name}-quick.json")
    calibration = from_json(json.loads((DATA / "overheads.json").read_text()))
    found = accuracy(summary.points, calibration)
    print(table(found))
    assert len(found.points) >= 15
    assert all(b.grid_steps <= 1 for b in found.best), found.best
    if name == "thumbs":
        threads = [p for p in found.points if p.pool == "threads" and p.concurrency >= 32]
        assert threads
        assert all(p.error < -BAD for p in threads)  # the GIL it releases
    else:  # a task of pure Python and sleep, on a quiet machine: the bar
        assert found.within_good >= 0.90
        assert not found.beyond_bad

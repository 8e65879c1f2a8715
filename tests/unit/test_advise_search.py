"""advise's search against curves known by construction: a fake measure
that returns a true curve with noise, and a model that is right, off by a
factor, or wrong about the shape."""

import random

import pytest

from bench.analysis import advise
from bench.analysis.advise import Sample, Search

GRID = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def curve(peak_c, peak, fall=0.0):
    """Rises linearly to `peak` at `peak_c`, then falls by `fall` per doubling."""
    out = {}
    for c in GRID:
        out[c] = peak * min(1.0, c / peak_c) * (1 - fall) ** max(0, (c // peak_c).bit_length() - 1)
    return out


class Bench:
    """The true curves, measured with 2% noise; counts the runs."""

    def __init__(self, truth, seed=0):
        self.truth = truth
        self.rng = random.Random(seed)
        self.runs = 0

    def __call__(self, pool, c):
        self.runs += 1
        return Sample(self.truth[pool][c] * self.rng.gauss(1, 0.02), memory_bytes=50 * 2**20 + c * 2**20)


def test_a_right_model_finds_the_best_pool_and_c_in_a_fraction_of_the_grid():
    truth = {"prefork": curve(16, 300), "gevent": curve(64, 1000, fall=0.05), "threads": curve(64, 850, fall=0.1)}
    bench = Bench(truth)
    found = Search(truth, bench).run()
    assert (found.best.pool, found.best.concurrency) == ("gevent", 64)
    assert found.runner_up.pool == "threads"
    assert 0.1 < found.runner_up_loss < 0.2
    assert ("prefork", "predicted 70% below the best pool") in found.left_out
    full_sweep = sum(len(GRID) for _ in truth) * advise.REPEATS
    assert bench.runs <= full_sweep / 4


def test_the_best_c_is_bracketed_by_measured_neighbours():
    truth = {"gevent": curve(32, 900, fall=0.2)}
    found = Search(truth, Bench(truth)).run()
    measured = {p.concurrency for p in found.points}
    assert found.best.concurrency == 32
    assert {16, 32, 64} <= measured


def test_a_model_wrong_about_the_knee_is_followed_by_the_measurements():
    """The model puts the knee at 8; the truth at 64: the climb goes up."""
    truth = {"threads": curve(64, 1000, fall=0.1)}
    model = {"threads": curve(8, 1000)}
    found = Search(model, Bench(truth)).run()
    assert found.best.concurrency == 64
    assert found.departures, "the points where the model was wrong are named"


def test_a_pool_whose_knee_is_well_below_the_best_knee_is_not_climbed():
    truth = {"gevent": curve(64, 1000), "threads": curve(64, 850, fall=0.1)}
    bench = Bench(truth)
    found = Search(truth, bench).run()
    assert [p.concurrency for p in found.points if p.pool == "threads"] == [64]
    ((pool, why),) = found.left_out
    assert pool == "threads"
    assert why.startswith("its knee measured 1")  # 15% below, give or take the noise
    assert why.endswith("% below the best pool's")
    assert found.runner_up.pool == "threads"  # measured, so still the runner-up


def test_a_neighbour_far_below_the_best_is_measured_once():
    truth = {"gevent": curve(64, 1000, fall=0.5)}
    found = Search(truth, Bench(truth)).run()
    runs = {p.concurrency: len(p.samples) for p in found.points}
    assert runs[64] == advise.REPEATS
    assert runs[32] == 1  # half the best: clearly lower after one run
    assert runs[128] == 1


def test_the_smallest_c_within_the_minimum_effect_is_chosen_on_a_plateau():
    truth = {"gevent": {c: 1000.0 if c >= 32 else 1000.0 * c / 32 for c in GRID}}
    model = {"gevent": {c: 1000.0 if c >= 64 else 1000.0 * c / 64 for c in GRID}}
    found = Search(model, Bench(truth)).run()
    assert found.best.concurrency == 32  # 64 and 128 measure the same: -c 32 is cheaper


def test_pools_that_tie_go_to_the_cheaper_concurrency():
    truth = {"prefork": curve(16, 980), "threads": curve(64, 1000)}
    found = Search(truth, Bench(truth)).run()
    assert found.best.pool == "threads"
    assert found.confidence == "medium"
    assert "cheaper" in found.confidence_reason


def test_a_pool_measured_far_below_the_best_is_dropped():
    truth = {"gevent": curve(64, 1000), "eventlet": curve(64, 400)}
    model = {"gevent": curve(64, 1000), "eventlet": curve(64, 1000)}  # the model thinks they tie
    found = Search(model, Bench(truth)).run()
    assert found.best.pool == "gevent"
    assert any(pool == "eventlet" and "measured" in why for pool, why in found.left_out)


def test_a_clear_winner_is_said_with_high_confidence():
    truth = {"prefork": curve(4, 90), "gevent": curve(1, 45)}
    found = Search(truth, Bench(truth)).run()
    assert found.best.pool == "prefork"
    assert found.confidence == "high"


@pytest.mark.parametrize("seed", range(5))
def test_noise_does_not_move_the_answer_more_than_one_grid_step(seed):
    truth = {"gevent": curve(64, 1000, fall=0.15), "threads": curve(32, 700, fall=0.15)}
    found = Search(truth, Bench(truth, seed)).run()
    assert found.best.pool == "gevent"
    assert abs(GRID.index(found.best.concurrency) - GRID.index(64)) <= 1


def test_knee_is_the_smallest_c_near_the_top():
    assert advise.knee(GRID, {c: min(c, 64) * 10.0 for c in GRID}) == 64
    assert advise.knee([1, 2, 4], {1: 90.0, 2: 96.0, 4: 100.0}) == 2


def test_threads_is_predicted_at_its_higher_bound_when_the_gil_is_unknown():
    from bench.analysis import mva

    grids = {"gevent": [1, 2, 4, 8, 16], "threads": [1, 2, 4, 8, 16]}
    cpu_heavy = mva.TaskDemand(0.012, 0.021, releases_gil=None)  # thumbnails: Pillow releases the GIL
    curves = advise.predict_curves(grids, 2.0, cpu_heavy, None)
    assert max(curves["threads"].values()) > 1.5 * max(curves["gevent"].values())
    pure = advise.predict_curves(grids, 2.0, mva.TaskDemand(0.012, 0.021, releases_gil=False), None)
    assert max(pure["threads"].values()) == pytest.approx(max(pure["gevent"].values()))

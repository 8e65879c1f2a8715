"""The verdict rule on hand-built per-repeat values: each of its words."""

from bench.analysis.verdict import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, NOT_TESTED, decide, ratio_ci


def test_a_clear_gain_beyond_2x_cores_does_not_hold():
    points = {1: [20, 20.1, 19.9], 4: [80, 80.5, 79.5], 64: [800, 810, 790]}
    v = decide(points, cores=2)
    assert v.word == DOES_NOT_HOLD
    assert (v.within_c, v.beyond_c) == (4, 64)
    assert v.gain_ci95[0] > 0.05


def test_a_plateau_holds():
    points = {
        1: [47, 47.2, 46.9],
        2: [88, 88.4, 87.9],
        4: [88.3, 88.1, 88.6],
        8: [88.2, 88.0, 88.5],
        16: [87, 87.5, 86.8],
    }
    v = decide(points, cores=2)
    assert v.word == HOLDS
    assert v.gain_ci95[1] < 0.05


def test_a_loss_beyond_2x_cores_holds():
    v = decide({2: [100, 101, 99], 8: [70, 71, 69]}, cores=2)
    assert v.word == HOLDS
    assert v.gain < 0


def test_overlapping_noisy_intervals_are_inconclusive():
    v = decide({4: [80, 100, 90], 8: [85, 110, 95]}, cores=2)
    assert v.word == INCONCLUSIVE


def test_a_small_significant_gain_below_the_minimum_effect_holds():
    # +2%, tightly measured: real, but below the 5% that would justify more concurrency.
    v = decide({4: [100.0, 100.1, 99.9, 100.0], 16: [102.0, 102.1, 101.9, 102.0]}, cores=2)
    assert v.word == HOLDS


def test_no_points_beyond_2x_cores_is_not_tested():
    v = decide({1: [10, 10, 10], 4: [40, 40, 40]}, cores=2)
    assert v.word == NOT_TESTED
    assert "above" in v.reason


def test_ratio_interval_contains_the_ratio_of_medians():
    low, high = ratio_ci([110, 112, 108], [100, 101, 99])
    assert low <= 110 / 100 <= high

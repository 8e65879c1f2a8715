"""The open-loop schedule: pure, seeded, absolute offsets."""

import itertools

import pytest

from bench.measure.schedule import Schedule, default_warmup_s


def test_uniform_arrivals_are_evenly_spaced_at_the_rate():
    s = Schedule(rate_per_s=100.0, arrival="uniform", warmup_s=1.0, duration_s=2.0, seed=0)
    offsets = s.offsets()
    assert len(offsets) == 300
    assert offsets[0] == 0.0
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(offsets)}
    assert gaps == {0.01}
    assert offsets[-1] < 3.0


def test_the_window_counts_only_arrivals_after_the_warmup_and_before_the_end():
    s = Schedule(100.0, "uniform", 1.0, 2.0, 0)
    counted = [o for o in s.offsets() if s.counted(o)]
    assert len(counted) == 200
    assert min(counted) == pytest.approx(1.0)
    assert not s.counted(0.99)
    assert not s.counted(3.0)


def test_poisson_arrivals_are_seeded_and_average_the_rate():
    a = Schedule(200.0, "poisson", 1.0, 20.0, seed=7).offsets()
    assert a == Schedule(200.0, "poisson", 1.0, 20.0, seed=7).offsets()
    assert a != Schedule(200.0, "poisson", 1.0, 20.0, seed=8).offsets()
    assert a == sorted(a)
    assert all(0 <= o < 21.0 for o in a)
    # 4200 expected arrivals; 5 standard deviations is about 7%.
    assert len(a) == pytest.approx(4200, rel=0.08)
    gaps = [b - x for x, b in itertools.pairwise(a)]
    assert len({round(g, 6) for g in gaps}) > len(gaps) // 2  # random gaps, not a grid


def test_the_warmup_is_a_fifth_of_the_duration_and_at_least_a_second():
    assert default_warmup_s(2.0) == 1.0
    assert default_warmup_s(10.0) == 2.0

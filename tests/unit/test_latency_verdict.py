"""The open-loop p99 verdict on hand-built sweeps: the same statistics as the
throughput verdict, at a rate both sides sustain."""

from bench.analysis.latency_verdict import decide


def cell(rate, p99s, achieved=None, limited=0):
    achieved = achieved if achieved is not None else rate
    return {"rate": rate, "p99": p99s, "achieved": [achieved] * len(p99s), "producer_limited": limited}


def test_lower_p99_beyond_2x_cores_means_the_guidance_does_not_hold():
    points = {
        2: {100.0: cell(100.0, [0.200, 0.210, 0.205])},
        16: {100.0: cell(100.0, [0.060, 0.062, 0.061])},
    }
    v = decide(points, cores=1)
    assert v.word == "does not hold"
    assert "at 100 tasks/s" in v.reason
    assert (v.within_c, v.beyond_c) == (2, 16)


def test_the_same_p99_means_it_holds():
    points = {2: {50.0: cell(50.0, [0.10, 0.101, 0.099])}, 16: {50.0: cell(50.0, [0.10, 0.1005, 0.0995])}}
    assert decide(points, cores=1).word == "holds"


def test_a_significantly_higher_p99_beyond_2x_cores_degrades():
    points = {2: {50.0: cell(50.0, [0.10, 0.101, 0.099])}, 16: {50.0: cell(50.0, [0.13, 0.131, 0.129])}}
    v = decide(points, cores=1)
    assert v.word == "degrades"
    assert v.reason.endswith("beyond 2x cores raises the p99")


def test_a_higher_p99_inside_the_noise_or_below_the_minimum_effect_holds():
    noisy = {2: {50.0: cell(50.0, [0.10, 0.101, 0.099])}, 16: {50.0: cell(50.0, [0.10, 0.13, 0.14])}}
    small = {2: {50.0: cell(50.0, [0.10, 0.1001, 0.0999])}, 16: {50.0: cell(50.0, [0.103, 0.1031, 0.1029])}}
    for points in (noisy, small):
        v = decide(points, cores=1)
        assert v.gain > 0
        assert v.word == "holds", v.reason


def test_noisy_p99_is_inconclusive():
    points = {2: {50.0: cell(50.0, [0.10, 0.30, 0.05])}, 16: {50.0: cell(50.0, [0.08, 0.25, 0.06])}}
    assert decide(points, cores=1).word == "inconclusive"


def test_only_a_rate_both_sustain_is_compared():
    # At 200/s the small -c falls behind (completes 120/s): compare at 100/s.
    points = {
        2: {100.0: cell(100.0, [0.1] * 3), 200.0: cell(200.0, [5.0] * 3, achieved=120.0)},
        16: {100.0: cell(100.0, [0.1] * 3), 200.0: cell(200.0, [0.1] * 3)},
    }
    v = decide(points, cores=1)
    assert "at 100 tasks/s" in v.reason


def test_producer_limited_rates_are_never_compared():
    points = {2: {100.0: cell(100.0, [0.1] * 3, limited=1)}, 16: {100.0: cell(100.0, [0.05] * 3)}}
    assert decide(points, cores=1).word == "inconclusive"


def test_without_points_on_both_sides_it_is_not_tested():
    assert decide({2: {10.0: cell(10.0, [0.1])}}, cores=1).word == "not tested"

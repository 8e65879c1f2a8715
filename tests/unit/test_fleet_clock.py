"""The clock offset of a host: the round trip with the smallest delay wins,
and its half is the error bound."""

import random

import pytest

from bench.fleet.clock import Probe, bound_too_wide, estimate


def probes_of(offset, delays, seed=1):
    """Synthetic probes of an agent whose clock runs `offset` s ahead; each
    (out, back) delay pair is the trip there and back."""
    rng = random.Random(seed)
    found, t = [], 100.0
    for out, back in delays:
        sent = t
        answered = sent + out
        found.append(Probe(sent=sent, agent=answered + offset, received=answered + back))
        t += out + back + rng.random()
    return found


def test_a_symmetric_round_trip_gives_the_exact_offset():
    est = estimate(probes_of(0.25, [(0.002, 0.002)]))
    assert est.offset_s == pytest.approx(0.25)
    assert est.error_s == pytest.approx(0.002)


@pytest.mark.parametrize("offset", [-3600.0, -0.25, 0.0, 0.25, 12345.678])
def test_the_estimate_is_within_its_bound_of_the_true_offset(offset):
    rng = random.Random(7)
    delays = [(rng.uniform(0.0001, 0.02), rng.uniform(0.0001, 0.02)) for _ in range(20)]
    est = estimate(probes_of(offset, delays))
    assert abs(est.offset_s - offset) <= est.error_s + 1e-9
    assert est.probes == 20


def test_the_smallest_round_trip_is_kept_even_when_it_is_lopsided():
    est = estimate(probes_of(1.0, [(0.05, 0.05), (0.001, 0.0), (0.02, 0.03)]))
    assert est.round_trip_s == pytest.approx(0.001)
    assert est.error_s == pytest.approx(0.0005)
    assert abs(est.offset_s - 1.0) <= est.error_s + 1e-9


def test_agent_times_convert_back_to_the_harness_clock():
    est = estimate(probes_of(0.25, [(0.001, 0.001)]))
    assert est.to_harness(10.25) == pytest.approx(10.0)


def test_no_probe_is_an_error():
    with pytest.raises(ValueError, match="no round trip"):
        estimate([])


def test_a_bound_above_one_percent_of_the_window_is_too_wide():
    assert bound_too_wide(0.02, 1.0)
    assert not bound_too_wide(0.005, 1.0)
    assert not bound_too_wide(0.5, None)

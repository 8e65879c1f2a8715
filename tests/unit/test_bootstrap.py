"""The bootstrap CI of the median and the stopping rule, on hand-built samples."""

import pytest

from bench.analysis.stats import bootstrap_median, needs_more_repeats


def test_identical_values_have_a_zero_width_interval():
    est = bootstrap_median([100.0, 100.0, 100.0])
    assert (est.median, est.ci_low, est.ci_high) == (100.0, 100.0, 100.0)
    assert est.ci_rel_width == 0
    assert est.cv == 0
    assert not est.unstable


def test_interval_contains_the_median_and_lies_within_the_values():
    values = [95.0, 101.0, 99.0, 104.0, 97.0, 100.0]
    est = bootstrap_median(values)
    assert min(values) <= est.ci_low <= est.median <= est.ci_high <= max(values)
    assert est.n == 6


def test_noisier_samples_give_wider_intervals():
    tight = bootstrap_median([99.0, 100.0, 101.0, 100.5, 99.5])
    noisy = bootstrap_median([70.0, 100.0, 130.0, 85.0, 115.0])
    assert noisy.ci_rel_width > tight.ci_rel_width
    assert noisy.unstable
    assert not tight.unstable


def test_the_interval_is_reproducible():
    values = [10.0, 12.0, 11.0, 13.0]
    assert bootstrap_median(values) == bootstrap_median(values)


def test_a_single_value_has_no_interval():
    est = bootstrap_median([42.0])
    assert est.median == 42.0
    assert est.ci_low is None
    assert est.ci_rel_width is None
    assert est.cv is None


def test_no_values_is_an_error():
    with pytest.raises(ValueError, match="no values"):
        bootstrap_median([])


def test_stopping_rule_wants_the_minimum_first():
    assert needs_more_repeats([100.0, 100.0], min_repeats=3, max_repeats=6, target_rel_width=0.05)


def test_stopping_rule_stops_when_the_interval_is_narrow():
    assert not needs_more_repeats([100.0, 100.5, 99.8], min_repeats=3, max_repeats=6, target_rel_width=0.05)


def test_stopping_rule_adds_repeats_while_the_interval_is_wide():
    assert needs_more_repeats([80.0, 100.0, 120.0], min_repeats=3, max_repeats=6, target_rel_width=0.05)


def test_stopping_rule_stops_at_the_maximum_however_wide():
    noisy = [80.0, 100.0, 120.0, 70.0, 130.0, 90.0]
    assert not needs_more_repeats(noisy, min_repeats=3, max_repeats=6, target_rel_width=0.05)

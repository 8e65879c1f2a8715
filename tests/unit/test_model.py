"""The USL fit on synthetic data with known parameters, and on data it cannot fit."""

import math

import pytest

from bench.analysis.model import fit_usl, usl

CS = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def test_recovers_known_parameters():
    lam, sigma, kappa = 20.0, 0.02, 0.0005
    fit = fit_usl(CS, [usl(n, lam, sigma, kappa) for n in CS])
    assert fit.ok
    assert fit.lambda_per_s == pytest.approx(lam, rel=1e-3)
    assert fit.sigma == pytest.approx(sigma, rel=1e-2)
    assert fit.kappa == pytest.approx(kappa, rel=1e-2)
    assert fit.peak_n == pytest.approx(math.sqrt((1 - sigma) / kappa), rel=1e-2)
    assert fit.r2 > 0.999


def test_recovers_parameters_through_noise():
    lam, sigma, kappa = 50.0, 0.05, 0.001
    noise = [1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99, 1.02, 0.98]
    fit = fit_usl(CS, [usl(n, lam, sigma, kappa) * e for n, e in zip(CS, noise, strict=True)])
    assert fit.ok
    assert fit.peak_n == pytest.approx(math.sqrt((1 - sigma) / kappa), rel=0.25)


def test_linear_scaling_has_no_identified_peak():
    fit = fit_usl(CS[:6], [19.5 * n for n in CS[:6]])
    assert fit.ok
    assert fit.peak_n is None
    assert "kappa" in fit.peak_note


def test_a_flat_curve_is_contention_not_a_peak():
    fit = fit_usl(CS, [45.0, 44.8, 45.1, 44.9, 45.0, 45.2, 44.9, 45.0, 44.8])
    assert fit.ok  # residuals tiny against the mean, though R^2 says little on flat data
    assert fit.sigma > 0.99
    assert fit.peak_n is None
    assert "no scaling" in fit.peak_note


def test_too_few_points_are_refused():
    fit = fit_usl([1, 2, 4], [10, 20, 40])
    assert not fit.ok
    assert "too few points" in fit.reason


def test_data_the_model_cannot_describe_is_said_to_fit_poorly():
    zigzag = [10, 200, 15, 190, 12, 210, 11, 205, 14]
    fit = fit_usl(CS, zigzag)
    assert not fit.ok
    assert "fits poorly" in fit.reason
    assert fit.peak_n is None

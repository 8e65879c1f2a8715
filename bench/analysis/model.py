"""The Universal Scalability Law, fitted to one throughput curve.

    X(N) = lambda * N / (1 + sigma * (N - 1) + kappa * N * (N - 1))

lambda is the throughput of one unit of concurrency, sigma the contention
(the serial fraction), kappa the coherency cost (crosstalk), and the curve
peaks at N* = sqrt((1 - sigma) / kappa). Gunther, "Guerrilla Capacity
Planning" (2007).
"""

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import numpy as np

_N = TypeVar("_N", float, "np.ndarray")

MIN_POINTS = 4  # three parameters need at least one point more to say anything
GOOD_R2 = 0.90  # the fit explains this much of the variation: good
GOOD_NRMSE = 0.03  # or its residuals are this small against the mean: good (a flat curve has no variation to explain)
MAX_REL_SE = 1.0  # a parameter whose standard error exceeds itself is not identified


@dataclass(frozen=True)
class USLFit:
    ok: bool  # False: no usable fit; `reason` says why
    reason: str | None
    lambda_per_s: float | None = None  # throughput at N = 1 (tasks/s)
    sigma: float | None = None  # contention, 0..1
    kappa: float | None = None  # coherency, >= 0
    r2: float | None = None  # coefficient of determination on the fitted points
    nrmse: float | None = None  # root-mean-square residual / mean throughput
    peak_n: float | None = None  # N* = sqrt((1 - sigma) / kappa); None when kappa is not identified
    peak_note: str | None = None  # why peak_n is missing

    def predict(self, n: float) -> float:
        if self.lambda_per_s is None or self.sigma is None or self.kappa is None:
            raise ValueError(f"no fit to predict from: {self.reason}")
        return usl(n, self.lambda_per_s, self.sigma, self.kappa)


def usl(n: _N, lam: float, sigma: float, kappa: float) -> _N:
    """X(N); `n` a number or (to curve_fit) an array of them."""
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def fit_usl(concurrency: Sequence[float], throughput: Sequence[float | None]) -> USLFit:
    """Least-squares fit with sigma in [0, 1] and kappa >= 0; says when the
    data cannot support it instead of returning numbers."""
    import numpy as np
    from scipy.optimize import OptimizeWarning, curve_fit

    pairs = sorted((float(n), float(x)) for n, x in zip(concurrency, throughput, strict=True) if x is not None)
    if len({n for n, _ in pairs}) < MIN_POINTS:
        return USLFit(False, f"too few points ({len(pairs)}; the model needs {MIN_POINTS})")
    n, x = (np.array(v) for v in zip(*pairs, strict=True))
    lam0 = x[0] / n[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", OptimizeWarning)
            params, cov = curve_fit(
                usl, n, x, p0=(lam0, 0.05, 0.001), bounds=([0, 0, 0], [np.inf, 1, np.inf]), maxfev=20000
            )
    except (RuntimeError, ValueError, OptimizeWarning) as exc:
        return USLFit(False, f"the fit did not converge ({exc})")
    lam, sigma, kappa = (float(v) for v in params)
    residual = float(np.sum((x - usl(n, *params)) ** 2))
    total = float(np.sum((x - x.mean()) ** 2))
    r2 = 1 - residual / total if total > 0 else 1.0
    nrmse = math.sqrt(residual / len(x)) / float(x.mean())
    if r2 < GOOD_R2 and nrmse > GOOD_NRMSE:
        return USLFit(
            False,
            f"the model fits poorly (R^2 = {r2:.2f}, residuals {nrmse:.0%} of the mean)",
            lam,
            sigma,
            kappa,
            r2,
            nrmse,
        )
    se = np.sqrt(np.clip(np.diag(cov), 0, None)) if np.all(np.isfinite(cov)) else [math.inf] * 3
    peak_n, note = None, None
    if sigma >= 0.99:
        note = "no scaling at all: contention (sigma near 1) flattens the curve from the start"
    elif kappa <= 0 or not math.isfinite(se[2]) or se[2] > MAX_REL_SE * kappa:
        note = "no peak identified: kappa is indistinguishable from 0 in this range"
    else:
        peak_n = math.sqrt((1 - sigma) / kappa)
    return USLFit(True, None, lam, sigma, kappa, r2, nrmse, peak_n, note)


def peak_words(fit: USLFit, concurrency: Sequence[int]) -> str:
    """The fit's peak in words, saying when it lies outside the measured
    -c range (an extrapolation: nothing was measured there)."""
    if not fit.ok:
        return fit.reason or "-"
    if fit.peak_n is None:
        return fit.peak_note or "-"
    low, high = min(concurrency), max(concurrency)
    if fit.peak_n > high:
        return f"{fit.peak_n:.0f}, beyond the largest -c measured ({high}): an extrapolation"
    if fit.peak_n < low:
        return f"{fit.peak_n:.0f}, below the smallest -c measured ({low}): an extrapolation"
    return f"{fit.peak_n:.0f}"


def extrapolated(fit: USLFit, concurrency: Sequence[int]) -> bool:
    """True when the fit's peak lies outside the measured -c range."""
    return bool(fit.ok and fit.peak_n is not None and not min(concurrency) <= fit.peak_n <= max(concurrency))

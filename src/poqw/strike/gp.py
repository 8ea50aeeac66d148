"""A small Gaussian-process surrogate over QAOA angles, in numpy with a Cholesky factor.

The kernel is a product of one factor per angle, ``k(x, x') = s2 exp(-2 sum_k r_k^2 / l^2)``,
with ``r_k = sin(pi (x_k - x'_k) / P_k)`` for a periodic coordinate of period ``P_k`` (the
periodic kernel of MacKay) and ``r_k = pi (x_k - x'_k) / W_k`` for a non-periodic one of window
``W_k`` (a squared exponential that agrees with it at short range). Observations are noisy (each
is a finite-shot estimate), so the model is ``y = f(x) + eps``, ``eps ~ N(0, s2 * r)``.
Hyperparameters ``l`` and the noise ratio ``r`` are chosen on a grid by the marginal likelihood
with the signal variance ``s2`` profiled out in closed form (Rasmussen & Williams, ch. 2 and 5).
QAOA landscapes are also even, ``f(x) = f(-x)`` (the state at ``-x`` is the complex conjugate of
the one at ``x``, with the same probabilities), which the ``symmetric`` kernel builds in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.linalg

from poqw.errors import ConfigError

__all__ = [
    "LENGTHSCALE_GRID",
    "NOISE_GRID",
    "GaussianProcess",
    "fit_gp",
    "kernel_matrix",
    "log_marginal_likelihood",
]

FloatArray = npt.NDArray[np.float64]

LENGTHSCALE_GRID: tuple[float, ...] = (0.15, 0.25, 0.4, 0.6, 0.9, 1.4, 2.0)
NOISE_GRID: tuple[float, ...] = (1e-6, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5)
_JITTER = 1e-10


def _features(
    a: FloatArray, b: FloatArray, periods: FloatArray, widths: FloatArray
) -> FloatArray:
    """Squared distances ``sum_k r_k^2`` between rows of ``a`` (n, d) and ``b`` (m, d).

    Written as matrix products so no (n, m, d) array is built: for a periodic coordinate
    ``sin^2((t - t') / 2) = (1 - cos t cos t' - sin t sin t') / 2`` with ``t = 2 pi x / P``, and
    for an aperiodic one ``(u - u')^2 = u^2 + u'^2 - 2 u u'``.
    """
    periodic = np.isfinite(periods)
    out = np.zeros((a.shape[0], b.shape[0]))
    if periodic.any():
        scale = 2.0 * math.pi / periods[periodic]
        ta, tb = a[:, periodic] * scale, b[:, periodic] * scale
        out += 0.5 * (int(periodic.sum()) - np.cos(ta) @ np.cos(tb).T - np.sin(ta) @ np.sin(tb).T)
    if not periodic.all():
        scale = math.pi / widths[~periodic]
        ua, ub = a[:, ~periodic] * scale, b[:, ~periodic] * scale
        out += (ua * ua).sum(axis=1)[:, None] + (ub * ub).sum(axis=1)[None, :] - 2.0 * ua @ ub.T
    return np.maximum(out, 0.0)


def kernel_matrix(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    lengthscale: float,
    periods: npt.ArrayLike,
    widths: npt.ArrayLike | None = None,
    variance: float = 1.0,
    symmetric: bool = False,
) -> FloatArray:
    """The kernel between two sets of points (rows); ``periods`` has ``inf`` where aperiodic.

    ``symmetric`` averages over the sign flip, ``(k(a, b) + k(a, -b)) / 2``: the kernel of
    functions with ``f(x) = f(-x)``, which QAOA landscapes are (see the module docstring).
    """
    A = np.atleast_2d(np.asarray(a, dtype=np.float64))
    B = np.atleast_2d(np.asarray(b, dtype=np.float64))
    P = np.asarray(periods, dtype=np.float64)
    W = np.asarray(P if widths is None else widths, dtype=np.float64)
    if A.shape[1] != P.shape[0] or B.shape[1] != P.shape[0]:
        raise ConfigError(f"points have {A.shape[1]} coordinates but {P.shape[0]} periods")
    if not lengthscale > 0:
        raise ConfigError(f"lengthscale must be positive, got {lengthscale}")
    K = np.exp(-2.0 * _features(A, B, P, W) / lengthscale**2)
    if symmetric:
        K = 0.5 * (K + np.exp(-2.0 * _features(A, -B, P, W) / lengthscale**2))
    return variance * K  # type: ignore[no-any-return]


def _profiled_fit(K0: FloatArray, y: FloatArray, ratio: float) -> tuple[float, float, FloatArray]:
    """(log marginal likelihood, s2, Cholesky) with the signal variance at its optimum."""
    n = y.shape[0]
    L = scipy.linalg.cholesky(K0 + (ratio + _JITTER) * np.eye(n), lower=True)
    alpha = scipy.linalg.cho_solve((L, True), y)
    s2 = max(float(y @ alpha) / n, 1e-12)
    lml = -0.5 * n * (math.log(2 * math.pi * s2) + 1.0) - float(np.log(np.diag(L)).sum())
    return lml, s2, L


def log_marginal_likelihood(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    lengthscale: float,
    noise_ratio: float,
    periods: npt.ArrayLike,
    widths: npt.ArrayLike | None = None,
    symmetric: bool = False,
) -> float:
    """log p(y | x) with the signal variance profiled out (the quantity the grid maximises)."""
    X = np.atleast_2d(np.asarray(x, dtype=np.float64))
    Y = np.asarray(y, dtype=np.float64).reshape(-1)
    K0 = kernel_matrix(X, X, lengthscale, periods, widths, symmetric=symmetric)
    return _profiled_fit(K0, Y, noise_ratio)[0]


@dataclass(frozen=True)
class GaussianProcess:
    """A fitted GP posterior; ``predict`` gives mean and standard deviation in ``y`` units."""

    x: FloatArray
    y_mean: float
    y_scale: float
    lengthscale: float
    noise_ratio: float
    variance: float
    periods: FloatArray
    widths: FloatArray
    symmetric: bool
    chol: FloatArray  # Cholesky factor of K0 + r I (unit signal variance)
    chol_inverse: FloatArray  # its inverse: a product per prediction instead of a triangular
    # solve, whose threaded OpenBLAS path is ~1000x slower on these tiny matrices
    alpha: FloatArray  # (K0 + r I)^-1 z for the standardised observations z
    lml: float

    def predict(self, points: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Posterior mean and standard deviation of the latent ``f`` at rows of ``points``."""
        P = np.atleast_2d(np.asarray(points, dtype=np.float64))
        # With K = s2 K0 and noise s2 r: mean = K0* (K0 + r I)^-1 z, var = s2 (1 - |L^-1 K0*|^2).
        K0s = kernel_matrix(P, self.x, self.lengthscale, self.periods, self.widths,
                            symmetric=self.symmetric)
        mean = K0s @ self.alpha
        v = self.chol_inverse @ K0s.T
        var = self.variance * (1.0 - (v * v).sum(axis=0))
        std = np.sqrt(np.maximum(var, 1e-18))
        return self.y_mean + self.y_scale * mean, self.y_scale * std

    @property
    def noise_std(self) -> float:
        """The fitted observation noise, in ``y`` units."""
        return self.y_scale * math.sqrt(self.variance * self.noise_ratio)


def fit_gp(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    periods: npt.ArrayLike,
    widths: npt.ArrayLike | None = None,
    lengthscales: tuple[float, ...] = LENGTHSCALE_GRID,
    noise_ratios: tuple[float, ...] = NOISE_GRID,
    symmetric: bool = False,
) -> GaussianProcess:
    """Fit by maximising the marginal likelihood over the (lengthscale, noise) grid."""
    X = np.atleast_2d(np.asarray(x, dtype=np.float64))
    Y = np.asarray(y, dtype=np.float64).reshape(-1)
    if X.shape[0] != Y.shape[0] or X.shape[0] == 0:
        raise ConfigError(f"need matching, non-empty x and y, got {X.shape[0]} and {Y.shape[0]}")
    if not np.all(np.isfinite(Y)):
        raise ConfigError("observations must be finite")
    P = np.asarray(periods, dtype=np.float64)
    W = np.asarray(P if widths is None else widths, dtype=np.float64)
    y_mean = float(Y.mean())
    y_scale = float(Y.std()) or 1.0
    Z = (Y - y_mean) / y_scale
    best: tuple[float, float, float, float, FloatArray] | None = None
    for ell in lengthscales:
        K0 = kernel_matrix(X, X, ell, P, W, symmetric=symmetric)
        for ratio in noise_ratios:
            try:
                lml, s2, L = _profiled_fit(K0, Z, ratio)
            except np.linalg.LinAlgError:
                continue
            if best is None or lml > best[0]:
                best = (lml, ell, ratio, s2, L)
    if best is None:
        raise ConfigError("no kernel on the grid gave a positive-definite covariance")
    lml, ell, ratio, s2, L = best
    alpha = scipy.linalg.cho_solve((L, True), Z)
    return GaussianProcess(
        x=X, y_mean=y_mean, y_scale=y_scale, lengthscale=ell, noise_ratio=ratio, variance=s2,
        periods=P, widths=W, symmetric=symmetric, chol=L,
        chol_inverse=np.asarray(np.linalg.inv(L), dtype=np.float64), alpha=alpha, lml=lml,
    )

"""Acquisition rules that pick the next angles from a GP posterior, and their optimiser.

Expected improvement (Jones et al. 1998) below the incumbent ``f*`` is
``EI(x) = (f* - mu - xi) Phi(z) + sigma phi(z)`` with ``z = (f* - mu - xi) / sigma``; with noisy
observations ``f*`` is the lowest posterior mean at an observed point. The lower confidence bound
``mu - kappa sigma`` is the alternative. Both are maximised over the angle box by random
multistart (uniform points plus jitter around the best observations), then a local refine of
the best few starts by batched stochastic hill climbing (one vectorised posterior evaluation per
round; much cheaper here than L-BFGS-B with numerical gradients). Aperiodic coordinates stay in
their window; the caller wraps periodic ones into the box.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.special

from poqw.errors import ConfigError
from poqw.strike.gp import GaussianProcess

__all__ = [
    "ACQUISITIONS",
    "Acquisition",
    "expected_improvement",
    "lower_confidence_bound",
    "maximize_acquisition",
]

FloatArray = npt.NDArray[np.float64]
Acquisition = Literal["ei", "lcb"]
ACQUISITIONS: tuple[str, ...] = ("ei", "lcb")


def expected_improvement(
    gp: GaussianProcess, points: npt.ArrayLike, xi: float = 0.0, incumbent: float | None = None
) -> FloatArray:
    """EI below the incumbent (default: lowest posterior mean at an observed point)."""
    mu, sigma = gp.predict(points)
    if incumbent is None:
        incumbent = float(gp.predict(gp.x)[0].min())
    gap = incumbent - mu - xi
    z = gap / sigma
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return gap * scipy.special.ndtr(z) + sigma * pdf  # type: ignore[no-any-return]


def lower_confidence_bound(
    gp: GaussianProcess, points: npt.ArrayLike, kappa: float = 2.0
) -> FloatArray:
    """``mu - kappa sigma``: low is promising (negate it to maximise)."""
    mu, sigma = gp.predict(points)
    return mu - kappa * sigma  # type: ignore[no-any-return]


def _score_function(gp: GaussianProcess, rule: str) -> Callable[[FloatArray], FloatArray]:
    if rule == "ei":
        incumbent = float(gp.predict(gp.x)[0].min())
        return lambda pts: expected_improvement(gp, pts, incumbent=incumbent)
    if rule == "lcb":
        return lambda pts: -lower_confidence_bound(gp, pts)
    raise ConfigError(f"unknown acquisition {rule!r}; choose one of {', '.join(ACQUISITIONS)}")


def maximize_acquisition(
    gp: GaussianProcess,
    widths: npt.ArrayLike,
    rng: np.random.Generator,
    rule: str = "ei",
    candidates: int = 512,
    refine: int = 3,
) -> FloatArray:
    """The angles in ``[0, widths)`` that maximise the acquisition (multistart + local refine)."""
    score = _score_function(gp, rule)
    W = np.asarray(widths, dtype=np.float64)
    d = W.shape[0]
    uniform = rng.uniform(0.0, 1.0, size=(candidates, d)) * W
    order = np.argsort(gp.predict(gp.x)[0])[:4]
    local = gp.x[order][rng.integers(0, len(order), size=candidates // 4)]
    local = local + rng.normal(0.0, 0.05, size=local.shape) * W
    starts = np.vstack([uniform, local])
    values = score(starts)
    best_idx = np.argsort(-values)[: max(1, refine)]
    best_x: FloatArray = starts[best_idx[0]].copy()
    best_v = float(values[best_idx[0]])
    for i in best_idx:
        x, v = _local_refine(score, starts[i], float(values[i]), W, np.isfinite(gp.periods), rng)
        if v > best_v:
            best_x, best_v = x, v
    return best_x


def _local_refine(
    score: Callable[[FloatArray], FloatArray],
    x: FloatArray,
    value: float,
    widths: FloatArray,
    periodic: npt.NDArray[np.bool_],
    rng: np.random.Generator,
    rounds: int = 10,
    batch: int = 32,
    scale: float = 0.05,
) -> tuple[FloatArray, float]:
    """Batched stochastic hill climbing: Gaussian steps, halving the step when none improves."""
    for _ in range(rounds):
        candidates = x + rng.normal(0.0, scale, size=(batch, x.shape[0])) * widths
        candidates = np.where(periodic, candidates, np.clip(candidates, 0.0, widths))
        values = score(candidates)
        k = int(np.argmax(values))
        if values[k] > value:
            x, value = candidates[k], float(values[k])
        else:
            scale *= 0.5
    return x, value

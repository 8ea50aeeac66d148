"""QAOA angles: their true periods, the INTERP rule from depth p to p+1, and warm starts.

Angles are one vector ``x = (gamma_1..gamma_p, beta_1..beta_p)`` for the state
``prod_k exp(-i beta_k sum_j X_j) exp(-i gamma_k H) |+>^n``; a strike is scored only through the
energies it samples, so two angle vectors are the same point when they give the same energy
distribution. That makes the landscape periodic:

* beta: ``exp(-i pi X) = -I``, so each beta has period pi. When ``h = 0`` the model is symmetric
  under the global flip ``F = X^n``; ``exp(-i (pi/2) X) = -i X`` inserts ``F`` into the circuit,
  ``F`` commutes with ``H`` and the mixers, ``F |+> = |+>``, and the sampled bitstrings come out
  flipped with unchanged energies: the period is pi/2.
* gamma: if every energy difference ``E(s) - E(s')`` is an integer multiple of ``c``, then
  ``exp(-i (2 pi / c) H)`` is a global phase and each gamma has period ``2 pi / c``. For
  ``maxcut_to_ising`` graphs with integer weights (energy = -cut) differences are integers, so
  ``c = 1`` and the period is 2 pi; when every vertex has even degree all cuts share the parity of
  the degree sum, ``c = 2`` and the period is pi; a +-1 spin glass has ``c = 2``. We take ``c`` as
  the rational gcd of the energy differences from the exact diagonal when it is small, else of
  ``2|h_i|`` and ``2|J_ij|`` (flipping a set of spins changes the energy by a signed sum of those,
  so that gcd always divides, and gives a true if not always smallest period). Incommensurate
  coefficients have no gamma period: gamma then lives on a bounded window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from poqw.errors import ConfigError
from poqw.problems import IsingModel, energy_diagonal

__all__ = [
    "AngleDomain",
    "angle_domain",
    "energy_quantum",
    "interp_angles",
    "rational_gcd",
    "split_angles",
    "warm_start_angles",
]

FloatArray = npt.NDArray[np.float64]

_EXACT_PERIOD_VARIABLES = 18
_MAX_DENOMINATOR = 1 << 12


def rational_gcd(values: npt.ArrayLike, tol: float = 1e-9) -> float | None:
    """The largest ``c`` with every value an integer multiple of ``c``; None if incommensurate."""
    xs = np.abs(np.asarray(values, dtype=np.float64).reshape(-1))
    xs = xs[xs > tol]
    if xs.size == 0:
        return None
    fractions: list[Fraction] = []
    for x in np.unique(np.round(xs, 12)):
        f = Fraction(float(x)).limit_denominator(_MAX_DENOMINATOR)
        if abs(float(f) - x) > tol * max(1.0, x):
            return None
        fractions.append(f)
    den = 1
    for f in fractions:
        den = den * f.denominator // math.gcd(den, f.denominator)
    num = 0
    for f in fractions:
        num = math.gcd(num, f.numerator * (den // f.denominator))
    return num / den


@dataclass(frozen=True)
class AngleDomain:
    """Where angles live for one model: per-kind periods (``inf`` = not periodic) and widths."""

    gamma_period: float
    beta_period: float
    gamma_width: float
    beta_width: float

    def periods(self, p: int) -> FloatArray:
        """Per-coordinate periods of a depth-``p`` angle vector (``inf`` where not periodic)."""
        return np.array([self.gamma_period] * p + [self.beta_period] * p, dtype=np.float64)

    def widths(self, p: int) -> FloatArray:
        """Per-coordinate widths of the search box ``[0, width)``."""
        return np.array([self.gamma_width] * p + [self.beta_width] * p, dtype=np.float64)

    def wrap(self, x: npt.ArrayLike) -> FloatArray:
        """Map angles into the box: modulo the period, clipped where there is none."""
        v = np.array(x, dtype=np.float64)
        p = _depth(v)
        periods, widths = self.periods(p), self.widths(p)
        finite = np.isfinite(periods)
        out = np.where(finite, np.mod(v, np.where(finite, periods, 1.0)), np.clip(v, 0.0, widths))
        return out  # type: ignore[no-any-return]

    def random(self, p: int, rng: np.random.Generator, count: int | None = None) -> FloatArray:
        """Uniform random angles in the box: shape (2p,) or (count, 2p)."""
        shape = (2 * p,) if count is None else (count, 2 * p)
        return rng.uniform(0.0, 1.0, size=shape) * self.widths(p)  # type: ignore[no-any-return]


def _depth(x: npt.NDArray[np.float64]) -> int:
    if x.shape[-1] % 2 or x.shape[-1] == 0:
        raise ConfigError(f"an angle vector has 2p entries (gammas then betas), got {x.shape[-1]}")
    return int(x.shape[-1] // 2)


def _gamma_quantum(model: IsingModel) -> float | None:
    if model.num_variables <= _EXACT_PERIOD_VARIABLES:
        diag = energy_diagonal(model)
        return rational_gcd(diag - diag.min())
    return rational_gcd(np.concatenate([2.0 * model.h, 2.0 * model.J]))


def energy_quantum(model: IsingModel) -> float:
    """The spacing of the model's energy levels (gcd of differences), or a typical coefficient."""
    c = _gamma_quantum(model)
    if c is not None:
        return c
    coeffs = np.abs(np.concatenate([2.0 * model.h, 2.0 * model.J]))
    coeffs = coeffs[coeffs > 0]
    return float(np.median(coeffs)) if coeffs.size else 1.0


def angle_domain(model: IsingModel) -> AngleDomain:
    """The periods of the QAOA landscape of ``model`` (see the module docstring)."""
    beta_period = math.pi / 2 if not np.any(model.h) else math.pi
    c = _gamma_quantum(model)
    if c is not None:
        return AngleDomain(2 * math.pi / c, beta_period, 2 * math.pi / c, beta_period)
    scale = energy_quantum(model)
    return AngleDomain(math.inf, beta_period, 2 * math.pi / scale, beta_period)


def split_angles(x: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """``(gammas, betas)`` from one vector of 2p angles."""
    v = np.asarray(x, dtype=np.float64).reshape(-1)
    p = _depth(v)
    return v[:p].copy(), v[p:].copy()


def _interp_one(a: FloatArray) -> FloatArray:
    p = a.shape[0]
    padded = np.concatenate([[0.0], a, [0.0]])
    i = np.arange(1, p + 2)
    return (i - 1) / p * padded[i - 1] + (p - i + 1) / p * padded[i]  # type: ignore[no-any-return]


def interp_angles(x: npt.ArrayLike) -> FloatArray:
    """INTERP (Zhou et al., PRX 10, 021067 (2020)): depth-p angles to a depth-(p+1) start.

    ``[g_{p+1}]_i = (i-1)/p [g_p]_{i-1} + (p-i+1)/p [g_p]_i`` for ``i = 1..p+1`` with
    ``[g_p]_0 = [g_p]_{p+1} = 0``, and the same for the betas.
    """
    gammas, betas = split_angles(x)
    return np.concatenate([_interp_one(gammas), _interp_one(betas)])


def warm_start_angles(model: IsingModel, p: int) -> FloatArray | None:
    """Published fixed angles for depth ``p`` from ``poqw.sim`` (None if it has none to give).

    The tables are for regular-graph MaxCut in poqw's convention (couplings ``w/2``); the degree
    used is the model's mean degree rounded (at least 2), falling back to the degree-3 table, and
    the gammas are scaled by ``0.5 / median|J|`` so that a model with other coupling sizes sees
    the same phases.
    """
    try:
        from poqw.sim import fixed_angles
    except ImportError:
        return None
    degrees = model.degrees()
    degree = max(2, round(float(degrees.mean()))) if degrees.size else 3
    for d in (degree, 3):
        try:
            gammas, betas = fixed_angles(p, degree=d)
        except (KeyError, ValueError, LookupError):
            continue
        couplings = np.abs(model.J[model.J != 0])
        scale = 0.5 / float(np.median(couplings)) if couplings.size else 1.0
        return np.concatenate(
            [scale * np.asarray(gammas, dtype=np.float64), np.asarray(betas, dtype=np.float64)]
        )
    return None

"""What a strike is scored by: the mean or the CVaR of its sampled energies.

CVaR_alpha (Barkoutsos et al., Quantum 4, 256 (2020)) is the mean of the lowest alpha fraction of
the sampled energies. It rewards angles whose best shots are good rather than whose average is,
which is what a solver that keeps only the best bitstring wants. With ``alpha * S`` not an integer
the boundary sample counts with a fractional weight, so this is exactly the lower-tail expectation
of the empirical distribution (and ``alpha = 1`` is the mean).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt

from poqw.errors import ConfigError

__all__ = ["OBJECTIVES", "Objective", "cvar", "score_energies"]

Objective = Literal["mean", "cvar"]
OBJECTIVES: tuple[str, ...] = ("mean", "cvar")


def cvar(energies: npt.ArrayLike, alpha: float) -> float:
    """The mean of the lowest ``alpha`` fraction of ``energies`` (fractional boundary weight)."""
    if not 0.0 < alpha <= 1.0:
        raise ConfigError(f"alpha must be in (0, 1], got {alpha}")
    e = np.sort(np.asarray(energies, dtype=np.float64).reshape(-1))
    if e.size == 0:
        raise ConfigError("cvar of an empty set of energies")
    mass = alpha * e.size
    full = min(math.floor(mass + 1e-12), e.size)
    total = float(e[:full].sum())
    rest = mass - full
    if rest > 1e-12 and full < e.size:
        total += rest * float(e[full])
    return total / mass


def score_energies(energies: npt.ArrayLike, objective: str, alpha: float = 0.1) -> float:
    """The objective value of one strike's sampled energies (lower is better)."""
    if objective == "mean":
        e = np.asarray(energies, dtype=np.float64)
        if e.size == 0:
            raise ConfigError("mean of an empty set of energies")
        return float(e.mean())
    if objective == "cvar":
        return cvar(energies, alpha)
    raise ConfigError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")

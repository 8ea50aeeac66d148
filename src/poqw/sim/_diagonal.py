"""Energy diagonals for the state-vector engine: fast, and as integer energy levels.

``build_diagonal`` lists the energy of every basis state like ``poqw.problems.energy_diagonal``
(same index convention, offset included) but in one compiled doubling pass. When every field and
coupling is a multiple of a common quantum ``q`` (integer and half-integer models, MaxCut), every
energy is ``offset + q * k`` for a small integer ``k``; ``build_levels`` then stores ``k`` as a
compact index so the cost phase becomes a table lookup instead of a sine and cosine per amplitude.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from poqw.errors import ProblemTooLarge
from poqw.problems.model import FloatArray, IsingModel

__all__ = ["MAX_LEVELS", "EnergyLevels", "build_diagonal", "build_levels", "neighbour_lists"]

MAX_DIAGONAL_QUBITS = 30
MAX_LEVELS = 1 << 16
_QUANTUM_SCALES = (1, 2, 4, 8, 16, 32, 64)


def neighbour_lists(
    model: IsingModel,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]:
    """CSR lists of earlier neighbours: for variable k, pairs (j < k, J_jk)."""
    n = model.num_variables
    a, b = model.edges[:, 0], model.edges[:, 1]
    order = np.argsort(b, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(ptr, b + 1, 1)
    return np.cumsum(ptr), np.ascontiguousarray(a[order]), np.ascontiguousarray(model.J[order])


@numba.njit(cache=True, fastmath=False)
def _diagonal_kernel(
    h: FloatArray, ptr: npt.NDArray[np.int64], nbr: npt.NDArray[np.int64], w: FloatArray,
    offset: float, out: FloatArray,
) -> None:
    out[0] = offset
    for k in range(h.shape[0]):
        half = 1 << k
        for x in range(half):
            f = h[k]
            for e in range(ptr[k], ptr[k + 1]):
                f += w[e] * (1.0 - 2.0 * ((x >> nbr[e]) & 1))
            e0 = out[x]
            out[x] = e0 + f
            out[x + half] = e0 - f


def build_diagonal(model: IsingModel) -> FloatArray:
    """Energy of every basis state, shape (2**n,), offset included (compiled doubling)."""
    n = model.num_variables
    if n > MAX_DIAGONAL_QUBITS:
        raise ProblemTooLarge(f"the energy diagonal of {n} variables needs 2**{n} numbers; "
                              f"the limit is {MAX_DIAGONAL_QUBITS} variables")
    ptr, nbr, w = neighbour_lists(model)
    out = np.empty(1 << n, dtype=np.float64)
    _diagonal_kernel(model.h, ptr, nbr, w, model.offset, out)
    return out


@numba.njit(cache=True)
def _levels_kernel(
    hk: npt.NDArray[np.int64], ptr: npt.NDArray[np.int64], nbr: npt.NDArray[np.int64],
    wk: npt.NDArray[np.int64], base: int, out: npt.NDArray[np.uint16],
) -> None:
    out[0] = base
    for k in range(hk.shape[0]):
        half = 1 << k
        for x in range(half):
            f = hk[k]
            for e in range(ptr[k], ptr[k + 1]):
                f += wk[e] * (1 - 2 * ((x >> nbr[e]) & 1))
            e0 = np.int64(out[x])
            out[x] = e0 + f
            out[x + half] = e0 - f


@dataclass(frozen=True)
class EnergyLevels:
    """Energies as ``offset + quantum * (index - shift)``; ``index`` is in [0, count)."""

    index: npt.NDArray[np.uint16]
    quantum: float
    shift: int
    count: int
    offset: float

    def values(self) -> FloatArray:
        """The energy of each level, shape (count,)."""
        k = np.arange(self.count, dtype=np.float64) - self.shift
        return self.offset + self.quantum * k  # type: ignore[no-any-return]


def _integer_scale(values: FloatArray) -> int | None:
    for s in _QUANTUM_SCALES:
        scaled = values * s
        if np.all(scaled == np.round(scaled)) and np.all(np.abs(scaled) < 2**30):
            return s
    return None


def build_levels(model: IsingModel) -> EnergyLevels | None:
    """Integer energy levels, or None when the model has no small common quantum."""
    n = model.num_variables
    if n > MAX_DIAGONAL_QUBITS:
        raise ProblemTooLarge(f"{n} variables is more than {MAX_DIAGONAL_QUBITS} for a diagonal")
    scale = _integer_scale(np.concatenate([model.h, model.J]))
    if scale is None:
        return None
    hk = np.round(model.h * scale).astype(np.int64)
    ptr, nbr, w = neighbour_lists(model)
    wk = np.round(w * scale).astype(np.int64)
    bound = int(np.abs(hk).sum() + np.abs(wk).sum())
    if 2 * bound + 1 > MAX_LEVELS:
        return None
    out = np.empty(1 << n, dtype=np.uint16)
    _levels_kernel(hk, ptr, nbr, wk, bound, out)
    return EnergyLevels(out, 1.0 / scale, bound, 2 * bound + 1, model.offset)

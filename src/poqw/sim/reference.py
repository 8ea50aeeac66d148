"""Readable numpy reference for QAOA state vectors: the oracle the fast kernels are tested against.

Convention (shared by every kernel): ``|gamma, beta> = prod_k exp(-i beta_k sum_j X_j)
exp(-i gamma_k H) |+>^n`` with ``H`` the model's energy as a diagonal (offset included, basis
index convention of :mod:`poqw.problems.exact`). The mixer on qubit ``j`` is applied by viewing
the vector as (rest, 2, 2**j) and mixing the two slices of the middle axis.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from poqw.problems.model import FloatArray

__all__ = ["ComplexArray", "apply_mixer", "qaoa_state_reference", "uniform_state"]

ComplexArray = npt.NDArray[np.complex128]


def uniform_state(n: int) -> ComplexArray:
    """The state |+>^n: every amplitude 2**(-n/2)."""
    return np.full(1 << n, 2.0 ** (-n / 2), dtype=np.complex128)


def apply_mixer(psi: ComplexArray, beta: float, n: int) -> None:
    """Apply ``exp(-i beta X_j)`` for every qubit j, in place."""
    c, s = np.cos(beta), np.sin(beta)
    for j in range(n):
        view = psi.reshape(-1, 2, 1 << j)
        a = view[:, 0, :].copy()
        b = view[:, 1, :]
        view[:, 0, :] = c * a - 1j * s * b
        view[:, 1, :] = c * b - 1j * s * a


def qaoa_state_reference(
    diag: FloatArray, gammas: npt.ArrayLike, betas: npt.ArrayLike
) -> ComplexArray:
    """The QAOA state for the energy diagonal ``diag`` (length 2**n)."""
    n = int(diag.shape[0]).bit_length() - 1
    psi = uniform_state(n)
    for g, b in zip(np.atleast_1d(gammas), np.atleast_1d(betas), strict=True):
        psi *= np.exp(-1j * float(g) * diag)
        apply_mixer(psi, float(b), n)
    return psi

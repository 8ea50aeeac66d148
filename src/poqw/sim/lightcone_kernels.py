"""Simulating one light cone: a small dense state vector (numpy reference and a numba kernel)
and quimb's circuit contraction (the reference for :mod:`poqw.sim.lightcone_network`).

Each function returns ⟨Π_roots Z⟩ of the cone's QAOA state, with the cone's roots first.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from poqw.errors import SimulationError

if TYPE_CHECKING:
    from poqw.sim.lightcone import Cone

__all__ = ["cone_statevector_expectation", "cone_tensor_network_expectation"]

FloatArray = npt.NDArray[np.float64]


@functools.lru_cache(maxsize=32)
def _spin_table(k: int) -> FloatArray:
    idx = np.arange(1 << k)
    table: FloatArray = (1 - 2 * ((idx[:, None] >> np.arange(k)[None, :]) & 1)).astype(np.float64)
    table.setflags(write=False)
    return table


def _mix_numpy(psi: npt.NDArray[np.complex128], k: int, c: float, s_im: float) -> None:
    """Reference mixer: exp(-iβX) on every qubit, with c = cos β and s_im = -sin β."""
    s = 1j * s_im
    for j in range(k):
        view = psi.reshape(-1, 2, 1 << j)
        a0 = view[:, 0].copy()
        view[:, 0] = c * a0 + s * view[:, 1]
        view[:, 1] = s * a0 + c * view[:, 1]


def _cone_kernel_impl(
    h: FloatArray,
    ea: npt.NDArray[np.int64],
    eb: npt.NDArray[np.int64],
    J: FloatArray,
    gammas: FloatArray,
    betas: FloatArray,
    roots: int,
) -> float:
    k = h.shape[0]
    size = 1 << k
    diag = np.empty(size)
    for x in range(size):
        e = 0.0
        for j in range(k):
            e += h[j] * (1 - 2 * ((x >> j) & 1))
        for m in range(J.shape[0]):
            e += J[m] * (1 - 2 * (((x >> ea[m]) ^ (x >> eb[m])) & 1))
        diag[x] = e
    psi = np.full(size, 2.0 ** (-k / 2) + 0j)
    for layer in range(gammas.shape[0]):
        g = gammas[layer]
        for x in range(size):
            psi[x] *= np.cos(g * diag[x]) - 1j * np.sin(g * diag[x])
        c = np.cos(betas[layer])
        s = -1j * np.sin(betas[layer])
        for j in range(k):
            step = 1 << j
            for base in range(0, size, 2 * step):
                for x in range(base, base + step):
                    a0 = psi[x]
                    a1 = psi[x + step]
                    psi[x] = c * a0 + s * a1
                    psi[x + step] = s * a0 + c * a1
    mask = (1 << roots) - 1
    total = 0.0
    for x in range(size):
        parity = 0
        y = x & mask
        while y:
            parity ^= y & 1
            y >>= 1
        w = psi[x].real ** 2 + psi[x].imag ** 2
        total += -w if parity else w
    return total


def _cone_kernel(cone: Cone, gammas: Sequence[float], betas: Sequence[float]) -> float:
    """Fast path (numba, compiled on first use) of :func:`cone_statevector_expectation`."""
    global _KERNEL
    if _KERNEL is None:
        import numba

        _KERNEL = numba.njit(cache=True, nogil=True)(_cone_kernel_impl)
    pairs = np.asarray(cone.edges, dtype=np.int64).reshape(-1, 2)
    return float(
        _KERNEL(
            np.asarray(cone.h, dtype=np.float64),
            np.ascontiguousarray(pairs[:, 0]),
            np.ascontiguousarray(pairs[:, 1]),
            np.asarray(cone.J, dtype=np.float64),
            np.asarray(gammas, dtype=np.float64),
            np.asarray(betas, dtype=np.float64),
            len(cone.roots),
        )
    )


_KERNEL: Any = None


def cone_statevector_expectation(
    cone: Cone, gammas: Sequence[float], betas: Sequence[float], fast: bool = True
) -> float:
    """⟨Π_{roots} Z⟩ of the cone's QAOA state by a small dense state vector.

    ``fast`` runs one compiled kernel; otherwise this readable numpy version runs.
    """
    k = cone.size
    if k > 26:
        raise SimulationError(f"a cone of {k} qubits is too large for a state vector")
    if fast:
        return _cone_kernel(cone, gammas, betas)
    spins = _spin_table(k)  # (2**k, k) of +-1
    diag = spins @ np.asarray(cone.h)
    if cone.edges:
        pairs = np.asarray(cone.edges)
        diag += (spins[:, pairs[:, 0]] * spins[:, pairs[:, 1]]) @ np.asarray(cone.J)
    psi = np.full(1 << k, 2.0 ** (-k / 2), dtype=np.complex128)
    for gamma, beta in zip(gammas, betas, strict=True):
        psi *= np.exp(-1j * gamma * diag)
        _mix_numpy(psi, k, np.cos(beta), -np.sin(beta))
    obs = np.prod(spins[:, : len(cone.roots)], axis=1)
    return float(np.abs(psi) ** 2 @ obs)


def cone_tensor_network_expectation(
    cone: Cone, gammas: Sequence[float], betas: Sequence[float], optimize: Any = "greedy"
) -> float:
    """⟨Π_{roots} Z⟩ of the cone's QAOA state by contracting it with quimb + cotengra."""
    try:
        import quimb as qu
        import quimb.tensor as qtn
    except ImportError as exc:  # pragma: no cover - quimb is a dependency
        from poqw.errors import BackendUnavailable

        raise BackendUnavailable(f"wide light cones need quimb: {exc}") from exc
    circ = qtn.Circuit(cone.size)
    for q in range(cone.size):
        circ.apply_gate("H", q)
    for gamma, beta in zip(gammas, betas, strict=True):
        for (a, b), w in zip(cone.edges, cone.J, strict=True):
            circ.apply_gate("RZZ", 2 * gamma * w, a, b)
        for q, hq in enumerate(cone.h):
            if hq != 0.0:
                circ.apply_gate("RZ", 2 * gamma * hq, q)
        for q in range(cone.size):
            circ.apply_gate("RX", 2 * beta, q)
    z = qu.pauli("Z")
    if len(cone.roots) == 1:
        value = circ.local_expectation(z, (0,), optimize=optimize)
    else:
        value = circ.local_expectation(z & z, (0, 1), optimize=optimize)
    return float(np.real(value))

"""Quantum simulation for QAOA: state vectors (numpy reference, numba fast path, GPU), gate
circuits with Qiskit export, fixed angles and closed forms, behind a backend registry.

Convention everywhere: ``|gamma, beta> = prod_k exp(-i beta_k sum_j X_j) exp(-i gamma_k H)
|+>^n`` with ``H`` the model's energy (offset included) as a diagonal; qubit j is variable j,
|0> is spin +1, and basis index x gives ``s_j = 1 - 2 * ((x >> j) & 1)``. Heavy modules (numba
kernels, Qiskit, GPU libraries) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from poqw.sim.backends import (
    AUTO_STATEVECTOR_MAX_QUBITS,
    available_backends,
    make_engine,
    register_backend,
)

if TYPE_CHECKING:
    from poqw.problems.model import IsingModel, SpinArray
    from poqw.sim.angles import fixed_angles, p1_expectation, p1_maxcut_expectation
    from poqw.sim.circuit import Circuit, Gate, qaoa_circuit, simulate, to_qiskit
    from poqw.sim.gpu import gpu_available
    from poqw.sim.statevector import MAX_STATEVECTOR_QUBITS, StateVectorQAOA

__all__ = [
    "AUTO_STATEVECTOR_MAX_QUBITS",
    "MAX_STATEVECTOR_QUBITS",
    "Circuit",
    "Gate",
    "StateVectorQAOA",
    "available_backends",
    "fixed_angles",
    "gpu_available",
    "p1_expectation",
    "p1_maxcut_expectation",
    "qaoa_circuit",
    "qaoa_expectation",
    "qaoa_sample",
    "register_backend",
    "simulate",
    "to_qiskit",
]

_LAZY = {
    "MAX_STATEVECTOR_QUBITS": "poqw.sim.statevector",
    "StateVectorQAOA": "poqw.sim.statevector",
    "Circuit": "poqw.sim.circuit",
    "Gate": "poqw.sim.circuit",
    "qaoa_circuit": "poqw.sim.circuit",
    "simulate": "poqw.sim.circuit",
    "to_qiskit": "poqw.sim.circuit",
    "fixed_angles": "poqw.sim.angles",
    "p1_expectation": "poqw.sim.angles",
    "p1_maxcut_expectation": "poqw.sim.angles",
    "gpu_available": "poqw.sim.gpu",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'poqw.sim' has no attribute {name!r}")


def qaoa_expectation(model: IsingModel, gammas: npt.ArrayLike, betas: npt.ArrayLike, *,
                     backend: str = "auto", kernel: str = "fast",
                     max_bond: int | None = None) -> float:
    """<gamma, beta| H |gamma, beta> for ``model`` (offset included).

    ``backend``: 'auto' (state vector up to ``AUTO_STATEVECTOR_MAX_QUBITS`` qubits, then an
    approximate backend if one is installed), 'statevector', or any registered name.
    """
    engine = make_engine(model, backend, kernel=kernel, max_bond=max_bond)
    return float(engine.expectation(gammas, betas))


def qaoa_sample(model: IsingModel, gammas: npt.ArrayLike, betas: npt.ArrayLike, shots: int,
                seed: np.random.Generator | int, *, backend: str = "auto", kernel: str = "fast",
                max_bond: int | None = None) -> SpinArray:
    """``shots`` spin vectors (shots, n) int8 of +-1 sampled from the QAOA state."""
    engine = make_engine(model, backend, kernel=kernel, max_bond=max_bond)
    out: SpinArray = engine.sample(gammas, betas, shots, seed)
    return out

"""Quantum simulation for QAOA: state vectors (numpy reference, numba fast path, GPU), gate
circuits with Qiskit export, fixed angles and closed forms, behind a backend registry.

Convention everywhere: ``|gamma, beta> = prod_k exp(-i beta_k sum_j X_j) exp(-i gamma_k H)
|+>^n`` with ``H`` the model's energy (offset included) as a diagonal; qubit j is variable j,
|0> is spin +1, and basis index x gives ``s_j = 1 - 2 * ((x >> j) & 1)``. Heavy modules (numba
kernels, Qiskit, GPU libraries) are imported on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import numpy.typing as npt

from poqw.sim.backends import (
    AUTO_STATEVECTOR_MAX_QUBITS,
    available_backends,
    build_engine,
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
    "QAOARun",
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


@dataclass(frozen=True)
class QAOARun:
    """A value with how it was computed: the backend and, for truncated MPS states, the
    estimated fidelity (product of one minus the discarded weight; 1.0 when exact)."""

    value: Any
    backend: str
    fidelity: float


def _fidelity(engine: Any) -> float:
    value = getattr(engine, "last_fidelity", None)
    return 1.0 if value is None else float(value)


@overload
def qaoa_expectation(model: IsingModel, gammas: npt.ArrayLike, betas: npt.ArrayLike, *,
                     backend: str = ..., kernel: str = ..., max_bond: int | None = ...,
                     client: Any = ..., slice_target_size: int | None = ...,
                     return_info: Literal[False] = ...) -> float: ...


@overload
def qaoa_expectation(model: IsingModel, gammas: npt.ArrayLike, betas: npt.ArrayLike, *,
                     backend: str = ..., kernel: str = ..., max_bond: int | None = ...,
                     client: Any = ..., slice_target_size: int | None = ...,
                     return_info: Literal[True]) -> QAOARun: ...


def qaoa_expectation(model: IsingModel, gammas: npt.ArrayLike, betas: npt.ArrayLike, *,
                     backend: str = "auto", kernel: str = "fast", max_bond: int | None = None,
                     client: Any = None, slice_target_size: int | None = None,
                     return_info: bool = False) -> float | QAOARun:
    """<gamma, beta| H |gamma, beta> for ``model`` (offset included).

    ``backend``: 'auto' (state vector up to ``AUTO_STATEVECTOR_MAX_QUBITS`` qubits; above it
    light cones on sparse graphs, an MPS on dense ones), 'statevector', 'mps', 'lightcone' or
    any registered name. ``return_info=True`` returns a :class:`QAOARun` with the backend used
    and the truncation fidelity.

    ``client``, a ``distributed.Client``, runs the light-cone backend's tensor-network cones on
    that Dask cluster: each wide cone is sliced into independent pieces (at least two per worker
    thread) contracted on the workers and summed here. Cones small enough for the dense state
    vector, and p=1 (closed form), stay local. ``slice_target_size`` caps the entries of any
    intermediate tensor of a cone, with or without a client. Either one with a backend that
    cannot use it ('statevector', 'mps', or 'auto' choosing one of them) is a ``ConfigError``.
    """
    name, engine = build_engine(model, backend, kernel=kernel, max_bond=max_bond, client=client,
                                slice_target_size=slice_target_size)
    value = float(engine.expectation(gammas, betas))
    if return_info:
        return QAOARun(value, name, _fidelity(engine))
    return value


@overload
def qaoa_sample(model: IsingModel, gammas: npt.ArrayLike, betas: npt.ArrayLike, shots: int,
                seed: np.random.Generator | int, *, backend: str = ..., kernel: str = ...,
                max_bond: int | None = ..., return_info: Literal[False] = ...) -> SpinArray: ...


@overload
def qaoa_sample(model: IsingModel, gammas: npt.ArrayLike, betas: npt.ArrayLike, shots: int,
                seed: np.random.Generator | int, *, backend: str = ..., kernel: str = ...,
                max_bond: int | None = ..., return_info: Literal[True]) -> QAOARun: ...


def qaoa_sample(model: IsingModel, gammas: npt.ArrayLike, betas: npt.ArrayLike, shots: int,
                seed: np.random.Generator | int, *, backend: str = "auto", kernel: str = "fast",
                max_bond: int | None = None, return_info: bool = False) -> SpinArray | QAOARun:
    """``shots`` spin vectors (shots, n) int8 of +-1 sampled from the QAOA state.

    Same seeds, same samples. ``return_info=True`` returns a :class:`QAOARun` whose ``value``
    is the samples, with the backend and the fidelity of the (possibly truncated) state.
    """
    name, engine = build_engine(model, backend, kernel=kernel, max_bond=max_bond)
    out: SpinArray = engine.sample(gammas, betas, shots, seed)
    if return_info:
        return QAOARun(out, name, _fidelity(engine))
    return out

"""Building the strike loop's arms: which QAOA engine fits the model, and the classical samplers.

Arms come back classical first, so the loop's first strike is a classical one and an answer
exists at once. Each arm draws its random stream from the run's seed and its own name (not its
position among the samplers), so the annealing arm of ``("qaoa", "simulated-annealing")`` makes
the same draws as annealing alone, and the two can be compared strike for strike.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from poqw.errors import BackendUnavailable, ConfigError, ProblemTooLarge, UnknownSampler
from poqw.problems import IsingModel
from poqw.sim.backends import AUTO_LIGHTCONE_MAX_DEGREE, GATE_MODEL_BACKENDS, build_engine
from poqw.strike.angles import angle_domain, warm_start_angles
from poqw.strike.arms import ClassicalArm, QaoaArm, TensorNetworkQaoaArm, make_engine
from poqw.strike.controllers import make_controller

__all__ = ["DEFAULT_CLASSICAL_OPTIONS", "DEFAULT_MAX_QUBITS", "Arm", "build_arms",
           "check_dask_use", "fallback_arm", "stream"]

Arm = QaoaArm | TensorNetworkQaoaArm | ClassicalArm

#: Above this the loop does not build a state vector unless asked (2**24 amplitudes: 256 MiB,
#: and a strike takes about a second on a laptop core); the engine's own limit is higher.
DEFAULT_MAX_QUBITS = 24
DEFAULT_CLASSICAL_OPTIONS: dict[str, dict[str, Any]] = {
    "simulated-annealing": {"num_threads": 1, "num_sweeps": 1000},
}


def stream(root: np.random.SeedSequence, name: str) -> np.random.Generator:
    """The random generator of the arm (or controller) ``name`` in the run seeded by ``root``."""
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=(key,)))


def _tensor_network_path(model: IsingModel, backend: str, max_qubits: int) -> bool:
    return backend in ("mps", "lightcone") or (backend == "auto"
                                               and model.num_variables > max_qubits)


def _gate_model_engine(model: IsingModel, backend: str, p: int, notes: list[str]
                       ) -> tuple[Any, str]:
    """The gate-model device's engine (transpiled for depth ``p``), or why there is none."""
    try:
        engine = build_engine(model, backend)[1]
        fidelity = engine.fidelity(p)
    except (BackendUnavailable, ProblemTooLarge) as exc:
        return None, str(exc)
    notes.append(f"QAOA on gate-model device {engine.name}: calibration fidelity estimate "
                 f"{fidelity:.3f} at p={p}; each strike's objective is corrected for it")
    return engine, ""


def _sparse(model: IsingModel) -> bool:
    degrees = model.degrees()
    return bool(degrees.size) and int(degrees.max()) <= AUTO_LIGHTCONE_MAX_DEGREE


def check_dask_use(model: IsingModel, samplers: Sequence[str], backend: str = "auto",
                   max_qubits: int = DEFAULT_MAX_QUBITS) -> None:
    """Raise :class:`ConfigError` if :func:`solve` with these arguments would not use a Dask
    client: only the tensor-network QAOA arm's light cones run on a cluster. (The CLI asks
    before it starts one.) An unknown backend is left for :func:`solve` to report."""
    if backend not in ("auto", "statevector", "mps", "lightcone"):
        return
    if "qaoa" not in samplers:
        why = "'qaoa' is not among the samplers"
    elif not _tensor_network_path(model, backend, max_qubits):
        why = (f"QAOA runs on the state vector here ({model.num_variables} variables, "
               f"backend {backend!r}, max_qubits={max_qubits})")
    elif not _sparse(model):
        why = (f"the graph is dense (degree above {AUTO_LIGHTCONE_MAX_DEGREE}), so its light "
               f"cones are not used")
    else:
        return
    raise ConfigError(f"a Dask cluster is only used by the tensor-network QAOA arm's light "
                      f"cones (backend 'lightcone' or 'mps', or 'auto' above max_qubits, on a "
                      f"sparse graph), but {why}")


def build_arms(model: IsingModel, samplers: Sequence[str], p: int, shots: int,
               controller: str, objective: str, alpha: float, kernel: str,
               root: np.random.SeedSequence, controller_options: Mapping[str, Any],
               sampler_options: Mapping[str, Mapping[str, Any]], max_qubits: int,
               backend: str, max_bond: int, notes: list[str],
               client: Any = None) -> dict[str, Arm]:
    """The arms for ``samplers``, classical ones first (in the order given), QAOA last."""
    arms: dict[str, Arm] = {}
    names = list(samplers)
    too_large = model.num_variables > max_qubits
    tensor_networks = _tensor_network_path(model, backend, max_qubits)
    sparse = _sparse(model)
    if client is not None:
        from poqw.compute.slicing import check_client

        check_client(client)
        check_dask_use(model, samplers, backend, max_qubits)
    if "qaoa" in names and tensor_networks:
        arms["qaoa"] = TensorNetworkQaoaArm(model, p, stream(root, "qaoa"), shots,
                                            objective, alpha, max_bond=max_bond,
                                            use_lightcone=sparse, client=client)
        notes.append(f"QAOA on {model.num_variables} qubits by tensor networks: angles from "
                     + ("exact light-cone energies" if sparse else "the warm start (dense graph)")
                     + f", samples from an MPS with bond dimension {max_bond}")
    elif "qaoa" in names:
        engine, reason = None, ""
        if backend in GATE_MODEL_BACKENDS:
            engine, reason = _gate_model_engine(model, backend, p, notes)
        elif too_large:
            reason = (f"{model.num_variables} qubits is more than max_qubits={max_qubits} for "
                      "the state vector")
        else:
            try:
                engine = make_engine(model, kernel)
            except ProblemTooLarge as exc:
                reason = str(exc)
        if engine is None:
            names.remove("qaoa")
            notes.append(f"QAOA skipped: {reason}; solving with classical samplers only")
            if not names:
                names.append("simulated-annealing")
                notes.append("no classical sampler was asked for: using simulated-annealing")
        else:
            domain = angle_domain(model)
            ctrl = make_controller(controller, domain, p, stream(root, "controller"),
                                   lambda depth: warm_start_angles(model, depth),
                                   **controller_options)
            arms["qaoa"] = QaoaArm(model, engine, ctrl, stream(root, "qaoa"), shots,
                                   objective, alpha)
    for name in names:
        if name == "qaoa":
            continue
        arms[name] = _classical(model, name, shots, root, sampler_options)
    classical = [n for n in names if n != "qaoa"]
    return {n: arms[n] for n in [*classical, *(["qaoa"] if "qaoa" in arms else [])]}


def _classical(model: IsingModel, name: str, shots: int, root: np.random.SeedSequence,
               sampler_options: Mapping[str, Mapping[str, Any]]) -> ClassicalArm:
    options = {**DEFAULT_CLASSICAL_OPTIONS.get(name, {}), **sampler_options.get(name, {})}
    try:
        return ClassicalArm(model, name, stream(root, name), shots, options)
    except UnknownSampler as exc:
        raise ConfigError(f"unknown sampler {name!r} in samplers: {exc}") from exc


def fallback_arm(model: IsingModel, shots: int, root: np.random.SeedSequence,
                 sampler_options: Mapping[str, Mapping[str, Any]]) -> ClassicalArm:
    """Simulated annealing, for a run whose only arm (QAOA) cannot strike."""
    return _classical(model, "simulated-annealing", shots, root, sampler_options)



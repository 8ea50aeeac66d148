"""The match-strike loop: fire strikes, feed the controller, keep the best, stop on a budget.

``solve`` builds the arms (the QAOA strike stream and classical samplers), and repeatedly lets
the budget allocator pick one to strike. Every strike's samples are polished by local search and
the best spin vector seen is kept. The loop stops on the first of: ``max_strikes`` strikes (of all
arms together), ``time_limit`` seconds on ``clock``, or an energy at or below ``target_energy``.
With a seed and a deterministic ``clock`` a run is reproducible bit for bit. A model too large for
the state vector is solved by the classical arms alone, and the result says so in ``notes``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from poqw.errors import ConfigError, ProblemTooLarge, UnknownSampler
from poqw.problems import IsingModel
from poqw.sim.backends import AUTO_LIGHTCONE_MAX_DEGREE
from poqw.strike.allocator import BudgetAllocator, improvement_reward
from poqw.strike.angles import angle_domain, energy_quantum, warm_start_angles
from poqw.strike.arms import (
    ClassicalArm,
    PullResult,
    QaoaArm,
    TensorNetworkQaoaArm,
    make_engine,
)
from poqw.strike.controllers import CONTROLLERS, make_controller
from poqw.strike.objectives import OBJECTIVES

__all__ = [
    "DEFAULT_MAX_QUBITS",
    "DEFAULT_MAX_STRIKES",
    "MAX_DEPTH",
    "MAX_SHOTS",
    "ProgressUpdate",
    "SamplerAllocation",
    "SolveResult",
    "StrikeRecord",
    "check_dask_use",
    "solve",
]

FloatArray = npt.NDArray[np.float64]
SpinArray = npt.NDArray[np.int8]

DEFAULT_MAX_STRIKES = 100
#: Above this the loop does not build a state vector unless asked (2**24 amplitudes: 256 MiB,
#: and a strike takes about a second on a laptop core); the engine's own limit is higher.
DEFAULT_MAX_QUBITS = 24
MAX_DEPTH = 16
MAX_SHOTS = 1 << 20
DEFAULT_CLASSICAL_OPTIONS: dict[str, dict[str, Any]] = {
    "simulated-annealing": {"num_threads": 1, "num_sweeps": 1000},
}


@dataclass(frozen=True, eq=False)
class StrikeRecord:
    """One strike: which sampler, its angles and objective (QAOA), energies, and the clock.

    ``sampled_energies`` are the raw shots (QAOA) or reads (classical) before polish,
    ``polished_energies`` the same after local search; ``time`` is seconds since the start.
    """

    index: int
    sampler: str
    angles: tuple[float, ...] | None
    objective: float | None
    expectation: float | None
    sampled_energies: FloatArray
    polished_energies: FloatArray
    strike_best: float
    best_energy: float
    time: float


@dataclass(frozen=True)
class SamplerAllocation:
    """What one sampler got: strikes, seconds, its best energy and how often it improved."""

    name: str
    strikes: int
    seconds: float
    best_energy: float
    improvements: int


@dataclass(frozen=True)
class ProgressUpdate:
    """Handed to the progress callback after every strike."""

    record: StrikeRecord
    max_strikes: int | None
    time_limit: float | None
    found_by: str


@dataclass(frozen=True, eq=False)
class SolveResult:
    """The outcome of :func:`solve`; ``to_dict`` gives a JSON-ready summary."""

    energy: float
    solution: SpinArray
    seconds: float
    strikes: int
    best_angles: tuple[float, ...] | None
    history: tuple[StrikeRecord, ...]
    allocation: Mapping[str, SamplerAllocation]
    found_by: str
    stopped_by: str
    p: int
    controller: str
    objective: str
    notes: tuple[str, ...] = field(default=())
    samples: SpinArray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int8))
    sample_energies: FloatArray = field(default_factory=lambda: np.zeros(0))

    def to_dict(self, history: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "energy": self.energy,
            "solution": [int(s) for s in self.solution],
            "seconds": self.seconds,
            "strikes": self.strikes,
            "best_angles": None if self.best_angles is None else list(self.best_angles),
            "found_by": self.found_by,
            "stopped_by": self.stopped_by,
            "p": self.p,
            "controller": self.controller,
            "objective": self.objective,
            "allocation": {k: vars(v).copy() for k, v in self.allocation.items()},
            "notes": list(self.notes),
        }
        if history:
            doc["history"] = [
                {"index": r.index, "sampler": r.sampler,
                 "angles": None if r.angles is None else list(r.angles),
                 "objective": r.objective, "expectation": r.expectation,
                 "strike_best": r.strike_best, "best_energy": r.best_energy, "time": r.time}
                for r in self.history
            ]
        return doc


def _check_arguments(p: int, shots: int, max_strikes: int | None, time_limit: float | None,
                     controller: str, objective: str, alpha: float, samplers: Sequence[str],
                     target_energy: float | None) -> None:
    """One check per line, in the order a reader meets the arguments."""
    if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= MAX_DEPTH:
        raise ConfigError(f"p must be an integer in [1, {MAX_DEPTH}], got {p!r}")
    if isinstance(shots, bool) or not isinstance(shots, int) or not 1 <= shots <= MAX_SHOTS:
        raise ConfigError(f"shots must be an integer in [1, {MAX_SHOTS}], got {shots!r}")
    if max_strikes is not None and (isinstance(max_strikes, bool)
                                    or not isinstance(max_strikes, int) or max_strikes < 1):
        raise ConfigError(f"max_strikes must be a positive integer or None, got {max_strikes!r}")
    if time_limit is not None and not (isinstance(time_limit, int | float) and time_limit > 0
                                       and math.isfinite(time_limit)):
        raise ConfigError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    if controller not in CONTROLLERS:
        raise ConfigError(f"unknown controller {controller!r}; choose one of "
                          f"{', '.join(CONTROLLERS)}")
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    if not (isinstance(alpha, int | float) and 0.0 < alpha <= 1.0):
        raise ConfigError(f"alpha must be in (0, 1], got {alpha!r}")
    if isinstance(samplers, str) or not samplers:
        raise ConfigError(f"samplers must be a non-empty sequence of names, got {samplers!r}")
    if len(set(samplers)) != len(samplers):
        raise ConfigError(f"samplers must not repeat a name, got {list(samplers)}")
    if target_energy is not None and not math.isfinite(target_energy):
        raise ConfigError(f"target_energy must be finite, got {target_energy!r}")


def _tensor_network_path(model: IsingModel, backend: str, max_qubits: int) -> bool:
    return backend in ("mps", "lightcone") or (backend == "auto"
                                               and model.num_variables > max_qubits)


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


def _build_arms(model: IsingModel, samplers: Sequence[str], p: int, shots: int,
                controller: str, objective: str, alpha: float, kernel: str,
                seeds: list[np.random.SeedSequence], controller_options: Mapping[str, Any],
                sampler_options: Mapping[str, Mapping[str, Any]], max_qubits: int,
                backend: str, max_bond: int, notes: list[str],
                client: Any = None) -> dict[str, QaoaArm | TensorNetworkQaoaArm | ClassicalArm]:
    arms: dict[str, QaoaArm | TensorNetworkQaoaArm | ClassicalArm] = {}
    names = list(samplers)
    too_large = model.num_variables > max_qubits
    tensor_networks = _tensor_network_path(model, backend, max_qubits)
    sparse = _sparse(model)
    if client is not None:
        from poqw.compute.slicing import check_client

        check_client(client)
        check_dask_use(model, samplers, backend, max_qubits)
    if "qaoa" in names and tensor_networks:
        arms["qaoa"] = TensorNetworkQaoaArm(model, p, np.random.default_rng(seeds[1]), shots,
                                            objective, alpha, max_bond=max_bond,
                                            use_lightcone=sparse, client=client)
        notes.append(f"QAOA on {model.num_variables} qubits by tensor networks: angles from "
                     + ("exact light-cone energies" if sparse else "the warm start (dense graph)")
                     + f", samples from an MPS with bond dimension {max_bond}")
    elif "qaoa" in names:
        engine, reason = None, ""
        if too_large:
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
            ctrl = make_controller(controller, domain, p, np.random.default_rng(seeds[0]),
                                   lambda depth: warm_start_angles(model, depth),
                                   **controller_options)
            arms["qaoa"] = QaoaArm(model, engine, ctrl, np.random.default_rng(seeds[1]), shots,
                                   objective, alpha)
    for name in names:
        if name == "qaoa":
            continue
        options = {**DEFAULT_CLASSICAL_OPTIONS.get(name, {}), **sampler_options.get(name, {})}
        # Each arm's stream depends on its position in ``samplers`` only (the fallback: last).
        stream = seeds[2 + samplers.index(name)] if name in samplers else seeds[-1]
        try:
            arms[name] = ClassicalArm(model, name, np.random.default_rng(stream), shots, options)
        except UnknownSampler as exc:
            raise ConfigError(f"unknown sampler {name!r} in samplers: {exc}") from exc
    order = [n for n in samplers if n in arms] + [n for n in arms if n not in samplers]
    return {n: arms[n] for n in order}


def _merge_best(pool: tuple[SpinArray, FloatArray], spins: SpinArray, energies: FloatArray,
                keep: int) -> tuple[SpinArray, FloatArray]:
    """The ``keep`` lowest-energy distinct rows of the pool and the new spins (ties: row order)."""
    rows, index = np.unique(np.vstack([pool[0], spins]), axis=0, return_index=True)
    values = np.concatenate([pool[1], energies])[index]
    order = np.argsort(values, kind="stable")[:keep]
    return rows[order], values[order]


def solve(
    model: IsingModel,
    *,
    p: int = 2,
    shots: int = 64,
    max_strikes: int | None = None,
    time_limit: float | None = None,
    seed: int | None = None,
    controller: str = "bayes",
    objective: str = "cvar",
    alpha: float = 0.1,
    samplers: Sequence[str] = ("qaoa", "simulated-annealing"),
    target_energy: float | None = None,
    progress: Callable[[ProgressUpdate], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    kernel: str = "fast",
    controller_options: Mapping[str, Any] | None = None,
    sampler_options: Mapping[str, Mapping[str, Any]] | None = None,
    keep: int = 1,
    max_qubits: int = DEFAULT_MAX_QUBITS,
    backend: str = "auto",
    max_bond: int = 64,
    client: Any = None,
) -> SolveResult:
    """Solve ``model`` by match-strike QAOA and classical samplers under one budget.

    With neither ``max_strikes`` nor ``time_limit`` the budget is ``DEFAULT_MAX_STRIKES``
    strikes (a strike is one pull of any sampler: ``shots`` shots or reads). The clock is read
    between strikes, so a run can overrun ``time_limit`` by one strike. ``controller`` is one
    of ``bayes``, ``fixed``, ``random``, ``nelder-mead``, ``spsa``; ``objective`` is ``cvar``
    (of the lowest ``alpha`` fraction) or ``mean``.
    ``keep`` distinct best polished samples are returned in ``samples`` (lowest energy first).
    ``backend`` 'auto' runs QAOA on the state vector up to ``max_qubits`` variables and on
    tensor networks above (angles optimised on light-cone energies, shots from an MPS with
    ``max_bond``; its fidelity estimate goes into ``notes``); 'statevector' skips QAOA above
    the limit, leaving the classical samplers (simulated annealing if none was named) to work;
    'mps' or 'lightcone' force the tensor-network path. ``client``, a ``distributed.Client``,
    contracts the wide light cones of that path's angle optimisation on a Dask cluster (see
    :class:`poqw.sim.lightcone.LightconeQAOA`); a client the run would not use (QAOA on the
    state vector, a dense graph, no 'qaoa' sampler) is a ``ConfigError``.
    """
    if not isinstance(model, IsingModel):
        raise ConfigError(f"model must be an IsingModel, got {type(model).__name__}")
    if model.num_variables == 0:
        raise ConfigError("the model has no variables")
    _check_arguments(p, shots, max_strikes, time_limit, controller, objective, alpha, samplers,
                     target_energy)
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_SHOTS:
        raise ConfigError(f"keep must be an integer in [1, {MAX_SHOTS}], got {keep!r}")
    if backend not in ("auto", "statevector", "mps", "lightcone"):
        raise ConfigError(f"backend must be auto, statevector, mps or lightcone, got {backend!r}")
    if isinstance(max_bond, bool) or not isinstance(max_bond, int) or max_bond < 1:
        raise ConfigError(f"max_bond must be a positive integer, got {max_bond!r}")
    if max_strikes is None and time_limit is None:
        max_strikes = DEFAULT_MAX_STRIKES
    seeds = np.random.SeedSequence(seed).spawn(3 + len(samplers))
    notes: list[str] = []
    arms = _build_arms(model, samplers, p, shots, controller, objective, alpha, kernel, seeds,
                       dict(controller_options or {}), dict(sampler_options or {}), max_qubits,
                       backend, max_bond, notes, client)
    allocator = BudgetAllocator(list(arms))
    unit = energy_quantum(model)
    history: list[StrikeRecord] = []
    best_energy, best_spins, found_by = math.inf, np.zeros(0, dtype=np.int8), ""
    n = model.num_variables
    pool: tuple[SpinArray, FloatArray] = (np.zeros((0, n), dtype=np.int8), np.zeros(0))
    start = clock()
    stopped_by = "max_strikes"
    while True:
        if max_strikes is not None and len(history) >= max_strikes:
            stopped_by = "max_strikes"
            break
        if time_limit is not None and clock() - start >= time_limit:
            stopped_by = "time_limit"
            break
        name = allocator.choose()
        t0 = clock()
        pulled: PullResult = arms[name].pull()
        seconds = clock() - t0
        k = int(np.argmin(pulled.energies))
        strike_best = float(pulled.energies[k])
        incumbent = None if not math.isfinite(best_energy) else best_energy
        allocator.update(name, seconds, improvement_reward(strike_best, incumbent, unit),
                         strike_best)
        if strike_best < best_energy:
            best_energy, best_spins, found_by = strike_best, pulled.spins[k].copy(), name
        pool = _merge_best(pool, pulled.spins, pulled.energies, keep)
        raw, polished = pulled.raw_energies.copy(), pulled.energies.copy()
        raw.setflags(write=False)
        polished.setflags(write=False)
        record = StrikeRecord(
            index=len(history), sampler=name,
            angles=None if pulled.angles is None else tuple(float(a) for a in pulled.angles),
            objective=pulled.objective, expectation=pulled.expectation, sampled_energies=raw,
            polished_energies=polished, strike_best=strike_best, best_energy=best_energy,
            time=clock() - start,
        )
        history.append(record)
        if progress is not None:
            progress(ProgressUpdate(record, max_strikes, time_limit, found_by))
        if target_energy is not None and best_energy <= target_energy + 1e-9 * max(
                1.0, abs(target_energy)):
            stopped_by = "target"
            break
    qaoa = arms.get("qaoa")
    best_angles = None
    if isinstance(qaoa, QaoaArm) and qaoa.controller.observed:
        best_angles = tuple(float(a) for a in qaoa.controller.best[0])
    elif isinstance(qaoa, TensorNetworkQaoaArm) and qaoa.angles is not None:
        best_angles = tuple(float(a) for a in qaoa.angles)
        expectation = "" if qaoa.expectation is None else f", <H> = {qaoa.expectation:.6g}"
        notes.append(f"MPS fidelity estimate {qaoa.fidelity:.4f}{expectation}")
    allocation = {
        n: SamplerAllocation(n, a.pulls, a.seconds, a.best_energy, a.improvements)
        for n, a in allocator.arms.items()
    }
    for array in (best_spins, *pool):
        array.setflags(write=False)
    return SolveResult(
        energy=best_energy, solution=best_spins, seconds=clock() - start, strikes=len(history),
        best_angles=best_angles, history=tuple(history), allocation=allocation,
        found_by=found_by, stopped_by=stopped_by, p=p, controller=controller,
        objective=objective, notes=tuple(notes), samples=pool[0], sample_energies=pool[1],
    )

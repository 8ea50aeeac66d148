"""The match-strike loop: fire strikes, feed the controller, keep the best, stop on a budget.

``solve`` builds the arms (classical samplers first, then the QAOA strike stream) and
repeatedly lets the budget allocator pick one to strike, sized by the scheduler
(:mod:`poqw.strike.scheduler`) to end before the deadline. Every strike's samples are polished by
local search and the best spin vector seen is kept. The loop stops on the first of:
``max_strikes`` strikes (of all arms together), ``time_limit`` seconds on ``clock``, or an energy
at or below ``target_energy``. With a seed and a deterministic ``clock`` a run is reproducible
bit for bit. A model too large for the state vector, or whose tensor-network preparation does not
fit the time, is solved by the classical arms alone, and the result says so in ``notes``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from poqw.errors import ConfigError
from poqw.problems import IsingModel
from poqw.sim.backends import GATE_MODEL_BACKENDS
from poqw.strike.allocator import BudgetAllocator, improvement_reward
from poqw.strike.angles import energy_quantum
from poqw.strike.arms import ClassicalArm, PullResult, QaoaArm, TensorNetworkQaoaArm
from poqw.strike.assembly import (
    DEFAULT_MAX_QUBITS,
    Arm,
    build_arms,
    check_dask_use,
    fallback_arm,
)
from poqw.strike.budget import TimeBudget
from poqw.strike.controllers import CONTROLLERS
from poqw.strike.objectives import OBJECTIVES
from poqw.strike.scheduler import Scheduler

__all__ = [
    "DEFAULT_MAX_QUBITS",
    "DEFAULT_MAX_STRIKES",
    "DEFAULT_QAOA_SHARE",
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
MAX_DEPTH = 16
MAX_SHOTS = 1 << 20
#: The most of the time QAOA may take when it shares the run with classical arms: of the time
#: limit, or untimed of the time elapsed. Annealing keeps the rest, so QAOA never starves it.
DEFAULT_QAOA_SHARE = 0.25
#: Without a time limit, preparing the tensor-network QAOA state may take this long at most.
UNTIMED_PREPARE_SECONDS = 60.0


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
        """Plain JSON types, and no non-finite number (JSON has none): an arm that never
        struck has ``best_energy`` null, as has ``energy`` a run that never struck."""
        doc: dict[str, Any] = {
            "energy": _finite(self.energy),
            "solution": [int(s) for s in self.solution],
            "seconds": self.seconds,
            "strikes": self.strikes,
            "best_angles": None if self.best_angles is None else list(self.best_angles),
            "found_by": self.found_by,
            "stopped_by": self.stopped_by,
            "p": self.p,
            "controller": self.controller,
            "objective": self.objective,
            "allocation": {k: {**vars(v), "best_energy": _finite(v.best_energy)}
                           for k, v in self.allocation.items()},
            "notes": list(self.notes),
        }
        if history:
            doc["history"] = [
                {"index": r.index, "sampler": r.sampler,
                 "angles": None if r.angles is None else list(r.angles),
                 "objective": _finite(r.objective), "expectation": _finite(r.expectation),
                 "strike_best": _finite(r.strike_best), "best_energy": _finite(r.best_energy),
                 "time": r.time}
                for r in self.history
            ]
        return doc


def _finite(value: float | None) -> float | None:
    """``value`` if it is a finite number, else None (JSON has no inf or NaN)."""
    return value if value is not None and math.isfinite(value) else None


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
    qaoa_share: float = DEFAULT_QAOA_SHARE,
) -> SolveResult:
    """Solve ``model`` by match-strike QAOA and classical samplers under one budget.

    With neither ``max_strikes`` nor ``time_limit`` the budget is ``DEFAULT_MAX_STRIKES``
    strikes (a strike is one pull of any sampler: up to ``shots`` shots or reads).
    ``time_limit`` is a hard limit on ``clock``: the first strike (a classical arm's, of one
    read) goes at once, so an answer always exists; every later strike is sized by its arm's
    measured cost to end before the deadline, and none starts that cannot (a load change
    between two strikes can still overrun by part of one). QAOA sharing the run with
    classical arms may use at most ``qaoa_share`` of the time limit (untimed: of the time
    elapsed), so annealing is never starved; the answer is the best of every arm's, so never
    worse than the annealing arm's in the same run. ``controller`` is one of ``bayes``,
    ``fixed``, ``random``, ``nelder-mead``, ``spsa``; ``objective`` is ``cvar`` (of the lowest
    ``alpha`` fraction) or ``mean``.
    ``keep`` distinct best polished samples are returned in ``samples`` (lowest energy first).
    ``backend`` 'auto' runs QAOA on the state vector up to ``max_qubits`` variables and on
    tensor networks above (angles optimised on light-cone energies, shots from an MPS with
    ``max_bond``; its fidelity estimate goes into ``notes``); that preparation is started only
    if its counted cost fits QAOA's share of the time (``UNTIMED_PREPARE_SECONDS`` untimed),
    else QAOA is skipped and ``notes`` say why. 'statevector' skips QAOA above the limit,
    leaving the classical samplers (simulated annealing if none was named) to work;
    'mps' or 'lightcone' force the tensor-network path. 'ibm' and 'ibm-fake' run the strikes
    on a gate-model device through qiskit-ibm-runtime (:mod:`poqw.sim.gate_model`), each
    strike's objective corrected for the device's calibration fidelity. ``client``, a
    ``distributed.Client``, contracts the wide light cones of that path's angle optimisation on
    a Dask cluster (see :class:`poqw.sim.lightcone.LightconeQAOA`); a client the run would not
    use (QAOA on the state vector, a dense graph, no 'qaoa' sampler) is a ``ConfigError``.
    """
    if not isinstance(model, IsingModel):
        raise ConfigError(f"model must be an IsingModel, got {type(model).__name__}")
    if model.num_variables == 0:
        raise ConfigError("the model has no variables")
    _check_arguments(p, shots, max_strikes, time_limit, controller, objective, alpha, samplers,
                     target_energy)
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_SHOTS:
        raise ConfigError(f"keep must be an integer in [1, {MAX_SHOTS}], got {keep!r}")
    if backend not in ("auto", "statevector", "mps", "lightcone", *GATE_MODEL_BACKENDS):
        raise ConfigError(f"backend must be auto, statevector, mps, lightcone, ibm or ibm-fake, "
                          f"got {backend!r}")
    if isinstance(max_bond, bool) or not isinstance(max_bond, int) or max_bond < 1:
        raise ConfigError(f"max_bond must be a positive integer, got {max_bond!r}")
    if not (isinstance(qaoa_share, int | float) and 0.0 < qaoa_share <= 1.0):
        raise ConfigError(f"qaoa_share must be in (0, 1], got {qaoa_share!r}")
    if max_strikes is None and time_limit is None:
        max_strikes = DEFAULT_MAX_STRIKES
    root = np.random.SeedSequence(seed)
    notes: list[str] = []
    options = dict(sampler_options or {})
    arms: dict[str, Arm] = build_arms(
        model, samplers, p, shots, controller, objective, alpha, kernel, root,
        dict(controller_options or {}), options, max_qubits, backend, max_bond, notes, client)
    allocator = BudgetAllocator(list(arms))
    unit = energy_quantum(model)
    history: list[StrikeRecord] = []
    best_energy, best_spins, found_by = math.inf, np.zeros(0, dtype=np.int8), ""
    n = model.num_variables
    pool: tuple[SpinArray, FloatArray] = (np.zeros((0, n), dtype=np.int8), np.zeros(0))
    for arm in arms.values():
        if isinstance(arm, ClassicalArm):
            arm.warm_up()
    start = clock()
    shares = {"qaoa": qaoa_share} if "qaoa" in arms and len(arms) > 1 else {}
    budget = TimeBudget(start, time_limit, shares)
    scheduler = Scheduler(arms, allocator, budget, shots=shots, p=p, clock=clock, notes=notes,
                          fallback=lambda: fallback_arm(model, shots, root, options),
                          untimed_prepare=UNTIMED_PREPARE_SECONDS)
    stopped_by = "max_strikes"
    while True:
        if max_strikes is not None and len(history) >= max_strikes:
            stopped_by = "max_strikes"
            break
        if history and budget.expired(clock()):
            stopped_by = "time_limit"
            break
        plan = scheduler.next_strike(first=not history)
        if plan is None:  # no arm can finish a strike before the deadline
            stopped_by = "time_limit"
            break
        name, reads = plan
        t0 = clock()
        pulled: PullResult = arms[name].pull(reads)
        seconds = clock() - t0
        scheduler.record(name, reads, seconds)
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
    elif isinstance(qaoa, TensorNetworkQaoaArm) and qaoa.ready and qaoa.angles is not None:
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

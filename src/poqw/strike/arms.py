"""The arms the strike loop allocates time between: the QAOA strike stream and classical samplers.

An arm does one *strike* per pull: the QAOA arm fires its circuit at the controller's angles for
``shots`` shots, scores the raw sampled energies for the controller, and polishes the samples by
local search; a classical arm runs its sampler for ``shots`` reads (and polishes them too, which
is free for samplers that already end at local minima). Either way a pull hands back polished
spins with their energies, so every arm is judged on the same footing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from poqw.problems import IsingModel
from poqw.strike.angles import split_angles
from poqw.strike.controllers import Controller
from poqw.strike.objectives import score_energies

__all__ = ["ClassicalArm", "PullResult", "QaoaArm", "TensorNetworkQaoaArm", "make_engine"]

FloatArray = npt.NDArray[np.float64]
SpinArray = npt.NDArray[np.int8]


@dataclass(frozen=True, eq=False)
class PullResult:
    """One strike of an arm: polished spins and energies, and for QAOA the raw shot energies."""

    spins: SpinArray
    energies: FloatArray
    raw_energies: FloatArray
    angles: FloatArray | None = None
    objective: float | None = None
    expectation: float | None = None


def make_engine(model: IsingModel, kernel: str = "fast") -> Any:
    """A state-vector QAOA engine from ``poqw.sim`` (raises ``ProblemTooLarge`` above its limit)."""
    try:
        from poqw.sim import StateVectorQAOA
    except ImportError:
        from poqw.sim.statevector import StateVectorQAOA
    # One thread is faster for the small states the strike loop lives on, and leaves the pool
    # alone; larger states use numba's threads.
    threads = 1 if model.num_variables <= 18 else None
    return StateVectorQAOA(model, kernel=kernel, threads=threads)


def _polish(model: IsingModel, spins: SpinArray) -> tuple[SpinArray, FloatArray]:
    from poqw.samplers import polish

    polished = polish(model, spins)
    return polished, model.energies(polished)


@dataclass
class QaoaArm:
    """The match-strike stream: controller -> circuit -> shots -> objective -> controller."""

    model: IsingModel
    engine: Any
    controller: Controller
    rng: np.random.Generator
    shots: int
    objective: str
    alpha: float
    name: str = "qaoa"

    def pull(self) -> PullResult:
        angles = self.controller.ask()
        gammas, betas = split_angles(angles)
        spins, raw, expectation = self.engine.strike(gammas, betas, self.shots, self.rng)
        raw = np.asarray(raw, dtype=np.float64)
        value = score_energies(raw, self.objective, self.alpha)
        self.controller.tell(angles, value)
        polished, energies = _polish(self.model, np.asarray(spins, dtype=np.int8))
        return PullResult(polished, energies, raw, angles, value, float(expectation))


@dataclass
class TensorNetworkQaoaArm:
    """QAOA beyond the state vector: angles from light cones, shots from a matrix product state.

    The first pull optimises the angles on the exact light-cone energy (sparse models; dense
    ones keep the warm start, whose cones span the whole graph) and builds the MPS once; every
    pull then draws ``shots`` fresh samples from it, which is cheap. ``fidelity`` is the MPS's
    truncation-fidelity estimate, reported in the result's notes. A Dask ``client`` contracts
    the wide light cones of the angle optimisation on its cluster.
    """

    model: IsingModel
    p: int
    rng: np.random.Generator
    shots: int
    objective: str
    alpha: float
    max_bond: int = 64
    use_lightcone: bool = True
    maxiter: int = 60
    name: str = "qaoa"
    state: Any = None
    angles: FloatArray | None = None
    expectation: float | None = None
    client: Any = None

    @property
    def fidelity(self) -> float | None:
        return None if self.state is None else float(self.state.fidelity)

    def _prepare(self) -> None:
        from poqw.sim.lightcone import optimize_lightcone_angles
        from poqw.sim.mps import MPSQAOA
        from poqw.strike.angles import warm_start_angles

        start = warm_start_angles(self.model, self.p)
        if start is None:
            ramp = (np.arange(self.p) + 0.5) / self.p
            start = np.concatenate([-0.7 * ramp, 0.6 * (1 - ramp)])
        gammas, betas = split_angles(start)
        if self.use_lightcone:
            gammas, betas, self.expectation = optimize_lightcone_angles(
                self.model, self.p, gammas0=gammas, betas0=betas, maxiter=self.maxiter,
                client=self.client)
        self.angles = np.concatenate([gammas, betas])
        self.state = MPSQAOA(self.model, max_bond=self.max_bond).state(gammas.tolist(),
                                                                        betas.tolist())

    def pull(self) -> PullResult:
        if self.state is None:
            self._prepare()
        spins = np.asarray(self.state.sample(self.shots, self.rng), dtype=np.int8)
        raw = self.model.energies(spins)
        value = score_energies(raw, self.objective, self.alpha)
        polished, energies = _polish(self.model, spins)
        return PullResult(polished, energies, raw, self.angles, value, self.expectation)


@dataclass
class ClassicalArm:
    """A registered classical sampler run for ``shots`` reads per strike."""

    model: IsingModel
    name: str
    rng: np.random.Generator
    shots: int
    options: dict[str, Any] = field(default_factory=dict)
    sampler: Any = None

    def __post_init__(self) -> None:
        from poqw.samplers import get_sampler

        self.sampler = get_sampler(self.name)

    def pull(self) -> PullResult:
        from poqw.samplers import spins_and_energies

        seed = int(self.rng.integers(0, 2**63 - 1))
        sampleset = self.sampler.sample(self.model, num_reads=self.shots, seed=seed,
                                        **self.options)
        spins, raw = spins_and_energies(sampleset, self.model)
        polished, energies = _polish(self.model, spins)
        return PullResult(polished, energies, np.asarray(raw, dtype=np.float64))

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

__all__ = ["ClassicalArm", "PullResult", "QaoaArm", "make_engine"]

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

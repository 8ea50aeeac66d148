"""The arms the strike loop allocates time between: the QAOA strike stream and classical samplers.

An arm does one *strike* per pull of ``reads`` samples (the loop sizes it to the time left,
``shots`` at most): the QAOA arm fires its circuit at the controller's angles, scores the raw
sampled energies for the controller, and polishes the samples by local search; a classical arm
runs its sampler for that many reads (and polishes them too, which is free for samplers that
already end at local minima). Either way a pull hands back polished spins with their energies,
so every arm is judged on the same footing. The tensor-network QAOA arm's one-off preparation
(ordering, light-cone angles, MPS) cannot be interrupted, so it starts only when its counted and
timed cost fits the allowance the loop hands in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from poqw.problems import IsingModel
from poqw.strike.angles import split_angles
from poqw.strike.controllers import Controller
from poqw.strike.objectives import score_energies

__all__ = [
    "ClassicalArm",
    "PullResult",
    "QaoaArm",
    "TensorNetworkQaoaArm",
    "make_engine",
    "polish_samples",
    "time_two_site_update",
]

FloatArray = npt.NDArray[np.float64]
SpinArray = npt.NDArray[np.int8]
Clock = Callable[[], float]
#: Below this allowance the tensor-network arm does not even time an update.
MIN_PREPARE_SECONDS = 0.2


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


def polish_samples(model: IsingModel, spins: SpinArray) -> tuple[SpinArray, FloatArray]:
    """The samples taken down to local minima, with their energies."""
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

    def first_strike_estimate(self, p: int) -> float:
        """A rough upper bound on the first strike's seconds, before any is timed: evolving
        a state vector of 2**n amplitudes through ``p`` layers (about 20 ns per amplitude and
        layer on one core), plus the shots and their polish."""
        device = getattr(self.engine, "strike_seconds_estimate", None)
        if device is not None:  # a gate-model device: queueing and transpiling, not 2**n
            return float(device)
        return 2e-8 * 2.0 ** self.model.num_variables * p + 1e-4 * self.shots

    def pull(self, reads: int) -> PullResult:
        angles = self.controller.ask()
        gammas, betas = split_angles(angles)
        spins, raw, expectation = self.engine.strike(gammas, betas, reads, self.rng)
        raw = np.asarray(raw, dtype=np.float64)
        value = score_energies(raw, self.objective, self.alpha)
        fidelity = getattr(self.engine, "fidelity", None)
        if callable(fidelity):  # a noisy device: weigh the strike by its fidelity estimate
            from poqw.sim.gate_model import noise_corrected

            value = noise_corrected(value, fidelity(len(gammas)), self.model.offset)
        self.controller.tell(angles, value)
        polished, energies = polish_samples(self.model, np.asarray(spins, dtype=np.int8))
        return PullResult(polished, energies, raw, angles, value, float(expectation))


def time_two_site_update(max_bond: int, clock: Clock, repeats: int = 3) -> float:
    """Seconds one MPS two-site update (gate, swap, truncated SVD) takes at bond ``max_bond``
    on this machine now: the fastest of ``repeats`` timed on random tensors."""
    from poqw.sim.mps import DEFAULT_CUTOFF, blas_threads
    from poqw.sim.mps_kernels import apply_two_site

    rng = np.random.default_rng(0)
    shape = (max_bond, 2, max_bond)
    left = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex128)
    right = left.copy()
    phase = np.exp(-0.3j * np.outer([1.0, -1.0], [1.0, -1.0])).astype(np.complex128)
    best = math.inf
    with blas_threads(1):  # as MPSQAOA builds its states
        for _ in range(repeats):
            t0 = clock()
            apply_two_site(left, right, phase, True, False, max_bond, DEFAULT_CUTOFF)
            best = min(best, clock() - t0)
    return best


@dataclass
class TensorNetworkQaoaArm:
    """QAOA by tensor networks: angles from light cones, shots from a matrix product state.

    Call :meth:`prepare` with an allowance in seconds before the first :meth:`pull`; it returns
    None when the arm is ready, else the reason it would not fit (then the arm never strikes).
    ``fidelity`` is the MPS's truncation-fidelity estimate, reported in the result's notes. A
    Dask ``client`` contracts the wide light cones of the angle optimisation on its cluster.
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
    evaluations: int = 0

    @property
    def fidelity(self) -> float | None:
        return None if self.state is None else float(self.state.fidelity)

    @property
    def ready(self) -> bool:
        return self.state is not None

    def _start_angles(self) -> FloatArray:
        from poqw.strike.angles import warm_start_angles

        start = warm_start_angles(self.model, self.p)
        if start is None:
            ramp = (np.arange(self.p) + 0.5) / self.p
            start = np.concatenate([-0.7 * ramp, 0.6 * (1 - ramp)])
        return np.asarray(start, dtype=np.float64)

    def prepare(self, allowance: float, clock: Clock) -> str | None:
        """Build the state if it fits in ``allowance`` seconds (else say why it does not)."""
        if allowance < MIN_PREPARE_SECONDS:
            return f"{allowance:.3g} s is too short to prepare an MPS"
        bond = min(self.max_bond, 2 ** min(self.model.num_variables // 2, 30))
        edges = self.model.num_interactions
        # An update's SVD of a (2 bond)^2 complex matrix takes some 20 (2 bond)^3 flops: 1 ns
        # per (2 bond)^3 is a floor no core beats, and decides hopeless cases without timing.
        quick_floor = self.p * edges * 1e-9 * (2 * bond) ** 3
        if quick_floor > allowance:
            return (f"its MPS needs at least {self.p * edges} two-site updates at bond "
                    f"{bond} (at least {quick_floor:.3g} s), more than the {allowance:.3g} s "
                    "it may use")
        from poqw.sim.mps import MPSQAOA

        t0 = clock()
        per_update = time_two_site_update(bond, clock)
        floor = self.p * edges * per_update  # every edge needs at least one update per layer
        if clock() - t0 + floor > allowance:
            return (f"its MPS needs at least {self.p * edges} two-site updates of "
                    f"{per_update * 1e3:.2g} ms (about {floor:.3g} s), more than the "
                    f"{allowance:.3g} s it may use")
        engine = MPSQAOA(self.model, max_bond=self.max_bond)
        updates = self.p * (edges + 2 * engine.ordering_score.swaps)
        build = updates * per_update
        if clock() - t0 + build > allowance:
            return (f"its MPS needs about {updates} two-site updates (about {build:.3g} s), "
                    f"more than the {allowance:.3g} s it may use")
        x = self._start_angles()
        if self.use_lightcone:
            x = self._optimise(x, allowance - build - (clock() - t0), clock)
        gammas, betas = split_angles(x)
        self.angles = x
        self.state = engine.state(gammas.tolist(), betas.tolist())
        return None

    def _optimise(self, x0: FloatArray, seconds: float, clock: Clock) -> FloatArray:
        """Nelder-Mead on the light-cone energy, for as many evaluations as fit in
        ``seconds`` (measured on the first, at the start angles) and ``2 * maxiter`` at most."""
        from scipy.optimize import minimize

        from poqw.sim.lightcone import LightconeQAOA

        if seconds <= 0:
            return x0
        engine = LightconeQAOA(self.model, client=self.client)
        p = self.p

        def energy(x: FloatArray) -> float:
            self.evaluations += 1
            return float(engine.expectation(x[:p], x[p:]))

        t0 = clock()
        start = energy(x0)
        self.expectation = start
        per_eval = max(clock() - t0, 1e-9)
        evaluations = min(2 * self.maxiter, int((seconds - per_eval) / per_eval))
        if evaluations < 2 * len(x0) + 2:  # not even a simplex and a step
            return x0
        res = minimize(energy, x0, method="Nelder-Mead",
                       options={"maxfev": evaluations, "xatol": 1e-6, "fatol": 1e-9})
        if float(res.fun) < start:
            self.expectation = float(res.fun)
            return np.asarray(res.x, dtype=np.float64)
        return x0

    def pull(self, reads: int) -> PullResult:
        if self.state is None:
            raise RuntimeError("prepare the tensor-network arm before pulling it")
        spins = np.asarray(self.state.sample(reads, self.rng), dtype=np.int8)
        raw = self.model.energies(spins)
        value = score_energies(raw, self.objective, self.alpha)
        polished, energies = polish_samples(self.model, spins)
        return PullResult(polished, energies, raw, self.angles, value, self.expectation)


@dataclass
class ClassicalArm:
    """A registered classical sampler run for ``reads`` reads per strike (``shots`` at most)."""

    model: IsingModel
    name: str
    rng: np.random.Generator
    shots: int
    options: dict[str, Any] = field(default_factory=dict)
    sampler: Any = None

    def __post_init__(self) -> None:
        from poqw.samplers import get_sampler

        self.sampler = get_sampler(self.name)

    def warm_up(self) -> None:
        """Import and compile what a strike needs, on a two-variable model (before the clock
        starts, so that one-off work does not count as a strike's cost)."""
        tiny = IsingModel.from_dicts({0: 0.5}, {(0, 1): 1.0})
        sampleset = self.sampler.sample(tiny, num_reads=1, seed=0, **self.options)
        from poqw.samplers import spins_and_energies

        polish_samples(tiny, spins_and_energies(sampleset, tiny)[0])

    def pull(self, reads: int) -> PullResult:
        from poqw.samplers import spins_and_energies

        seed = int(self.rng.integers(0, 2**63 - 1))
        sampleset = self.sampler.sample(self.model, num_reads=reads, seed=seed,
                                        **self.options)
        spins, raw = spins_and_energies(sampleset, self.model)
        polished, energies = polish_samples(self.model, spins)
        return PullResult(polished, energies, np.asarray(raw, dtype=np.float64))

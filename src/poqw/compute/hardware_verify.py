"""Verifying gate-model device results, which no one can re-run bit for bit.

A device's shots are a noisy sample, not a function of the job's spec, so the spot check that
re-runs an exact strike does not apply. Instead every device result is checked in full when it
arrives, by what is exact about it and by what its claimed fidelity ``F`` implies:

1. every sample's energy is recomputed from the model: claimed energies that are not the
   samples' energies are fraud, deterministically;
2. noise only pulls a circuit's energy mean from its noiseless value ``ideal`` (computed here
   from the exact distribution, one state-vector evolution, the cost of one spot check) towards
   the uniform mean ``offset``. A job whose mean lies beyond ``ideal`` by more than
   :data:`Z_LIMIT` standard errors was not sampled from the circuit (samples taken from a
   classical optimiser, say): fraud, on that one job;
3. a device of fidelity ``F`` keeps at least about ``F`` of the gap ``offset - ideal`` (the
   calibration product is pessimistic: on qiskit's fake devices the kept share was 1.1 to 3.4
   times ``F``). Each job's shortfall against ``F_low = F * LOW_FIDELITY_SHARE`` is summed per
   solver with its variance; when the sum exceeds :data:`Z_LIMIT` standard deviations the
   solver's samples are no better than noise (uniform random states, or a fidelity claimed far
   above its device's): fraud. An honest device drifts the other way, so the test is one-sided
   and sequential, and a cheater is caught after a few jobs rather than on one.

Results that fail are :class:`~poqw.errors.HardwareFraud`; the coordinator bans the solver.
A claimed fidelity up to about 1 / LOW_FIDELITY_SHARE times the device's is not caught by (3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from poqw.compute.jobs import JobResult
from poqw.compute.strike_spec import StrikeRunner, StrikeSpec, spins_from_indices
from poqw.errors import HardwareFraud
from poqw.problems import IsingModel, energy_diagonal

__all__ = ["LOW_FIDELITY_SHARE", "MIN_CHECKED_SHOTS", "Z_LIMIT", "HardwareVerifier"]

Z_LIMIT = 5.0
LOW_FIDELITY_SHARE = 0.5
MIN_CHECKED_SHOTS = 8  # fewer shots say too little about a distribution to test it
ENERGY_TOLERANCE = 1e-9


@dataclass
class _Tally:
    """One solver's running shortfall (sum of per-job shortfalls) and its variance."""

    shortfall: float = 0.0
    variance: float = 0.0
    jobs: int = 0


class HardwareVerifier:
    """Checks device results of one model (see the module docstring)."""

    def __init__(self, model: IsingModel, backend: str = "fast") -> None:
        self.model = model
        self.runner = StrikeRunner(model, backend)
        self.diagonal = energy_diagonal(model)
        self.tallies: dict[str, _Tally] = {}

    def ideal_mean(self, spec: StrikeSpec) -> float:
        """The noiseless energy mean of the job's circuit."""
        return float(self.runner.probabilities(spec) @ self.diagonal)

    def check(self, solver: str, spec: StrikeSpec, result: JobResult) -> None:
        """Raise :class:`HardwareFraud` naming what is wrong with ``result``, else return."""
        assert result.fidelity is not None
        n = self.model.num_variables
        energies = self.model.energies(spins_from_indices(result.indices, n))
        if energies.shape != result.energies.shape or not np.allclose(
                energies, result.energies, rtol=ENERGY_TOLERANCE, atol=ENERGY_TOLERANCE):
            raise HardwareFraud(f"result from {solver}: the energies are not its samples' "
                                f"energies", result)
        shots = energies.size
        if shots < MIN_CHECKED_SHOTS:
            return
        offset, ideal = self.model.offset, self.ideal_mean(spec)
        gap = offset - ideal
        if abs(gap) < ENERGY_TOLERANCE:  # the circuit's mean is the uniform one: nothing to test
            return
        toward = math.copysign(1.0, gap)  # the direction in which samples beat noise
        mean = float(energies.mean())
        error = max(float(energies.std(ddof=1)), 1e-6) / math.sqrt(shots)
        beyond = toward * (ideal - mean)
        if beyond > Z_LIMIT * error:
            raise HardwareFraud(
                f"result from {solver}: its energy mean {mean:.4g} is {beyond / error:.1f} "
                f"standard errors beyond the noiseless circuit's {ideal:.4g}; no device "
                f"samples better than the circuit it runs", result)
        low = result.fidelity * LOW_FIDELITY_SHARE
        expected = low * ideal + (1.0 - low) * offset
        tally = self.tallies.setdefault(solver, _Tally())
        tally.shortfall += toward * (mean - expected)
        tally.variance += error ** 2
        tally.jobs += 1
        z = tally.shortfall / math.sqrt(tally.variance)
        if z > Z_LIMIT:
            raise HardwareFraud(
                f"result from {solver}: over its {tally.jobs} device jobs the energy means "
                f"fall {z:.1f} standard errors short of what fidelity {low:.3f} "
                f"({LOW_FIDELITY_SHARE:g} of its claimed {result.fidelity:.3f}) keeps of the "
                f"circuit; its samples are no better than noise", result)

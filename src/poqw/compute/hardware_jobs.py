"""Gate-model hardware in a coordinated solve: who may run its jobs, who goes first, how it counts.

A solver announces a :class:`SolverProfile` when it joins: an exact simulator (the default, and
what an old solver that announces nothing is), or a gate-model device with its calibration
fidelity estimate. A solve declares the lowest fidelity it accepts (``min_fidelity``; None, the
default, accepts exact simulators only). Devices the solve tolerates are dealt each round's
jobs first, two for each one an exact solver gets (:func:`deal_jobs`); devices it does not
tolerate get none and are told why. A round mixing both is scored as the single-process loop
scores a device's strike: each device job's objective is corrected for its fidelity, and the
parts are averaged with inverse-variance weights ``shots * F**2`` (:func:`score_round`); a
round of exact results only is scored exactly as before, so an exact-only solve with N solvers
still equals one with one.
Device results are verified on arrival (:mod:`poqw.compute.hardware_verify`), not spot-checked.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from poqw.compute.jobs import JobResult
from poqw.compute.strike_spec import StrikeSpec
from poqw.errors import ConfigError, HardwareFraud, ResultRejected
from poqw.problems import IsingModel
from poqw.strike.objectives import score_energies

__all__ = [
    "EXACT",
    "HARDWARE_SHARE",
    "MAX_DEVICE_NAME_BYTES",
    "HardwareJobs",
    "SolverProfile",
    "deal_jobs",
    "refusal",
    "score_round",
]

#: Jobs an eligible gate-model device gets in a round for each one an exact solver gets.
HARDWARE_SHARE = 2
MAX_DEVICE_NAME_BYTES = 64
FIDELITY_SCALE = 1_000_000  # on the wire a fidelity is an integer of millionths


@dataclass(frozen=True)
class SolverProfile:
    """What a solver said it is when it joined: ``"exact"`` or ``"hardware"`` (a gate-model
    device named ``device`` with calibration fidelity estimate ``fidelity``)."""

    kind: str = "exact"
    fidelity: float = 1.0
    device: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("exact", "hardware"):
            raise ConfigError(f"a solver is 'exact' or 'hardware', not {self.kind!r}")
        if not 0.0 < self.fidelity <= 1.0:  # NaN fails too
            raise ConfigError(f"a fidelity estimate is in (0, 1], got {self.fidelity!r}")
        if len(self.device.encode("utf-8")) > MAX_DEVICE_NAME_BYTES:
            raise ConfigError(f"a device name is at most {MAX_DEVICE_NAME_BYTES} bytes")
        if self.kind == "exact" and (self.fidelity != 1.0 or self.device):
            raise ConfigError("an exact simulator has fidelity 1 and no device name")

    @property
    def is_hardware(self) -> bool:
        return self.kind == "hardware"

    def describe(self) -> str:
        if not self.is_hardware:
            return "exact simulator"
        return f"gate-model device {self.device or '(unnamed)'} (fidelity estimate " \
               f"{self.fidelity:.3f})"


EXACT = SolverProfile()


def refusal(profile: SolverProfile, min_fidelity: float | None) -> str | None:
    """Why a solve with ``min_fidelity`` will not give jobs to ``profile`` (None: it will)."""
    if not profile.is_hardware:
        return None
    if min_fidelity is None:
        return (f"this solve accepts exact simulators only (it declares no minimum fidelity): "
                f"{profile.describe()} is not used")
    if profile.fidelity < min_fidelity:
        return (f"this solve accepts fidelity estimates of {min_fidelity:.3f} and above: "
                f"{profile.describe()} is below it")
    return None


def deal_jobs(jobs: int, solvers: Sequence[str], profiles: Mapping[str, SolverProfile],
              min_fidelity: float | None, turn: int = 0) -> list[str]:
    """Who runs each of a round's ``jobs``, dealt along a cycle: every eligible device
    :data:`HARDWARE_SHARE` times (highest fidelity first, then by name), then each exact
    solver once (rotated by ``turn``, so they take turns when jobs are few). Devices thus get
    the first jobs and twice an exact solver's share; ineligible devices get none. Raises
    :class:`ConfigError` if nobody is eligible."""
    eligible = [s for s in solvers if refusal(profiles.get(s, EXACT), min_fidelity) is None]
    devices = sorted((s for s in eligible if profiles.get(s, EXACT).is_hardware),
                     key=lambda s: (-profiles[s].fidelity, s))
    exact = [s for s in eligible if s not in devices]
    if exact:
        shift = turn % len(exact)
        exact = exact[shift:] + exact[:shift]
    cycle = devices * HARDWARE_SHARE + exact
    if not cycle:
        raise ConfigError("no solver may run this solve's jobs: "
                          + "; ".join(sorted({refusal(profiles[s], min_fidelity) or ""
                                              for s in solvers if s in profiles})))
    return [cycle[k % len(cycle)] for k in range(jobs)]


def _corrected(value: float, fidelity: float, offset: float) -> float:
    from poqw.sim.gate_model import noise_corrected

    return noise_corrected(value, fidelity, offset)


def score_round(results: Sequence[JobResult], objective: str, alpha: float,
                offset: float) -> float:
    """The objective of a round's results, in job order. Exact results are scored together
    as one strike (bit for bit what the single-process loop computes); each device result is
    scored alone and corrected for its fidelity ``F`` (global depolarising noise, as
    :class:`~poqw.strike.arms.QaoaArm` does), and the parts are averaged with weights
    ``shots * F**2``: the corrected value's variance grows as ``1 / (shots * F**2)``."""
    exact = [r.energies for r in results if r.fidelity is None]
    if len(exact) == len(results):
        return score_energies(np.concatenate(exact), objective, alpha)
    parts: list[tuple[float, float]] = []  # (value, weight)
    if exact:
        joined = np.concatenate(exact)
        parts.append((score_energies(joined, objective, alpha), float(joined.size)))
    for r in results:
        if r.fidelity is not None:
            value = score_energies(r.energies, objective, alpha)
            parts.append((_corrected(value, r.fidelity, offset),
                          float(r.energies.size) * r.fidelity ** 2))
    total = math.fsum(w for _, w in parts)
    return math.fsum(v * w for v, w in parts) / total


class HardwareJobs:
    """The coordinator's view of the devices among its solvers (see the module docstring).

    ``profiles`` is read live (a network transport adds solvers as they join); a device's
    fidelity is the one it announced until its first result, then the one its results carry;
    a solver that announced a device but answers with exact results is an exact solver from
    then on (its results are spot-checked, and it loses the devices' priority).
    ``notes`` is the coordinator's list of notes: each refusal is told there once.
    """

    def __init__(self, model: IsingModel, min_fidelity: float | None,
                 profiles: Mapping[str, SolverProfile], notes: list[str],
                 verifier_backend: str = "fast") -> None:
        self.model, self.min_fidelity = model, min_fidelity
        self.profiles, self.notes = profiles, notes
        self.verifier_backend = verifier_backend
        self.reported: dict[str, float] = {}
        self.answered_exact: set[str] = set()
        self.refused: dict[str, str] = {}
        self.frauds: dict[str, str] = {}
        self.jobs = Counter[str]()
        self._verifier: Any = None

    def profile(self, solver: str) -> SolverProfile:
        announced = self.profiles.get(solver, EXACT)
        if solver in self.answered_exact:
            return EXACT
        fidelity = self.reported.get(solver)
        if fidelity is None:
            return announced
        return SolverProfile("hardware", fidelity, announced.device)

    def refusal(self, solver: str) -> str | None:
        """Why ``solver`` gets no jobs of this solve (told once in the notes), or None."""
        reason = refusal(self.profile(solver), self.min_fidelity)
        if reason is not None and self.refused.get(solver) != reason:
            self.refused[solver] = reason
            self.notes.append(f"{solver} gets no jobs: {reason}")
        return reason

    def may_run(self, solver: str) -> bool:
        return self.refusal(solver) is None

    @property
    def involved(self) -> bool:
        """Whether any solver of this solve is (or said it was) a device."""
        return bool(self.reported) or any(p.is_hardware for p in self.profiles.values())

    def deal(self, jobs: int, solvers: Sequence[str], turn: int) -> list[str] | None:
        """The round's solvers by :func:`deal_jobs`, or None when no eligible device is among
        ``solvers`` (the coordinator then keeps its own rotation, unchanged)."""
        eligible = [s for s in solvers if self.may_run(s)]
        current = {s: self.profile(s) for s in eligible}
        if not any(p.is_hardware for p in current.values()):
            return None
        return deal_jobs(jobs, eligible, current, self.min_fidelity, turn)

    def check(self, solver: str, spec: StrikeSpec, result: JobResult) -> None:
        """Take a device result or raise: :class:`ResultRejected` when this solve does not
        accept its fidelity (the solver gets no more jobs), :class:`HardwareFraud` when its
        samples contradict its energies or its claimed fidelity. Exact results pass."""
        if result.fidelity is None:
            if self.profiles.get(solver, EXACT).is_hardware:
                self.answered_exact.add(solver)
            return
        self.answered_exact.discard(solver)
        self.reported[solver] = result.fidelity
        reason = self.refusal(solver)
        if reason is not None:
            raise ResultRejected(f"result from {solver}: {reason}", result)
        if self._verifier is None:
            from poqw.compute.hardware_verify import HardwareVerifier

            self._verifier = HardwareVerifier(self.model, self.verifier_backend)
        try:
            self._verifier.check(solver, spec, result)
        except HardwareFraud as exc:
            self.frauds[solver] = str(exc)
            self.notes.append(f"{solver} caught returning false device samples: {exc}; "
                              "banned")
            raise
        self.jobs[solver] += 1

    def summary(self) -> dict[str, Any]:
        """Per device: what it announced, the fidelity its results carried, jobs accepted,
        and why it was refused or banned (JSON-ready)."""
        names = sorted(set(self.reported) | {s for s, p in self.profiles.items()
                                            if p.is_hardware})
        return {"min_fidelity": self.min_fidelity, "devices": {
            s: {"device": self.profiles.get(s, EXACT).device,
                "announced_fidelity": self.profiles.get(s, EXACT).fidelity,
                "reported_fidelity": self.reported.get(s), "jobs": self.jobs[s],
                "refused": self.refused.get(s), "fraud": self.frauds.get(s)} for s in names}}

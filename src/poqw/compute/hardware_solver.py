"""A solver whose strikes run on a gate-model device (an IBM Quantum backend or its fake).

It takes the same jobs as an exact :class:`~poqw.compute.jobs.SolverNode`, runs each job's
circuit on the device through :class:`~poqw.sim.gate_model.GateModelQAOA` (transpiled once per
depth, re-bound per job) and answers with the measured samples, their energies and the
device's calibration fidelity estimate for the job's circuit. Its samples are not a function of
the job, so it never commits to them for spot checks: the coordinator verifies each result on
arrival (:mod:`poqw.compute.hardware_verify`). When it joins it announces the estimate of a
reference circuit (:func:`announced_fidelity`), since it does not know the model yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from poqw.compute.hardware_jobs import SolverProfile
from poqw.compute.jobs import Job, JobResult
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import JobRejected
from poqw.problems import IsingModel, spins_to_index

__all__ = ["HardwareSolverNode", "announced_fidelity"]

REFERENCE_QUBITS = 8


def announced_fidelity(device: Any, qubits: int = REFERENCE_QUBITS, p: int = 1) -> float:
    """The device's calibration fidelity estimate for a reference circuit: depth-``p`` QAOA
    of an antiferromagnetic ring of ``qubits`` qubits (fewer on a smaller device)."""
    from poqw.sim.gate_model import GateModelQAOA

    n = max(2, min(qubits, int(getattr(device, "num_qubits", 2) or 2)))
    ring = IsingModel.from_dicts({}, {(k, (k + 1) % n): 1.0 for k in range(n)})
    return GateModelQAOA(ring, device).fidelity(p)


class HardwareSolverNode:
    """Runs jobs for the models it holds on ``device`` (a Qiskit ``BackendV2``).

    ``announced`` is the fidelity it announces when it joins (default: computed by
    :func:`announced_fidelity`). Each job's simulator seed comes from the job's seed, so a
    fake device answers a job the same way twice; a real device ignores it.
    """

    def __init__(self, key: EcdsaPrivateKey, models: Iterable[IsingModel], device: Any, *,
                 announced: float | None = None) -> None:
        from poqw.sim.gate_model import GateModelQAOA

        self.key = key
        self.node_id = key.public_key().compressed
        self.device = device
        self.engines = {m.content_hash(): GateModelQAOA(m, device) for m in models}
        self.announced = announced
        self.jobs_run = 0

    @property
    def profile(self) -> SolverProfile:
        """What this solver announces when it joins."""
        if self.announced is None:
            self.announced = announced_fidelity(self.device)
        return SolverProfile("hardware", self.announced, str(self.device.name))

    def handle_job(self, data: bytes) -> bytes:
        """Run one encoded job on the device; the encoded result (version 2, with the
        fidelity estimate). Raises :class:`JobRejected` for a model it does not hold."""
        job = Job.from_bytes(data)
        engine = self.engines.get(job.spec.model_hash)
        if engine is None:
            raise JobRejected(f"this solver does not hold model "
                              f"{job.spec.model_hash.hex()[:16]}...", job)
        rng = np.random.default_rng(int.from_bytes(job.spec.seed[:8], "big"))
        spins = engine.sample(list(job.spec.gammas), list(job.spec.betas), job.spec.shots, rng)
        energies = np.asarray(engine.model.energies(spins), dtype=np.float64)
        self.jobs_run += 1
        return JobResult(job.job_id, spins_to_index(spins).astype(np.int64), energies,
                         engine.fidelity(job.spec.depth)).to_bytes()

    def handle_commit(self, job_ids: Sequence[bytes]) -> bytes:
        raise JobRejected("a gate-model device's samples cannot be re-run: its results are "
                          "verified on arrival, never committed for spot checks")

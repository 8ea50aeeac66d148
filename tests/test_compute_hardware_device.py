"""A gate-model device as a compute-network solver: qiskit's fake IBM device (a real device's
coupling map, gates and calibrated noise, simulated by qiskit-aer) runs a tolerant solve's jobs
beside an exact solver, through the in-process transport."""

from __future__ import annotations

import math

import pytest

from poqw.compute.coordinator import Coordinator, SolveSettings
from poqw.compute.jobs import SolverNode
from poqw.compute.ledger import Ledger
from poqw.compute.transport import InProcessTransport, run_solve
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.problems import pm_j_spin_glass, random_regular_graph

pytest.importorskip("qiskit_aer", reason="fake IBM devices are simulated by qiskit-aer")

MODEL = pm_j_spin_glass(random_regular_graph(3, 8, seed=1), seed=2, field=True)


@pytest.mark.slow
def test_a_fake_ibm_device_solves_beside_an_exact_solver() -> None:
    from poqw.compute.hardware_solver import HardwareSolverNode
    from poqw.sim.gate_model import fake_device

    device = HardwareSolverNode(EcdsaPrivateKey(bytes(31) + b"\x09"), [MODEL],
                                fake_device("fake_guadalupe"))
    exact = SolverNode(EcdsaPrivateKey(bytes(31) + b"\x01"), [MODEL])
    engine = next(iter(device.engines.values()))
    assert 0.2 < engine.fidelity(1) < device.profile.fidelity < 1.0  # a ring is simpler
    settings = SolveSettings(p=1, shots=96, rounds=2, seed=4, job_shots=32, verify_every=2,
                             min_fidelity=0.2)  # a device run costs ~1 s (qiskit-aer's setup)
    coordinator = Coordinator(MODEL, settings, ["exact", "ibm"], random_bytes=lambda k: bytes(k),
                              ledger=Ledger(10**9), profiles={"ibm": device.profile})
    run_solve(coordinator, InProcessTransport({"exact": exact, "ibm": device}))
    assert device.jobs_run == 4 and exact.jobs_run == 2  # the device ran 2 of every 3 jobs
    assert coordinator.banned == set() and not coordinator.evidence  # its samples passed
    summary = coordinator.result()["hardware"]["devices"]["ibm"]
    assert summary["device"] == "fake_guadalupe" and summary["jobs"] == 4
    assert summary["reported_fidelity"] == engine.fidelity(1)
    assert coordinator.ledger.balances()["ibm"] == 4 * 32
    assert math.isfinite(coordinator.best_energy)

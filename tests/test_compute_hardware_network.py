"""A gate-model solver over the layer-2 QUIC protocol: it announces its fake IBM device when it
joins; an exact-only coordinator lets it go saying why (without banning it), a tolerant one
takes it in, knows its device and fidelity, and gets device results carrying that fidelity."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from poqw.compute.hardware_jobs import refusal
from poqw.compute.jobs import Job, JobResult
from poqw.compute.network import QuicCoordinatorTransport
from poqw.compute.solver_client import SolverOutcome, run_solver
from poqw.compute.strike_spec import StrikeSpec
from poqw.compute.transport import Reply
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.p2p.quic import ensure_tls_identity
from poqw.problems import pm_j_spin_glass, random_regular_graph

pytest.importorskip("qiskit_aer", reason="fake IBM devices are simulated by qiskit-aer")

MODEL = pm_j_spin_glass(random_regular_graph(3, 4, seed=1), seed=2)  # fits 5 qubits


def coordinator(tmp_path: Path, min_fidelity: float | None) -> QuicCoordinatorTransport:
    transport = QuicCoordinatorTransport(EcdsaPrivateKey.generate(),
                                         ensure_tls_identity(tmp_path / "coord"), MODEL)
    transport.admission = lambda profile: refusal(profile, min_fidelity)
    transport.start()
    return transport


def device_solver(tmp_path: Path, port: int) -> SolverOutcome:
    return asyncio.run(run_solver(EcdsaPrivateKey.generate(),
                                  ensure_tls_identity(tmp_path / "solver"), "127.0.0.1", port,
                                  backend="ibm-fake", timeout=30.0))


@pytest.mark.slow
def test_an_exact_only_coordinator_lets_a_device_go_saying_why(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.setenv("POQW_IBM_FAKE_DEVICE", "fake_manila")  # 5 qubits: quick to load
    transport = coordinator(tmp_path, None)
    try:
        outcome = device_solver(tmp_path, transport.port)
    finally:
        transport.close()
    assert not outcome.banned and outcome.jobs == 0
    assert outcome.reason.startswith("this solve accepts exact simulators only")
    assert "gate-model device fake_manila (fidelity estimate 0." in outcome.reason
    assert transport.new_solvers() == []


@pytest.mark.slow
def test_a_tolerant_coordinator_takes_a_device_and_its_fidelity(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    monkeypatch.setenv("POQW_IBM_FAKE_DEVICE", "fake_manila")
    transport = coordinator(tmp_path, 0.05)
    outcomes: list[SolverOutcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(device_solver(tmp_path,
                                                                           transport.port)))
    thread.start()
    try:
        name = transport.wait_for_solvers(1, 60)[0]
        profile = transport.profiles[name]
        assert profile.is_hardware and profile.device == "fake_manila"
        assert 0.05 < profile.fidelity < 1.0
        spec = StrikeSpec.create(MODEL.content_hash(), [0.3], [0.4], 16, bytes(32))
        job = Job(0, 0, bytes(32), spec)
        transport.send_job(name, job.to_bytes())
        replies: list[Reply] = []
        while not replies:
            replies = transport.wait(30.0)
        assert replies[0].kind == "result", replies[0].error
        result = JobResult.from_bytes(replies[0].data, 16)
        assert result.job_id == job.job_id and result.indices.shape == (16,)
        assert result.fidelity is not None and 0.0 < result.fidelity < 1.0
    finally:
        transport.close()
        thread.join(30)
    assert outcomes and not outcomes[0].banned and outcomes[0].jobs == 1


@pytest.mark.slow
def test_a_device_whose_circuits_are_too_noisy_is_let_go_mid_solve(tmp_path: Path) -> None:
    from poqw.compute.coordinator import Coordinator, SolveSettings
    from poqw.compute.transport import run_solve

    # fake_guadalupe announces ~0.61 (its reference ring), but this model's p=1 circuit is
    # ~0.48: admitted at 0.55, its first result is refused and it is told why, not banned
    model = pm_j_spin_glass(random_regular_graph(3, 8, seed=1), seed=2, field=True)
    settings = SolveSettings(p=1, shots=64, rounds=2, seed=1, job_shots=32, verify_every=2,
                             min_fidelity=0.55)
    transport = QuicCoordinatorTransport(EcdsaPrivateKey.generate(),
                                         ensure_tls_identity(tmp_path / "coord"), model)
    transport.admission = lambda profile: refusal(profile, settings.min_fidelity)
    port = transport.start()
    outcomes: dict[str, SolverOutcome] = {}

    def serve(name: str, backend: str) -> None:
        outcomes[name] = asyncio.run(run_solver(
            EcdsaPrivateKey.generate(), ensure_tls_identity(tmp_path / name), "127.0.0.1", port,
            backend=backend, timeout=30.0))

    threads = [threading.Thread(target=serve, args=(n, b))
               for n, b in (("exact", "fast"), ("device", "ibm-fake"))]
    for thread in threads:
        thread.start()
    try:
        names = transport.wait_for_solvers(2, 120)
        coord = Coordinator(model, settings, names, random_bytes=lambda k: bytes(k),
                            profiles=transport.profiles)
        transport.banned_source = lambda: set(coord.banned)
        transport.dismissed_source = lambda: dict(coord.hardware.refused)
        doc = run_solve(coord, transport)
    finally:
        transport.close()
        for thread in threads:
            thread.join(30)
    device = outcomes["device"]
    assert not device.banned and device.jobs >= 1
    assert device.reason.startswith("this solve accepts fidelity estimates of 0.550 and above: "
                                    "gate-model device fake_guadalupe (fidelity estimate 0.4")
    assert outcomes["exact"].jobs == 4 and doc["banned"] == []
    assert doc["energy"] is not None

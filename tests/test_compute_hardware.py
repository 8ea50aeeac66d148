"""Gate-model devices in a coordinated solve: who gets jobs, how device samples count, and how
false device samples are caught. The devices here are stand-ins that sample the job's exact
QAOA distribution mixed with uniform noise (global depolarising noise of a chosen fidelity);
tests/test_compute_hardware_device.py runs the same path on qiskit's fake IBM device."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from poqw.compute.coordinator import Coordinator, SolveSettings
from poqw.compute.hardware_jobs import EXACT, SolverProfile, deal_jobs, refusal, score_round
from poqw.compute.hardware_verify import HardwareVerifier
from poqw.compute.jobs import Job, JobResult, SolverNode, result_size
from poqw.compute.ledger import Ledger
from poqw.compute.strike_spec import StrikeRunner, StrikeSpec, spins_from_indices
from poqw.compute.transport import InProcessTransport, run_solve
from poqw.compute.wire import COMPUTE_FRAMES, Closed, ComputeConnection, Ready, WireType
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import ConfigError, HardwareFraud, JobRejected, ResultRejected
from poqw.p2p.codec import encode_uint, rlp_encode
from poqw.p2p.framing import encode_payload
from poqw.p2p.identity import Role
from poqw.problems import IsingModel, energy_diagonal, maxcut_to_ising, random_regular_graph
from poqw.sim.gate_model import noise_corrected
from poqw.strike.angles import split_angles, warm_start_angles
from poqw.strike.objectives import score_energies

MODEL = maxcut_to_ising(random_regular_graph(3, 10, seed=5))
SETTINGS = SolveSettings(p=2, shots=192, rounds=8, seed=3, job_shots=64)  # 3 jobs a round
DEVICE = SolverProfile("hardware", 0.5, "stand-in")


class NoisyDevice:
    """A device stand-in: the job's exact distribution mixed with uniform noise of fidelity
    ``true``, reported as ``claimed``. ``lie`` makes it cheat: ``energies`` claims lower
    energies than its samples have, ``optimised`` returns a classical optimiser's states,
    ``uniform`` returns uniform random states (with their true energies)."""

    def __init__(self, true: float = 0.6, claimed: float = 0.5, lie: str = "",
                 model: IsingModel = MODEL) -> None:
        self.model, self.true, self.claimed, self.lie = model, true, claimed, lie
        self.runner = StrikeRunner(model, "fast")
        self.jobs_run = 0

    def handle_job(self, data: bytes) -> bytes:
        job = Job.from_bytes(data)
        n, shots = self.model.num_variables, job.spec.shots
        rng = np.random.default_rng(int.from_bytes(job.spec.seed[:8], "big"))
        if self.lie == "uniform":
            idx = rng.integers(0, 1 << n, shots)
        elif self.lie == "optimised":
            idx = np.argsort(energy_diagonal(self.model), kind="stable")[rng.integers(0, 8, shots)]
        else:
            mixed = self.true * self.runner.probabilities(job.spec) + (1 - self.true) / (1 << n)
            idx = rng.choice(1 << n, size=shots, p=mixed / mixed.sum())
        idx = np.asarray(idx, dtype=np.int64)
        energies = self.model.energies(spins_from_indices(idx, n))
        if self.lie == "energies":
            energies = energies - 1.0
        self.jobs_run += 1
        return JobResult(job.job_id, idx, energies, self.claimed).to_bytes()

    def handle_commit(self, job_ids: Any) -> bytes:
        raise JobRejected("a device never commits")


def exact_nodes(count: int) -> dict[str, Any]:
    return {f"s{k}": SolverNode(EcdsaPrivateKey(bytes(31) + bytes([k + 1])), [MODEL])
            for k in range(count)}


def solve(nodes: dict[str, Any], settings: SolveSettings = SETTINGS,
          profiles: dict[str, SolverProfile] | None = None) -> Coordinator:
    coordinator = Coordinator(MODEL, settings, list(nodes), random_bytes=lambda k: bytes(k),
                              ledger=Ledger(10**9), profiles=profiles)
    run_solve(coordinator, InProcessTransport(nodes))
    return coordinator


def trace(c: Coordinator) -> list[tuple[Any, ...]]:
    return [(r.angles, r.objective, r.strike_best) for r in c.history]


def jobs_run(c: Coordinator) -> dict[str, int]:
    return {s: n for s, n in c.result()["solvers"].items() if n}


# ---- the assignment policy -------------------------------------------------------------------


def test_devices_a_solve_tolerates_are_dealt_first_and_twice() -> None:
    profiles = {"d1": SolverProfile("hardware", 0.4, "a"), "d2": SolverProfile("hardware", 0.7,
                                                                               "b")}
    solvers = ["s0", "d1", "s1", "d2"]
    assert deal_jobs(2, solvers, profiles, 0.3) == ["d2", "d1"]  # the better device first
    assert deal_jobs(6, solvers, profiles, 0.3) == ["d2", "d1", "d2", "d1", "s0", "s1"]
    assert deal_jobs(6, solvers, profiles, 0.3, turn=1)[4:] == ["s1", "s0"]  # exact take turns
    assert deal_jobs(4, solvers, profiles, 0.5) == ["d2", "d2", "s0", "s1"]  # d1 is too noisy


def test_devices_get_nothing_where_the_solve_wants_exact_samples() -> None:
    profiles = {"d": DEVICE}
    assert deal_jobs(5, ["s0", "d"], profiles, None) == ["s0"] * 5
    assert refusal(EXACT, None) is None
    assert "accepts exact simulators only" in (refusal(DEVICE, None) or "")
    assert "0.600 and above: gate-model device stand-in (fidelity estimate 0.500)" in (
        refusal(DEVICE, 0.6) or "")
    with pytest.raises(ConfigError, match="no solver may run"):
        deal_jobs(1, ["d"], profiles, None)
    with pytest.raises(ConfigError, match="fidelity"):
        SolveSettings(min_fidelity=1.5)
    with pytest.raises(ConfigError, match="fidelity"):
        SolverProfile("hardware", 0.0)


# ---- aggregation -----------------------------------------------------------------------------


def _result(energies: list[float], fidelity: float | None) -> JobResult:
    return JobResult(bytes(32), np.zeros(len(energies), np.int64), np.array(energies), fidelity)


def test_exact_rounds_score_as_one_strike_and_device_jobs_weigh_by_fidelity() -> None:
    a, b = _result([-3.0, -1.0, 0.0, 2.0], None), _result([-2.0, -2.0, 1.0, 5.0], None)
    assert score_round([a, b], "cvar", 0.25, 0.0) == score_energies(
        np.concatenate([a.energies, b.energies]), "cvar", 0.25)
    device = _result([-1.0, 0.0, 1.0, 1.0], 0.5)  # mean 0.25 at F 0.5 around offset 1.0
    corrected = noise_corrected(0.25, 0.5, 1.0)  # -0.5
    expected = (8 * score_energies(np.concatenate([a.energies, b.energies]), "mean")
                + 4 * 0.25 * corrected) / (8 + 4 * 0.25)
    assert score_round([a, device, b], "mean", 1.0, 1.0) == pytest.approx(expected)
    assert score_round([device], "mean", 1.0, 1.0) == pytest.approx(corrected)


# ---- result and HELLO encodings --------------------------------------------------------------


def test_exact_results_keep_their_bytes_and_device_results_carry_fidelity() -> None:
    exact = _result([1.5, -2.0], None)
    assert exact.to_bytes()[0] == 1 and len(exact.to_bytes()) == result_size(2)
    device = _result([1.5, -2.0], 0.625)
    decoded = JobResult.from_bytes(device.to_bytes(), 2)
    assert decoded.fidelity == 0.625 and list(decoded.energies) == [1.5, -2.0]
    assert len(device.to_bytes()) == result_size(2, hardware=True)
    assert JobResult.from_bytes(exact.to_bytes(), 2).fidelity is None
    for bad in (1.5, 0.0, math.nan):
        forged = device.to_bytes()[:-8] + np.array([bad], ">f8").tobytes()
        with pytest.raises(ResultRejected, match="fidelity"):
            JobResult.from_bytes(forged, 2)


def _handshake(profile: SolverProfile) -> tuple[list[object], list[object]]:
    solver = ComputeConnection(EcdsaPrivateKey.generate(), Role.INITIATOR, nonce=os.urandom(32),
                               local_fingerprint=b"s" * 32, now=0.0, profile=profile)
    coord = ComputeConnection(EcdsaPrivateKey.generate(), Role.RESPONDER, nonce=os.urandom(32),
                              local_fingerprint=b"c" * 32, now=0.0, profile=DEVICE)
    solver.connection_made(b"c" * 32, 0.0)
    coord.connection_made(b"s" * 32, 0.0)
    at_solver: list[object] = []
    at_coord: list[object] = []
    for _ in range(4):
        at_coord += coord.receive_data(solver.data_to_send(), 1.0)
        at_solver += solver.receive_data(coord.data_to_send(), 1.0)
    return at_solver, at_coord


def test_a_solver_announces_its_device_when_it_joins() -> None:
    device = SolverProfile("hardware", 0.412345, "fake_guadalupe")
    at_solver, at_coord = _handshake(device)
    assert isinstance(at_coord[0], Ready) and at_coord[0].profile == SolverProfile(
        "hardware", 0.412345, "fake_guadalupe")
    assert isinstance(at_solver[0], Ready) and at_solver[0].profile == EXACT  # never a coord's
    _, at_coord = _handshake(EXACT)  # an exact solver's HELLO is the old one: no profile
    assert isinstance(at_coord[0], Ready) and at_coord[0].profile == EXACT


def test_a_malformed_profile_closes_the_connection() -> None:
    at_coord: list[object] = []
    coord = ComputeConnection(EcdsaPrivateKey.generate(), Role.RESPONDER, nonce=os.urandom(32),
                              local_fingerprint=b"c" * 32, now=0.0)
    coord.connection_made(b"s" * 32, 0.0)
    key = EcdsaPrivateKey.generate().public_key().compressed
    hello = rlp_encode([key, os.urandom(32), [encode_uint(1), encode_uint(2_000_000), b"x"]])
    at_coord += coord.receive_data(encode_payload(WireType.HELLO, hello, 0, COMPUTE_FRAMES), 1.0)
    assert isinstance(at_coord[-1], Closed) and "fidelity" in at_coord[-1].reason


# ---- verification of device samples ------------------------------------------------------------


def _jobs(count: int, p: int = 2) -> list[Job]:
    """Jobs at angles near the warm start, where the circuit lowers the energy mean."""
    rng = np.random.default_rng(7)
    start = warm_start_angles(MODEL, p)
    assert start is not None
    jobs = []
    for k in range(count):
        gammas, betas = split_angles(start * rng.uniform(0.7, 1.1, 2 * p))
        jobs.append(Job(0, k, bytes(32), StrikeSpec.create(MODEL.content_hash(), gammas, betas,
                                                           64, bytes([k]) * 32)))
    return jobs


def test_honest_device_samples_pass_and_false_ones_are_caught() -> None:
    verifier, honest = HardwareVerifier(MODEL), NoisyDevice(true=0.5, claimed=0.5)
    for job in _jobs(60):  # 60 honest jobs: never flagged
        verifier.check("honest", job.spec, JobResult.from_bytes(honest.handle_job(
            job.to_bytes()), 64))
    job = _jobs(1)[0]
    assert verifier.ideal_mean(job.spec) < MODEL.offset - 1.0
    for lie in ("energies", "optimised"):  # caught on the first job
        result = JobResult.from_bytes(NoisyDevice(lie=lie).handle_job(job.to_bytes()), 64)
        with pytest.raises(HardwareFraud, match="energies are not|beyond the noiseless"):
            verifier.check(lie, job.spec, result)
    caught = 0
    with pytest.raises(HardwareFraud, match="no better than noise"):
        for caught, job in enumerate(_jobs(40), start=1):  # noqa: B007
            result = JobResult.from_bytes(NoisyDevice(lie="uniform").handle_job(
                job.to_bytes()), 64)
            verifier.check("uniform", job.spec, result)
    assert caught < 20  # a sequential test: caught after a few jobs, not on one


# ---- whole solves --------------------------------------------------------------------------------


def test_an_exact_only_solve_gives_devices_nothing_and_equals_one_solver() -> None:
    alone = solve(exact_nodes(1))
    nodes = {**exact_nodes(2), "dev": NoisyDevice()}
    mixed = solve(nodes, profiles={"dev": DEVICE})
    assert trace(mixed) == trace(alone) and mixed.best_energy == alone.best_energy
    assert nodes["dev"].jobs_run == 0 and jobs_run(mixed) == {"s0": 12, "s1": 12}
    assert any("dev gets no jobs: this solve accepts exact simulators only" in note
               for note in mixed.notes)
    assert mixed.result()["hardware"]["devices"]["dev"]["refused"].startswith("this solve")


def test_a_tolerant_solve_deals_devices_first_weights_and_pays_them() -> None:
    settings = SolveSettings(p=2, shots=192, rounds=8, seed=3, job_shots=64, verify_every=2,
                             min_fidelity=0.3)
    nodes = {**exact_nodes(2), "dev": NoisyDevice(true=0.6, claimed=0.5)}
    coordinator = solve(nodes, settings, profiles={"dev": DEVICE})
    assert jobs_run(coordinator) == {"dev": 16, "s0": 4, "s1": 4}  # 2 of every 3 jobs
    assert coordinator.banned == set() and not coordinator.evidence
    assert coordinator.ledger.balances() == {"dev": 16 * 64, "s0": 4 * 64, "s1": 4 * 64,
                                             "coordinator": coordinator.ledger.balances()[
                                                 "coordinator"]}
    summary = coordinator.result()["hardware"]
    assert summary["min_fidelity"] == 0.3
    assert summary["devices"]["dev"]["jobs"] == 16
    assert summary["devices"]["dev"]["reported_fidelity"] == 0.5
    assert math.isfinite(coordinator.best_energy)


def test_a_device_below_the_solves_fidelity_gets_no_jobs_or_loses_them() -> None:
    settings = SolveSettings(p=2, shots=192, rounds=4, seed=3, job_shots=64, min_fidelity=0.6)
    nodes = {**exact_nodes(1), "dev": NoisyDevice(claimed=0.5)}
    refused = solve(nodes, settings, profiles={"dev": DEVICE})
    assert nodes["dev"].jobs_run == 0 and jobs_run(refused) == {"s0": 12}
    # announced 0.7, but its results carry 0.5: the first is refused, the job goes elsewhere
    nodes = {**exact_nodes(1), "dev": NoisyDevice(claimed=0.5)}
    optimist = solve(nodes, settings, profiles={"dev": SolverProfile("hardware", 0.7, "x")})
    assert nodes["dev"].jobs_run == 2 and jobs_run(optimist) == {"s0": 12}
    assert optimist.banned == set()
    assert any("below it" in note for note in optimist.notes)


@pytest.mark.parametrize("lie", ["energies", "optimised", "uniform"])
def test_a_device_returning_false_samples_is_caught_and_banned(lie: str) -> None:
    settings = SolveSettings(p=2, shots=192, rounds=8, seed=3, job_shots=64, min_fidelity=0.3)
    nodes = {**exact_nodes(2), "dev": NoisyDevice(lie=lie)}
    coordinator = solve(nodes, settings, profiles={"dev": DEVICE})
    assert coordinator.banned == {"dev"} and len(coordinator.history) == 8
    assert coordinator.result()["hardware"]["devices"]["dev"]["fraud"]
    assert any("dev caught returning false device samples" in n for n in coordinator.notes)
    assert sum(r.solvers.count("dev") for r in coordinator.history) < 8  # false ones unused


def test_a_solve_on_devices_alone_still_saves_each_epoch(tmp_path: Path) -> None:
    settings = SolveSettings(p=2, shots=128, rounds=4, seed=3, job_shots=64, verify_every=2,
                             min_fidelity=0.3)
    state = tmp_path / "solve.json"
    nodes = {"dev": NoisyDevice()}
    coordinator = Coordinator(MODEL, settings, ["dev"], random_bytes=lambda k: bytes(k),
                              state_path=state, profiles={"dev": DEVICE})
    rounds_saved: list[int] = []

    def saved(c: Coordinator) -> None:
        if state.exists():
            rounds_saved.append(json.loads(state.read_text())["round"])

    run_solve(coordinator, InProcessTransport(nodes), on_round=saved)
    assert rounds_saved == [2, 2, 4] and nodes["dev"].jobs_run == 8  # never spot-checked


def test_a_simulator_posing_as_a_device_loses_the_devices_priority() -> None:
    settings = SolveSettings(p=2, shots=192, rounds=4, seed=3, job_shots=64, min_fidelity=0.3)
    nodes = exact_nodes(3)  # s2 says it is a device but answers with exact results
    coordinator = solve(nodes, settings, profiles={"s2": SolverProfile("hardware", 1.0, "x")})
    # round 1: s2 runs 2 of 3 jobs as a device; then all three take turns (not 8 of 12)
    assert jobs_run(coordinator) == {"s0": 4, "s1": 3, "s2": 5}
    assert coordinator.hardware.profile("s2") == EXACT

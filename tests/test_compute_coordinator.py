"""The coordinator: N solvers give what one gives, bad results are refused by name, silent
solvers lose their jobs, a restart resumes, and a cheater is caught, banned and not paid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from poqw.compute.coordinator import Coordinator, SolveSettings
from poqw.compute.jobs import Job, JobResult, SolverNode
from poqw.compute.ledger import Ledger
from poqw.compute.transport import InProcessTransport, run_solve
from poqw.compute.verifier import check_fraud_evidence
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import ComputeError, ConfigError, ResultRejected
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph

MODEL = maxcut_to_ising(random_regular_graph(3, 10, seed=5))
SETTINGS = SolveSettings(p=2, shots=192, rounds=8, seed=3, job_shots=64)


def nodes(count: int, cheaters: dict[str, float] | None = None,
          models: tuple[IsingModel, ...] = (MODEL,)) -> dict[str, SolverNode]:
    cheaters = cheaters or {}
    return {f"s{k}": SolverNode(EcdsaPrivateKey(bytes(31) + bytes([k + 1])), models,
                                fake_fraction=cheaters.get(f"s{k}", 0.0),
                                rng=np.random.default_rng(k)) for k in range(count)}


def solve(count: int, settings: SolveSettings = SETTINGS, **options: Any) -> Coordinator:
    solvers = nodes(count, options.pop("cheaters", None))
    coordinator = Coordinator(MODEL, settings, list(solvers), random_bytes=lambda k: bytes(k),
                              ledger=Ledger(10**9), **options)
    run_solve(coordinator, InProcessTransport(solvers))
    return coordinator


def trace(c: Coordinator) -> list[tuple[Any, ...]]:
    return [(r.angles, r.objective, r.strike_best) for r in c.history]


@pytest.fixture(scope="module")
def alone() -> Coordinator:
    return solve(1)


def test_three_solvers_give_what_one_gives(alone: Coordinator) -> None:
    three = solve(3)
    assert trace(three) == trace(alone) and len(alone.history) == 8
    assert three.result()["energy"] == alone.result()["energy"]
    assert np.array_equal(three.best_spins, alone.best_spins)
    assert three.result()["solvers"] == {"s0": 8, "s1": 8, "s2": 8}  # 3 jobs a round
    assert three.ledger.balances() == {"s0": 512, "s1": 512, "s2": 512}


def test_strikes_below_the_job_size_stay_one_job() -> None:
    assert SolveSettings(shots=100, job_shots=256).job_sizes() == [100]
    assert SolveSettings(shots=1000, job_shots=256).job_sizes() == [334, 333, 333]


def issued(settings: SolveSettings = SETTINGS) -> tuple[Coordinator, list[tuple[str, bytes]]]:
    coordinator = Coordinator(MODEL, settings, ["a", "b"], random_bytes=lambda k: bytes(k))
    return coordinator, coordinator.start_round(0.0)


def test_bad_results_are_refused_by_name() -> None:
    coordinator, jobs = issued()
    node = nodes(1)["s0"]
    solver, data = jobs[0]
    other = "b" if solver == "a" else "a"
    good = node.handle_job(data)
    with pytest.raises(ResultRejected, match="larger than"):
        coordinator.on_result(solver, good + bytes(12), 0.0)
    with pytest.raises(ResultRejected, match=f"assigned to {solver}, not {other}"):
        coordinator.on_result(other, good, 0.0)
    result = JobResult.from_bytes(good, 64)
    forged = JobResult(bytes(32), result.indices, result.energies).to_bytes()
    with pytest.raises(ResultRejected, match="never issued"):
        coordinator.on_result(solver, forged, 0.0)
    wrong = maxcut_to_ising(random_regular_graph(3, 10, seed=6))
    lied = JobResult(result.job_id, result.indices, wrong.energies(
        1 - 2 * ((result.indices[:, None] >> np.arange(10)) & 1))).to_bytes()
    with pytest.raises(ResultRejected, match="not the samples' energies under this solve"):
        coordinator.on_result(solver, lied, 0.0)
    short = JobResult(result.job_id, result.indices[:5], result.energies[:5]).to_bytes()
    with pytest.raises(ResultRejected, match="has 5 shots"):
        coordinator.on_result(solver, short, 0.0)
    coordinator.on_result(solver, good, 0.0)
    with pytest.raises(ResultRejected, match="already answered"):
        coordinator.on_result(solver, good, 0.0)
    with pytest.raises(ComputeError, match="still running"):
        coordinator.start_round(0.0)


def test_a_silent_solver_loses_its_jobs_after_the_timeout(alone: Coordinator) -> None:
    solvers = nodes(3)
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # every look at the clock is a second later
        return now[0]

    settings = SolveSettings(p=2, shots=192, rounds=8, seed=3, job_shots=64, timeout=5.0)
    coordinator = Coordinator(MODEL, settings, list(solvers), random_bytes=lambda k: bytes(k))
    run_solve(coordinator, InProcessTransport(solvers, silent=["s1"]), clock=clock)
    assert trace(coordinator) == trace(alone)
    assert any("s1 did not answer" in note for note in coordinator.notes)
    assert all("s1" not in r.solvers for r in coordinator.history)


def test_a_job_for_a_model_the_solver_lacks_goes_elsewhere(alone: Coordinator) -> None:
    solvers = nodes(2)
    solvers["s2"] = SolverNode(EcdsaPrivateKey(bytes(31) + b"\x09"), [])  # holds no model
    coordinator = Coordinator(MODEL, SETTINGS, list(solvers), random_bytes=lambda k: bytes(k))
    run_solve(coordinator, InProcessTransport(solvers))
    assert trace(coordinator) == trace(alone)
    assert any("does not hold model" in note for note in coordinator.notes)


def test_a_restarted_coordinator_resumes_from_its_state(tmp_path: Path,
                                                        alone: Coordinator) -> None:
    state = tmp_path / "solve.json"

    class Crash(Exception):
        pass

    def crash_after_round_3(c: Coordinator) -> None:
        if c.round == 3:
            raise Crash

    solvers = nodes(2)
    first = Coordinator(MODEL, SETTINGS, list(solvers), state_path=state,
                        random_bytes=lambda k: bytes(k))
    with pytest.raises(Crash):
        run_solve(first, InProcessTransport(solvers), on_round=crash_after_round_3)
    again = Coordinator(MODEL, SETTINGS, list(solvers), state_path=state,
                        random_bytes=lambda k: bytes(k))
    assert again.round == 3 and "resumed at round 3" in again.notes[0]
    run_solve(again, InProcessTransport(solvers))
    assert trace(again) == trace(alone)
    assert again.result()["energy"] == alone.result()["energy"]
    other = SolveSettings(p=2, shots=192, rounds=8, seed=4, job_shots=64)
    with pytest.raises(ConfigError, match="settings"):
        Coordinator(MODEL, other, ["a"], state_path=state)
    state.write_text(json.dumps({"version": 1, "model": MODEL.content_hash().hex(),
                                 "settings": vars(SETTINGS)}))
    with pytest.raises(ConfigError, match="malformed"):
        Coordinator(MODEL, SETTINGS, ["a"], state_path=state)
    state.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        Coordinator(MODEL, SETTINGS, ["a"], state_path=state)


def test_a_cheater_is_caught_banned_and_unpaid(alone: Coordinator) -> None:
    settings = SolveSettings(p=2, shots=192, rounds=8, seed=3, job_shots=64, verify_every=4,
                             checks=8)
    coordinator = solve(3, settings, cheaters={"s1": 0.5})
    assert coordinator.banned == {"s1"}
    assert trace(coordinator) == trace(alone)  # the epoch was re-run without the cheater
    assert coordinator.result()["energy"] == alone.result()["energy"]
    evidence = coordinator.evidence[0]
    assert "shots are not the spec's draws" in check_fraud_evidence(evidence, MODEL)
    assert evidence.signed.commitment.solver == nodes(3)["s1"].node_id
    balances = coordinator.ledger.balances()
    assert "s1" not in balances and balances["s0"] + balances["s2"] == 8 * 192
    assert balances["coordinator"] > 0  # verification fees


def test_honest_solvers_are_never_banned(alone: Coordinator) -> None:
    settings = SolveSettings(p=2, shots=192, rounds=8, seed=3, job_shots=64, verify_every=2,
                             checks=44)
    coordinator = solve(3, settings, verifier_backend="mps")
    assert coordinator.banned == set() and not coordinator.evidence
    assert trace(coordinator) == trace(alone)


def test_jobs_decode_within_bounds() -> None:
    _, jobs = issued()
    job = Job.from_bytes(jobs[0][1])
    assert Job.from_bytes(job.to_bytes()) == job
    with pytest.raises(Exception, match="bytes"):
        Job.from_bytes(job.to_bytes() + b"x" * 1000)


def test_the_ledger_never_pays_past_the_budget() -> None:
    ledger = Ledger(budget=100, price_per_shot=1, fee_per_check=2)
    ledger.credit_batch("s0", bytes(32), 64)
    ledger.credit_checks("v", 10)
    with pytest.raises(ComputeError, match="exceed the budget: 16 of 100 left"):
        ledger.credit_batch("s1", bytes(32), 17)
    assert ledger.balances() == {"s0": 64, "v": 20} and ledger.remaining == 16
    assert Ledger.from_dict(ledger.to_dict()) == ledger

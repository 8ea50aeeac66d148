"""Per-solver throughput: the metered transport counts each solver's answered jobs and samples
and the time it held work, and counts nothing for jobs a solver failed."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from poqw.compute.coordinator import Coordinator, SolveSettings
from poqw.compute.jobs import SolverNode
from poqw.compute.metering import MeteredTransport, SolverMeter
from poqw.compute.transport import InProcessTransport, run_solve
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph

MODEL = maxcut_to_ising(random_regular_graph(3, 10, seed=5))
OTHER = maxcut_to_ising(random_regular_graph(3, 10, seed=6))
SETTINGS = SolveSettings(p=1, shots=192, rounds=4, seed=3, job_shots=64)


def node(k: int, model: IsingModel = MODEL) -> SolverNode:
    return SolverNode(EcdsaPrivateKey(bytes(31) + bytes([k + 1])), [model],
                      rng=np.random.default_rng(k))


def test_each_solver_is_credited_with_the_jobs_and_shots_it_answered() -> None:
    ticks = itertools.count()
    transport = MeteredTransport(InProcessTransport({"a": node(0), "b": node(1)}),
                                 clock=lambda: float(next(ticks)))
    doc = run_solve(Coordinator(MODEL, SETTINGS, ["a", "b"]), transport)
    meters = transport.meters
    assert {s: m.jobs for s, m in meters.items()} == doc["solvers"]
    assert sum(m.jobs for m in meters.values()) == 3 * SETTINGS.rounds
    assert all(m.shots == 64 * m.jobs and not m.held for m in meters.values())
    # one clock tick a job sent and one a wait: each round a solver holds work from its first
    # job's tick to the wait's, so its busy time is a whole number of ticks, at least one a round
    for m in meters.values():
        assert m.busy_seconds == int(m.busy_seconds) >= SETTINGS.rounds
        assert m.strikes_per_second == pytest.approx(m.jobs / m.busy_seconds)
        assert m.samples_per_second == pytest.approx(64 * m.strikes_per_second)


def test_a_failed_job_counts_for_the_solver_that_ran_it_instead() -> None:
    # "stranger" does not hold the model: it refuses every job, which goes to "a" at once
    transport = MeteredTransport(InProcessTransport({"a": node(0), "stranger": node(1, OTHER)}))
    doc = run_solve(Coordinator(MODEL, SETTINGS, ["a", "stranger"]), transport)
    assert doc["solvers"] == {"a": 3 * SETTINGS.rounds, "stranger": 0}
    assert transport.meters["a"].jobs == 3 * SETTINGS.rounds
    assert transport.meters["stranger"].jobs == 0
    assert transport.meters["stranger"].busy_seconds > 0  # it held them until it refused
    assert transport.meters["stranger"].strikes_per_second == 0.0


def test_an_idle_solver_has_no_rate() -> None:
    assert SolverMeter().strikes_per_second == SolverMeter().samples_per_second == 0.0

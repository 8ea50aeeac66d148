"""Match-strike on a Dask cluster through the coordinator: the Python API and ``poqw solve
--dask-workers`` give what one process gives with the same seed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from poqw.cli.main import app
from poqw.compute.coordinator import Coordinator, SolveSettings
from poqw.compute.jobs import SolverNode
from poqw.compute.slicing import local_cluster
from poqw.compute.transport import InProcessTransport, run_solve, solve_on_cluster
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import ConfigError
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph

runner = CliRunner()


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with local_cluster(n_workers=2, threads_per_worker=1, processes=False) as c:
        yield c


def one_process(model: IsingModel, settings: SolveSettings) -> dict[str, Any]:
    node = SolverNode(EcdsaPrivateKey(bytes(31) + b"\x01"), [model])
    coordinator = Coordinator(model, settings, ["me"])
    return run_solve(coordinator, InProcessTransport({"me": node}))


def test_cluster_solve_equals_one_process(client: Any) -> None:
    model = maxcut_to_ising(random_regular_graph(3, 10, seed=5))
    settings = SolveSettings(p=2, shots=192, rounds=6, seed=3, job_shots=64)
    doc = solve_on_cluster(model, settings, client)
    want = one_process(model, settings)
    assert doc["energy"] == want["energy"] and doc["solution"] == want["solution"]
    assert doc["best_angles"] == want["best_angles"]
    assert doc["dask"] == {"workers": 2, "jobs_per_strike": 3}
    assert sorted(doc["solvers"].values()) == [9, 9]  # 18 jobs shared by the two workers
    with pytest.raises(ConfigError, match="trusted"):
        solve_on_cluster(model, SolveSettings(verify_every=2), client)


@pytest.mark.slow
def test_cli_solve_runs_strikes_on_local_workers() -> None:
    result = runner.invoke(app, ["solve", "--random-regular", "3", "10", "--seed", "2",
                                 "--strikes", "4", "--shots", "128", "--job-shots", "64",
                                 "--dask-workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    model = maxcut_to_ising(random_regular_graph(3, 10, seed=2))
    want = one_process(model, SolveSettings(p=2, shots=128, rounds=4, seed=2, job_shots=64))
    assert doc["energy"] == want["energy"] and doc["cut"] == -want["energy"]
    assert doc["dask"]["workers"] == 2 and doc["strikes"] == 4
    assert np.isclose(model.energy(doc["solution"]), doc["energy"])


def test_cli_refuses_a_time_limit_for_cluster_strikes() -> None:
    result = runner.invoke(app, ["solve", "--random-regular", "3", "10", "--time-limit", "1",
                                 "--dask-workers", "2"])
    assert result.exit_code == 2
    assert "--time-limit is not supported" in " ".join(result.output.split())

"""A user's Dask cluster for light-cone QAOA: the Python API, the strike loop and the CLI.

The graph is the Tutte-Coxeter graph (3-regular, girth 8): at p=3 every edge's light cone is the
same 30-vertex tree, wider than the dense state-vector limit of 20, so it is contracted as a
sliced tensor network, on the cluster when a client is given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from typer.testing import CliRunner

from poqw.cli.main import app
from poqw.compute.slicing import local_cluster
from poqw.errors import ConfigError
from poqw.problems import (
    IsingModel,
    maxcut_to_ising,
    random_maxcut,
    random_regular_graph,
    solve_exact,
    write_gset,
)
from poqw.sim import fixed_angles, qaoa_expectation
from poqw.sim.backends import build_engine

runner = CliRunner()


def tutte_coxeter() -> nx.Graph:
    return nx.LCF_graph(30, [-13, -9, 7, -7, 9, 13], 5)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with local_cluster(n_workers=2, threads_per_worker=1, processes=False) as c:
        yield c


@pytest.fixture(autouse=True)
def distribute_every_cone(monkeypatch: pytest.MonkeyPatch) -> None:
    """These cones are cheap, so by default they would stay local: send them all."""
    monkeypatch.setattr("poqw.sim.lightcone.DISTRIBUTE_MIN_FLOPS", 0.0)


@pytest.fixture(scope="module")
def model() -> IsingModel:
    return maxcut_to_ising(tutte_coxeter())


def contract_tasks(stream: Any) -> int:
    return sum(1 for task in stream.data if task["key"].startswith("_contract_range"))


def test_cluster_value_equals_local_value(client: Any, model: IsingModel) -> None:
    from distributed import get_task_stream

    gammas, betas = fixed_angles(3)
    local = qaoa_expectation(model, gammas, betas, backend="lightcone")
    with get_task_stream(client) as stream:
        run = qaoa_expectation(model, gammas, betas, backend="lightcone", client=client,
                               return_info=True)
    assert run.backend == "lightcone"
    assert run.value == pytest.approx(local, abs=1e-9)
    assert contract_tasks(stream) >= 2          # the cone's slices ran on the workers
    # a non-trivial value: below the all-edges cut and above a random cut's 45/2
    assert -45.0 < run.value < -22.5


def test_engine_slices_wide_cones_for_the_cluster(client: Any, model: IsingModel) -> None:
    gammas, betas = fixed_angles(3)
    _, engine = build_engine(model, "lightcone", client=client)
    value = engine.expectation(gammas, betas)
    stats = engine.last_stats
    assert stats["network"] >= 1 and stats["distributed"] == stats["network"]
    threads = sum(client.nthreads().values())
    assert stats["slices"] >= 2 * threads * stats["distributed"]
    # the same plan without a client is not sliced at all
    _, alone = build_engine(model, "lightcone")
    assert alone.expectation(gammas, betas) == pytest.approx(value, abs=1e-9)
    assert alone.last_stats["distributed"] == 0 and alone.last_stats["slices"] == 0
    # narrow cones (p=2: 14 vertices) stay on the dense state vector here
    engine.expectation(gammas[:2], betas[:2])
    assert engine.last_stats["network"] == 0 and engine.last_stats["simulated"] >= 1


def test_cheap_cones_stay_local_by_default(client: Any, model: IsingModel) -> None:
    from distributed import get_task_stream

    from poqw.sim.lightcone import LightconeQAOA

    gammas, betas = fixed_angles(3)
    engine = LightconeQAOA(model, client=client, distribute_min_flops=1e9)
    with get_task_stream(client) as stream:
        value = engine.expectation(gammas, betas)
    assert engine.last_stats["network"] >= 1 and engine.last_stats["distributed"] == 0
    assert contract_tasks(stream) == 0
    assert value == pytest.approx(qaoa_expectation(model, gammas, betas, backend="lightcone"),
                                  abs=1e-9)


def test_slice_target_size_with_a_client(client: Any, model: IsingModel) -> None:
    gammas, betas = fixed_angles(3)
    want = qaoa_expectation(model, gammas, betas, backend="lightcone")
    _, engine = build_engine(model, "lightcone", client=client, slice_target_size=64)
    assert engine.expectation(gammas, betas) == pytest.approx(want, abs=1e-9)
    assert engine._plans.last_plan.max_size <= 64


def test_a_client_with_a_backend_that_cannot_use_it(client: Any, model: IsingModel) -> None:
    small = random_maxcut(3, 10, seed=1)
    gammas, betas = fixed_angles(1)
    for backend in ("statevector", "mps"):
        with pytest.raises(ConfigError, match=f"backend '{backend}' cannot use it"):
            qaoa_expectation(small, gammas, betas, backend=backend, client=client)
    with pytest.raises(ConfigError, match="'auto' chose 'statevector' for this 10-variable"):
        qaoa_expectation(small, gammas, betas, client=client)
    with pytest.raises(ConfigError, match="slice_target_size was given"):
        qaoa_expectation(small, gammas, betas, backend="statevector", slice_target_size=64)
    with pytest.raises(ConfigError, match="client must be a distributed.Client, got str"):
        qaoa_expectation(model, gammas, betas, backend="lightcone", client="tcp://x:8786")
    with pytest.raises(ConfigError, match="slice_target_size must be a positive integer"):
        qaoa_expectation(model, gammas, betas, backend="lightcone", slice_target_size=0)
    with pytest.raises(ConfigError, match="scheduler address"), local_cluster(address=""):
        pass


def test_angle_optimisation_on_the_cluster(client: Any, model: IsingModel) -> None:
    from distributed import get_task_stream

    from poqw.sim.lightcone import optimize_lightcone_angles

    g0, b0 = fixed_angles(3)
    want = optimize_lightcone_angles(model, 3, gammas0=g0, betas0=b0, maxiter=4)
    with get_task_stream(client) as stream:
        got = optimize_lightcone_angles(model, 3, gammas0=g0, betas0=b0, maxiter=4,
                                        client=client)
    np.testing.assert_allclose(got[0], want[0], atol=1e-9)
    np.testing.assert_allclose(got[1], want[1], atol=1e-9)
    assert got[2] == pytest.approx(want[2], abs=1e-9)
    assert got[2] <= qaoa_expectation(model, g0, b0, backend="lightcone") + 1e-9
    assert contract_tasks(stream) >= 2 * 5      # every energy evaluation used the workers


def test_strike_solve_refuses_a_client_it_would_not_use(client: Any) -> None:
    from poqw.strike import solve
    from poqw.strike.arms import TensorNetworkQaoaArm

    small = random_maxcut(3, 12, seed=2)
    with pytest.raises(ConfigError, match="QAOA runs on the state vector here"):
        solve(small, max_strikes=1, client=client)
    with pytest.raises(ConfigError, match="'qaoa' is not among the samplers"):
        solve(small, max_strikes=1, samplers=("simulated-annealing",), client=client,
              backend="lightcone")
    with pytest.raises(ConfigError, match="client must be a distributed.Client"):
        solve(small, max_strikes=1, client=object(), backend="lightcone")
    arm = TensorNetworkQaoaArm(small, 2, np.random.default_rng(0), 4, "cvar", 0.1,
                               client=client)
    assert arm.client is client


# -- the CLI ------------------------------------------------------------------------------------
def run_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["expect", *args, "--json"])
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_expect_json_equals_the_api() -> None:
    doc = run_json("--random-regular", "3", "12", "--seed", "4", "--p", "2")
    model = maxcut_to_ising(random_regular_graph(3, 12, seed=4))
    gammas, betas = fixed_angles(2, 3)
    assert doc["value"] == pytest.approx(qaoa_expectation(model, gammas, betas), abs=1e-9)
    assert doc["backend"] == "statevector" and doc["n"] == 12 and doc["p"] == 2
    assert doc["angles"]["gammas"] == pytest.approx(gammas.tolist())
    assert doc["expected_cut"] == pytest.approx(-doc["value"])
    assert doc["max_cut"] == pytest.approx(-solve_exact(model).energy)
    assert doc["ratio"] == pytest.approx(doc["expected_cut"] / doc["max_cut"])
    assert doc["fidelity"] == 1.0 and doc["seconds"] >= 0


def test_expect_with_explicit_angles_and_backend() -> None:
    model = maxcut_to_ising(random_regular_graph(3, 16, seed=1))
    doc = run_json("--random-regular", "3", "16", "--seed", "1", "--gammas", "-0.4,-0.7",
                   "--betas", "0.5,0.3", "--backend", "lightcone", "--slice-target-size", "64")
    want = qaoa_expectation(model, [-0.4, -0.7], [0.5, 0.3], backend="statevector")
    assert doc["value"] == pytest.approx(want, abs=1e-9)
    assert doc["backend"] == "lightcone" and doc["p"] == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--gammas", "0.1"], "give both --gammas and --betas"),
    (["--gammas", "0.1,x", "--betas", "0.2,0.3"], "--gammas must be comma-separated numbers"),
    (["--gammas", "0.1", "--betas", "0.2,0.3"], "--gammas has 1 values and --betas 2"),
    (["--gammas", "0.1", "--betas", "0.2", "--p", "2"], "--p 2 but 1 gammas"),
    (["--p", "5"], "no fixed angles for p=5"),
    (["--dask-workers", "2"], "only used by the lightcone backend, but 'auto' chose"),
    (["--dask-workers", "2", "--dask-scheduler", "tcp://127.0.0.1:8786",
      "--backend", "lightcone"], "not both"),
    (["--backend", "mps", "--slice-target-size", "64"], "slice_target_size was given"),
])
def test_expect_errors_are_clear(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["expect", "--random-regular", "3", "10", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_expect_asks_for_angles_off_regular_maxcut(tmp_path: Path) -> None:
    graph = nx.path_graph(6)
    path = tmp_path / "path.txt"
    write_gset(graph, path)
    result = runner.invoke(app, ["expect", str(path)])
    assert result.exit_code == 2
    assert "give the angles with --gammas and --betas" in " ".join(result.output.split())
    doc = run_json(str(path), "--gammas", "-0.3", "--betas", "0.4")
    want = qaoa_expectation(maxcut_to_ising(graph), [-0.3], [0.4])
    assert doc["value"] == pytest.approx(want, abs=1e-9)


def test_solve_dask_options_need_the_qaoa_sampler() -> None:
    # (QAOA on the state vector runs its strikes on the cluster: tests/test_compute_dask.py)
    result = runner.invoke(app, ["solve", "--random-regular", "3", "10", "--sampler", "exact",
                                 "--dask-workers", "2"])
    assert result.exit_code == 2
    assert "are for --sampler qaoa" in " ".join(result.output.split())


def processes_marked(marker: str) -> list[int]:
    """Processes (of any parent) whose environment carries ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_expect_on_local_worker_processes_leaves_nothing_behind(
        tmp_path: Path, model: IsingModel) -> None:
    path = tmp_path / "tutte.txt"
    write_gset(tutte_coxeter(), path)
    marker = f"poqw-test-{uuid.uuid4().hex}"
    env = {**os.environ, "POQW_TEST_MARKER": marker}
    out = subprocess.run(
        [sys.executable, "-c", "from poqw.cli.main import main; main()", "expect", str(path),
         "--p", "3", "--backend", "lightcone", "--dask-workers", "2", "--json"],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    gammas, betas = fixed_angles(3)
    assert doc["value"] == pytest.approx(
        qaoa_expectation(model, gammas, betas, backend="lightcone"), abs=1e-9)
    assert doc["dask"] == {"scheduler": "local", "threads": 2}
    deadline = time.monotonic() + 10
    while processes_marked(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_marked(marker) == []


def test_plans_meet_both_slicing_targets() -> None:
    from poqw.compute.slicing import contract_sliced, plan_sliced

    rng = np.random.default_rng(3)
    inputs = [("a", "b", "x"), ("b", "c", "y"), ("c", "d", "x"), ("d", "a", "y")]
    sizes = {ix: 3 for term in inputs for ix in term}
    arrays = [rng.normal(size=(3, 3, 3)) for _ in inputs]
    want = np.einsum("abx,bcy,cdx,day->", *arrays)
    plan = plan_sliced(inputs, (), sizes, target_size=9, target_slices=20)
    assert plan.max_size <= 9 and plan.nslices >= 20
    assert contract_sliced(plan, arrays) == pytest.approx(want, rel=1e-10)
    # more pieces than the contracted indices have values: every value is its own piece
    tiny = plan_sliced(inputs[:2], ("a", "c", "x", "y"), sizes, target_slices=1000)
    assert tiny.nslices == 3


def test_expect_prints_a_table() -> None:
    result = runner.invoke(app, ["expect", "--random-regular", "3", "8", "--seed", "2"])
    assert result.exit_code == 0, result.output
    model = maxcut_to_ising(random_regular_graph(3, 8, seed=2))
    value = qaoa_expectation(model, *fixed_angles(1, 3))
    assert "expected cut" in result.output and f"{-value:.10g}" in result.output
    assert "statevector" in result.output

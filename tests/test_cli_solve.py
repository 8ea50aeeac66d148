"""``poqw solve`` in-process: JSON output, file input, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poqw.cli.main import app
from poqw.problems import maxcut_to_ising, random_regular_graph, solve_exact, write_gset

runner = CliRunner()


def run_json(*args: str) -> dict:
    result = runner.invoke(app, ["solve", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("sampler", ["simulated-annealing", "steepest-descent", "exact", "qaoa"])
def test_solve_random_regular_reaches_the_optimum(sampler: str) -> None:
    doc = run_json("--random-regular", "3", "12", "--seed", "5", "--sampler", sampler,
                   "--strikes", "20")
    model = maxcut_to_ising(random_regular_graph(3, 12, seed=5))
    optimum = solve_exact(model).energy
    assert doc["energy"] == pytest.approx(optimum)
    assert doc["cut"] == pytest.approx(-optimum)
    assert model.energy(doc["solution"]) == pytest.approx(doc["energy"])
    assert doc["seconds"] >= 0 and doc["sampler"] == sampler


def test_solve_reads_a_gset_file(tmp_path: Path) -> None:
    graph = random_regular_graph(3, 10, seed=2)
    path = tmp_path / "g10.txt"
    write_gset(graph, path)
    doc = run_json(str(path), "--sampler", "exact")
    assert doc["cut"] == pytest.approx(-solve_exact(maxcut_to_ising(graph)).energy)
    assert doc["problem"] == str(path)


def test_a_broken_file_gets_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("3 1\n1 9 1\n")
    result = runner.invoke(app, ["solve", str(path), "--sampler", "exact"])
    assert result.exit_code == 2
    assert "node index out of range 1..3" in result.output
    assert "Traceback" not in result.output


def test_unknown_sampler_lists_the_names() -> None:
    result = runner.invoke(app, ["solve", "--random-regular", "3", "8", "--sampler", "nope"])
    assert result.exit_code == 2
    assert "simulated-annealing" in result.output


def test_problem_source_is_required_once() -> None:
    result = runner.invoke(app, ["solve"])
    assert result.exit_code != 0
    assert "exactly one of a problem file or --random-regular" in result.output


def test_controller_and_objective_reach_the_loop() -> None:
    doc = run_json("--random-regular", "3", "10", "--controller", "nelder-mead", "--objective",
                   "mean", "--strikes", "8")
    assert doc["controller"] == "nelder-mead" and doc["objective"] == "mean"
    bad = runner.invoke(app, ["solve", "--random-regular", "3", "10", "--controller", "bogus"])
    assert bad.exit_code == 2 and "unknown controller 'bogus'" in bad.output


def test_large_instances_use_tensor_networks_and_say_so() -> None:
    doc = run_json("--random-regular", "3", "30", "--strikes", "3", "--max-bond", "16",
                   "--seed", "2")
    model = maxcut_to_ising(random_regular_graph(3, 30, seed=2))
    assert model.energy(doc["solution"]) == pytest.approx(doc["energy"])
    assert any("tensor networks" in note for note in doc["notes"])
    assert any("MPS fidelity estimate" in note for note in doc["notes"])
    assert doc["allocation"]["qaoa"]["strikes"] >= 1


def reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} in the JSON output")


def test_a_tiny_time_limit_on_2000_nodes_returns_a_valid_answer_at_once() -> None:
    # Before the fix QAOA prepared a 2000-qubit MPS first (minutes) and the JSON said
    # Infinity for the arm that never struck.
    result = runner.invoke(app, ["solve", "--random-regular", "3", "2000", "--seed", "3",
                                 "--time-limit", "0.01", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout, parse_constant=reject_constant)
    model = maxcut_to_ising(random_regular_graph(3, 2000, seed=3))
    assert len(doc["solution"]) == 2000
    assert model.energy(doc["solution"]) == pytest.approx(doc["energy"])
    assert doc["cut"] == pytest.approx(-doc["energy"]) and doc["cut"] > 2000
    assert doc["stopped_by"] == "time_limit" and doc["found_by"] == "simulated-annealing"
    assert doc["allocation"]["qaoa"]["strikes"] == 0
    assert doc["allocation"]["qaoa"]["best_energy"] is None


"""The exact oracle, generators and file formats."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from poqw.errors import InvalidProblem, ProblemFormatError, ProblemTooLarge
from poqw.problems import (
    IsingModel,
    dwave_topology,
    energy_diagonal,
    erdos_renyi_graph,
    index_to_spins,
    ising_from_json,
    maxcut_to_ising,
    pm_j_spin_glass,
    random_maxcut,
    random_regular_graph,
    read_gset,
    read_gset_graph,
    read_ising_json,
    sherrington_kirkpatrick,
    solve_exact,
    spins_to_index,
    write_gset,
    write_ising_json,
)


def all_spins(n: int) -> np.ndarray:
    return np.array(list(itertools.product([1, -1], repeat=n)))[:, ::-1]


@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_index_convention_bit_j_is_spin_j(n: int) -> None:
    spins = index_to_spins(np.arange(1 << n), n)
    np.testing.assert_array_equal(spins, all_spins(n))  # bit 0 changes fastest; 0 -> +1
    np.testing.assert_array_equal(spins_to_index(spins), np.arange(1 << n))


@pytest.mark.parametrize("seed", range(4))
def test_energy_diagonal_matches_direct_energies(seed: int) -> None:
    model = pm_j_spin_glass(erdos_renyi_graph(11, 0.4, seed=seed), seed=seed, field=True)
    diag = energy_diagonal(model)
    np.testing.assert_allclose(diag, model.energies(index_to_spins(np.arange(1 << 11), 11)),
                               atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_solve_exact_finds_every_ground_state(seed: int) -> None:
    model = sherrington_kirkpatrick(13, seed=seed)
    energies = model.energies(all_spins(13))
    result = solve_exact(model)
    assert result.energy == pytest.approx(energies.min(), abs=1e-12)
    want = {tuple(s) for s in all_spins(13)[np.isclose(energies, energies.min(), atol=1e-9)]}
    assert {tuple(s) for s in result.states} == want
    assert result.num_ground_states == len(want) == 2  # a state and its flip (no fields)


def test_solve_exact_counts_degenerate_maxcut_states() -> None:
    model = random_maxcut(3, 16, seed=3)
    diag = energy_diagonal(model)
    result = solve_exact(model, max_states=4)
    assert result.energy == diag.min()
    assert result.num_ground_states == int(np.sum(diag == diag.min()))
    assert len(result.states) == min(4, result.num_ground_states)
    np.testing.assert_allclose(model.energies(result.states), result.energy)


def test_size_limits_are_explicit() -> None:
    big = IsingModel.from_arrays(np.zeros(40), np.zeros((0, 2)), [])
    with pytest.raises(ProblemTooLarge, match="40 variables"):
        solve_exact(big)
    with pytest.raises(ProblemTooLarge, match="2\\*\\*40"):
        energy_diagonal(big)


def test_generators_are_seeded_and_well_formed() -> None:
    g1, g2 = random_regular_graph(3, 20, seed=7), random_regular_graph(3, 20, seed=7)
    assert sorted(g1.edges) == sorted(g2.edges)
    assert all(d == 3 for _, d in g1.degree)
    assert sherrington_kirkpatrick(6, seed=1) == sherrington_kirkpatrick(6, seed=1)
    assert sherrington_kirkpatrick(6, seed=1) != sherrington_kirkpatrick(6, seed=2)
    with pytest.raises(InvalidProblem, match="n\\*d must be even"):
        random_regular_graph(3, 7, seed=0)
    z = dwave_topology("zephyr", 1)
    assert sorted(z.nodes) == list(range(z.number_of_nodes()))
    with pytest.raises(InvalidProblem, match="unknown D-Wave topology"):
        dwave_topology("hexagon", 2)


def test_gset_round_trip(tmp_path: Path) -> None:
    g = random_regular_graph(3, 12, seed=2)
    path = tmp_path / "g.txt"
    write_gset(g, path)
    assert path.read_text().splitlines()[0] == "12 18"
    assert read_gset(path) == maxcut_to_ising(g)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("3\n", "expected 'n m'"),
        ("3 1\n1 2 1\n2 3 1\n", "header says 1 edges but the file has 2"),
        ("3 1\n1 4 1\n", ":2: node index out of range 1..3"),
        ("3 1\n2 2 1\n", ":2: self-loop on node 2"),
        ("3 1\n1 2 nan\n", ":2: weight nan is not finite"),
        ("3 1\n1 two 1\n", ":2: cannot read numbers"),
        ("3 2\n1 2 1\n2 1 1\n", ":3: duplicate edge 2 1"),
    ],
)
def test_bad_gset_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ProblemFormatError, match=message):
        read_gset_graph(path)


def test_gset_reader_refuses_oversized_files(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("2 1\n1 2 1\n" + "#" * 200)
    with pytest.raises(ProblemFormatError, match="over the limit of 100"):
        read_gset(path, limit=100)


def test_json_round_trip_and_errors(tmp_path: Path) -> None:
    model = sherrington_kirkpatrick(5, seed=0)
    path = tmp_path / "m.json"
    write_ising_json(model, path)
    assert read_ising_json(path) == model
    path.write_text("{not json")
    with pytest.raises(ProblemFormatError, match="invalid JSON"):
        read_ising_json(path)
    doc = json.loads(json.dumps({"format": "poqw-ising", "version": 1, "num_variables": 2,
                                 "h": [0, 0], "J": [[0, 5, 1.0]]}))
    with pytest.raises(ProblemFormatError, match="out of range for 2 variables"):
        ising_from_json(doc)
    doc["J"] = [[0, 1, "x"]]
    with pytest.raises(ProblemFormatError, match="J\\[0\\] must be"):
        ising_from_json(doc)

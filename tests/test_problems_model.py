"""IsingModel: validation, energies, identity, conversions."""

from __future__ import annotations

import itertools

import dimod
import networkx as nx
import numpy as np
import pytest

from poqw.errors import InvalidProblem
from poqw.problems import (
    IsingModel,
    cut_values,
    ising_to_maxcut,
    ising_to_qubo,
    maxcut_to_ising,
    qubo_to_ising,
    random_regular_graph,
    sherrington_kirkpatrick,
    weighted_graph,
)


def loop_energy(model: IsingModel, s: np.ndarray) -> float:
    """The energy written out term by term: the definition the vectorised code must match."""
    e = model.offset
    for i in range(model.num_variables):
        e += model.h[i] * s[i]
    for (a, b), w in zip(model.edges, model.J, strict=True):
        e += w * s[a] * s[b]
    return float(e)


def random_model(n: int, seed: int) -> IsingModel:
    rng = np.random.default_rng(seed)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.5]
    return IsingModel.from_dicts(list(rng.normal(size=n)),
                                 {p: float(rng.normal()) for p in pairs}, offset=rng.normal())


@pytest.mark.parametrize("seed", range(5))
def test_batch_energies_match_the_definition(seed: int) -> None:
    model = random_model(9, seed)
    rng = np.random.default_rng(seed)
    spins = rng.choice([-1, 1], size=(50, 9)).astype(np.int8)
    got = model.energies(spins)
    want = [loop_energy(model, s) for s in spins]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert model.energy(spins[3]) == pytest.approx(want[3], abs=1e-12)


def test_local_fields_are_energy_differences() -> None:
    model = random_model(8, 1)
    s = np.random.default_rng(2).choice([-1, 1], size=(4, 8))
    fields = model.local_fields(s)
    for r in range(4):
        for i in range(8):
            flipped = s[r].copy()
            flipped[i] *= -1
            # E(s) - E(flip_i s) = 2 s_i f_i
            delta = model.energy(s[r]) - model.energy(flipped)
            assert delta == pytest.approx(2 * s[r, i] * fields[r, i], abs=1e-12)


def test_canonical_bytes_do_not_depend_on_input_order() -> None:
    a = IsingModel.from_dicts([1.0, 0.0, -1.0], {(0, 1): 1.0, (2, 1): -0.5})
    b = IsingModel.from_dicts([1.0, 0.0, -1.0], {(1, 2): -0.5, (1, 0): 1.0})
    assert a == b and hash(a) == hash(b)
    assert a.canonical_bytes() == b.canonical_bytes()
    assert len(a.content_hash()) == 32
    c = IsingModel.from_dicts([1.0, 0.0, -1.0], {(0, 1): 1.0, (1, 2): -0.25})
    assert a != c and a.content_hash() != c.content_hash()


def test_arrays_are_read_only() -> None:
    model = random_model(4, 0)
    with pytest.raises(ValueError):
        model.h[0] = 5.0
    with pytest.raises(ValueError):
        model.J[0] = 5.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"h": [0.0, 0.0], "edges": [[0, 0]], "J": [1.0]}, "self-loop on variable 0"),
        ({"h": [0.0, 0.0], "edges": [[0, 2]], "J": [1.0]}, "out of range"),
        ({"h": [0.0, 0.0], "edges": [[0, 1], [1, 0]], "J": [1.0, 2.0]}, "duplicate coupling"),
        ({"h": [0.0, np.nan], "edges": [], "J": []}, "h[1] is nan"),
        ({"h": [0.0, 0.0], "edges": [[0, 1]], "J": [np.inf]}, "J[0,1] is inf"),
        ({"h": [0.0, 0.0], "edges": [[0, 1]], "J": [1.0, 2.0]}, "1 edges but 2 couplings"),
    ],
)
def test_bad_models_are_rejected_with_a_clear_error(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidProblem, match=message.replace("[", r"\[").replace("]", r"\]")):
        IsingModel.from_arrays(**kwargs)


def test_bad_spins_are_rejected() -> None:
    model = random_model(3, 0)
    with pytest.raises(InvalidProblem, match="shape"):
        model.energies(np.ones((2, 4)))
    with pytest.raises(InvalidProblem, match="must be \\+1 or -1"):
        model.energies(np.zeros((2, 3)))


def test_maxcut_energy_is_minus_the_cut() -> None:
    g = weighted_graph(random_regular_graph(3, 10, seed=4), 0.5, 2.0, seed=1)
    model = maxcut_to_ising(g)
    rng = np.random.default_rng(0)
    for s in rng.choice([-1, 1], size=(20, 10)):
        cut = sum(d["weight"] for a, b, d in g.edges(data=True) if s[a] != s[b])
        assert cut_values(model, s[None])[0] == pytest.approx(cut, abs=1e-12)
    back = ising_to_maxcut(model)
    want = {(min(a, b), max(a, b)): w for a, b, w in g.edges(data="weight")}
    got = {(min(a, b), max(a, b)): w for a, b, w in back.edges(data="weight")}
    assert got.keys() == want.keys()
    assert all(got[e] == pytest.approx(want[e], abs=1e-12) for e in want)


def test_maxcut_rejects_non_integer_nodes() -> None:
    g = nx.Graph([("a", "b")])
    with pytest.raises(InvalidProblem, match="integers 0..n-1"):
        maxcut_to_ising(g)


def test_qubo_round_trip_preserves_every_energy() -> None:
    model = random_model(6, 3)
    Q, offset = ising_to_qubo(model)
    for bits in itertools.product([0, 1], repeat=6):
        x = np.array(bits)
        qubo_value = offset + sum(q * x[i] * x[j] for (i, j), q in Q.items())
        assert qubo_value == pytest.approx(model.energy(1 - 2 * x), abs=1e-9)
    back = qubo_to_ising(Q, offset)
    spins = np.array(list(itertools.product([-1, 1], repeat=6)))
    np.testing.assert_allclose(back.energies(spins), model.energies(spins), atol=1e-9)


def test_dimod_round_trip_and_energies_agree_with_dimod() -> None:
    model = sherrington_kirkpatrick(7, seed=5)
    bqm = model.to_bqm()
    assert bqm.vartype is dimod.SPIN
    spins = np.random.default_rng(1).choice([-1, 1], size=(10, 7))
    np.testing.assert_allclose(bqm.energies((spins, list(range(7)))), model.energies(spins),
                               atol=1e-12)
    assert IsingModel.from_bqm(bqm) == model
    binary = bqm.change_vartype(dimod.BINARY, inplace=False)
    assert np.allclose(IsingModel.from_bqm(binary).energies(spins), model.energies(spins))


def test_from_bqm_needs_integer_labels() -> None:
    bqm = dimod.BinaryQuadraticModel({"a": 1.0}, {}, 0.0, dimod.SPIN)
    with pytest.raises(InvalidProblem, match="relabel_variables_as_integers"):
        IsingModel.from_bqm(bqm)

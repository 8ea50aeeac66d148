"""MPS engine against an independent dense state vector (numpy tensordot, written here)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from poqw.errors import InvalidProblem
from poqw.problems import (
    IsingModel,
    energy_diagonal,
    erdos_renyi_graph,
    pm_j_spin_glass,
    random_maxcut,
    random_regular_graph,
    sherrington_kirkpatrick,
)
from poqw.sim.mps import MPSQAOA, MPSBackend, qaoa_mps
from poqw.sim.mps_kernels import truncated_svd
from poqw.sim.ordering import best_ordering, candidate_orderings, score_ordering

RX = lambda b: np.array([[np.cos(b), -1j * np.sin(b)], [-1j * np.sin(b), np.cos(b)]])  # noqa: E731


def dense_qaoa(model: IsingModel, gammas: list[float], betas: list[float]) -> np.ndarray:
    """Reference: |γ,β⟩ = Π exp(-iβΣX) exp(-iγH)|+⟩ with qubit j = bit j of the index."""
    n = model.num_variables
    diag = energy_diagonal(model)
    psi = np.full(2**n, 2 ** (-n / 2), dtype=complex)
    for g, b in zip(gammas, betas, strict=True):
        psi = psi * np.exp(-1j * g * diag)
        t = psi.reshape((2,) * n)  # axis a is qubit n-1-a
        for q in range(n):
            axis = n - 1 - q
            t = np.moveaxis(np.tensordot(RX(b), t, axes=([1], [axis])), 0, axis)
        psi = t.reshape(-1)
    return psi


def phase_aligned(ref: np.ndarray, got: np.ndarray) -> np.ndarray:
    overlap = np.vdot(got, ref)
    aligned: np.ndarray = got * overlap / abs(overlap)
    return aligned


MODELS = {
    "maxcut12": random_maxcut(3, 12, seed=1),
    "glass_fields10": pm_j_spin_glass(random_regular_graph(3, 10, seed=2), seed=3, field=True),
    "er11": pm_j_spin_glass(erdos_renyi_graph(11, 0.35, seed=5), seed=1, field=True),
    "sk8": sherrington_kirkpatrick(8, seed=4),
}
ANGLES = [([0.37], [0.61]), ([0.3, 0.55], [0.4, 0.2]), ([0.2, 0.45, 0.7], [0.6, 0.35, 0.1])]


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("angles", ANGLES, ids=["p1", "p2", "p3"])
def test_exact_mps_equals_dense(name: str, angles: tuple[list[float], list[float]]) -> None:
    model = MODELS[name]
    gammas, betas = angles
    ref = dense_qaoa(model, gammas, betas)
    state = qaoa_mps(model, gammas, betas, cutoff=0.0)
    got = state.to_dense()
    assert np.max(np.abs(phase_aligned(ref, got) - ref)) < 1e-8
    assert state.fidelity == 1.0
    expected = float(np.abs(ref) ** 2 @ energy_diagonal(model))
    assert state.expectation(model) == pytest.approx(expected, abs=1e-8)


def test_exact_mps_n18_all_correlations() -> None:
    model = pm_j_spin_glass(random_regular_graph(3, 18, seed=7), seed=2, field=True)
    gammas, betas = [0.41, 0.23], [0.52, 0.31]
    ref = dense_qaoa(model, gammas, betas)
    state = MPSQAOA(model, cutoff=0.0).state(gammas, betas)
    assert np.max(np.abs(phase_aligned(ref, state.to_dense()) - ref)) < 1e-8
    prob = np.abs(ref) ** 2
    spins = 1 - 2 * ((np.arange(2**18)[:, None] >> np.arange(18)) & 1)
    np.testing.assert_allclose(state.z_expectations(), prob @ spins, atol=1e-9)
    zz = np.array([prob @ (spins[:, i] * spins[:, j]) for i, j in model.edges])
    np.testing.assert_allclose(state.zz_expectations(model.edges), zz, atol=1e-9)


@pytest.mark.parametrize(
    "ordering", ["identity", "rcm", "spectral", [4, 0, 7, 1, 9, 2, 8, 3, 6, 5]]
)
def test_every_ordering_gives_the_same_state(ordering: str | list[int]) -> None:
    model = MODELS["glass_fields10"]
    ref = dense_qaoa(model, [0.3, 0.5], [0.2, 0.6])
    st = MPSQAOA(model, cutoff=0.0, ordering=ordering).state([0.3, 0.5], [0.2, 0.6])
    assert np.max(np.abs(phase_aligned(ref, st.to_dense()) - ref)) < 1e-8


def test_sample_distribution_matches_born_rule() -> None:
    model = pm_j_spin_glass(random_regular_graph(3, 6, seed=1), seed=2, field=True)
    gammas, betas = [0.5, 0.3], [0.4, 0.7]
    prob = np.abs(dense_qaoa(model, gammas, betas)) ** 2
    shots = 200_000
    spins = MPSQAOA(model).sample(gammas, betas, shots, seed=11)
    assert spins.dtype == np.int8 and spins.shape == (shots, 6)
    idx = ((1 - spins.astype(np.int64)) // 2) @ (1 << np.arange(6))
    freq = np.bincount(idx, minlength=64) / shots
    # five standard errors per outcome
    assert np.all(np.abs(freq - prob) <= 5 * np.sqrt(prob * (1 - prob) / shots) + 1e-4)


def test_sampling_is_reproducible_per_seed() -> None:
    model = random_maxcut(3, 20, seed=3)
    st = MPSQAOA(model, max_bond=8).state([0.6], [0.4])
    a = st.sample(500, seed=5)
    b = st.sample(500, seed=np.random.default_rng(5))
    c = st.sample(500, seed=6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fidelity_drops_with_smaller_bond_and_tracks_true_overlap() -> None:
    model = random_maxcut(3, 16, seed=4)
    gammas, betas = [0.45, 0.7], [0.55, 0.3]
    ref = dense_qaoa(model, gammas, betas)
    fidelities, overlaps = [], []
    for chi in (32, 8, 4, 2):
        st = MPSQAOA(model, max_bond=chi).state(gammas, betas)
        fidelities.append(st.fidelity)
        overlaps.append(abs(np.vdot(ref, st.to_dense())) ** 2)
        assert st.max_bond_used <= chi
    assert all(a >= b for a, b in itertools.pairwise(fidelities))
    assert fidelities[-1] < 0.9
    assert all(a >= b for a, b in itertools.pairwise(overlaps))
    # the estimate is a proxy of the true overlap: close when high, pessimistic when low
    assert abs(fidelities[0] - overlaps[0]) < 0.01
    assert all(f <= o + 0.01 for f, o in zip(fidelities, overlaps, strict=True))


def test_truncated_svd_drops_the_lightest_tail() -> None:
    rng = np.random.default_rng(0)
    m = rng.normal(size=(12, 10)) + 1j * rng.normal(size=(12, 10))
    s_full = np.linalg.svd(m, compute_uv=False)
    u, s, vh, discarded = truncated_svd(m, 4, 0.0)
    assert s.shape == (4,)
    w = s_full**2
    assert discarded == pytest.approx(w[4:].sum() / w.sum())
    assert np.sum(s**2) == pytest.approx(1.0)
    approx = (u * s) @ vh * np.sqrt(w[:4].sum())
    np.testing.assert_allclose(approx, (u * s_full[:4]) @ vh, atol=1e-10)


def test_ordering_scores() -> None:
    model = random_maxcut(3, 40, seed=0)
    order, name, score = best_ordering(model)
    assert sorted(order.tolist()) == list(range(40))
    ident = score_ordering(model.edges, np.arange(40))
    assert score.cutwidth <= ident.cutwidth
    assert name in candidate_orderings(model)
    # path graph in natural order: one edge crosses each bond, bandwidth one
    path = IsingModel.from_dicts({}, {(i, i + 1): 1.0 for i in range(9)})
    assert score_ordering(path.edges, np.arange(10)).cutwidth == 1
    assert score_ordering(path.edges, np.arange(10)).swaps == 0


def test_bad_inputs_are_rejected() -> None:
    model = random_maxcut(3, 8, seed=0)
    with pytest.raises(InvalidProblem, match="max_bond"):
        MPSQAOA(model, max_bond=0)
    with pytest.raises(InvalidProblem, match="permutation"):
        MPSQAOA(model, ordering=[0, 1, 2])
    with pytest.raises(InvalidProblem, match="unknown ordering"):
        MPSQAOA(model, ordering="nope")
    with pytest.raises(InvalidProblem, match="betas"):
        MPSQAOA(model).state([0.1, 0.2], [0.3])
    with pytest.raises(InvalidProblem, match="shots"):
        MPSQAOA(model).sample([0.1], [0.3], -1)


def test_registry_backend_mps() -> None:
    from poqw.sim import qaoa_expectation, qaoa_sample

    model = MODELS["er11"]
    ref = dense_qaoa(model, [0.3, 0.5], [0.4, 0.2])
    expected = float(np.abs(ref) ** 2 @ energy_diagonal(model))
    got = qaoa_expectation(model, [0.3, 0.5], [0.4, 0.2], backend="mps", max_bond=64)
    assert got == pytest.approx(expected, abs=1e-6)
    spins = qaoa_sample(model, [0.3], [0.4], 7, 1, backend="mps")
    assert spins.shape == (7, 11) and set(np.unique(spins)) <= {-1, 1}
    engine = MPSBackend(model, max_bond=2)
    engine.expectation([0.3, 0.5], [0.4, 0.2])
    assert engine.last_fidelity is not None and engine.last_fidelity < 1.0

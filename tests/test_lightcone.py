"""Light-cone energies against a dense state vector (written here) and a direct per-cone run."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from poqw.errors import InvalidProblem, SimulationError
from poqw.problems import (
    IsingModel,
    energy_diagonal,
    erdos_renyi_graph,
    maxcut_to_ising,
    pm_j_spin_glass,
    random_maxcut,
    random_regular_graph,
)
from poqw.sim.lightcone import (
    LightconeBackend,
    LightconeQAOA,
    cone_of,
    cone_statevector_expectation,
    cone_tensor_network_expectation,
    p1_closed_form,
)


def dense_expectation(model: IsingModel, gammas: list[float], betas: list[float]) -> float:
    """Reference ⟨H⟩ with explicit 2x2 mixers applied by tensordot (qubit j = bit j)."""
    n = model.num_variables
    diag = energy_diagonal(model)
    psi = np.full(2**n, 2 ** (-n / 2), dtype=complex)
    for g, b in zip(gammas, betas, strict=True):
        psi = psi * np.exp(-1j * g * diag)
        rx = np.array([[np.cos(b), -1j * np.sin(b)], [-1j * np.sin(b), np.cos(b)]])
        t = psi.reshape((2,) * n)
        for axis in range(n):
            t = np.moveaxis(np.tensordot(rx, t, axes=([1], [axis])), 0, axis)
        psi = t.reshape(-1)
    return float(np.abs(psi) ** 2 @ diag)


MODELS = {
    "maxcut14": random_maxcut(3, 14, seed=1),
    "glass_fields12": pm_j_spin_glass(random_regular_graph(3, 12, seed=2), seed=3, field=True),
    "er12_triangles": pm_j_spin_glass(erdos_renyi_graph(12, 0.3, seed=4), seed=1, field=True),
    "weighted_ladder": IsingModel.from_dicts(
        {0: 0.3, 5: -0.7},
        {(min(a, b), max(a, b)): 0.5 + 0.1 * k
         for k, (a, b) in enumerate(nx.circular_ladder_graph(5).edges())},
        offset=1.5,
    ),
}
ANGLES = [([0.37], [0.61]), ([0.3, 0.55], [0.4, 0.2]), ([0.2, 0.45, 0.7], [0.6, 0.35, 0.1])]


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("angles", ANGLES, ids=["p1", "p2", "p3"])
def test_lightcone_equals_dense(name: str, angles: tuple[list[float], list[float]]) -> None:
    model = MODELS[name]
    gammas, betas = angles
    expected = dense_expectation(model, gammas, betas)
    assert LightconeQAOA(model).expectation(gammas, betas) == pytest.approx(expected, abs=1e-9)
    cones = LightconeQAOA(model, closed_form_p1=False).expectation(gammas, betas)
    assert cones == pytest.approx(expected, abs=1e-9)


def test_p1_closed_form_per_term() -> None:
    model = MODELS["er12_triangles"]
    n = model.num_variables
    gamma, beta = 0.43, 0.29
    # Z_u and Z_u Z_v expectations from the dense state, term by term
    diag = energy_diagonal(model)
    psi = np.full(2**n, 2 ** (-n / 2), dtype=complex) * np.exp(-1j * gamma * diag)
    rx = np.array([[np.cos(beta), -1j * np.sin(beta)], [-1j * np.sin(beta), np.cos(beta)]])
    t = psi.reshape((2,) * n)
    for axis in range(n):
        t = np.moveaxis(np.tensordot(rx, t, axes=([1], [axis])), 0, axis)
    prob = np.abs(t.reshape(-1)) ** 2
    spins = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
    z, zz = p1_closed_form(model, gamma, beta)
    np.testing.assert_allclose(z, prob @ spins, atol=1e-12)
    ref_zz = [prob @ (spins[:, i] * spins[:, j]) for i, j in model.edges]
    np.testing.assert_allclose(zz, ref_zz, atol=1e-12)


@pytest.mark.parametrize("tn_engine", ["native", "quimb"])
def test_tensor_network_cone_path_equals_dense(tn_engine: str) -> None:
    model = pm_j_spin_glass(random_regular_graph(3, 8, seed=2), seed=3, field=True)
    gammas, betas = [0.3, 0.55], [0.4, 0.2]
    engine = LightconeQAOA(model, closed_form_p1=False, max_statevector_qubits=0,
                           tn_engine=tn_engine)
    expected = dense_expectation(model, gammas, betas)
    assert engine.expectation(gammas, betas) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_native_cone_network_matches_statevector(p: int) -> None:
    from poqw.sim.lightcone_network import ConeNetworkCache, cone_network_expectation

    model = pm_j_spin_glass(erdos_renyi_graph(60, 0.05, seed=3), seed=2, field=True)
    engine = LightconeQAOA(model)
    gammas, betas = [0.3, 0.6, 0.2][:p], [0.5, 0.2, 0.4][:p]
    plans = ConeNetworkCache()
    checked = 0
    for roots in [(0,), (7,), *[tuple(int(x) for x in e) for e in model.edges[:6]]]:
        cone = cone_of(engine._nbrs, model.h, roots, p)
        if cone.size > 18:
            continue
        want = cone_statevector_expectation(cone, gammas, betas, fast=False)
        assert cone_network_expectation(cone, gammas, betas, plans) == pytest.approx(
            want, abs=1e-10)
        checked += 1
    assert checked >= 3


def test_fast_and_reference_cone_kernels_agree() -> None:
    model = pm_j_spin_glass(random_regular_graph(3, 40, seed=9), seed=9, field=True)
    engine = LightconeQAOA(model)
    for roots in [(0,), tuple(int(x) for x in model.edges[3])]:
        cone = cone_of(engine._nbrs, model.h, roots, 2)
        fast = cone_statevector_expectation(cone, [0.3, 0.6], [0.5, 0.2], fast=True)
        slow = cone_statevector_expectation(cone, [0.3, 0.6], [0.5, 0.2], fast=False)
        tn = cone_tensor_network_expectation(cone, [0.3, 0.6], [0.5, 0.2])
        assert fast == pytest.approx(slow, abs=1e-12)
        assert tn == pytest.approx(slow, abs=1e-10)


def test_identical_cones_are_computed_once_and_correctly() -> None:
    model = pm_j_spin_glass(random_regular_graph(3, 80, seed=5), seed=6, field=False)
    gammas, betas = [0.35, 0.6], [0.45, 0.25]
    engine = LightconeQAOA(model)
    _, zz = engine.correlations(gammas, betas)
    assert engine.last_stats["cones"] == model.num_interactions
    assert engine.last_stats["simulated"] < model.num_interactions
    # oracle for the cache: every edge's cone simulated on its own
    direct = [
        cone_statevector_expectation(cone_of(engine._nbrs, model.h, (int(u), int(v)), 2),
                                     gammas, betas)
        for u, v in model.edges
    ]
    np.testing.assert_allclose(zz, direct, atol=1e-12)


def test_regular_unweighted_tree_cones_collapse() -> None:
    model = maxcut_to_ising(random_regular_graph(3, 400, seed=1))
    engine = LightconeQAOA(model)
    value = engine.expectation([0.4, 0.7], [0.5, 0.3])
    # a handful of classes: the tree cone plus cones near the few short cycles
    assert engine.last_stats["simulated"] < 40
    # every tree cone of a 3-regular graph has the same value, the closed form of the tree
    tree_edges = [
        e for e in range(model.num_interactions)
        if cone_of(engine._nbrs, model.h, tuple(int(x) for x in model.edges[e]), 2).is_tree
    ]
    _, zz = engine.correlations([0.4, 0.7], [0.5, 0.3])
    assert np.ptp(zz[tree_edges]) == 0.0
    assert value == pytest.approx(model.offset + float(model.J @ zz))


def test_bad_inputs() -> None:
    model = MODELS["maxcut14"]
    with pytest.raises(InvalidProblem):
        LightconeQAOA(model).expectation([0.1, 0.2], [0.3])
    with pytest.raises(InvalidProblem):
        LightconeQAOA(model).expectation([np.nan], [0.3])
    with pytest.raises(SimulationError, match="light cone"):
        LightconeQAOA(model, closed_form_p1=False, max_statevector_qubits=2,
                      max_cone_qubits=4).expectation([0.1], [0.2])


def test_registry_backend_lightcone() -> None:
    from poqw.sim import qaoa_expectation

    model = MODELS["er12_triangles"]
    expected = dense_expectation(model, [0.3, 0.55], [0.4, 0.2])
    got = qaoa_expectation(model, [0.3, 0.55], [0.4, 0.2], backend="lightcone")
    assert got == pytest.approx(expected, abs=1e-9)
    engine = LightconeBackend(model, max_bond=4)
    spins = engine.sample([0.3], [0.4], 16, np.random.default_rng(0))
    assert spins.shape == (16, 12)
    assert engine.last_fidelity is not None and 0.0 < engine.last_fidelity <= 1.0


def test_angle_optimisation_beats_start_and_grid() -> None:
    from poqw.sim.lightcone import optimize_lightcone_angles

    model = pm_j_spin_glass(random_regular_graph(3, 60, seed=8), seed=8, field=True)
    start_g, start_b = [-0.2], [0.1]
    g, b, value = optimize_lightcone_angles(model, 1, gammas0=start_g, betas0=start_b)
    engine = LightconeQAOA(model)
    assert value == pytest.approx(engine.expectation(g, b), abs=1e-12)
    assert value <= engine.expectation(start_g, start_b)
    grid = min(
        engine.expectation([x], [y])
        for x in np.linspace(-np.pi / 2, np.pi / 2, 25)
        for y in np.linspace(-np.pi / 4, np.pi / 4, 13)
    )
    assert value <= grid + 0.05 * abs(grid)
    # the optimum is a real QAOA state: the MPS of it has that energy
    from poqw.sim.mps import MPSQAOA

    small = pm_j_spin_glass(random_regular_graph(3, 12, seed=8), seed=8, field=True)
    g2, b2, v2 = optimize_lightcone_angles(small, 2, maxiter=60)
    assert MPSQAOA(small, cutoff=0.0).expectation(g2, b2) == pytest.approx(v2, abs=1e-9)


def test_lightcone_equals_statevector_engine_at_n20() -> None:
    from poqw.sim.statevector import StateVectorQAOA

    model = pm_j_spin_glass(random_regular_graph(3, 20, seed=12), seed=4, field=True)
    gammas, betas = [0.33, 0.61], [0.47, 0.18]
    want = StateVectorQAOA(model).expectation(gammas, betas)
    assert LightconeQAOA(model).expectation(gammas, betas) == pytest.approx(want, abs=1e-9)

"""State-vector QAOA: fast kernels against the numpy reference and independent oracles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from poqw.errors import InvalidProblem, ProblemTooLarge, SimulationError
from poqw.problems import (
    IsingModel,
    energy_diagonal,
    maxcut_to_ising,
    random_maxcut,
    sherrington_kirkpatrick,
    solve_exact,
    weighted_graph,
)
from poqw.sim import (
    StateVectorQAOA,
    _kernels,
    fixed_angles,
    p1_expectation,
    p1_maxcut_expectation,
    qaoa_expectation,
)
from poqw.sim._diagonal import build_diagonal, build_levels
from poqw.sim.angles import FIXED_ANGLE_RATIOS_3REGULAR
from poqw.sim.reference import qaoa_state_reference


def random_ising(n: int, seed: int, density: float = 0.5, integer: bool = False) -> IsingModel:
    rng = np.random.default_rng(seed)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < density]
    if integer:
        h = rng.integers(-2, 3, size=n).astype(float)
        J = rng.choice([-1.0, 1.0], size=len(pairs))
    else:
        h = rng.normal(size=n)
        J = rng.normal(size=len(pairs))
    return IsingModel.from_arrays(h, np.array(pairs).reshape(-1, 2), J, offset=rng.normal())


def dense_expectation(model: IsingModel, gammas: np.ndarray, betas: np.ndarray) -> float:
    """Independent oracle: exponentiate the full mixer matrix with scipy."""
    from scipy.linalg import expm

    n = model.num_variables
    x = np.array([[0, 1], [1, 0]], dtype=complex)
    b_op = np.zeros((1 << n, 1 << n), dtype=complex)
    for j in range(n):
        op = np.array([[1.0 + 0j]])
        for k in reversed(range(n)):  # kron order: qubit n-1 is the most significant bit
            op = np.kron(op, x if k == j else np.eye(2))
        b_op += op
    diag = energy_diagonal(model)
    psi = np.full(1 << n, 2 ** (-n / 2), dtype=complex)
    for g, b in zip(gammas, betas, strict=True):
        psi = expm(-1j * b * b_op) @ (np.exp(-1j * g * diag) * psi)
    return float(np.real(np.vdot(psi, diag * psi)))


@pytest.mark.parametrize("n", [1, 2, 5, 9, 14])
def test_fast_diagonal_equals_problems_oracle(n: int) -> None:
    for model in (random_ising(n, n), random_ising(n, n + 1, integer=True)):
        np.testing.assert_allclose(build_diagonal(model), energy_diagonal(model), atol=1e-12)


def test_energy_levels_reproduce_the_diagonal() -> None:
    for model in (random_ising(10, 3, integer=True), random_maxcut(3, 12, seed=2)):
        levels = build_levels(model)
        assert levels is not None
        np.testing.assert_allclose(levels.values()[levels.index], energy_diagonal(model),
                                   atol=1e-12)
    assert build_levels(random_ising(8, 1)) is None  # Gaussian couplings: no common quantum


def test_reference_matches_dense_matrix_exponential() -> None:
    model = random_ising(5, 7)
    rng = np.random.default_rng(0)
    g, b = rng.normal(size=2), rng.normal(size=2)
    ref = StateVectorQAOA(model, kernel="reference").expectation(g, b)
    assert ref == pytest.approx(dense_expectation(model, g, b), abs=1e-10)


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("n", [3, 8, 14])
@pytest.mark.parametrize("threads", [1, 2, None])
def test_fast_equals_reference(n: int, p: int, threads: int | None) -> None:
    rng = np.random.default_rng(100 * n + p)
    for model in (random_ising(n, n + p), random_ising(n, n + p + 50, integer=True)):
        g, b = rng.normal(size=p), rng.normal(size=p)
        ref = qaoa_state_reference(energy_diagonal(model), g, b)
        fast = StateVectorQAOA(model, kernel="fast", threads=threads)
        np.testing.assert_allclose(fast.state(g, b), ref, atol=1e-10)
        assert fast.expectation(g, b) == pytest.approx(
            float(np.dot(np.abs(ref) ** 2, energy_diagonal(model))), abs=1e-10)


@pytest.mark.parametrize("symmetric", [False, True])
def test_fast_blocking_paths_with_small_blocks(monkeypatch: pytest.MonkeyPatch,
                                               symmetric: bool) -> None:
    """Small block and tile sizes force several pass-B sweeps, partial radix groups and (for
    field-free models) mirrored block pairs."""
    monkeypatch.setattr(_kernels, "RESIDENT_QUBITS", 3)
    monkeypatch.setattr(_kernels, "LOW_QUBITS", 4)
    monkeypatch.setattr(_kernels, "MAX_LOW_QUBITS", 4)
    monkeypatch.setattr(_kernels, "TILE_GROUP", 4)
    monkeypatch.setattr(_kernels, "TILE_WIDTH", 4)
    rng = np.random.default_rng(5)
    for n in (4, 5, 6, 9, 10, 11, 12, 13):
        model = random_maxcut(3, n + n % 2, seed=n) if symmetric else random_ising(n, 40 + n)
        g, b = rng.normal(size=2), rng.normal(size=2)
        ref = qaoa_state_reference(energy_diagonal(model), g, b)
        for threads in (1, None):
            eng = StateVectorQAOA(model, threads=threads)
            assert eng.reflect == symmetric
            np.testing.assert_allclose(eng.state(g, b), ref, atol=1e-10)


@pytest.mark.parametrize("beta", [0.0, 0.3, -0.7, np.pi / 4, 1.2, np.pi / 2, -np.pi / 2 + 1e-9,
                                  2.9, -3.1])
def test_mixer_factorisation_equals_the_matrix_exponential(beta: float) -> None:
    """exp(-i beta (X1 + X2 + X3)) == factor * (B x B x B), B the (possibly swapped) butterfly."""
    from scipy.linalg import expm

    n = 3
    t, swap, factor = _kernels.mixer_params(beta, n)
    butterfly = np.array([[1, -1j * t], [-1j * t, 1]])
    if swap:
        butterfly = butterfly[::-1]
    x = np.array([[0, 1], [1, 0]])
    total = sum(np.kron(np.kron(x if k == 2 else np.eye(2), x if k == 1 else np.eye(2)),
                        x if k == 0 else np.eye(2)) for k in range(n))
    want = expm(-1j * beta * total)
    got = factor * np.kron(np.kron(butterfly, butterfly), butterfly)
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert abs(t) <= 1.0  # |tan| or |cot|: the butterflies never amplify rounding errors


@pytest.mark.parametrize("n", [4, 7, 13])
def test_spin_flip_symmetric_half_state_equals_the_full_state(n: int) -> None:
    """Without fields the fast path simulates half the state; states, probabilities,
    expectations and sampled energies must equal the full-state path and the reference."""
    model = random_maxcut(3, n + (n % 2), seed=n)
    rng = np.random.default_rng(n)
    g, b = rng.normal(size=3), rng.normal(size=3)
    half = StateVectorQAOA(model, threads=1)
    full = StateVectorQAOA(model, threads=1, use_symmetry=False)
    assert half.reflect and not full.reflect
    assert half._re.shape[0] == 1 << (model.num_variables - 1)
    ref = qaoa_state_reference(energy_diagonal(model), g, b)
    np.testing.assert_allclose(half.state(g, b), ref, atol=1e-10)
    np.testing.assert_allclose(full.state(g, b), ref, atol=1e-10)
    np.testing.assert_allclose(half.probabilities(g, b), np.abs(ref) ** 2, atol=1e-12)
    assert half.expectation(g, b) == pytest.approx(full.expectation(g, b), abs=1e-10)
    spins, energies, expect = half.strike(g, b, 300, 4)
    np.testing.assert_allclose(energies, model.energies(spins), atol=1e-9)
    assert expect == pytest.approx(full.expectation(g, b), abs=1e-10)
    with_field = IsingModel.from_arrays(np.eye(1, model.num_variables)[0], model.edges, model.J)
    assert not StateVectorQAOA(with_field).reflect


def test_many_layers_near_half_pi_neither_overflow_nor_underflow() -> None:
    """Each layer's pulled-out factor is folded into the next phase table, so deep circuits
    with |tan beta| large stay in range (the swapped butterfly keeps |t| <= 1)."""
    rng = np.random.default_rng(3)
    for model in (random_maxcut(3, 12, seed=1), random_ising(9, 2)):
        p = 40
        g = rng.normal(size=p)
        b = np.pi / 2 - rng.uniform(0, 1e-3, size=p) * rng.choice([-1, 1], size=p)
        ref = qaoa_state_reference(energy_diagonal(model), g, b)
        np.testing.assert_allclose(StateVectorQAOA(model).state(g, b), ref, atol=1e-10)


def test_fast_with_grown_low_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """n=18 with 3-qubit tiles grows pass A to 2**15 amplitudes (as n=24 does by default)."""
    monkeypatch.setattr(_kernels, "TILE_GROUP", 3)
    model = random_maxcut(3, 18, seed=9)
    g, b = fixed_angles(2)
    ref = qaoa_state_reference(energy_diagonal(model), g, b)
    for threads in (1, None):
        np.testing.assert_allclose(StateVectorQAOA(model, threads=threads).state(g, b), ref,
                                   atol=1e-10)


def test_state_is_normalised_and_buffers_are_reused() -> None:
    model = random_maxcut(3, 12, seed=4)
    eng = StateVectorQAOA(model)
    g, b = fixed_angles(2)
    first = eng.state(g, b)
    assert np.linalg.norm(first) == pytest.approx(1.0, abs=1e-12)
    eng.state([0.1, 0.2], [0.3, 0.4])
    np.testing.assert_array_equal(eng.state(g, b), first)  # no state leaks between calls


def test_expectations_batch_equals_single_calls() -> None:
    model = random_ising(9, 11)
    eng = StateVectorQAOA(model)
    batch = np.random.default_rng(1).normal(size=(5, 2, 3))
    got = eng.expectations(batch)
    want = [eng.expectation(a[0], a[1]) for a in batch]
    np.testing.assert_allclose(got, want, atol=1e-12)
    with pytest.raises(InvalidProblem, match="angle_batch"):
        eng.expectations(np.zeros((5, 6)))


@pytest.mark.parametrize("seed", range(4))
def test_p1_closed_form_equals_simulator(seed: int) -> None:
    rng = np.random.default_rng(seed)
    graph = weighted_graph(nx.gnp_random_graph(9, 0.5, seed=seed), 0.2, 2.0, seed=seed)
    models = [maxcut_to_ising(graph), random_ising(8, seed), random_maxcut(3, 10, seed=seed)]
    for model in models:
        g, b = rng.uniform(-2, 2), rng.uniform(-2, 2)
        want = StateVectorQAOA(model, kernel="reference").expectation([g], [b])
        assert p1_expectation(model, g, b) == pytest.approx(want, abs=1e-10)
    assert p1_maxcut_expectation(graph, 0.3, -0.7) == pytest.approx(
        StateVectorQAOA(maxcut_to_ising(graph)).expectation([0.3], [-0.7]), abs=1e-10)


def test_fixed_angles_reach_the_tree_value_on_large_girth_graphs() -> None:
    """Petersen has girth 5 (> 2p+1 for p=1), Heawood girth 6 (p=2): there every edge sees a
    tree, so <C>/|E| is exactly the published large-girth value."""
    for graph, p in ((nx.petersen_graph(), 1), (nx.heawood_graph(), 2)):
        model = maxcut_to_ising(graph)
        ratio = -StateVectorQAOA(model).expectation(*fixed_angles(p)) / graph.number_of_edges()
        assert ratio == pytest.approx(FIXED_ANGLE_RATIOS_3REGULAR[p], abs=1e-4)


@pytest.mark.parametrize("n", [14, 16])
def test_fixed_angles_on_random_3_regular_graphs(n: int) -> None:
    """Small random graphs have triangles and short cycles, so <C>/|E| scatters around the
    large-girth value (observed within +-0.06 per graph, +-0.035 on average over 4 seeds);
    the published ratio is also a lower bound on <C>/C_max, which must hold on every graph."""
    for p in (1, 2, 3):
        per_edge, per_optimum = [], []
        for seed in range(4):
            model = random_maxcut(3, n, seed=seed)
            cut = -StateVectorQAOA(model).expectation(*fixed_angles(p))
            per_edge.append(cut / model.num_interactions)
            per_optimum.append(cut / -solve_exact(model).energy)
        published = FIXED_ANGLE_RATIOS_3REGULAR[p]
        assert np.all(np.abs(np.array(per_edge) - published) < 0.06)
        assert abs(np.mean(per_edge) - published) < 0.035
        assert min(per_optimum) >= published


def test_bad_input_is_refused_with_clear_errors() -> None:
    model = random_ising(4, 0)
    eng = StateVectorQAOA(model)
    with pytest.raises(InvalidProblem, match="gammas has 2 angles but betas has 1"):
        eng.expectation([0.1, 0.2], [0.3])
    with pytest.raises(InvalidProblem, match="at least one layer"):
        eng.expectation([], [])
    with pytest.raises(InvalidProblem, match="finite"):
        eng.expectation([np.nan], [0.1])
    with pytest.raises(SimulationError, match="unknown kernel 'turbo'"):
        StateVectorQAOA(model, kernel="turbo")
    with pytest.raises(InvalidProblem, match="threads"):
        StateVectorQAOA(model, threads=0)
    big = IsingModel.from_arrays(np.zeros(31), np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(ProblemTooLarge, match="31 qubits"):
        StateVectorQAOA(big)
    with pytest.raises(ProblemTooLarge):
        qaoa_expectation(big, [0.1], [0.2], backend="statevector")
    with pytest.raises(InvalidProblem, match="no fixed angles"):
        fixed_angles(7)


def test_sk_model_public_api_agrees_with_reference() -> None:
    model = sherrington_kirkpatrick(10, seed=3)
    g, b = [0.2, 0.4], [0.5, 0.1]
    want = StateVectorQAOA(model, kernel="reference").expectation(g, b)
    assert qaoa_expectation(model, g, b) == pytest.approx(want, abs=1e-10)
    assert qaoa_expectation(model, g, b, backend="statevector",
                            kernel="reference") == pytest.approx(want, abs=1e-12)


def test_parallel_kernels_compile_from_a_cold_cache_and_match_the_serial_ones(
        tmp_path: Path) -> None:
    # numba 0.67-0.68 failed to compile the parallel cost pass ("LLVM IR parsing error ... sext
    # double to i64") when its prange bound came from a branch; a warm cache hid it, so compile
    # here in a fresh process with an empty cache.
    code = (
        "from poqw.problems import random_maxcut\n"
        "from poqw.sim import StateVectorQAOA, fixed_angles\n"
        "g, b = fixed_angles(2)\n"
        "m = random_maxcut(3, 12, seed=1)\n"
        "two = StateVectorQAOA(m, threads=2)\n"  # the parallel kernels compile first
        "s2, e2, x2 = two.strike(g, b, 32, 5)\n"
        "one = StateVectorQAOA(m, threads=1)\n"
        "assert abs(one.expectation(g, b) - two.expectation(g, b)) < 1e-9\n"
        "s1, e1, x1 = one.strike(g, b, 32, 5)\n"
        "assert abs(x1 - x2) < 1e-9 and (s1 == s2).all()\n"
        "print('same')\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and "same" in done.stdout, done.stderr[-2000:]

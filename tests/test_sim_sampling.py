"""Sampling from QAOA states: frequencies, seeds, strikes and the public sampling API."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from poqw.errors import InvalidProblem
from poqw.problems import IsingModel, energy_diagonal, random_maxcut, spins_to_index
from poqw.sim import StateVectorQAOA, fixed_angles, qaoa_sample
from poqw.sim.reference import qaoa_state_reference


@pytest.mark.parametrize("kernel", ["fast", "reference"])
@pytest.mark.parametrize("n", [6, 10])  # n=10: several chunks in the two-level sampler
def test_sample_frequencies_match_probabilities(kernel: str, n: int) -> None:
    model = random_maxcut(3, n, seed=1)
    g, b = fixed_angles(2)
    probs = np.abs(qaoa_state_reference(energy_diagonal(model), g, b)) ** 2
    shots = 200_000
    spins = StateVectorQAOA(model, kernel=kernel).sample(g, b, shots, np.random.default_rng(7))
    assert spins.shape == (shots, n) and spins.dtype == np.int8
    assert set(np.unique(spins)) <= {-1, 1}
    counts = np.bincount(spins_to_index(spins), minlength=1 << n)
    keep = probs * shots >= 5  # chi-square needs enough expected counts per cell
    observed, expected = counts[keep], probs[keep] * shots
    if (~keep).any():  # pool the rare states into one cell
        observed = np.append(observed, counts[~keep].sum())
        expected = np.append(expected, probs[~keep].sum() * shots)
    expected *= observed.sum() / expected.sum()
    _, pvalue = stats.chisquare(observed, expected)
    assert pvalue > 1e-3


def test_seeds_reproduce_and_differ() -> None:
    model = random_maxcut(3, 10, seed=2)
    eng = StateVectorQAOA(model)
    g, b = fixed_angles(1)
    a = eng.sample(g, b, 100, 42)
    np.testing.assert_array_equal(a, eng.sample(g, b, 100, np.random.default_rng(42)))
    np.testing.assert_array_equal(a, qaoa_sample(model, g, b, 100, 42))
    assert not np.array_equal(a, eng.sample(g, b, 100, 43))
    with pytest.raises(InvalidProblem, match="explicit seed"):
        eng.sample(g, b, 10, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidProblem, match="shots"):
        eng.sample(g, b, -1, 0)


def test_fast_and_reference_sample_alike_with_the_same_seed() -> None:
    model = random_maxcut(3, 12, seed=3)
    g, b = fixed_angles(2)
    fast = StateVectorQAOA(model, kernel="fast").sample(g, b, 500, 9)
    ref = StateVectorQAOA(model, kernel="reference").sample(g, b, 500, 9)
    # same uniforms, cumulative sums equal to rounding: at most a boundary case may differ
    assert (fast != ref).any(axis=1).sum() <= 1


def test_strike_returns_consistent_samples_energies_and_expectation() -> None:
    model = random_maxcut(3, 14, seed=5)
    eng = StateVectorQAOA(model, threads=1)
    g, b = fixed_angles(2)
    spins, energies, expect = eng.strike(g, b, 64, np.random.default_rng(0))
    assert spins.shape == (64, 14) and energies.shape == (64,)
    np.testing.assert_allclose(energies, model.energies(spins), atol=1e-9)
    assert expect == pytest.approx(eng.expectation(g, b), abs=1e-10)
    again = eng.strike(g, b, 64, np.random.default_rng(0))
    np.testing.assert_array_equal(again[0], spins)
    empty = eng.strike(g, b, 0, np.random.default_rng(0))
    assert empty[0].shape == (0, 14)


def test_sample_mean_energy_converges_to_expectation() -> None:
    model = random_maxcut(3, 12, seed=8)
    eng = StateVectorQAOA(model)
    g, b = fixed_angles(3)
    spins = eng.sample(g, b, 40_000, 1)
    energies = model.energies(spins)
    stderr = energies.std() / np.sqrt(len(energies))
    assert abs(energies.mean() - eng.expectation(g, b)) < 5 * stderr


def test_level_and_diagonal_paths_agree_and_tiny_models_sample() -> None:
    model = random_maxcut(3, 12, seed=6)
    g, b = fixed_angles(2)
    with_levels = StateVectorQAOA(model)
    without = StateVectorQAOA(model, use_levels=False)
    assert with_levels.levels is not None and without.levels is None
    np.testing.assert_allclose(with_levels.diagonal, energy_diagonal(model), atol=1e-12)
    a = with_levels.strike(g, b, 200, 5)
    c = without.strike(g, b, 200, 5)
    assert (a[0] != c[0]).any(axis=1).sum() <= 1
    assert a[2] == pytest.approx(c[2], abs=1e-10)
    one = IsingModel.from_arrays([1.0], np.zeros((0, 2)), [])
    spins = StateVectorQAOA(one).sample([0.4], [0.3], 20_000, 0)
    p_up = np.abs(qaoa_state_reference(energy_diagonal(one), [0.4], [0.3])[0]) ** 2
    assert abs((spins == 1).mean() - p_up) < 0.02

"""Match-strike beyond the state vector: light-cone angles, MPS shots."""

from __future__ import annotations

import numpy as np
import pytest

from poqw.errors import ConfigError
from poqw.problems import random_maxcut, sherrington_kirkpatrick
from poqw.sim import qaoa_expectation
from poqw.strike import solve


def test_large_sparse_model_gets_optimised_lightcone_angles_and_mps_samples() -> None:
    model = random_maxcut(3, 30, seed=4)
    result = solve(model, p=1, max_strikes=3, seed=3, samplers=("qaoa",), max_bond=16)
    assert result.found_by == "qaoa" and result.allocation["qaoa"].strikes == 3
    assert model.energy(result.solution) == pytest.approx(result.energy)
    assert result.best_angles is not None
    gammas, betas = [result.best_angles[0]], [result.best_angles[1]]
    # the optimised angles beat the warm start on the exact light-cone energy
    tuned = qaoa_expectation(model, gammas, betas, backend="lightcone")
    assert tuned < qaoa_expectation(model, [-0.616], [0.393], backend="lightcone") + 1e-9
    assert any("exact light-cone energies" in note for note in result.notes)
    fidelity = [n for n in result.notes if n.startswith("MPS fidelity estimate")]
    assert fidelity and 0.0 < float(fidelity[0].split()[3].rstrip(",")) <= 1.0


def test_small_model_can_be_forced_onto_the_mps_and_matches_seeds() -> None:
    model = random_maxcut(3, 12, seed=1)
    a = solve(model, p=1, max_strikes=2, seed=5, samplers=("qaoa",), backend="mps")
    b = solve(model, p=1, max_strikes=2, seed=5, samplers=("qaoa",), backend="mps")
    assert a.energy == b.energy and np.array_equal(a.solution, b.solution)
    assert any("tensor networks" in note for note in a.notes)


def test_dense_models_keep_the_warm_start() -> None:
    model = sherrington_kirkpatrick(28, seed=0)
    result = solve(model, p=1, max_strikes=2, seed=1, samplers=("qaoa",), max_bond=8)
    assert any("warm start (dense graph)" in note for note in result.notes)


def test_bad_backend_and_bond_are_refused() -> None:
    model = random_maxcut(3, 8, seed=0)
    with pytest.raises(ConfigError, match="backend must be"):
        solve(model, backend="gpu-magic")
    with pytest.raises(ConfigError, match="max_bond must be a positive integer"):
        solve(model, max_bond=0)

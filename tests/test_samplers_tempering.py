"""Parallel tempering: its cold replica samples the Boltzmann distribution; it finds optima."""

from __future__ import annotations

import numpy as np
import pytest

from poqw.errors import SamplerError
from poqw.problems import (
    IsingModel,
    energy_diagonal,
    pm_j_spin_glass,
    random_regular_graph,
    solve_exact,
    spins_to_index,
)
from poqw.samplers import ParallelTemperingSampler, spins_and_energies
from poqw.samplers.tempering import default_beta_range, run_tempering


def _boltzmann(model: IsingModel, beta: float) -> np.ndarray:
    energies = energy_diagonal(model)
    weights = np.exp(-beta * (energies - energies.min()))
    return weights / weights.sum()


def test_coldest_replica_samples_the_boltzmann_distribution() -> None:
    model = IsingModel.from_dicts({0: 0.5, 1: -0.3, 2: 0.0, 3: 0.2},
                                  {(0, 1): 1.0, (1, 2): -0.7, (2, 3): 0.4, (0, 3): -0.5})
    betas = np.array([0.2, 0.45, 1.0])
    seeds = np.arange(20000, dtype=np.int64)
    _, coldest = run_tempering(model, betas, num_sweeps=30, read_seeds=seeds)
    counts = np.bincount(spins_to_index(coldest), minlength=16)
    empirical = counts / counts.sum()
    distance = 0.5 * np.abs(empirical - _boltzmann(model, 1.0)).sum()
    assert distance < 0.03, distance  # sampling noise alone is about 0.01
    # the test can tell temperatures apart: the hottest rung's distribution is far away
    assert 0.5 * np.abs(empirical - _boltzmann(model, 0.2)).sum() > 0.1


def test_tempering_finds_the_ground_state_and_ignores_thread_count() -> None:
    model = pm_j_spin_glass(random_regular_graph(3, 24, seed=3), seed=3, field=True)
    two = ParallelTemperingSampler(num_threads=2).sample(model, num_reads=4, num_sweeps=200,
                                                        seed=1)
    one = ParallelTemperingSampler(num_threads=1).sample(model, num_reads=4, num_sweeps=200,
                                                        seed=1)
    assert np.array_equal(two.record.sample, one.record.sample)
    _, energies = spins_and_energies(two, model)
    assert np.allclose(energies, two.record.energy)
    assert energies.min() == pytest.approx(solve_exact(model).energy)


def test_default_beta_range_scales_with_the_couplings() -> None:
    model = pm_j_spin_glass(random_regular_graph(3, 10, seed=1), seed=1)
    low, high = default_beta_range(model)
    scaled = IsingModel.from_arrays(model.h * 10, model.edges, model.J * 10)
    assert default_beta_range(scaled) == pytest.approx((low / 10, high / 10))
    assert 0 < low < high


@pytest.mark.parametrize(
    ("params", "message"),
    [({"num_replicas": 0}, "num_replicas"), ({"num_replicas": 5000}, "num_replicas"),
     ({"beta_range": (0.0, 1.0)}, "beta_range"), ({"num_sweeps": -1}, "num_sweeps")],
)
def test_tempering_rejects_bad_parameters(params: dict[str, object], message: str) -> None:
    model = pm_j_spin_glass(random_regular_graph(3, 8, seed=1), seed=1)
    with pytest.raises(SamplerError, match=message):
        ParallelTemperingSampler().sample(model, num_reads=2, **params)

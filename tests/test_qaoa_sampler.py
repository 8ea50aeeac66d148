"""``QAOASampler`` passes the shared conformance suite and returns distinct best samples."""

from __future__ import annotations

import dimod
import numpy as np
import pytest

from poqw.errors import SamplerError
from poqw.problems import index_to_spins, random_maxcut, solve_exact
from poqw.samplers import get_sampler
from poqw.samplers.qaoa import QAOASampler
from poqw.samplers.testing import CHECKS, ConformanceCase
from poqw.sim.statevector import MAX_STATEVECTOR_QUBITS

CASE = ConformanceCase(QAOASampler(), parameters={"max_strikes": 4, "p": 1, "shots": 16},
                       optimum_parameters={"max_strikes": 6})


@pytest.mark.parametrize("check", list(CHECKS))
def test_qaoa_sampler_conforms(check: str) -> None:
    CHECKS[check](CASE)


def test_registered_under_qaoa() -> None:
    assert isinstance(get_sampler("qaoa"), QAOASampler)


def test_returns_distinct_best_local_minima_lowest_first() -> None:
    model = random_maxcut(3, 10, seed=3)
    states = index_to_spins(np.arange(1 << 10), 10)
    fields = np.array([model.local_fields(s)[0] for s in states])
    minima = {s.tobytes() for s, f in zip(states, fields, strict=True) if np.all(s * f <= 1e-9)}
    result = QAOASampler().sample(model, num_reads=12, seed=5, max_strikes=6, p=1)
    spins = np.asarray(result.record.sample, dtype=np.int8)
    distinct = result.info["distinct"]
    assert len(result) == 12
    assert len({row.tobytes() for row in spins[:distinct]}) == distinct
    assert np.all(np.diff(result.record.energy[:distinct]) >= 0)  # lowest first
    assert {row.tobytes() for row in spins} <= minima  # every sample is polished
    assert np.allclose(result.record.energy, model.energies(spins))
    assert result.first.energy == pytest.approx(solve_exact(model).energy)
    assert distinct <= len(minima)


def test_too_few_distinct_samples_are_padded_with_the_best() -> None:
    model = random_maxcut(3, 4, seed=1)  # 16 states, far fewer distinct local minima
    result = QAOASampler().sample(model, num_reads=40, seed=1, max_strikes=2, p=1)
    assert len(result) == 40
    assert result.info["distinct"] < 40
    assert result.first.energy == pytest.approx(solve_exact(model).energy)


def test_bad_solver_arguments_are_sampler_errors() -> None:
    with pytest.raises(SamplerError, match="controller"):
        QAOASampler().sample(random_maxcut(3, 6, seed=1), controller="gradient")
    with pytest.raises(SamplerError, match="shots"):
        QAOASampler().sample(random_maxcut(3, 6, seed=1), shots=0)


def test_above_the_limit_it_says_it_used_classical_sampling() -> None:
    model = random_maxcut(3, MAX_STATEVECTOR_QUBITS + 2, seed=2)
    result = QAOASampler().sample(model, num_reads=3, seed=1, max_strikes=2,
                                  backend="statevector")
    assert any("QAOA skipped" in note for note in result.info["notes"])
    assert result.info["found_by"] == "simulated-annealing"
    assert isinstance(result, dimod.SampleSet) and len(result) == 3

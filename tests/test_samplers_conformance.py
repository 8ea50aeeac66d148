"""Every poqw sampler, and an Ocean sampler through the adapter, passes the conformance suite."""

from __future__ import annotations

import dimod
import pytest
from dwave.samplers import SimulatedAnnealingSampler as DwaveSA

from poqw.samplers import (
    ExactSampler,
    OceanSampler,
    ParallelTemperingSampler,
    RandomSampler,
    SimulatedAnnealingSampler,
    SpinReversalComposite,
    SteepestDescentSampler,
)
from poqw.samplers.testing import CHECKS, ConformanceCase, assert_sampler_conforms

CASES = {
    "exact": ConformanceCase(ExactSampler()),
    "random": ConformanceCase(RandomSampler(), optimum_parameters=None),
    "steepest-descent": ConformanceCase(SteepestDescentSampler(),
                                        optimum_parameters={"num_reads": 40}),
    "simulated-annealing": ConformanceCase(SimulatedAnnealingSampler(),
                                           parameters={"num_sweeps": 200}),
    "simulated-annealing-1-thread": ConformanceCase(SimulatedAnnealingSampler(num_threads=1),
                                                    parameters={"num_sweeps": 100}),
    "parallel-tempering": ConformanceCase(ParallelTemperingSampler(),
                                          parameters={"num_sweeps": 100, "num_replicas": 4}),
    "spin-reversal(sa)": ConformanceCase(SpinReversalComposite(SimulatedAnnealingSampler()),
                                         parameters={"num_sweeps": 100,
                                                     "num_spin_reversal_transforms": 3}),
    "spin-reversal(exact)": ConformanceCase(SpinReversalComposite(ExactSampler())),
    "ocean(ExactSolver)": ConformanceCase(OceanSampler(dimod.ExactSolver())),
    "ocean(dwave SA)": ConformanceCase(OceanSampler(DwaveSA()), parameters={"num_sweeps": 100}),
}


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("name", list(CASES))
def test_sampler_conforms(name: str, check: str) -> None:
    CHECKS[check](CASES[name])


def test_assert_sampler_conforms_runs_every_check() -> None:
    assert_sampler_conforms(SteepestDescentSampler(), optimum_parameters={"num_reads": 40})


class _LyingSampler(RandomSampler):
    """Reports the right samples but keeps a wrong-energy SampleSet: the suite must notice."""

    def sample(self, bqm, num_reads=None, seed=None, **parameters):  # type: ignore[no-untyped-def]
        result = super().sample(bqm, num_reads=num_reads, seed=seed, **parameters)
        record = result.record.copy()
        record.energy = record.energy + 1.0
        return dimod.SampleSet(record, result.variables, result.info, result.vartype)


class _SeedIgnoringSampler(RandomSampler):
    def _sample_model(self, model, num_reads, seed, **parameters):  # type: ignore[no-untyped-def]
        return super()._sample_model(model, num_reads, 0, **parameters)


class _PermissiveSampler(RandomSampler):
    @property
    def parameters(self):  # type: ignore[no-untyped-def]
        return {**super().parameters, "no_such_parameter": []}


@pytest.mark.parametrize(
    ("sampler", "check", "message"),
    [
        (_LyingSampler(), "energies_recomputed", "energies"),
        (_SeedIgnoringSampler(), "seed_reproducible", "different seeds"),
        (_PermissiveSampler(), "bad_parameters", "accepted"),
        (RandomSampler(), "finds_optimum", "ground state"),
    ],
)
def test_suite_catches_broken_samplers(sampler: object, check: str, message: str) -> None:
    case = ConformanceCase(sampler, num_reads=1, model_factory=lambda seed: _hard_model(seed))
    with pytest.raises(AssertionError, match=message):
        CHECKS[check](case)


def _hard_model(seed: int):  # type: ignore[no-untyped-def]
    """A 14-variable glass: one random read is very unlikely to hit its ground state."""
    from poqw.problems import pm_j_spin_glass, random_regular_graph

    return pm_j_spin_glass(random_regular_graph(3, 14, seed=seed), seed=seed, field=True)

"""The conformance suite every poqw sampler must pass, shipped in the package for reuse.

Each check takes a :class:`ConformanceCase` and raises ``AssertionError`` with a message saying
what broke. :func:`assert_sampler_conforms` runs them all; ``CHECKS`` maps names to checks so a
test file can parametrize over them. Energies are compared against two oracles that do not
trust the sampler: the model's own vectorised energies and dimod's ``bqm.energies``.

Usage in a test::

    from poqw.samplers.testing import CHECKS, ConformanceCase
    case = ConformanceCase(MySampler(), parameters={"shots": 64})
    @pytest.mark.parametrize("check", sorted(CHECKS))
    def test_conforms(check): CHECKS[check](case)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import dimod
import numpy as np

from poqw.errors import SamplerError
from poqw.problems.exact import solve_exact
from poqw.problems.model import IsingModel

__all__ = [
    "CHECKS",
    "ConformanceCase",
    "assert_sampler_conforms",
    "check_bad_parameters",
    "check_energies_recomputed",
    "check_finds_optimum",
    "check_input_forms",
    "check_returns_sampleset",
    "check_seed_reproducible",
    "default_small_model",
    "degenerate_model",
]

ModelFactory = Callable[[int], IsingModel]


def default_small_model(seed: int) -> IsingModel:
    """A dense 6-variable +-1 glass with fields in {-1, 0, 1} and an offset: 64 states."""
    rng = np.random.default_rng(seed)
    n = 6
    edges = np.array([(i, j) for i in range(n) for j in range(i + 1, n)
                      if rng.random() < 0.7], dtype=np.int64).reshape(-1, 2)
    J = rng.choice([-1.0, 1.0], size=len(edges))
    h = rng.choice([-1.0, 0.0, 1.0], size=n)
    return IsingModel.from_arrays(h, edges, J, offset=0.5)


def degenerate_model(num_pairs: int = 8) -> IsingModel:
    """Disjoint ferromagnetic pairs: ``2**num_pairs`` ground states, so which ones a stochastic
    sampler returns depends on its seed, and different seeds must give different samples."""
    edges = np.array([(2 * i, 2 * i + 1) for i in range(num_pairs)], dtype=np.int64)
    return IsingModel.from_arrays(np.zeros(2 * num_pairs), edges, -np.ones(num_pairs))


@dataclass(frozen=True)
class ConformanceCase:
    """A sampler and how to exercise it.

    ``parameters`` go to every call (e.g. a small ``num_sweeps``); ``optimum_parameters``
    (merged over them) is the budget with which the sampler must find the exact ground state
    of ``model_factory(seed)``; ``None`` skips that check (for a random baseline).
    """

    sampler: Any
    model_factory: ModelFactory = default_small_model
    num_reads: int = 10
    parameters: Mapping[str, Any] = field(default_factory=dict)
    optimum_parameters: Mapping[str, Any] | None = field(default_factory=dict)

    @property
    def name(self) -> str:
        return type(self.sampler).__name__

    def sample(self, problem: Any, seed: int = 1, **overrides: Any) -> dimod.SampleSet:
        kwargs = {"num_reads": self.num_reads, "seed": seed, **self.parameters, **overrides}
        result: dimod.SampleSet = self.sampler.sample(problem, **kwargs)
        return result


def _rows_ok(case: ConformanceCase, sampleset: dimod.SampleSet, num_reads: int) -> None:
    rows = int(np.sum(sampleset.record.num_occurrences))
    if getattr(case.sampler, "exact_num_reads", True):
        assert rows == num_reads, f"{case.name}: asked for {num_reads} reads, got {rows}"
    else:
        assert 1 <= rows <= num_reads, f"{case.name}: asked for {num_reads} reads, got {rows}"


def _energies_match(case: ConformanceCase, sampleset: dimod.SampleSet,
                    bqm: dimod.BinaryQuadraticModel, what: str) -> None:
    expected = bqm.energies(sampleset)
    got = sampleset.record.energy
    scale = 1.0 + float(np.max(np.abs(expected), initial=0.0))
    assert np.allclose(got, expected, rtol=0.0, atol=1e-9 * scale), \
        f"{case.name}: energies of the {what} SampleSet differ from dimod's recomputation"


def _spin_matrix(sampleset: dimod.SampleSet, labels: list[Any]) -> np.ndarray:
    order = [sampleset.variables.index(v) for v in labels]
    return np.asarray(sampleset.record.sample)[:, order]


def check_returns_sampleset(case: ConformanceCase) -> None:
    """An IsingModel in gives a SPIN SampleSet over 0..n-1 with num_reads rows of +-1."""
    model = case.model_factory(1)
    result = case.sample(model)
    assert isinstance(result, dimod.SampleSet), \
        f"{case.name}.sample returned {type(result).__name__}, not a dimod.SampleSet"
    assert result.vartype is dimod.SPIN, f"{case.name}: an IsingModel must give SPIN samples"
    assert set(result.variables) == set(range(model.num_variables)), \
        f"{case.name}: variables {list(result.variables)} are not 0..{model.num_variables - 1}"
    assert np.all(np.abs(result.record.sample) == 1), f"{case.name}: samples are not +-1"
    _rows_ok(case, result, case.num_reads)
    _rows_ok(case, case.sample(model, num_reads=3), 3)


def check_energies_recomputed(case: ConformanceCase) -> None:
    """Reported energies equal the model's energies of the reported samples."""
    for seed in (1, 2):
        model = case.model_factory(seed)
        result = case.sample(model, seed=seed)
        spins = _spin_matrix(result, list(range(model.num_variables)))
        assert np.allclose(result.record.energy, model.energies(spins), rtol=0.0, atol=1e-9), \
            f"{case.name}: energies differ from the model's recomputed energies"
        _energies_match(case, result, model.to_bqm(), "IsingModel")


def check_seed_reproducible(case: ConformanceCase) -> None:
    """The same seed gives the same SampleSet; a stochastic sampler differs across seeds."""
    model = case.model_factory(3)
    first, again = case.sample(model, seed=7), case.sample(model, seed=7)
    assert first.variables == again.variables, f"{case.name}: variable order changed"
    assert np.array_equal(first.record.sample, again.record.sample), \
        f"{case.name}: the same seed gave different samples"
    assert np.array_equal(first.record.energy, again.record.energy), \
        f"{case.name}: the same seed gave different energies"
    if getattr(case.sampler, "stochastic", True):
        flat = degenerate_model()
        base = case.sample(flat, seed=11).record.sample
        others = [case.sample(flat, seed=s).record.sample for s in (12, 13)]
        assert any(not np.array_equal(base, o) for o in others), \
            f"{case.name}: different seeds gave identical samples on a model with 256 ground states"


def check_input_forms(case: ConformanceCase) -> None:
    """IsingModel, SPIN and BINARY BQMs with their own labels, sample_ising and sample_qubo."""
    model = case.model_factory(4)
    n = model.num_variables
    labels = [f"v{i}" for i in range(n)]
    spin_bqm = model.to_bqm().relabel_variables(dict(enumerate(labels)), inplace=False)
    binary_bqm = spin_bqm.change_vartype(dimod.BINARY, inplace=False)

    direct = case.sample(model, seed=5)
    in_order = dimod.BinaryQuadraticModel.from_numpy_vectors(
        model.h, (model.edges[:, 0], model.edges[:, 1], model.J), model.offset, dimod.SPIN)
    via_bqm = case.sample(in_order, seed=5)
    assert np.array_equal(_spin_matrix(direct, list(range(n))),
                          _spin_matrix(via_bqm, list(range(n)))), \
        f"{case.name}: an IsingModel and its SPIN BQM gave different samples for one seed"

    for what, bqm in (("SPIN", spin_bqm), ("BINARY", binary_bqm)):
        before = bqm.copy()
        result = case.sample(bqm, seed=5)
        assert bqm == before and list(bqm.variables) == list(before.variables), \
            f"{case.name}: sampling changed the {what} BQM it was given"
        assert result.vartype is bqm.vartype, f"{case.name}: a {what} BQM gave {result.vartype}"
        assert set(result.variables) == set(labels), \
            f"{case.name}: a {what} BQM's labels were not kept: {list(result.variables)}"
        allowed = {-1, 1} if bqm.vartype is dimod.SPIN else {0, 1}
        assert set(np.unique(result.record.sample)) <= allowed, \
            f"{case.name}: {what} samples hold values outside {sorted(allowed)}"
        _rows_ok(case, result, case.num_reads)
        _energies_match(case, result, bqm, what)

    h, J, _ = spin_bqm.to_ising()
    result = case.sampler.sample_ising(h, J, num_reads=case.num_reads, seed=5, **case.parameters)
    _energies_match(case, result, dimod.BinaryQuadraticModel.from_ising(h, J), "sample_ising")
    Q, _ = binary_bqm.to_qubo()
    result = case.sampler.sample_qubo(Q, num_reads=case.num_reads, seed=5, **case.parameters)
    assert result.vartype is dimod.BINARY, f"{case.name}: sample_qubo must give BINARY samples"
    _energies_match(case, result, dimod.BinaryQuadraticModel.from_qubo(Q), "sample_qubo")


def _expect_sampler_error(case: ConformanceCase, what: str, call: Callable[[], Any],
                          mention: str) -> None:
    try:
        call()
    except SamplerError as exc:
        assert mention in str(exc), \
            f"{case.name}: the error for {what} does not name {mention!r}: {exc}"
        return
    except Exception as exc:  # report any other type as a failure
        raise AssertionError(f"{case.name}: {what} raised {type(exc).__name__}, "
                             f"not SamplerError: {exc}") from exc
    raise AssertionError(f"{case.name}: {what} was accepted")


def check_bad_parameters(case: ConformanceCase) -> None:
    """num_reads <= 0 or not an int, a negative seed, an unknown keyword: SamplerError."""
    model = case.model_factory(1)
    bad_reads: tuple[Any, ...] = (0, -3, 2.5, "4")
    for bad in bad_reads:
        _expect_sampler_error(case, f"num_reads={bad!r}",
                              partial(case.sample, model, num_reads=bad), "num_reads")
    _expect_sampler_error(case, "seed=-1", lambda: case.sample(model, seed=-1), "seed")
    _expect_sampler_error(case, "an unknown keyword",
                          lambda: case.sample(model, no_such_parameter=1), "no_such_parameter")
    _expect_sampler_error(case, "a non-model problem",
                          lambda: case.sample({"not": "a model"}), "dict")


def check_finds_optimum(case: ConformanceCase) -> None:
    """With ``optimum_parameters`` as budget the best sample is the exact ground state."""
    if case.optimum_parameters is None:
        return
    for seed in (1, 2, 3):
        model = case.model_factory(seed)
        exact = solve_exact(model)
        result = case.sample(model, seed=seed, **case.optimum_parameters)
        best = float(np.min(result.record.energy))
        assert abs(best - exact.energy) <= 1e-9 * (1.0 + abs(exact.energy)), \
            f"{case.name}: best energy {best} on model {seed}, the ground state is {exact.energy}"


CHECKS: dict[str, Callable[[ConformanceCase], None]] = {
    "returns_sampleset": check_returns_sampleset,
    "energies_recomputed": check_energies_recomputed,
    "seed_reproducible": check_seed_reproducible,
    "input_forms": check_input_forms,
    "bad_parameters": check_bad_parameters,
    "finds_optimum": check_finds_optimum,
}


def assert_sampler_conforms(
    sampler: Any, *, small_model_factory: ModelFactory = default_small_model,
    num_reads: int = 10, parameters: Mapping[str, Any] | None = None,
    optimum_parameters: Mapping[str, Any] | None = None, finds_optimum: bool = True,
) -> None:
    """Run every check on ``sampler``; ``finds_optimum=False`` skips the optimum check."""
    case = ConformanceCase(sampler, small_model_factory, num_reads, dict(parameters or {}),
                           dict(optimum_parameters or {}) if finds_optimum else None)
    for check in CHECKS.values():
        check(case)

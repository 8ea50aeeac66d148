"""Unit tests of the samplers against independent oracles (dimod, dwave-samplers, brute force)."""

from __future__ import annotations

from typing import Any

import dimod
import numpy as np
import pytest
from dwave.samplers import SteepestDescentSolver

from poqw.errors import ProblemTooLarge, SamplerError, UnknownSampler
from poqw.problems import (
    IsingModel,
    pm_j_spin_glass,
    random_maxcut,
    random_regular_graph,
    sherrington_kirkpatrick,
    solve_exact,
)
from poqw.samplers import (
    ExactSampler,
    OceanSampler,
    RandomSampler,
    SimulatedAnnealingSampler,
    SpinReversalComposite,
    SteepestDescentSampler,
    available_samplers,
    gauge_transform,
    get_sampler,
    polish,
    polish_reference,
    register_sampler,
    registry,
    spins_and_energies,
)


def _random_spins(seed: int, k: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(np.array([-1, 1], dtype=np.int8), size=(k, n))


def _single_flip_deltas(model: IsingModel, s: np.ndarray) -> np.ndarray:
    flipped = np.repeat(s[None, :], model.num_variables, axis=0)
    flipped[np.arange(model.num_variables), np.arange(model.num_variables)] *= -1
    return model.energies(flipped) - model.energy(s)


# ---- steepest descent ---------------------------------------------------------------------

MODELS = {
    "sk-gaussian-20": lambda: sherrington_kirkpatrick(20, seed=3),
    "pmj-fields-3reg-30": lambda: pm_j_spin_glass(random_regular_graph(3, 30, seed=4), seed=4,
                                                  field=True),
    "maxcut-3reg-40": lambda: random_maxcut(3, 40, seed=5),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_polish_fast_kernel_equals_reference(name: str) -> None:
    model = MODELS[name]()
    starts = _random_spins(1, 12, model.num_variables)
    fast = polish(model, starts)
    assert np.array_equal(fast, polish_reference(model, starts))
    assert np.array_equal(starts, _random_spins(1, 12, model.num_variables)), "input modified"


@pytest.mark.parametrize("name", list(MODELS))
def test_polish_reaches_local_minima_without_raising_energy(name: str) -> None:
    model = MODELS[name]()
    starts = _random_spins(2, 6, model.num_variables)
    out = polish(model, starts)
    assert np.all(model.energies(out) <= model.energies(starts) + 1e-12)
    for row in out:
        assert _single_flip_deltas(model, row).min() >= -1e-9
    assert np.array_equal(polish(model, out), out), "a local minimum must stay put"
    assert np.array_equal(polish(model, starts[0]), out[0]), "a single (n,) vector works"


def test_polish_matches_dwave_steepest_descent() -> None:
    # Gaussian couplings and fields: no ties, so the steepest path is unique
    rng = np.random.default_rng(9)
    graph = random_regular_graph(4, 60, seed=9)
    edges = np.array(sorted(graph.edges()), dtype=np.int64)
    model = IsingModel.from_arrays(rng.normal(size=60), edges, rng.normal(size=len(edges)))
    starts = _random_spins(3, 8, 60)
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(
        model.h, (edges[:, 0], edges[:, 1], model.J), 0.0, dimod.SPIN)
    theirs = SteepestDescentSolver().sample(bqm, initial_states=(starts, list(range(60))))
    their_spins, _ = spins_and_energies(theirs, model)
    assert np.array_equal(polish(model, starts), their_spins)


def test_polish_rejects_bad_spins() -> None:
    model = random_maxcut(3, 8, seed=1)
    with pytest.raises(SamplerError, match="shape"):
        polish(model, np.ones((2, 7)))
    with pytest.raises(SamplerError, match=r"\+1 or -1"):
        polish(model, np.zeros((2, 8)))


def test_steepest_descent_initial_states_are_descended() -> None:
    model = random_maxcut(3, 16, seed=2)
    starts = _random_spins(4, 5, 16)
    result = SteepestDescentSampler().sample(model, initial_states=starts)
    spins, energies = spins_and_energies(result, model)
    assert np.array_equal(spins, polish_reference(model, starts))
    assert np.allclose(energies, model.energies(spins))
    with pytest.raises(SamplerError, match="initial_states has 5 rows"):
        SteepestDescentSampler().sample(model, num_reads=3, initial_states=starts)


# ---- exact, random ------------------------------------------------------------------------

def test_exact_sampler_lists_lowest_states_like_dimod_exact_solver() -> None:
    model = pm_j_spin_glass(random_regular_graph(3, 10, seed=6), seed=6, field=True)
    oracle = np.sort(dimod.ExactSolver().sample(model.to_bqm()).record.energy)
    result = ExactSampler().sample(model, num_reads=40)
    assert np.allclose(result.record.energy, oracle[:40])
    spins, _ = spins_and_energies(result, model)
    assert len({row.tobytes() for row in spins}) == 40, "states must be distinct"


def test_exact_sampler_default_returns_every_ground_state() -> None:
    model = random_maxcut(3, 12, seed=7)  # no fields: states come in flipped pairs
    oracle = dimod.ExactSolver().sample(model.to_bqm()).record.energy
    ground = np.isclose(oracle, oracle.min())
    result = ExactSampler().sample(model)
    assert len(result) == int(ground.sum()) >= 2
    assert np.allclose(result.record.energy, oracle.min())
    assert result.info["num_ground_states"] == int(ground.sum())


def test_exact_sampler_refuses_large_models() -> None:
    with pytest.raises(ProblemTooLarge, match="max_variables=10"):
        ExactSampler(max_variables=10).sample(random_maxcut(3, 12, seed=1), num_reads=1)
    with pytest.raises(SamplerError, match="max_variables"):
        ExactSampler(max_variables=99)


def test_random_sampler_is_roughly_uniform() -> None:
    model = random_maxcut(3, 8, seed=1)
    spins, _ = spins_and_energies(RandomSampler().sample(model, num_reads=4000, seed=1), model)
    mean = spins.mean(axis=0)
    assert np.all(np.abs(mean) < 0.1), mean  # 5 sigma is 0.079


# ---- simulated annealing ------------------------------------------------------------------

def test_simulated_annealing_finds_exact_optimum() -> None:
    model = pm_j_spin_glass(random_regular_graph(3, 20, seed=8), seed=8, field=True)
    exact = solve_exact(model)
    result = SimulatedAnnealingSampler().sample(model, num_reads=16, num_sweeps=500, seed=2)
    assert result.first.energy == pytest.approx(exact.energy)


def test_simulated_annealing_seed_none_is_replayable_from_info() -> None:
    model = random_maxcut(3, 30, seed=1)
    sampler = SimulatedAnnealingSampler()
    first = sampler.sample(model, num_reads=4, num_sweeps=50)
    again = sampler.sample(model, num_reads=4, num_sweeps=50, seed=first.info["seed"])
    assert np.array_equal(first.record.sample, again.record.sample)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"num_sweeps": 0}, "num_sweeps"),
        ({"beta_range": (2.0, 1.0)}, "beta_range"),
        ({"beta_range": "hot"}, "beta_range"),
        ({"beta_schedule_type": "cubic"}, "beta_schedule_type"),
        ({"num_threads": 0}, "num_threads"),
    ],
)
def test_simulated_annealing_rejects_bad_schedule(params: dict[str, Any], message: str) -> None:
    with pytest.raises(SamplerError, match=message):
        SimulatedAnnealingSampler().sample(random_maxcut(3, 8, seed=1), num_reads=2, **params)


def test_samplers_handle_an_empty_model() -> None:
    empty = IsingModel.from_arrays(np.zeros(0), np.zeros((0, 2)), np.zeros(0), offset=2.0)
    for sampler in (SimulatedAnnealingSampler(), SteepestDescentSampler(), RandomSampler()):
        result = sampler.sample(empty, num_reads=3, seed=1)
        assert len(result) == 3
        assert np.all(result.record.energy == 2.0)


# ---- sample sets, adapters, composites ----------------------------------------------------

def test_spins_and_energies_reorders_labels_and_expands_occurrences() -> None:
    model = random_maxcut(3, 6, seed=3)
    spins = _random_spins(5, 4, 6)
    order = [3, 0, 5, 1, 4, 2]
    binary = ((spins[:, order] + 1) // 2).astype(np.int8)
    record_set = dimod.SampleSet.from_samples((binary, order), dimod.BINARY, energy=np.zeros(4),
                                              num_occurrences=np.array([1, 2, 1, 3]))
    got, energies = spins_and_energies(record_set, model)
    expected = np.repeat(spins, [1, 2, 1, 3], axis=0)
    assert np.array_equal(got, expected)
    assert np.allclose(energies, [model.energy(s) for s in expected])


def test_gauge_transform_preserves_energies() -> None:
    model = pm_j_spin_glass(random_regular_graph(3, 12, seed=2), seed=2, field=True)
    gauge = _random_spins(6, 1, 12)[0]
    spins = _random_spins(7, 20, 12)
    assert np.allclose(gauge_transform(model, gauge).energies(spins * gauge),
                       model.energies(spins))


def test_spin_reversal_composite_unapplies_the_gauge() -> None:
    model = pm_j_spin_glass(random_regular_graph(3, 10, seed=3), seed=3, field=True)
    composite = SpinReversalComposite(ExactSampler())
    result = composite.sample(model, num_reads=4, num_spin_reversal_transforms=2, seed=3)
    # every transform's best state is the unique ground state of the original model
    assert np.allclose(result.record.energy[[0, 2]], solve_exact(model).energy)
    with pytest.raises(SamplerError, match="num_spin_reversal_transforms"):
        composite.sample(model, num_reads=4, num_spin_reversal_transforms=0)


class _AggregatingSampler(dimod.Sampler):
    """A dimod sampler that lies about energies and aggregates repeated samples."""

    @property
    def parameters(self) -> dict[str, list[str]]:
        return {}

    @property
    def properties(self) -> dict[str, Any]:
        return {}

    def sample(self, bqm: Any, **kwargs: Any) -> dimod.SampleSet:
        labels = list(bqm.variables)
        rows = np.array([[1] * len(labels), [-1] * len(labels)], dtype=np.int8)
        return dimod.SampleSet.from_samples((rows, labels), dimod.SPIN, energy=[123.0, 456.0],
                                            num_occurrences=[2, 1])


def test_ocean_sampler_recomputes_energies_and_expands_aggregates() -> None:
    model = random_maxcut(3, 6, seed=4)
    result = OceanSampler(_AggregatingSampler()).sample(model, num_reads=3)
    assert len(result) == 3
    assert np.allclose(result.record.energy, model.energies(result.record.sample))
    with pytest.raises(SamplerError, match="dimod.Sampler"):
        OceanSampler(object())


def test_ocean_sampler_without_num_reads_returns_all_child_rows() -> None:
    model = random_maxcut(3, 6, seed=4)
    everything = OceanSampler(dimod.ExactSolver()).sample(model)
    assert len(everything) == 64
    assert np.allclose(np.sort(everything.record.energy),
                       np.sort(dimod.ExactSolver().sample(model.to_bqm()).record.energy))


def test_ocean_composites_accept_poqw_samplers() -> None:
    model = random_maxcut(3, 10, seed=1)
    truncated = dimod.TruncateComposite(SimulatedAnnealingSampler(), 3).sample(
        model.to_bqm(), num_reads=10, num_sweeps=100, seed=1)
    assert len(truncated) == 3
    assert np.allclose(truncated.record.energy, model.to_bqm().energies(truncated))


# ---- registry -----------------------------------------------------------------------------

def test_registry_names_and_errors() -> None:
    assert available_samplers()[:5] == ["exact", "random", "steepest-descent",
                                        "simulated-annealing", "qaoa"]
    assert isinstance(get_sampler("steepest-descent"), SteepestDescentSampler)
    assert get_sampler("exact", max_variables=8).max_variables == 8
    with pytest.raises(UnknownSampler, match="available: exact, random"):
        get_sampler("quantum-magic")
    with pytest.raises(SamplerError, match="does not take"):
        get_sampler("random", colour="blue")


def test_register_sampler_loads_lazily_and_reports_broken_targets(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register_sampler("test-broken", "poqw.samplers.no_such_module:Nothing")
    with pytest.raises(SamplerError, match="cannot be loaded"):
        get_sampler("test-broken")
    with pytest.raises(SamplerError, match="already registered"):
        register_sampler("exact", "poqw.samplers.simple:RandomSampler")
    with pytest.raises(SamplerError, match="module:Class"):
        register_sampler("test-bad", "no-colon")


def test_integer_labels_in_any_order_keep_their_meaning() -> None:
    model = pm_j_spin_glass(random_regular_graph(3, 10, seed=5), seed=5, field=True)
    bqm = model.to_bqm()
    shuffled = dimod.BinaryQuadraticModel(dimod.SPIN)
    for v in [7, 2, 9, 0, 4, 1, 8, 3, 6, 5]:
        shuffled.add_variable(v, bqm.get_linear(v))
    for (u, v), w in bqm.quadratic.items():
        shuffled.add_interaction(u, v, w)
    shuffled.offset = bqm.offset
    result = SimulatedAnnealingSampler().sample(shuffled, num_reads=8, num_sweeps=200, seed=1)
    assert set(result.variables) == set(range(10))
    spins, energies = spins_and_energies(result, model)
    assert np.allclose(result.record.energy, energies)
    assert np.allclose(energies, bqm.energies((spins, list(range(10)))))
    assert result.first.energy == pytest.approx(solve_exact(model).energy)


def test_exact_sampler_rejects_bad_atol() -> None:
    with pytest.raises(SamplerError, match="atol"):
        ExactSampler().sample(random_maxcut(3, 6, seed=1), atol="loose")


def test_csr_arrays_match_scipy_adjacency() -> None:
    from poqw.samplers.descent import csr_arrays

    model = pm_j_spin_glass(random_regular_graph(3, 30, seed=6), seed=6)
    indptr, indices, weights = csr_arrays(model)
    reference = model.adjacency()
    reference.sort_indices()
    assert np.array_equal(indptr, reference.indptr)
    assert np.array_equal(indices, reference.indices)
    assert np.array_equal(weights, reference.data)

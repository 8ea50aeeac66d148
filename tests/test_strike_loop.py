"""``poqw.strike.solve``: optimum on small graphs, reproducibility, budgets, fallback, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from poqw.errors import ConfigError
from poqw.problems import (
    erdos_renyi_graph,
    maxcut_to_ising,
    pm_j_spin_glass,
    random_maxcut,
    random_regular_graph,
    solve_exact,
)
from poqw.sim.statevector import MAX_STATEVECTOR_QUBITS
from poqw.strike import ProgressUpdate, solve


class FakeClock:
    """Advances a fixed step on every read: a deterministic stand-in for perf_counter."""

    def __init__(self, step: float = 0.01) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n", [10, 14])
def test_qaoa_alone_finds_the_exact_optimum(n: int, seed: int) -> None:
    model = random_maxcut(3, n, seed=seed)
    exact = solve_exact(model)
    result = solve(model, p=2, shots=32, max_strikes=20, seed=seed, samplers=("qaoa",),
                   target_energy=exact.energy, clock=FakeClock())
    assert result.energy == pytest.approx(exact.energy)
    assert model.energy(result.solution) == pytest.approx(result.energy)
    assert result.found_by == "qaoa" and result.stopped_by == "target"
    assert set(result.allocation) == {"qaoa"}


@pytest.mark.parametrize("seed", [4, 5])
def test_default_solve_on_an_erdos_renyi_graph_and_a_spin_glass(seed: int) -> None:
    for model in (maxcut_to_ising(erdos_renyi_graph(12, 0.5, seed=seed)),
                  pm_j_spin_glass(random_regular_graph(3, 12, seed=seed), seed=seed, field=True)):
        exact = solve_exact(model)
        result = solve(model, max_strikes=12, seed=seed, clock=FakeClock())
        assert result.energy == pytest.approx(exact.energy)
        assert result.found_by in {"qaoa", "simulated-annealing"}
        assert sum(a.strikes for a in result.allocation.values()) == result.strikes == 12
        assert model.energy(result.solution) == pytest.approx(result.energy)


def test_the_qaoa_stream_improves_on_the_warm_start_from_noisy_samples() -> None:
    # On 3-regular graphs the published p=1 angles are already optimal (every edge sees the
    # same light cone); an Erdős–Rényi graph leaves the controller room: warm start -15.98,
    # grid optimum of <H> at p=1 about -16.36.
    model = maxcut_to_ising(erdos_renyi_graph(10, 0.5, seed=1))
    result = solve(model, p=1, shots=512, max_strikes=25, seed=7, samplers=("qaoa",),
                   objective="mean", clock=FakeClock())
    expectations = [r.expectation for r in result.history if r.expectation is not None]
    assert len(expectations) == 25
    assert min(expectations) < expectations[0] - 0.2
    assert result.best_angles is not None and len(result.best_angles) == 2


def test_same_seed_same_result_with_a_fake_clock() -> None:
    model = random_maxcut(3, 12, seed=8)

    def run() -> dict:
        r = solve(model, p=2, max_strikes=15, seed=42, clock=FakeClock(),
                  samplers=("qaoa", "simulated-annealing", "steepest-descent"))
        doc = r.to_dict(history=True)
        doc["sampled"] = [rec.sampled_energies.tolist() for rec in r.history]
        return doc

    first, second = run(), run()
    assert first == second
    assert json.loads(json.dumps(first)) == first  # JSON-ready
    other = solve(model, p=2, max_strikes=15, seed=43, clock=FakeClock(),
                  samplers=("qaoa", "simulated-annealing", "steepest-descent"))
    assert [r.sampled_energies.tolist() for r in other.history] != first["sampled"]


def test_time_limit_stops_the_loop_on_the_injected_clock() -> None:
    model = random_maxcut(3, 10, seed=9)
    clock = FakeClock(step=0.25)
    result = solve(model, time_limit=5.0, seed=1, clock=clock)
    assert result.stopped_by == "time_limit"
    assert 1 <= result.strikes <= 20
    assert result.history[-1].time < 5.0 + 1.0


def test_progress_callback_sees_every_strike_in_order() -> None:
    seen: list[ProgressUpdate] = []
    model = random_maxcut(3, 10, seed=10)
    result = solve(model, max_strikes=6, seed=1, progress=seen.append, clock=FakeClock())
    assert [u.record.index for u in seen] == list(range(6))
    assert [u.record.best_energy for u in seen] == [r.best_energy for r in result.history]
    bests = [u.record.best_energy for u in seen]
    assert bests == sorted(bests, reverse=True)
    assert all(u.max_strikes == 6 for u in seen)


@pytest.mark.parametrize("controller", ["fixed", "random", "nelder-mead", "spsa"])
def test_every_controller_runs_the_loop(controller: str) -> None:
    model = random_maxcut(3, 10, seed=11)
    result = solve(model, p=1, max_strikes=8, seed=2, controller=controller,
                   samplers=("qaoa",), clock=FakeClock())
    assert result.energy == pytest.approx(solve_exact(model).energy)
    assert result.controller == controller and result.strikes == 8


def test_above_the_state_vector_limit_it_falls_back_to_classical_and_says_so() -> None:
    n = MAX_STATEVECTOR_QUBITS + 2
    model = random_maxcut(3, n, seed=12)
    result = solve(model, max_strikes=4, seed=3, clock=FakeClock(), backend="statevector")
    assert "qaoa" not in result.allocation
    assert any("QAOA skipped" in note and "classical" in note for note in result.notes)
    assert result.found_by == "simulated-annealing"
    assert model.energy(result.solution) == pytest.approx(result.energy)
    only_qaoa = solve(model, max_strikes=2, seed=3, samplers=("qaoa",), clock=FakeClock(),
                      backend="statevector")
    assert set(only_qaoa.allocation) == {"simulated-annealing"}
    assert len(only_qaoa.notes) == 2
    # Past our own cap, the engine's limit still stops it before any allocation.
    engine_limit = solve(model, max_strikes=1, seed=3, max_qubits=n + 10, clock=FakeClock(),
                         backend="statevector")
    assert "qaoa" not in engine_limit.allocation
    assert [n for n in engine_limit.notes if "QAOA skipped" in n and "max_qubits" not in n]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_allocator_gives_most_strikes_to_the_better_sampler(seed: int) -> None:
    # On a 200-node graph annealing (-272 or so) beats polished random starts (-265 or so);
    # with every strike taking the same fake time, annealing's rewards win it the budget.
    model = random_maxcut(3, 200, seed=seed)
    result = solve(model, samplers=("random", "simulated-annealing"), max_strikes=30, shots=16,
                   seed=seed, clock=FakeClock(),
                   sampler_options={"simulated-annealing": {"num_sweeps": 200}})
    sa, rnd = result.allocation["simulated-annealing"], result.allocation["random"]
    assert sa.strikes > 2 * rnd.strikes and rnd.strikes >= 2
    assert result.found_by == "simulated-annealing" and sa.best_energy < rnd.best_energy


def test_max_qubits_caps_the_state_vector() -> None:
    model = random_maxcut(3, 10, seed=13)
    result = solve(model, max_strikes=3, seed=1, max_qubits=8, clock=FakeClock(),
                   backend="statevector")
    assert set(result.allocation) == {"simulated-annealing"}
    assert any("max_qubits=8" in note for note in result.notes)
    assert result.energy == pytest.approx(solve_exact(model).energy)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p": 0}, "p must be"),
        ({"p": 1.5}, "p must be"),
        ({"shots": 0}, "shots must be"),
        ({"max_strikes": 0}, "max_strikes"),
        ({"time_limit": -1.0}, "time_limit"),
        ({"controller": "gradient"}, "unknown controller"),
        ({"objective": "median"}, "unknown objective"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"samplers": ()}, "samplers"),
        ({"samplers": "qaoa"}, "samplers"),
        ({"samplers": ("qaoa", "qaoa")}, "repeat"),
        ({"samplers": ("qaoa", "no-such-sampler")}, "no-such-sampler"),
        ({"target_energy": float("nan")}, "target_energy"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        solve(random_maxcut(3, 8, seed=0), **{"max_strikes": 2, **kwargs})


def test_a_non_model_is_refused() -> None:
    with pytest.raises(ConfigError, match="IsingModel"):
        solve({"h": [1.0]}, max_strikes=1)  # type: ignore[arg-type]


def test_solution_is_read_only_int8() -> None:
    result = solve(random_maxcut(3, 8, seed=1), max_strikes=2, seed=0, clock=FakeClock())
    assert result.solution.dtype == np.int8 and not result.solution.flags.writeable

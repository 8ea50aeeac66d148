"""Controllers (Bayes, fixed, random, Nelder–Mead, SPSA) and the budget allocator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from poqw.errors import ConfigError
from poqw.problems import energy_diagonal, erdos_renyi_graph, maxcut_to_ising, random_maxcut
from poqw.sim.reference import qaoa_state_reference
from poqw.strike.allocator import BudgetAllocator, improvement_reward
from poqw.strike.angles import AngleDomain, angle_domain, interp_angles, warm_start_angles
from poqw.strike.controllers import (
    BayesController,
    Controller,
    make_controller,
    ramp_angles,
)

MODEL = random_maxcut(3, 8, seed=4)
DIAG = energy_diagonal(MODEL)


def expectation(x: np.ndarray, diag: np.ndarray = DIAG) -> float:
    """<H> of the QAOA state at angles x, from the numpy reference simulator."""
    p = len(x) // 2
    psi = qaoa_state_reference(diag, x[:p], x[p:])
    return float(np.dot(np.abs(psi) ** 2, diag))


def run(controller: Controller, steps: int, diag: np.ndarray = DIAG) -> list[float]:
    values = []
    for _ in range(steps):
        x = controller.ask()
        values.append(expectation(x, diag))
        controller.tell(x, values[-1])
    return values


def grid_optimum_p1(domain: AngleDomain, diag: np.ndarray = DIAG, points: int = 90) -> float:
    """Brute grid over one period of (gamma, beta): the true p=1 optimum to within the grid."""
    gammas = np.linspace(0, domain.gamma_period, points, endpoint=False)
    betas = np.linspace(0, domain.beta_period, points // 2, endpoint=False)
    return min(expectation(np.array([g, b]), diag) for g in gammas for b in betas)


@pytest.mark.parametrize("graph", ["3-regular", "erdos-renyi"])
def test_bayes_improves_on_the_warm_start_and_nears_the_grid_optimum_at_p1(graph: str) -> None:
    model = MODEL if graph == "3-regular" else maxcut_to_ising(erdos_renyi_graph(10, 0.5, 1))
    diag = energy_diagonal(model)
    domain = angle_domain(model)
    ctrl = make_controller("bayes", domain, 1, np.random.default_rng(0),
                           lambda p: warm_start_angles(model, p))
    values = run(ctrl, 20, diag)
    optimum = grid_optimum_p1(domain, diag)
    assert min(values) <= values[0] + 1e-12
    if graph == "erdos-renyi":  # the published angles are not optimal here (-15.98 vs -16.36)
        assert min(values) < values[0] - 0.2
    # Within 2% of the range of the landscape sampled, of the grid optimum.
    assert min(values) <= optimum + 0.02 * (max(values) - optimum)


def test_bayes_from_a_random_start_finds_the_p1_optimum() -> None:
    domain = angle_domain(MODEL)
    ctrl = BayesController(domain, 1, rng=np.random.default_rng(1), warm_start=None)
    values = run(ctrl, 25)
    optimum = grid_optimum_p1(domain)
    assert min(values) <= optimum + 0.02 * (max(values) - optimum)


def test_bayes_grows_depth_by_interp() -> None:
    domain = angle_domain(MODEL)
    ctrl = BayesController(domain, 3, rng=np.random.default_rng(2), strikes_per_depth=4)
    run(ctrl, 4)
    assert ctrl.depth == 2
    best_p1 = min(ctrl.observed[:4], key=lambda item: item[1])[0]
    assert np.allclose(ctrl.ask(), domain.wrap(interp_angles(best_p1)))
    run(ctrl, 4)
    assert ctrl.depth == 3 and len(ctrl.ask()) == 6
    run(ctrl, 6)
    assert ctrl.depth == 3  # never beyond p


def test_deeper_circuits_do_better_under_bayes() -> None:
    domain = angle_domain(MODEL)
    shallow = run(BayesController(domain, 1, rng=np.random.default_rng(3)), 24)
    deep = run(BayesController(domain, 2, rng=np.random.default_rng(3), strikes_per_depth=12), 24)
    assert min(deep) < min(shallow)


def test_fixed_controller_repeats_its_angles() -> None:
    domain = angle_domain(MODEL)
    ctrl = make_controller("fixed", domain, 2, np.random.default_rng(0), None)
    first = ctrl.ask()
    ctrl.tell(first, 1.0)
    assert np.allclose(ctrl.ask(), first)
    assert np.allclose(first, domain.wrap(ramp_angles(2)))


def test_random_controller_covers_the_box() -> None:
    domain = angle_domain(MODEL)
    ctrl = make_controller("random", domain, 2, np.random.default_rng(0))
    xs = np.array([ctrl.ask() for _ in range(400)])
    assert np.all(xs >= 0) and np.all(xs < domain.widths(2))
    assert np.allclose(xs.mean(axis=0), domain.widths(2) / 2, rtol=0.15)


@pytest.mark.parametrize("name", ["nelder-mead", "spsa"])
def test_naive_optimisers_improve_the_expectation(name: str) -> None:
    domain = angle_domain(MODEL)
    poor_start = np.array([1.0, 1.0])  # away from the stationary point at the origin
    ctrl = make_controller(name, domain, 1, np.random.default_rng(5), lambda p: poor_start)
    values = run(ctrl, 60)
    start = expectation(poor_start)
    optimum = grid_optimum_p1(domain)
    assert min(values[30:]) < start - 0.5 * (start - optimum)


def test_nelder_mead_minimises_a_quadratic() -> None:
    domain = AngleDomain(math.inf, math.inf, 10.0, 10.0)
    ctrl = make_controller("nelder-mead", domain, 1, np.random.default_rng(0), lambda p: None)
    target = np.array([0.3, 0.4])
    for _ in range(80):
        x = ctrl.ask()
        ctrl.tell(x, float(((x - target) ** 2).sum()))
    assert np.allclose(ctrl.best[0], target, atol=0.01)


def test_controller_misuse_is_refused() -> None:
    domain = angle_domain(MODEL)
    with pytest.raises(ConfigError, match="unknown controller"):
        make_controller("gradient", domain, 1, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="positive integer"):
        make_controller("bayes", domain, 0, np.random.default_rng(0))
    ctrl = make_controller("bayes", domain, 1, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="finite"):
        ctrl.tell(ctrl.ask(), math.nan)
    with pytest.raises(ConfigError, match="no observation"):
        _ = make_controller("random", domain, 1, np.random.default_rng(0)).best


# ---- the budget allocator ---------------------------------------------------------------------


def simulate(allocator: BudgetAllocator, arms: dict[str, tuple[float, float]], rounds: int,
             seed: int) -> None:
    """Arms as (success probability per pull, seconds per pull); success = reward 1."""
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        name = allocator.choose()
        prob, seconds = arms[name]
        reward = 1.0 if rng.random() < prob else 0.0
        allocator.update(name, seconds, reward, -reward)


@pytest.mark.parametrize("seed", range(4))
def test_allocator_shifts_to_the_arm_with_more_reward(seed: int) -> None:
    allocator = BudgetAllocator(["weak", "strong"])
    simulate(allocator, {"weak": (0.1, 1.0), "strong": (0.6, 1.0)}, 300, seed)
    assert allocator.arms["strong"].pulls > 0.75 * 300
    assert allocator.arms["weak"].pulls >= 3  # still explored


@pytest.mark.parametrize("seed", range(4))
def test_allocator_shifts_to_the_faster_arm_at_equal_reward_per_pull(seed: int) -> None:
    allocator = BudgetAllocator(["slow", "fast"])
    simulate(allocator, {"slow": (0.5, 1.0), "fast": (0.5, 0.1)}, 300, seed)
    assert allocator.arms["fast"].pulls > 0.8 * 300
    assert allocator.arms["fast"].seconds > allocator.arms["slow"].seconds * 0.5


def test_allocator_follows_a_change_of_arm_quality() -> None:
    allocator = BudgetAllocator(["a", "b"])
    simulate(allocator, {"a": (0.7, 1.0), "b": (0.1, 1.0)}, 200, 0)
    before = allocator.arms["b"].pulls
    simulate(allocator, {"a": (0.0, 1.0), "b": (0.7, 1.0)}, 200, 1)
    assert allocator.arms["b"].pulls - before > 120


def test_improvement_reward() -> None:
    assert improvement_reward(-5.0, None, 1.0) == 1.0
    assert improvement_reward(-6.0, -5.0, 1.0) == 1.0
    assert improvement_reward(-5.0, -5.0, 1.0) == 0.5
    assert improvement_reward(-3.0, -5.0, 1.0) == pytest.approx(0.125)


def test_allocator_misuse_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least one arm"):
        BudgetAllocator([])
    with pytest.raises(ConfigError, match="distinct"):
        BudgetAllocator(["a", "a"])
    allocator = BudgetAllocator(["a"])
    with pytest.raises(ConfigError, match="unknown arm"):
        allocator.update("b", 1.0, 0.5, 0.0)
    with pytest.raises(ConfigError, match="reward"):
        allocator.update("a", 1.0, 2.0, 0.0)
    allocator.disable("a")
    with pytest.raises(ConfigError, match="disabled"):
        allocator.choose()

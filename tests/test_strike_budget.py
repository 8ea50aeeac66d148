"""The strike loop's hard time limit: cost models, the scheduler's deadline arithmetic on an
injected clock, QAOA's share of the time, the classical first strike, and finite JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from poqw.errors import ConfigError
from poqw.problems import random_maxcut
from poqw.strike import BudgetAllocator, solve
from poqw.strike.arms import ClassicalArm
from poqw.strike.budget import SAFETY, CostModel, TimeBudget
from poqw.strike.scheduler import Scheduler


def reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} in JSON")


# ---- cost models ------------------------------------------------------------------------------


def test_cost_model_fits_a_fixed_part_and_a_part_per_read() -> None:
    cost = CostModel()
    assert cost.predict(5) == math.inf and cost.reads_within(100.0, 64) == 0
    cost.observe(1, 0.3)  # one size only: proportional above, flat below
    assert cost.predict(4) == pytest.approx(SAFETY * 1.2)
    assert cost.predict(1) == pytest.approx(SAFETY * 0.3)
    cost.observe(11, 1.3)  # the line 0.2 + 0.1 * reads
    assert cost.predict(5) == pytest.approx(SAFETY * 0.7)
    assert cost.reads_within(SAFETY * 0.7, 64) == 5
    assert cost.reads_within(SAFETY * 0.7 - 1e-9, 64) == 4
    assert cost.reads_within(1000.0, 64) == 64
    assert cost.reads_within(SAFETY * 0.29, 64) == 0  # not even one read


def test_a_strike_whose_cost_does_not_grow_with_reads_is_charged_its_worst() -> None:
    cost = CostModel()
    cost.observe(1, 0.5)
    cost.observe(64, 0.4)
    assert cost.predict(32) == pytest.approx(SAFETY * 0.5)


def test_time_budget_shares_and_the_untimed_rule() -> None:
    budget = TimeBudget(start=100.0, time_limit=10.0, shares={"qaoa": 0.25})
    assert budget.remaining(104.0) == 6.0 and not budget.expired(109.9)
    assert budget.expired(110.0) and budget.remaining(120.0) == 0.0
    assert budget.allowance("sa", 0.0, 104.0) == 6.0
    assert budget.allowance("qaoa", 1.0, 104.0) == 1.5  # 2.5 s of 10, 1 s spent
    assert budget.allowance("qaoa", 3.0, 104.0) == 0.0
    untimed = TimeBudget(start=0.0, time_limit=None, shares={"qaoa": 0.25})
    assert untimed.allowance("qaoa", 0.0, 0.1) == math.inf  # its first strike
    assert untimed.allowance("qaoa", 1.0, 8.0) == math.inf  # 1 s of 8 elapsed
    assert untimed.allowance("qaoa", 3.0, 8.0) == 0.0
    with pytest.raises(ConfigError, match="share"):
        TimeBudget(0.0, 1.0, {"qaoa": 1.5})


# ---- the scheduler against a fake cost model ---------------------------------------------------


@dataclass
class FakeArm:
    """An arm whose strikes cost ``fixed + per_read * reads`` seconds of the injected clock."""

    name: str
    fixed: float
    per_read: float

    def cost(self, reads: int) -> float:
        return self.fixed + self.per_read * reads


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_fake(arms: list[FakeArm], time_limit: float, rewards: dict[str, float],
             shares: dict[str, float] | None = None, shots: int = 64,
             ) -> tuple[ManualClock, BudgetAllocator, list[tuple[str, int]]]:
    clock = ManualClock()
    by_name = {a.name: a for a in arms}
    allocator = BudgetAllocator(list(by_name))
    budget = TimeBudget(clock(), time_limit, shares)
    scheduler = Scheduler(dict(by_name), allocator, budget, shots=shots, p=1, clock=clock,
                          notes=[], fallback=lambda: pytest.fail("no fallback expected"),
                          untimed_prepare=60.0)
    strikes: list[tuple[str, int]] = []
    while not (strikes and budget.expired(clock())):
        plan = scheduler.next_strike(first=not strikes)
        if plan is None:
            break
        name, reads = plan
        seconds = by_name[name].cost(reads)
        clock.now += seconds
        scheduler.record(name, reads, seconds)
        allocator.update(name, seconds, rewards[name], -rewards[name])
        strikes.append(plan)
    return clock, allocator, strikes


@pytest.mark.parametrize("time_limit", [0.05, 1.0, 7.3, 60.0])
def test_no_strike_runs_past_the_deadline_and_little_time_is_left(time_limit: float) -> None:
    sa = FakeArm("simulated-annealing", fixed=0.01, per_read=0.02)
    clock, _, strikes = run_fake([sa], time_limit, {"simulated-annealing": 0.5})
    assert strikes[0] == ("simulated-annealing", 1)  # the probe goes at once
    if time_limit > sa.cost(1):
        assert clock.now <= time_limit + 1e-12
        # what is left cannot hold one more read (with the safety margin)
        assert time_limit - clock.now < SAFETY * sa.cost(1) + 1e-12
    assert sum(r for _, r in strikes) > 1 or time_limit < 3 * sa.cost(1)


def test_the_first_strike_goes_ahead_even_past_a_tiny_limit() -> None:
    sa = FakeArm("simulated-annealing", fixed=0.5, per_read=0.5)
    clock, _, strikes = run_fake([sa], 0.001, {"simulated-annealing": 0.5})
    assert strikes == [("simulated-annealing", 1)] and clock.now == 1.0


def test_qaoa_keeps_to_its_share_even_when_it_wins_every_strike() -> None:
    arms = [FakeArm("simulated-annealing", 0.01, 0.01), FakeArm("qaoa", 0.2, 0.001)]
    clock, allocator, strikes = run_fake(arms, 20.0, {"simulated-annealing": 0.0, "qaoa": 1.0},
                                         shares={"qaoa": 0.25})
    assert clock.now <= 20.0
    assert allocator.arms["qaoa"].seconds <= 0.25 * 20.0 + 1e-9
    assert allocator.arms["simulated-annealing"].seconds >= 0.7 * 20.0  # never starved
    assert strikes[0][0] == "simulated-annealing"


# ---- solve() on an injected clock --------------------------------------------------------------


class JumpClock:
    """Reads 0 until armed, then jumps ``after`` seconds on every read: time runs out at once."""

    def __init__(self, after: float) -> None:
        self.now = 0.0
        self.after = after

    def __call__(self) -> float:
        value = self.now
        self.now += self.after
        return value


def test_the_classical_arm_strikes_first_and_json_stays_finite() -> None:
    # 30 variables: QAOA on tensor networks, whose preparation is the slow part.
    model = random_maxcut(3, 30, seed=1)
    result = solve(model, time_limit=1.0, seed=2, max_bond=8, clock=JumpClock(10.0))
    assert result.history[0].sampler == "simulated-annealing"
    assert result.strikes == 1 and result.stopped_by == "time_limit"
    assert model.energy(result.solution) == pytest.approx(result.energy)
    text = json.dumps(result.to_dict(history=True))
    doc = json.loads(text, parse_constant=reject_constant)
    assert doc["allocation"]["qaoa"]["best_energy"] is None  # it never struck
    assert doc["allocation"]["simulated-annealing"]["best_energy"] == result.energy


def test_the_answer_is_never_worse_than_the_annealing_arms() -> None:
    model = random_maxcut(3, 40, seed=3)
    result = solve(model, max_strikes=6, seed=1, max_bond=8)
    sa = result.allocation["simulated-annealing"]
    assert sa.strikes >= 1 and result.energy <= sa.best_energy


def test_annealing_makes_the_same_draws_alone_and_beside_qaoa() -> None:
    model = random_maxcut(3, 60, seed=4)
    alone = solve(model, samplers=("simulated-annealing",), max_strikes=1, seed=7)
    shared = solve(model, max_strikes=1, seed=7, max_bond=8)
    assert shared.history[0].sampler == "simulated-annealing"
    assert np.array_equal(alone.history[0].polished_energies,
                          shared.history[0].polished_energies)


def test_a_qaoa_only_run_that_cannot_prepare_falls_back_to_annealing() -> None:
    model = random_maxcut(3, 200, seed=5)
    result = solve(model, samplers=("qaoa",), time_limit=0.5, seed=1, clock=JumpClock(0.01))
    assert result.strikes >= 1 and result.found_by == "simulated-annealing"
    assert any("QAOA skipped" in note for note in result.notes)
    assert any("using simulated-annealing" in note for note in result.notes)
    assert isinstance(result.energy, float) and math.isfinite(result.energy)


def test_qaoa_share_is_checked() -> None:
    with pytest.raises(ConfigError, match="qaoa_share"):
        solve(random_maxcut(3, 8, seed=0), max_strikes=1, qaoa_share=0.0)


def test_classical_arm_warm_up_leaves_its_stream_alone() -> None:
    model = random_maxcut(3, 12, seed=0)
    a = ClassicalArm(model, "simulated-annealing", np.random.default_rng(3), 8)
    b = ClassicalArm(model, "simulated-annealing", np.random.default_rng(3), 8)
    a.warm_up()
    assert np.array_equal(a.pull(4).energies, b.pull(4).energies)


def test_strikes_take_at_most_half_the_time_left_in_powers_of_two() -> None:
    from poqw.strike.scheduler import _sized

    cost = CostModel()
    cost.observe(1, 0.1)
    cost.observe(11, 1.1)  # 0.1 s a read, 0.115 s with the safety margin
    assert _sized(cost, 10.0, 64) == 32  # 43 reads fit in 5 s
    assert _sized(cost, 100.0, 64) == 64  # capped at shots
    assert _sized(cost, 0.2, 64) == 1  # the last read, in the whole of what is left
    assert _sized(cost, 0.1, 64) == 0


def test_a_strike_whose_cost_is_fixed_is_never_cut_to_one_shot() -> None:
    from poqw.strike.scheduler import _sized

    cost = CostModel()  # a state-vector strike: the circuit costs, the shots hardly do
    cost.observe(64, 0.50)
    cost.observe(32, 0.49)
    assert _sized(cost, 0.8, 64) == 64  # more than half of what is left, but it fits
    assert _sized(cost, 0.5, 64) == 0

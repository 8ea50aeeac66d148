"""Monte Carlo of the market: solver races and cheats played out problem by problem.

Every draw comes from one ``numpy.random.Generator`` passed in, so a seed replays a run exactly.
The estimates agree with the closed forms of ``model`` within their standard errors, which is
what the tests check; the report shows both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from poqw.econ.model import (
    CheatStrategy,
    cheat_strategies,
    job_cost,
    solve_cost_per_second,
    stake_carry_cost,
)
from poqw.econ.params import EconParams, Hardware

__all__ = ["CheatResult", "RaceResult", "simulate_cheat", "simulate_minimum_stake",
           "simulate_race"]


@dataclass(frozen=True)
class RaceResult:
    """What one racer of ``solvers`` equal ones earned per problem, on average."""

    hardware: str
    solvers: int
    win_rate: float        # problems won per problem entered
    compute_cost: float    # tokens of hardware time per problem entered
    gas_when_won: float    # commit + reveal gas paid by the winner
    carry_cost: float      # forgone yield on the bonded stake
    fee: float

    def profit(self, bounty: float | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Mean tokens per problem at ``bounty``."""
        b = np.asarray(bounty, dtype=np.float64)
        return (self.win_rate * (b * (1.0 - self.fee) - self.gas_when_won)
                - self.compute_cost - self.carry_cost)

    @property
    def break_even(self) -> float:
        """The bounty at which the simulated mean profit is zero."""
        if self.win_rate == 0:
            return math.inf
        return ((self.compute_cost + self.carry_cost) / self.win_rate
                + self.gas_when_won) / (1.0 - self.fee)


def simulate_race(hw: Hardware, params: EconParams, solvers: int,
                  rng: np.random.Generator) -> RaceResult:
    """Race ``solvers`` racers of ``hw`` on ``params.trials`` problems: each draws an
    exponential time to target, the first under the deadline wins and everyone stops then."""
    times = rng.exponential(hw.time_to_target_s, size=(params.trials, solvers))
    first = times.min(axis=1)
    deadline = params.market.deadline_s
    solved = first <= deadline
    busy = np.minimum(first, deadline)
    m = params.market
    return RaceResult(
        hardware=hw.name, solvers=solvers,
        win_rate=float(solved.mean()) / solvers,
        compute_cost=solve_cost_per_second(hw, params.token_price_usd) * float(busy.mean()),
        gas_when_won=(m.commit_gas + m.reveal_gas) * params.chain.gas_price_tokens,
        carry_cost=stake_carry_cost(params), fee=m.protocol_fee)


@dataclass(frozen=True)
class CheatResult:
    """A cheat played ``trials`` times: how often it was caught and what it earned."""

    strategy: CheatStrategy
    caught_rate: float
    paid: float            # tokens it is paid when not caught
    cost: float            # tokens it spends either way
    honest: float          # what the best honest choice earns instead
    slash_fraction: float

    def advantage(self, stake: float | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Mean tokens above the honest choice at ``stake`` (the same draws for every stake)."""
        s = np.asarray(stake, dtype=np.float64)
        return ((1.0 - self.caught_rate) * self.paid - self.caught_rate * self.slash_fraction * s
                - self.cost - self.honest)


def simulate_cheat(strategy: CheatStrategy, hw: Hardware, params: EconParams,
                   detection: float, honest_profit: float,
                   rng: np.random.Generator) -> CheatResult:
    """Play ``strategy`` on ``params.trials`` problems (claims) or jobs (fake work).

    A claim is examined with probability ``detection``; a faked job is examined with that
    probability and then caught when one of its spot checks lands on a faked sample.
    ``honest_profit`` is what solving honestly earns per problem (from :func:`simulate_race`).
    """
    n = params.trials
    examined = rng.random(n) < detection
    fee = params.market.protocol_fee
    if strategy.kind == "claim":
        caught = examined
        gas_units = params.market.commit_gas + (params.market.reveal_gas
                                                if strategy.fraction > 0 else 0)
        cost = (strategy.fraction * solve_cost_per_second(hw, params.token_price_usd)
                * hw.time_to_target_s + gas_units * params.chain.gas_price_tokens
                + stake_carry_cost(params))
        paid, honest = params.market.bounty * (1.0 - fee), max(0.0, honest_profit)
    else:
        hits = rng.binomial(params.cheats.spot_checks, strategy.fraction, size=n)
        caught = examined & (hits > 0)
        full_cost = job_cost(params)
        paid = params.cheats.job_payment
        cost = (1.0 - strategy.fraction) * full_cost
        honest = max(0.0, paid - full_cost)
    return CheatResult(strategy=strategy, caught_rate=float(caught.mean()), paid=paid,
                       cost=cost, honest=honest, slash_fraction=params.stake.slash_fraction)


def simulate_minimum_stake(hw: Hardware, params: EconParams, detection: float,
                           rng: np.random.Generator) -> tuple[float, list[CheatResult]]:
    """The least stake at which every simulated cheat loses against honesty, and the cheats."""
    race = simulate_race(hw, params, params.market.solvers, rng)
    honest = float(race.profit(params.market.bounty))
    results = [simulate_cheat(s, hw, params, detection, honest, rng)
               for s in cheat_strategies(params)]
    need = 0.0
    for r in results:
        at_zero = float(r.advantage(0.0))
        if at_zero < 0:
            continue
        per_token = r.caught_rate * r.slash_fraction
        if per_token <= 0:
            return math.inf, results
        need = max(need, at_zero / per_token)
    return need, results

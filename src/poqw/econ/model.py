"""Closed forms of the token economics: block rewards, what solving earns, what cheating gains.

A solver of one hardware kind reaches the target after an exponential time with mean ``tau``
(seconds); ``N`` solvers race, the first under the target by the deadline ``D`` wins and the
others stop. A cheat is examined with probability ``q`` (a watcher shows the evidence, or a job
is audited); an examined cheat loses ``slash_fraction * stake``, an unexamined one is paid as if
honest (the worst case). The Monte Carlo in ``simulate`` checks every formula here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from poqw.econ.params import SECONDS_PER_YEAR, ChainParams, EconParams, Hardware

__all__ = ["CheatStrategy", "block_reward", "break_even_bounty", "cheat_advantage",
           "cheat_strategies", "fake_work_detection", "honest_profit", "job_cost",
           "minimum_stake", "mining_break_even_price", "mining_profit_per_hour",
           "network_mining_rate", "reward_schedule", "solve_cost_per_second", "stake_carry_cost",
           "win_probability"]


def block_reward(height: int | npt.NDArray[np.int64],
                 chain: ChainParams) -> npt.NDArray[np.float64]:
    """Tokens minted for the block at ``height``: halving every interval, never below the tail."""
    halvings = np.asarray(height) // chain.halving_interval_blocks
    reward = chain.initial_reward / np.power(2.0, np.minimum(halvings, 1023))
    floored: npt.NDArray[np.float64] = np.maximum(reward, chain.tail_reward).astype(np.float64)
    return floored


def reward_schedule(chain: ChainParams, points: int = 400
                    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                               npt.NDArray[np.float64]]:
    """(years, reward per block, cumulative supply) sampled over ``chain.years`` years."""
    blocks_per_year = SECONDS_PER_YEAR / chain.block_time_s
    years = np.linspace(0.0, chain.years, points)
    heights = (years * blocks_per_year).astype(np.int64)
    reward = block_reward(heights, chain)
    # Supply integrates the piecewise-constant reward exactly at each sample.
    interval = chain.halving_interval_blocks
    supply = np.zeros(points)
    for i, h in enumerate(heights):
        full = int(h) // interval
        minted = sum(float(block_reward(k * interval, chain)) * interval for k in range(full))
        current = float(block_reward(full * interval, chain))
        supply[i] = minted + current * (int(h) - full * interval)
    return years, reward, supply


def solve_cost_per_second(hw: Hardware, token_price_usd: float) -> float:
    """Tokens one second of ``hw`` costs."""
    return hw.usd_per_hour / 3600.0 / token_price_usd


def stake_carry_cost(params: EconParams) -> float:
    """What keeping the stake bonded through one problem's deadline costs in forgone yield."""
    s = params.stake
    return s.stake * s.capital_rate_per_year * params.market.deadline_s / SECONDS_PER_YEAR


def _gas(params: EconParams, *, reveal: bool = True) -> float:
    m = params.market
    return (m.commit_gas + (m.reveal_gas if reveal else 0)) * params.chain.gas_price_tokens


def win_probability(hw: Hardware, params: EconParams, solvers: int) -> float:
    """Chance that one of ``solvers`` equal racers wins: ``(1 - exp(-N D / tau)) / N``."""
    reach = -math.expm1(-solvers * params.market.deadline_s / hw.time_to_target_s)
    return reach / solvers


def honest_profit(bounty: float, hw: Hardware, params: EconParams, solvers: int) -> float:
    """Expected tokens one honest racer ends a problem with (all ``solvers`` alike).

    It wins with ``p = P/N`` (``P`` the chance anyone reaches the target), computes until the
    first success or the deadline (mean ``tau P / N``), pays commit and reveal gas when it
    wins, and carries its stake through the deadline.
    """
    p = win_probability(hw, params, solvers)
    compute = solve_cost_per_second(hw, params.token_price_usd) * hw.time_to_target_s * p
    net_bounty = bounty * (1.0 - params.market.protocol_fee)
    return p * (net_bounty - _gas(params)) - compute - stake_carry_cost(params)


def break_even_bounty(hw: Hardware, params: EconParams, solvers: int) -> float:
    """The bounty at which :func:`honest_profit` is zero:
    ``B* = (c tau + gas + K / p) / (1 - fee)`` with ``p`` the racer's win probability."""
    p = win_probability(hw, params, solvers)
    c_tau = solve_cost_per_second(hw, params.token_price_usd) * hw.time_to_target_s
    fee = params.market.protocol_fee
    return (c_tau + _gas(params) + stake_carry_cost(params) / p) / (1.0 - fee)


@dataclass(frozen=True)
class CheatStrategy:
    """A claim-based cheat (``kind == "claim"``: work share ``fraction``, then a false claim)
    or a layer-2 job with a share ``fraction`` of its samples faked (``kind == "fake"``)."""

    kind: str
    fraction: float

    @property
    def label(self) -> str:
        if self.kind == "fake":
            return f"fake work f={self.fraction:g}"
        if self.fraction == 0.0:
            return "claim without reveal"
        return f"claim below true energy after {self.fraction:.0%} of the work"


def cheat_strategies(params: EconParams) -> tuple[CheatStrategy, ...]:
    """Every cheat the parameter file asks to try."""
    claims = tuple(CheatStrategy("claim", f) for f in params.cheats.work_fractions)
    return claims + tuple(CheatStrategy("fake", f) for f in params.cheats.fake_fractions)


def job_cost(params: EconParams) -> float:
    """Tokens an honest layer-2 job costs on its hardware."""
    hw = params.kind(params.cheats.hardware)
    return solve_cost_per_second(hw, params.token_price_usd) * params.cheats.job_seconds


def fake_work_detection(fraction: float, checks: int, examined: float) -> float:
    """Chance a job with ``fraction`` of its samples faked is caught: ``q (1 - (1 - f)^k)``."""
    return examined * (1.0 - (1.0 - fraction) ** checks)


def _claim_terms(strategy: CheatStrategy, hw: Hardware, params: EconParams
                 ) -> tuple[float, float, float]:
    """(paid when unexamined, cost either way, honest alternative) of a claim cheat."""
    paid = params.market.bounty * (1.0 - params.market.protocol_fee)
    compute = strategy.fraction * solve_cost_per_second(hw, params.token_price_usd) \
        * hw.time_to_target_s
    cost = compute + _gas(params, reveal=strategy.fraction > 0) + stake_carry_cost(params)
    honest = max(0.0, honest_profit(params.market.bounty, hw, params, params.market.solvers))
    return paid, cost, honest


def cheat_advantage(strategy: CheatStrategy, hw: Hardware, params: EconParams, stake: float,
                    detection: float) -> float:
    """Expected tokens the cheat earns above the best honest choice (solving or staying out)."""
    slash = params.stake.slash_fraction * stake
    if strategy.kind == "claim":
        paid, cost, honest = _claim_terms(strategy, hw, params)
        return (1.0 - detection) * paid - detection * slash - cost - honest
    pay, cost = params.cheats.job_payment, job_cost(params)
    d = fake_work_detection(strategy.fraction, params.cheats.spot_checks, detection)
    return (1.0 - d) * pay - (1.0 - strategy.fraction) * cost - d * slash - max(0.0, pay - cost)


def minimum_stake(hw: Hardware, params: EconParams, detection: float) -> float:
    """The least stake at which every strategy tried has a negative advantage (``inf`` when no
    stake suffices, as with no examination at all): the largest of
    ``advantage(S=0) / (d * slash_fraction)`` over the strategies."""
    need = 0.0
    for strategy in cheat_strategies(params):
        at_zero = cheat_advantage(strategy, hw, params, 0.0, detection)
        if at_zero < 0:
            continue
        d = detection if strategy.kind == "claim" else fake_work_detection(
            strategy.fraction, params.cheats.spot_checks, detection)
        per_token = d * params.stake.slash_fraction
        if per_token <= 0:
            return math.inf
        need = max(need, at_zero / per_token)
    return need


def network_mining_rate(params: EconParams) -> float:
    """Block proofs per hour of the whole network, in units of one CPU core's rate."""
    return sum(hw.mining_rate * hw.miners for hw in params.hardware)


def mining_profit_per_hour(hw: Hardware, params: EconParams, year: float) -> float:
    """USD one device of ``hw`` earns per hour, minus its price, at ``year`` after genesis."""
    chain = params.chain
    height = int(year * SECONDS_PER_YEAR / chain.block_time_s)
    share = hw.mining_rate / network_mining_rate(params)
    tokens = float(block_reward(height, chain)) * 3600.0 / chain.block_time_s * share
    return tokens * params.token_price_usd - hw.usd_per_hour


def mining_break_even_price(hw: Hardware, params: EconParams, year: float) -> float:
    """The token price (USD) at which one device of ``hw`` just pays for itself by mining."""
    revenue = mining_profit_per_hour(hw, params, year) + hw.usd_per_hour
    return hw.usd_per_hour * params.token_price_usd / revenue if revenue > 0 else math.inf

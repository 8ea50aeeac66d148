"""Issuance: a halving block reward with a tail emission, and the inverted policy's streak bonus.

``block_reward(height) = max(initial >> (height // halving_interval), tail)`` in the smallest unit
(wei-like); block 0 pays nothing. Under the ``inverted`` policy a block that extends its miner's
streak of consecutive blocks is paid ``min(streak, streak_cap)`` times that (cap 5x).
"""

from __future__ import annotations

from poqw.chain.block import Header
from poqw.chain.genesis import Genesis, RewardSchedule
from poqw.chain.types import Address, Amount
from poqw.chain.view import ChainView, ancestors

__all__ = ["block_reward", "coinbase_reward", "issued_until", "miner_reward", "streak_length"]


def block_reward(schedule: RewardSchedule, height: int) -> Amount:
    """Base reward of the block at ``height``."""
    if height <= 0:
        return Amount(0)
    halvings = height // schedule.halving_interval
    base = schedule.initial >> halvings if halvings < 256 else 0
    return Amount(max(base, schedule.tail))


def issued_until(schedule: RewardSchedule, height: int) -> int:
    """Total base rewards of blocks ``1..height`` (closed form per halving era)."""
    total, era = 0, 0
    while True:
        start = max(1, era * schedule.halving_interval)
        end = min(height, (era + 1) * schedule.halving_interval - 1)
        if start > height:
            return total
        reward = int(block_reward(schedule, start))
        if reward == schedule.tail:  # tail emission from here on
            return total + reward * (height - start + 1)
        total += reward * (end - start + 1)
        era += 1


def _streak(view: ChainView, miner: bytes, parent: Header, cap: int) -> int:
    streak = 1
    for ancestor in ancestors(view, parent, cap - 1):
        if ancestor.number == 0 or ancestor.miner != miner:
            break
        streak += 1
    return streak


def streak_length(view: ChainView, header: Header, parent: Header, cap: int) -> int:
    """How many consecutive blocks, ending with ``header``, its miner has mined (at most cap)."""
    return _streak(view, header.miner, parent, cap)


def coinbase_reward(genesis: Genesis, coinbase: Address, parent: Header,
                    view: ChainView) -> Amount:
    """What the execution layer credits to ``coinbase`` for mining the child of ``parent``
    (fees aside)."""
    base = int(block_reward(genesis.rewards, int(parent.number) + 1))
    if genesis.difficulty.policy != "inverted":
        return Amount(base)
    return Amount(base * _streak(view, coinbase, parent, genesis.difficulty.streak_cap))


def miner_reward(genesis: Genesis, header: Header, parent: Header, view: ChainView) -> Amount:
    """What the execution layer credits to ``header.miner`` for this block (fees aside)."""
    return coinbase_reward(genesis, header.miner, parent, view)

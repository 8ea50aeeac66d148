"""The block environment: what the EVM sees while it executes a block, as consensus rules.

A block's base fee follows EIP-1559 from its parent's gas use and base fee (the genesis block's
is :data:`INITIAL_BASE_FEE`); PREVRANDAO is the parent's hash (fixed before anyone mines the
block, so no miner can grind it); BLOCKHASH sees the parent and up to 255 older ancestors; the
miner is credited :func:`~poqw.chain.rewards.miner_reward`. The node stores each block's base
fee and applies :func:`block_environment`; the execution layer only executes what it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from poqw.chain.block import Header
from poqw.chain.genesis import Genesis
from poqw.chain.rewards import coinbase_reward
from poqw.chain.types import Address, Amount, Hash32
from poqw.chain.view import ChainView, ancestors

__all__ = [
    "BASE_FEE_MAX_CHANGE_DENOMINATOR",
    "BLOCKHASH_WINDOW",
    "ELASTICITY_MULTIPLIER",
    "INITIAL_BASE_FEE",
    "BlockEnvironment",
    "block_environment",
    "blockhash_window",
    "child_base_fee",
    "next_base_fee",
    "prev_randao",
]

INITIAL_BASE_FEE = 1_000_000_000
"""Base fee per gas of the genesis block (EIP-1559's initial value)."""
BASE_FEE_MAX_CHANGE_DENOMINATOR = 8
ELASTICITY_MULTIPLIER = 2
BLOCKHASH_WINDOW = 256
"""How many ancestor hashes BLOCKHASH can see, the parent first."""


def next_base_fee(parent_gas_used: int, parent_gas_limit: int, parent_base_fee: int) -> int:
    """Base fee per gas of a block whose parent used ``parent_gas_used`` (EIP-1559): up by at
    most 1/8 when the parent was full, down by at most 1/8 when it was empty."""
    if parent_gas_limit <= 0 or parent_gas_used < 0 or parent_base_fee < 0:
        raise ValueError("gas limit must be positive, gas used and base fee non-negative")
    target = parent_gas_limit // ELASTICITY_MULTIPLIER
    if parent_gas_used == target:
        return parent_base_fee
    if parent_gas_used > target:
        delta = parent_base_fee * (parent_gas_used - target) // target
        return parent_base_fee + max(delta // BASE_FEE_MAX_CHANGE_DENOMINATOR, 1)
    delta = parent_base_fee * (target - parent_gas_used) // target
    return parent_base_fee - delta // BASE_FEE_MAX_CHANGE_DENOMINATOR


def child_base_fee(parent: Header, parent_base_fee: int) -> int:
    """Base fee per gas of a child of ``parent``, whose own base fee was ``parent_base_fee``."""
    return next_base_fee(int(parent.gas_used), int(parent.gas_limit), parent_base_fee)


def prev_randao(parent: Header) -> Hash32:
    """What PREVRANDAO returns in a child of ``parent``: the parent's hash."""
    return parent.hash()


def blockhash_window(parent: Header, view: ChainView) -> tuple[Hash32, ...]:
    """Hashes BLOCKHASH serves in a child of ``parent``: the parent's, then its ancestors',
    newest first, at most :data:`BLOCKHASH_WINDOW` (down to genesis)."""
    hashes = [parent.hash()]
    for header in ancestors(view, parent, BLOCKHASH_WINDOW - 1):
        if header.number == 0:
            break
        hashes.append(header.parent_hash)
    return tuple(hashes)


@dataclass(frozen=True)
class BlockEnvironment:
    """Everything block-level the EVM sees in the child of a parent, and the miner's reward."""

    number: int
    timestamp: int
    coinbase: Address
    gas_limit: int
    base_fee_per_gas: int
    prev_randao: Hash32
    ancestor_hashes: tuple[Hash32, ...]
    reward: Amount


def block_environment(genesis: Genesis, parent: Header, parent_base_fee: int, view: ChainView,
                      timestamp: int, coinbase: bytes) -> BlockEnvironment:
    """The environment of a child of ``parent`` made at ``timestamp`` by ``coinbase``. Its gas
    limit is the parent's (the header may move it within the rule of ``validate_header``)."""
    return BlockEnvironment(
        number=int(parent.number) + 1,
        timestamp=int(timestamp),
        coinbase=Address(bytes(coinbase)),
        gas_limit=int(parent.gas_limit),
        base_fee_per_gas=child_base_fee(parent, parent_base_fee),
        prev_randao=prev_randao(parent),
        ancestor_hashes=blockhash_window(parent, view),
        reward=coinbase_reward(genesis, Address(bytes(coinbase)), parent, view),
    )

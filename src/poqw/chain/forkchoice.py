"""Fork choice: the chain with the most cumulative work wins; among equal work, the first seen.

A block's work is :func:`~poqw.chain.difficulty.ticket_work` of its energy bound and ticket
target (the calibrated work of the bound times the inverse ticket odds), both checked against the
parent chain, so work is monotone in difficulty and cannot be inflated by a producer. A node keeps
its current head unless a candidate has strictly more work: an equal-work tie goes to the head
seen first, never to a lower block hash (a miner holding a proof can vary what the hash covers but
the puzzle does not, such as the timestamp or the transaction order, and grind a low hash to win
every tie) nor to a producer-chosen timestamp. Most work always wins, at any depth: a switch that
undoes more than ``reorg_depth_limit`` blocks is made all the same, and only reported as a deep
reorg (:func:`is_deep_reorg`), so a node that has not synced, or a long partition, always heals to
the most-work chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from poqw.chain.block import Header
from poqw.chain.difficulty import ticket_work
from poqw.chain.genesis import Genesis
from poqw.chain.types import Hash32

__all__ = ["Tip", "block_work", "is_better_tip", "is_deep_reorg", "tip_after"]


@dataclass(frozen=True)
class Tip:
    """A chain head: its hash, height and the total work from genesis to it."""

    block_hash: Hash32
    number: int
    total_work: int


def block_work(genesis: Genesis, header: Header) -> int:
    """Work of one block (genesis itself has none)."""
    if header.number == 0:
        return 0
    return ticket_work(genesis.difficulty, int(header.energy_bound), int(header.ticket_target))


def tip_after(genesis: Genesis, parent: Tip, header: Header) -> Tip:
    """The tip reached by adding ``header`` on top of ``parent``."""
    return Tip(header.hash(), int(header.number), parent.total_work + block_work(genesis, header))


def is_better_tip(candidate: Tip, current: Tip) -> bool:
    """True when ``candidate`` should replace ``current`` as head: strictly more work (an
    equal-work candidate never replaces the head already held: first seen wins the tie)."""
    return candidate.total_work > current.total_work


def is_deep_reorg(genesis: Genesis, current_head_number: int, fork_point_number: int) -> bool:
    """True when switching heads undoes more than ``reorg_depth_limit`` blocks: the switch is
    still made (most work wins), but the node warns about it."""
    return current_head_number - fork_point_number > genesis.reorg_depth_limit

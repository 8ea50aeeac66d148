"""Fork choice: the chain with the most cumulative work wins, ties go to the lower block hash.

A block's work is :func:`~poqw.chain.difficulty.ticket_work` of its energy bound and ticket
target (the calibrated work of the bound times the inverse ticket odds), both checked against the
parent chain, so work is monotone in difficulty and cannot be inflated by a producer. Ties are
broken by the block hash read as a big-endian integer (lower wins), never by a producer-chosen
timestamp. A switch that would undo more than ``reorg_depth_limit`` blocks is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from poqw.chain.block import Header
from poqw.chain.difficulty import ticket_work
from poqw.chain.genesis import Genesis
from poqw.chain.types import Hash32

__all__ = ["Tip", "block_work", "is_better_tip", "reorg_allowed", "tip_after"]


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
    """True when ``candidate`` should replace ``current`` as head (a total order on tips)."""
    if candidate.total_work != current.total_work:
        return candidate.total_work > current.total_work
    return int.from_bytes(candidate.block_hash, "big") < int.from_bytes(current.block_hash, "big")


def reorg_allowed(genesis: Genesis, current_head_number: int, fork_point_number: int) -> bool:
    """True when switching heads undoes at most ``reorg_depth_limit`` blocks."""
    return current_head_number - fork_point_number <= genesis.reorg_depth_limit

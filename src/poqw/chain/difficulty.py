"""Difficulty: the energy bound and ticket target every node computes for the next block.

A block never chooses its difficulty; :func:`next_difficulty` derives it from the parent's
headers and genesis, in integers. It has two parts: an energy bound ``b`` from the calibrated
table (coarse: a handful of values) and a ticket target ``T`` (fine): a proof counts only when its
ticket ``hash32("poqw/ticket/v1", seed, lead solution) <= T``, probability ``(T + 1) / 2**256``
(see :mod:`poqw.chain.proof`). A block's work is ``work(b) * 2**256 // (T + 1)``.

Why this shape. Mining stays memoryless: every attempt (fresh salt, one annealing run) succeeds
independently with a small chance, so a miner's share of blocks is its share of attempts;
accumulated-progress designs (m puzzles per block, m solutions gathered over time) hand nearly
every block to the fastest miner. The ticket needs a solved vector, so salts cannot be screened
by hashing seeds before solving them. The spare valid proofs of one run are the remaining grind:
tickets come from the proof's lead solution, not from its ``k``-subset, and solutions must be
canonical plateau representatives, so a run draws one ticket per distinct low vector it found
(devnet at the lottery bound -34, 400 runs: 0.122 tickets per run for the node's miner, 0.125
exhaustive over its samples, 0.150 after walking every zero-energy plateau; a whole-proof ticket
without the plateau rule gave 33 per run). The work table counts those tickets (see
:mod:`poqw.chain.calibrate`), so work is proportional to annealing runs at every bound.

``target-time`` (default) is ASERT-like: with genesis as anchor, the target work is
``anchor_work * 2 ** ((interval * parent.number - (parent.timestamp - genesis.timestamp))
/ halflife)``, exponential in how far the chain runs ahead of (harder) or behind (easier) its
schedule, evaluated with the fixed-point cubic of Bitcoin Cash's aserti3-2d (J. Toomim, 2020;
error < 0.013 %). The bound is the hardest one, no harder than the genesis ``lottery_bound``,
whose work does not exceed the target (the easiest bound when all exceed it), and
``T + 1 = work(b) * 2**256 // target`` puts the rest in the lottery, so the work meets the target
to one part in 2**200 instead of in steps of up to 2.4x. ``inverted`` follows the QUIP design:
when the parent's miner also mined the grandparent (a streak) the bound eases by ``ease_step``; a
new winner hardens it by ``harden_step``; it has no lottery (``T = 2**256 - 1``).
"""

from __future__ import annotations

from dataclasses import dataclass

from poqw.chain.block import MAX_TICKET_TARGET, Header
from poqw.chain.genesis import DifficultyParams, Genesis
from poqw.chain.view import ChainView
from poqw.errors import ConsensusError

__all__ = [
    "Difficulty",
    "asert_work",
    "bound_for_work",
    "clamp_bound",
    "difficulty_for_work",
    "next_difficulty",
    "next_energy_bound",
    "pow2_fixed16",
    "ticket_work",
    "work_of_bound",
]

_MAX_SHIFT = 512
_TICKET_SPACE = 1 << 256


@dataclass(frozen=True)
class Difficulty:
    """What a block must meet: ``energy_bound`` on each solution, ``ticket_target`` on the
    ticket."""

    energy_bound: int
    ticket_target: int = MAX_TICKET_TARGET


def work_of_bound(params: DifficultyParams, bound: int) -> int:
    """The calibrated work of a block with ``bound`` (monotone: lower bound, more work)."""
    if not params.hardest_bound <= bound <= params.easiest_bound:
        raise ConsensusError(f"energy bound {bound} is outside the calibrated range "
                             f"[{params.hardest_bound}, {params.easiest_bound}]")
    return params.work[bound - params.hardest_bound]


def clamp_bound(params: DifficultyParams, bound: int) -> int:
    return max(params.hardest_bound, min(params.easiest_bound, bound))


def bound_for_work(params: DifficultyParams, target: int) -> int:
    """The easiest bound whose work is at least ``target`` (the hardest one if none is)."""
    for i in range(len(params.work) - 1, -1, -1):  # from the easiest bound down
        if params.work[i] >= target:
            return params.hardest_bound + i
    return params.hardest_bound


def pow2_fixed16(exponent: int) -> tuple[int, int]:
    """``2 ** (exponent / 65536)`` as ``(factor, shifts)``: the value is ``factor * 2**shifts
    / 65536`` with ``65536 <= factor < 131072`` (aserti3-2d's cubic)."""
    shifts = exponent >> 16
    frac = exponent - (shifts << 16)
    factor = 65536 + ((195766423245049 * frac + 971821376 * frac * frac
                       + 5127 * frac * frac * frac + (1 << 47)) >> 48)
    return factor, shifts


def asert_work(genesis: Genesis, parent: Header) -> int:
    """The target-time policy's work target for the child of ``parent``."""
    params = genesis.difficulty
    anchor_work = params.anchor_work
    elapsed = int(parent.timestamp) - genesis.timestamp
    ahead = genesis.target_interval * int(parent.number) - elapsed
    exponent = (ahead << 16) // params.halflife
    factor, shifts = pow2_fixed16(exponent)
    shifts = max(-_MAX_SHIFT, min(_MAX_SHIFT, shifts))
    scaled = anchor_work * factor
    scaled = scaled << shifts if shifts >= 0 else scaled >> -shifts
    return max(1, scaled >> 16)


def _inverted_bound(genesis: Genesis, parent: Header, view: ChainView) -> int:
    params = genesis.difficulty
    if parent.number == 0:
        return params.initial_bound
    grandparent = view.header(parent.parent_hash)
    if grandparent is None:
        raise ConsensusError(f"grandparent of block {parent.number} is unknown")
    if parent.miner == grandparent.miner:
        return clamp_bound(params, int(parent.energy_bound) + params.ease_step)
    return clamp_bound(params, int(parent.energy_bound) - params.harden_step)


def ticket_work(params: DifficultyParams, bound: int, ticket_target: int) -> int:
    """The work of a block with this difficulty: ``work(bound) * 2**256 // (T + 1)``."""
    if not 0 <= ticket_target <= MAX_TICKET_TARGET:
        raise ConsensusError(f"ticket target {ticket_target} is outside [0, 2**256 - 1]")
    return work_of_bound(params, bound) * _TICKET_SPACE // (ticket_target + 1)


def difficulty_for_work(params: DifficultyParams, target: int) -> Difficulty:
    """The bound and ticket target whose work is closest to ``target`` from above (see above)."""
    bound = params.easiest_bound
    for b in range(params.lottery, params.easiest_bound + 1):  # from the lottery bound easing
        if params.work[b - params.hardest_bound] <= target:
            bound = b
            break
    slots = params.work[bound - params.hardest_bound] * _TICKET_SPACE // max(1, target)
    return Difficulty(bound, max(1, min(_TICKET_SPACE, slots)) - 1)


def next_difficulty(genesis: Genesis, parent: Header, view: ChainView) -> Difficulty:
    """The energy bound and ticket target the child of ``parent`` must carry, from the chain."""
    params = genesis.difficulty
    if params.policy == "target-time":
        return difficulty_for_work(params, asert_work(genesis, parent))
    if params.policy == "inverted":
        return Difficulty(_inverted_bound(genesis, parent, view))
    raise ConsensusError(f"unknown difficulty policy {params.policy!r}")


def next_energy_bound(genesis: Genesis, parent: Header, view: ChainView) -> int:
    """The energy bound the child of ``parent`` must carry (see :func:`next_difficulty`)."""
    return next_difficulty(genesis, parent, view).energy_bound

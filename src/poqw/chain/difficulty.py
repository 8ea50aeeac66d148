"""Difficulty: the energy bound every node computes for the next block from the parent chain.

A block never chooses its own bound; :func:`next_energy_bound` derives it from the parent's
headers and genesis, in integers, clamped to the topology's calibrated range. ``target-time``
(default) is ASERT-like: with genesis as anchor, the target work is
``work(initial_bound) * 2 ** ((interval * parent.number - (parent.timestamp - genesis.timestamp))
/ halflife)``, exponential in how far the chain runs ahead of (harder) or behind (easier) its
schedule, evaluated with the fixed-point cubic of Bitcoin Cash's aserti3-2d (J. Toomim, 2020;
error < 0.013 %); the bound is then the easiest one whose calibrated work reaches the target.
``inverted`` follows the QUIP design: when the parent's miner also mined the grandparent (a
streak) the bound eases by ``ease_step``; a new winner hardens it by ``harden_step``.
"""

from __future__ import annotations

from poqw.chain.block import Header
from poqw.chain.genesis import DifficultyParams, Genesis
from poqw.chain.view import ChainView
from poqw.errors import ConsensusError

__all__ = [
    "asert_work",
    "bound_for_work",
    "clamp_bound",
    "next_energy_bound",
    "pow2_fixed16",
    "work_of_bound",
]

_MAX_SHIFT = 512


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
    anchor_work = work_of_bound(params, params.initial_bound)
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


def next_energy_bound(genesis: Genesis, parent: Header, view: ChainView) -> int:
    """The energy bound the child of ``parent`` must carry, from the chain alone."""
    params = genesis.difficulty
    if params.policy == "target-time":
        return bound_for_work(params, asert_work(genesis, parent))
    if params.policy == "inverted":
        return _inverted_bound(genesis, parent, view)
    raise ConsensusError(f"unknown difficulty policy {params.policy!r}")

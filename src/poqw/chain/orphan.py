"""What a block whose parent is unknown can prove on its own, checked before a node keeps it.

A node cannot run :func:`~poqw.chain.validation.validate_block` without the parent, but most of a
block stands alone: its proof solves the instance derived from (parent hash, miner, salt) within
its own claimed energy bound, that bound lies in the genesis' calibrated range, the proof and the
transactions match the header's commitments, and the miner signed it. Anything an attacker sends
for free fails here; what passes cost the sender a real proof.
"""

from __future__ import annotations

from poqw.chain.block import Block, transactions_root
from poqw.chain.genesis import Genesis
from poqw.chain.validation import (
    AddressOf,
    SignatureVerifier,
    check_seal,
    check_topology,
    verify_work,
)
from poqw.errors import InvalidBlock, InvalidHeader

__all__ = ["validate_orphan"]


def validate_orphan(block: Block, genesis: Genesis,
                    verify_signature: SignatureVerifier | None = None,
                    address_of: AddressOf | None = None) -> None:
    """Raise the precise :class:`InvalidBlock` of the first parent-free rule ``block`` breaks."""
    header = block.header
    if header.number < 1:
        raise InvalidHeader("a block without a parent claims to be the genesis block", block)
    policy = genesis.difficulty
    if not policy.hardest_bound <= int(header.energy_bound) <= policy.easiest_bound:
        raise InvalidHeader(f"energy bound {header.energy_bound} is outside the calibrated range "
                            f"[{policy.hardest_bound}, {policy.easiest_bound}]", block)
    check_topology(block.proof, genesis, block)
    verify_work(header, block.proof, genesis, block)  # at the header's own claimed difficulty
    if header.tx_root != transactions_root(block.transactions):
        raise InvalidBlock("transaction root does not match the transactions", block)
    check_seal(block, verify_signature, address_of)

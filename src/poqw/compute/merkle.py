"""A binary Merkle tree over a solver's per-strike leaves, with bounded proofs.

Leaves and interior nodes are hashed under different domains (a leaf can never pass for a node).
A level with an odd number of nodes carries its last node up unchanged rather than pairing it
with itself, so no two leaf lists share a root by duplication. A proof is the leaf's index, the
leaf count and the siblings on the path; its length follows from (index, count), and the decoder
checks every size before reading a hash.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from poqw.crypto.hashing import Hash32, hash32
from poqw.errors import InvalidCommitment

__all__ = [
    "MAX_LEAVES",
    "MerkleProof",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "path_length",
    "verify_merkle_proof",
]

MAX_LEAVES = 1 << 24
MAX_PROOF_BYTES = 8 + 32 * 24
_HEAD = struct.Struct(">II")  # index, leaf count


def leaf_hash(data: bytes) -> Hash32:
    return hash32(b"poqw/compute/merkle-leaf/v1", data)


def node_hash(left: Hash32, right: Hash32) -> Hash32:
    return hash32(b"poqw/compute/merkle-node/v1", left, right)


def path_length(index: int, count: int) -> int:
    """How many siblings the proof of leaf ``index`` in a tree of ``count`` leaves has."""
    length = 0
    while count > 1:
        if index ^ 1 < count:  # has a sibling at this level (else carried up alone)
            length += 1
        index, count = index // 2, (count + 1) // 2
    return length


@dataclass(frozen=True)
class MerkleProof:
    """The path of one leaf: its index, the tree's leaf count, the siblings bottom-up."""

    index: int
    leaf_count: int
    siblings: tuple[Hash32, ...]

    def to_bytes(self) -> bytes:
        return _HEAD.pack(self.index, self.leaf_count) + b"".join(self.siblings)

    @classmethod
    def from_bytes(cls, data: bytes) -> MerkleProof:
        """Decode, refusing anything longer than the deepest possible proof."""
        if not _HEAD.size <= len(data) <= MAX_PROOF_BYTES:
            raise InvalidCommitment(f"a Merkle proof is {_HEAD.size}..{MAX_PROOF_BYTES} bytes, "
                                    f"got {len(data)}")
        index, count = _HEAD.unpack_from(data)
        if not 1 <= count <= MAX_LEAVES or index >= count:
            raise InvalidCommitment(f"leaf {index} of {count} is not a leaf of a tree of at "
                                    f"most {MAX_LEAVES} leaves")
        want = path_length(index, count)
        if len(data) != _HEAD.size + 32 * want:
            raise InvalidCommitment(f"leaf {index} of {count} has {want} siblings, the proof "
                                    f"carries {(len(data) - _HEAD.size) / 32:g}")
        body = data[_HEAD.size:]
        return cls(index, count, tuple(body[32 * k:32 * k + 32] for k in range(want)))


class MerkleTree:
    """All levels of the tree over ``leaves`` (already leaf hashes), for the root and proofs."""

    def __init__(self, leaves: Sequence[Hash32]) -> None:
        if not 1 <= len(leaves) <= MAX_LEAVES:
            raise InvalidCommitment(f"a Merkle tree has 1..{MAX_LEAVES} leaves, got "
                                    f"{len(leaves)}")
        if any(len(leaf) != 32 for leaf in leaves):
            raise InvalidCommitment("Merkle leaves are 32-byte hashes")
        self.levels: list[list[Hash32]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            level = self.levels[-1]
            up = [node_hash(level[k], level[k + 1]) for k in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                up.append(level[-1])
            self.levels.append(up)

    @property
    def root(self) -> Hash32:
        return self.levels[-1][0]

    @property
    def leaf_count(self) -> int:
        return len(self.levels[0])

    def proof(self, index: int) -> MerkleProof:
        if not 0 <= index < self.leaf_count:
            raise InvalidCommitment(f"no leaf {index} in a tree of {self.leaf_count}")
        siblings, k = [], index
        for level in self.levels[:-1]:
            if k ^ 1 < len(level):
                siblings.append(level[k ^ 1])
            k //= 2
        return MerkleProof(index, self.leaf_count, tuple(siblings))


def verify_merkle_proof(root: Hash32, leaf: Hash32, proof: MerkleProof) -> None:
    """Raise :class:`InvalidCommitment` unless ``leaf`` sits at ``proof.index`` under ``root``."""
    index, count = proof.index, proof.leaf_count
    if not 1 <= count <= MAX_LEAVES or not 0 <= index < count:
        raise InvalidCommitment(f"leaf {index} of {count} is out of range")
    if len(proof.siblings) != path_length(index, count):
        raise InvalidCommitment(f"leaf {index} of {count} needs {path_length(index, count)} "
                                f"siblings, the proof has {len(proof.siblings)}")
    node, siblings = leaf, iter(proof.siblings)
    while count > 1:
        if index ^ 1 < count:
            sibling = next(siblings)
            node = node_hash(sibling, node) if index & 1 else node_hash(node, sibling)
        index, count = index // 2, (count + 1) // 2
    if node != root:
        raise InvalidCommitment(f"the Merkle path of leaf {proof.index} does not lead to the "
                                f"committed root {root.hex()[:16]}...")

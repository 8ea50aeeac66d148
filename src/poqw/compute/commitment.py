"""A solver's signed commitment to a batch of strike results.

Each strike result becomes a leaf: the hash of (spec digest, samples digest, energies digest).
The solver signs, with its secp256k1 node key, the Merkle root of its leaves together with its
key, the batch id (the hash of the batch's job specs, so the commitment names the jobs it
answers) and the leaf count. Anyone holding the commitment can check a revealed leaf with its
Merkle path; every encoding here has a fixed or checked size.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from poqw.compute.merkle import MerkleProof, MerkleTree, leaf_hash, verify_merkle_proof
from poqw.compute.strike_spec import (
    MAX_JOB_SHOTS,
    StrikeSpec,
    energies_digest,
    samples_digest,
)
from poqw.crypto.ecdsa import ECDSA_SIGNATURE_SIZE, EcdsaPrivateKey, EcdsaPublicKey, ecdsa_verify
from poqw.crypto.hashing import Hash32, hash32
from poqw.errors import CryptoError, DecodeError, InvalidCommitment, JobRejected

__all__ = [
    "Commitment",
    "SignedCommitment",
    "StrikeLeaf",
    "batch_id",
    "commit_leaves",
]

_COMMITMENT = struct.Struct(">33s32sI32s")  # solver key, batch id, leaf count, root
_SIGNED_SIZE = _COMMITMENT.size + ECDSA_SIGNATURE_SIZE
MAX_LEAF_BYTES = 4 + 200 + 4 + 12 * MAX_JOB_SHOTS


def batch_id(specs: Sequence[StrikeSpec]) -> Hash32:
    """The id of a batch of jobs: the hash of their spec digests in order."""
    return hash32(b"poqw/compute/batch/v1", *(s.digest() for s in specs))


@dataclass(frozen=True, eq=False)
class StrikeLeaf:
    """One strike's committed result: its spec, the shots' basis indices and energies."""

    spec: StrikeSpec
    indices: npt.NDArray[np.int64]
    energies: npt.NDArray[np.float64]

    def digest(self) -> Hash32:
        """The Merkle leaf hash."""
        return leaf_hash(self.spec.digest() + samples_digest(self.indices)
                         + energies_digest(self.energies))

    def to_bytes(self) -> bytes:
        spec = self.spec.to_bytes()
        return (struct.pack(">I", len(spec)) + spec + struct.pack(">I", len(self.indices))
                + np.asarray(self.indices, dtype=">u4").tobytes()
                + np.asarray(self.energies, dtype=">f8").tobytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> StrikeLeaf:
        """Decode, checking each length before reading what it sizes."""
        if len(data) > MAX_LEAF_BYTES or len(data) < 8:
            raise InvalidCommitment(f"a strike leaf is 8..{MAX_LEAF_BYTES} bytes, got "
                                    f"{len(data)}")
        (spec_size,) = struct.unpack_from(">I", data)
        if spec_size > len(data) - 8:
            raise InvalidCommitment(f"a strike leaf's spec of {spec_size} bytes overruns it")
        try:
            spec = StrikeSpec.from_bytes(data[4:4 + spec_size])
        except JobRejected as exc:
            raise InvalidCommitment(f"a strike leaf's spec does not decode: {exc}") from exc
        (shots,) = struct.unpack_from(">I", data, 4 + spec_size)
        body = data[8 + spec_size:]
        if shots != spec.shots or len(body) != 12 * shots:
            raise InvalidCommitment(f"a strike leaf of {spec.shots} shots carries {shots} "
                                    f"and {len(body)} bytes of samples")
        indices = np.frombuffer(body[:4 * shots], dtype=">u4").astype(np.int64)
        energies = np.frombuffer(body[4 * shots:], dtype=">f8").astype(np.float64)
        return cls(spec, indices, energies)


@dataclass(frozen=True)
class Commitment:
    """What a solver signs: its key, the batch, the number of leaves and their Merkle root."""

    solver: bytes  # compressed secp256k1 public key (the node id)
    batch: Hash32
    leaf_count: int
    root: Hash32

    def to_bytes(self) -> bytes:
        return _COMMITMENT.pack(self.solver, self.batch, self.leaf_count, self.root)

    def digest(self) -> Hash32:
        return hash32(b"poqw/compute/commitment/v1", self.to_bytes())


@dataclass(frozen=True)
class SignedCommitment:
    """A commitment and the solver's signature over its digest."""

    commitment: Commitment
    signature: bytes

    def to_bytes(self) -> bytes:
        return self.commitment.to_bytes() + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedCommitment:
        if len(data) != _SIGNED_SIZE:
            raise InvalidCommitment(f"a signed commitment is {_SIGNED_SIZE} bytes, got "
                                    f"{len(data)}")
        solver, batch, count, root = _COMMITMENT.unpack_from(data)
        return cls(Commitment(solver, batch, count, root), data[_COMMITMENT.size:])

    def verify(self) -> None:
        """Raise :class:`InvalidCommitment` unless the solver's key signed this commitment."""
        try:
            ecdsa_verify(EcdsaPublicKey(self.commitment.solver), self.commitment.digest(),
                         self.signature)
        except (CryptoError, DecodeError, ValueError) as exc:
            raise InvalidCommitment(f"the commitment of {self.commitment.solver.hex()[:16]}... "
                                    f"is not signed by that key: {exc}") from exc

    def verify_leaf(self, leaf: StrikeLeaf, proof: MerkleProof) -> None:
        """Raise :class:`InvalidCommitment` unless ``leaf`` is committed at ``proof.index``."""
        if proof.leaf_count != self.commitment.leaf_count:
            raise InvalidCommitment(f"the proof is for a tree of {proof.leaf_count} leaves, the "
                                    f"commitment has {self.commitment.leaf_count}")
        verify_merkle_proof(self.commitment.root, leaf.digest(), proof)


def commit_leaves(key: EcdsaPrivateKey, batch: Hash32,
                  leaves: Sequence[StrikeLeaf]) -> tuple[SignedCommitment, MerkleTree]:
    """Sign the Merkle root of ``leaves`` for ``batch``; the tree serves the proofs later."""
    tree = MerkleTree([leaf.digest() for leaf in leaves])
    commitment = Commitment(key.public_key().compressed, batch, tree.leaf_count, tree.root)
    return SignedCommitment(commitment, key.sign(commitment.digest())), tree

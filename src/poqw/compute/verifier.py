"""Spot checks of committed strikes, challenge randomness, and fraud evidence anyone can check.

The verifier draws challenge indices from randomness the solver could not know when it signed:
a later block hash of the PoQW chain (:func:`challenge_from_block_hash`) or the coordinator's
commit-reveal :class:`Beacon` (its commitment is published with the jobs, its secret revealed
after the solver's commitment arrives); either is mixed with the commitment's digest. It asks for
those leaves with their Merkle paths, re-runs their strikes and compares. A solver that faked a
fraction f of n leaves escapes k distinct checks with probability at most (1 - f)**k. A leaf
that fails becomes :class:`FraudEvidence`, which :func:`check_fraud_evidence` verifies alone.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from poqw.compute.commitment import SignedCommitment, StrikeLeaf
from poqw.compute.merkle import MerkleProof
from poqw.compute.strike_spec import (
    CDF_TOLERANCE,
    StrikeRunner,
    check_shots,
    draw_indices,
    spins_from_indices,
    strike_uniforms,
)
from poqw.crypto.hashing import Hash32, hash32, shake_stream
from poqw.errors import InvalidCommitment
from poqw.problems import IsingModel

__all__ = [
    "Beacon",
    "FraudEvidence",
    "LeafVerdict",
    "Reveal",
    "SpotCheck",
    "Verifier",
    "challenge_from_beacon",
    "challenge_from_block_hash",
    "challenge_indices",
    "check_fraud_evidence",
    "checks_for_detection",
]

Reveal = Callable[[int], tuple[StrikeLeaf, MerkleProof]]
ENERGY_TOLERANCE = 1e-9


def checks_for_detection(fraction: float, probability: float) -> int:
    """The fewest checks k with 1 - (1 - fraction)**k >= probability."""
    if not (0.0 < fraction < 1.0 and 0.0 < probability < 1.0):
        raise ValueError("fraction and probability must be in (0, 1)")
    return math.ceil(math.log1p(-probability) / math.log1p(-fraction) - 1e-12)


@dataclass(frozen=True)
class Beacon:
    """Commit-reveal randomness of a coordinator: publish ``commitment`` with the jobs, keep
    ``secret`` (32 random bytes from the caller) until the solver has committed."""

    secret: bytes

    @property
    def commitment(self) -> Hash32:
        return hash32(b"poqw/compute/beacon/v1", self.secret)

    @staticmethod
    def check_reveal(commitment: Hash32, secret: bytes) -> None:
        if hash32(b"poqw/compute/beacon/v1", secret) != commitment:
            raise InvalidCommitment("the revealed beacon secret does not match its commitment")


def challenge_from_beacon(beacon_commitment: Hash32, secret: bytes,
                          signed: SignedCommitment) -> Hash32:
    """Challenge randomness from a revealed beacon (checked against its commitment)."""
    Beacon.check_reveal(beacon_commitment, secret)
    return hash32(b"poqw/compute/challenge/beacon/v1", secret, signed.commitment.digest())


def challenge_from_block_hash(block_hash: Hash32, signed: SignedCommitment) -> Hash32:
    """Challenge randomness from a block hash produced after the commitment was published."""
    if len(block_hash) != 32:
        raise ValueError(f"a block hash is 32 bytes, got {len(block_hash)}")
    return hash32(b"poqw/compute/challenge/block/v1", block_hash, signed.commitment.digest())


def challenge_indices(randomness: Hash32, leaf_count: int, checks: int) -> list[int]:
    """``min(checks, leaf_count)`` distinct leaf indices, unbiased (rejection sampling over
    64-bit words of a SHAKE-256 stream of ``randomness``)."""
    want = min(checks, leaf_count)
    limit = (1 << 64) // leaf_count * leaf_count
    chosen: list[int] = []
    seen: set[int] = set()
    block = 0
    while len(chosen) < want:
        words = shake_stream(b"poqw/compute/challenge-stream/v1",
                             randomness + block.to_bytes(4, "big"), 8 * 64)
        for (word,) in struct.iter_unpack(">Q", words):
            if word < limit and word % leaf_count not in seen:
                seen.add(word % leaf_count)
                chosen.append(word % leaf_count)
                if len(chosen) == want:
                    break
        block += 1
    return chosen


@dataclass(frozen=True)
class LeafVerdict:
    """A re-run of one leaf: honest, or why not, with the verifier's own draws."""

    honest: bool
    reason: str
    rerun_indices: tuple[int, ...]


@dataclass(frozen=True)
class FraudEvidence:
    """A signed commitment, the Merkle path and contents of a leaf, and the verifier's re-run."""

    signed: SignedCommitment
    proof: MerkleProof
    leaf: StrikeLeaf
    rerun_indices: tuple[int, ...]

    def to_bytes(self) -> bytes:
        parts = [self.signed.to_bytes(), self.proof.to_bytes(), self.leaf.to_bytes(),
                 np.asarray(self.rerun_indices, dtype=">u4").tobytes()]
        return b"".join(struct.pack(">I", len(p)) + p for p in parts)

    @classmethod
    def from_bytes(cls, data: bytes, limit: int = 1 << 21) -> FraudEvidence:
        """Decode four length-prefixed parts, refusing more than ``limit`` bytes in all."""
        if len(data) > limit:
            raise InvalidCommitment(f"fraud evidence of {len(data)} bytes is over {limit}")
        parts, at = [], 0
        for _ in range(4):
            if at + 4 > len(data):
                raise InvalidCommitment("fraud evidence is truncated")
            (size,) = struct.unpack_from(">I", data, at)
            if at + 4 + size > len(data):
                raise InvalidCommitment("a part of the fraud evidence overruns it")
            parts.append(data[at + 4:at + 4 + size])
            at += 4 + size
        if at != len(data) or len(parts[3]) % 4:
            raise InvalidCommitment("fraud evidence has trailing or misaligned bytes")
        rerun = tuple(int(x) for x in np.frombuffer(parts[3], dtype=">u4"))
        return cls(SignedCommitment.from_bytes(parts[0]), MerkleProof.from_bytes(parts[1]),
                   StrikeLeaf.from_bytes(parts[2]), rerun)


@dataclass(frozen=True)
class SpotCheck:
    """The outcome of checking one commitment: the indices checked, and evidence on fraud."""

    checked: tuple[int, ...]
    evidence: FraudEvidence | None
    boundary_accepted: int

    @property
    def passed(self) -> bool:
        return self.evidence is None


class Verifier:
    """Re-runs challenged strikes of one model on its own backend."""

    def __init__(self, model: IsingModel, backend: str = "fast",
                 tolerance: float = CDF_TOLERANCE) -> None:
        self.model = model
        self.runner = StrikeRunner(model, backend)
        self.tolerance = tolerance

    def check_leaf(self, leaf: StrikeLeaf) -> tuple[LeafVerdict, int]:
        """Re-run the leaf's strike: do its shots and energies match? (and the boundary count)"""
        spec = leaf.spec
        if spec.model_hash != self.runner.model_hash:
            return LeafVerdict(False, "the strike is for another model", ()), 0
        probs = self.runner.probabilities(spec)
        mine = tuple(int(x) for x in draw_indices(probs, strike_uniforms(spec))[0])
        shots = check_shots(probs, spec, leaf.indices, self.tolerance)
        if not shots.honest:
            return LeafVerdict(False, f"{shots.mismatches} of {spec.shots} shots are not the "
                                      f"spec's draws (first: shot {shots.first_mismatch})",
                               mine), 0
        claimed = np.asarray(leaf.energies, dtype=np.float64)
        energies = self.model.energies(spins_from_indices(leaf.indices,
                                                          self.model.num_variables))
        if claimed.shape != energies.shape or not np.allclose(
                claimed, energies, rtol=ENERGY_TOLERANCE, atol=ENERGY_TOLERANCE):
            return LeafVerdict(False, "the committed energies are not the samples' energies",
                               mine), 0
        return LeafVerdict(True, "", mine), shots.boundary_accepted

    def spot_check(self, signed: SignedCommitment, randomness: Hash32, checks: int,
                   reveal: Reveal, issued: Sequence[bytes] | None = None) -> SpotCheck:
        """Check ``checks`` challenged leaves revealed by ``reveal(index)``. A leaf whose path
        fails raises :class:`InvalidCommitment` (the solver did not answer with a committed
        leaf); ``issued`` (spec digests in batch order) catches answers to other jobs."""
        signed.verify()
        indices = challenge_indices(randomness, signed.commitment.leaf_count, checks)
        boundary = 0
        for index in indices:
            leaf, proof = reveal(index)
            if proof.index != index:
                raise InvalidCommitment(f"asked for leaf {index}, got the path of "
                                        f"{proof.index}")
            signed.verify_leaf(leaf, proof)
            if issued is not None and leaf.spec.digest() != issued[index]:
                raise InvalidCommitment(f"leaf {index} answers a job that was not issued there")
            verdict, near = self.check_leaf(leaf)
            boundary += near
            if not verdict.honest:
                return SpotCheck(tuple(indices), FraudEvidence(signed, proof, leaf,
                                                               verdict.rerun_indices), boundary)
        return SpotCheck(tuple(indices), None, boundary)


def check_fraud_evidence(evidence: FraudEvidence, model: IsingModel,
                         backend: str = "fast") -> str:
    """Return why ``evidence`` proves fraud by the commitment's signer; raise
    :class:`InvalidCommitment` if it does not (bad signature, bad path, or an honest leaf)."""
    if evidence.leaf.spec.model_hash != model.content_hash():
        raise InvalidCommitment("the evidence is about another model than the one given")
    evidence.signed.verify()
    evidence.signed.verify_leaf(evidence.leaf, evidence.proof)
    verdict, _ = Verifier(model, backend).check_leaf(evidence.leaf)
    if verdict.honest:
        raise InvalidCommitment("the accused leaf re-runs honestly: no fraud")
    return (f"solver {evidence.signed.commitment.solver.hex()} committed leaf "
            f"{evidence.proof.index} of batch {evidence.signed.commitment.batch.hex()[:16]}...: "
            f"{verdict.reason}")

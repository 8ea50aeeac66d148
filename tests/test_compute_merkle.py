"""Merkle commitments over strike leaves: proofs for every leaf, bounded decoding, signatures."""

from __future__ import annotations

import numpy as np
import pytest

from poqw.compute.commitment import SignedCommitment, StrikeLeaf, batch_id, commit_leaves
from poqw.compute.merkle import (
    MAX_PROOF_BYTES,
    MerkleProof,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_merkle_proof,
)
from poqw.compute.strike_spec import StrikeRunner, StrikeSpec
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import InvalidCommitment
from poqw.problems import maxcut_to_ising, random_regular_graph


def leaves(count: int) -> list[bytes]:
    return [leaf_hash(k.to_bytes(4, "big")) for k in range(count)]


@pytest.mark.parametrize("count", [*range(1, 18), 100])
def test_every_leaf_proves_and_only_its_own_place(count: int) -> None:
    tree = MerkleTree(leaves(count))
    for k, leaf in enumerate(leaves(count)):
        proof = MerkleProof.from_bytes(tree.proof(k).to_bytes())
        verify_merkle_proof(tree.root, leaf, proof)
        with pytest.raises(InvalidCommitment):
            verify_merkle_proof(tree.root, leaf_hash(b"forged"), proof)
        if count > 1:
            other = tree.proof((k + 1) % count)
            with pytest.raises(InvalidCommitment):
                verify_merkle_proof(tree.root, leaf, other)


def test_odd_levels_do_not_duplicate_the_last_node() -> None:
    three = leaves(3)
    assert MerkleTree(three).root != MerkleTree([*three, three[-1]]).root
    assert MerkleTree(three).root == node_hash(node_hash(three[0], three[1]), three[2])
    assert MerkleTree(three[:1]).root == three[0]  # a single leaf is its own root


@pytest.mark.parametrize("data, why", [
    (b"", "bytes"),
    (bytes(MAX_PROOF_BYTES + 1), "bytes"),
    ((0).to_bytes(4, "big") + (0).to_bytes(4, "big"), "not a leaf"),
    ((5).to_bytes(4, "big") + (5).to_bytes(4, "big"), "not a leaf"),
    ((0).to_bytes(4, "big") + (4).to_bytes(4, "big") + bytes(32), "2 siblings"),
])
def test_malformed_proofs_are_rejected_by_size(data: bytes, why: str) -> None:
    with pytest.raises(InvalidCommitment, match=why):
        MerkleProof.from_bytes(data)


def strike_leaves(count: int) -> list[StrikeLeaf]:
    model = maxcut_to_ising(random_regular_graph(3, 6, seed=1))
    runner = StrikeRunner(model, "fast")
    out = []
    for k in range(count):
        spec = StrikeSpec.create(model.content_hash(), [0.1 * k], [0.3], 8, bytes([k]) * 32)
        outcome = runner.run(spec)
        out.append(StrikeLeaf(spec, outcome.indices, outcome.energies))
    return out


def test_signed_commitment_binds_key_root_and_leaves() -> None:
    key = EcdsaPrivateKey(bytes(31) + b"\x07")
    batch = strike_leaves(5)
    signed, tree = commit_leaves(key, batch_id([leaf.spec for leaf in batch]), batch)
    again = SignedCommitment.from_bytes(signed.to_bytes())
    again.verify()
    for k, leaf in enumerate(batch):
        decoded = StrikeLeaf.from_bytes(leaf.to_bytes())
        again.verify_leaf(decoded, tree.proof(k))
    changed = StrikeLeaf(batch[2].spec, batch[2].indices ^ 1, batch[2].energies)
    with pytest.raises(InvalidCommitment, match="does not lead"):
        again.verify_leaf(changed, tree.proof(2))
    # a commitment re-signed by another key, or with another root, does not verify
    other = EcdsaPrivateKey(bytes(31) + b"\x08")
    forged = SignedCommitment(signed.commitment, other.sign(signed.commitment.digest()))
    with pytest.raises(InvalidCommitment, match="not signed"):
        forged.verify()
    moved = SignedCommitment(type(signed.commitment)(signed.commitment.solver,
                                                     signed.commitment.batch, 5, bytes(32)),
                             signed.signature)
    with pytest.raises(InvalidCommitment, match="not signed"):
        moved.verify()
    with pytest.raises(InvalidCommitment, match="bytes"):
        SignedCommitment.from_bytes(signed.to_bytes()[:-1])


def test_leaf_decoding_checks_sizes_first() -> None:
    leaf = strike_leaves(1)[0]
    data = leaf.to_bytes()
    with pytest.raises(InvalidCommitment, match="carries"):
        StrikeLeaf.from_bytes(data[:-8])
    with pytest.raises(InvalidCommitment, match="overruns"):
        StrikeLeaf.from_bytes((10**6).to_bytes(4, "big") + data[4:])
    with pytest.raises(InvalidCommitment, match="bytes"):
        StrikeLeaf.from_bytes(bytes(10**7))
    assert np.array_equal(StrikeLeaf.from_bytes(data).indices, leaf.indices)

"""Spot checks: honest solvers always pass, cheaters are caught at the predicted rate, and the
fraud evidence convinces a third party (and only when there was fraud)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from poqw.compute.commitment import SignedCommitment, StrikeLeaf, batch_id, commit_leaves
from poqw.compute.merkle import MerkleProof, MerkleTree
from poqw.compute.strike_spec import (
    StrikeRunner,
    StrikeSpec,
    derive_job_seed,
    spins_from_indices,
)
from poqw.compute.verifier import (
    Beacon,
    FraudEvidence,
    Reveal,
    Verifier,
    challenge_from_beacon,
    challenge_from_block_hash,
    challenge_indices,
    check_fraud_evidence,
    checks_for_detection,
)
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import InvalidCommitment
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph

KEY = EcdsaPrivateKey(bytes(31) + b"\x05")


@pytest.fixture(scope="module")
def model() -> IsingModel:
    return maxcut_to_ising(random_regular_graph(3, 8, seed=3))


@pytest.fixture(scope="module")
def honest(model: IsingModel) -> list[StrikeLeaf]:
    runner = StrikeRunner(model, "fast")
    out = []
    for k in range(40):
        spec = StrikeSpec.create(model.content_hash(), [0.2 + 0.01 * k, 0.5], [0.4, 0.1], 16,
                                 derive_job_seed(b"solve", 0, k))
        outcome = runner.run(spec)
        out.append(StrikeLeaf(spec, outcome.indices, outcome.energies))
    return out


def fake(leaf: StrikeLeaf, rng: np.random.Generator, model: IsingModel) -> StrikeLeaf:
    """What a cheater sends instead of simulating: random basis states, their true energies."""
    idx = rng.integers(0, 1 << model.num_variables, leaf.spec.shots)
    return StrikeLeaf(leaf.spec, idx, model.energies(spins_from_indices(idx, 8)))


def commit(leaves: list[StrikeLeaf]) -> tuple[SignedCommitment, MerkleTree]:
    return commit_leaves(KEY, batch_id([leaf.spec for leaf in leaves]), leaves)


def revealer(leaves: list[StrikeLeaf], tree: MerkleTree) -> Reveal:
    return lambda k: (leaves[k], tree.proof(k))


def test_checks_for_detection() -> None:
    assert checks_for_detection(0.1, 0.99) == 44
    assert 1 - 0.9**44 >= 0.99 > 1 - 0.9**43


def test_honest_solver_always_passes(model: IsingModel, honest: list[StrikeLeaf]) -> None:
    signed, tree = commit(honest)
    verifier = Verifier(model, "reference")  # another backend than the solver's
    issued = [leaf.spec.digest() for leaf in honest]
    for trial in range(20):
        randomness = challenge_from_block_hash(trial.to_bytes(32, "big"), signed)
        check = verifier.spot_check(signed, randomness, 5, revealer(honest, tree),
                                    issued)
        assert check.passed and len(set(check.checked)) == 5


def test_cheaters_are_caught_at_least_at_the_predicted_rate(
        model: IsingModel, honest: list[StrikeLeaf]) -> None:
    rng = np.random.default_rng(11)
    verifier = Verifier(model, "fast")
    f, k, trials = 0.2, 5, 200
    fakes = round(f * len(honest))
    caught = 0
    for _ in range(trials):
        leaves = list(honest)
        for index in rng.choice(len(leaves), fakes, replace=False):
            leaves[index] = fake(leaves[index], rng, model)
        signed, tree = commit(leaves)
        randomness = challenge_from_block_hash(rng.bytes(32), signed)
        check = verifier.spot_check(signed, randomness, k, revealer(leaves, tree))
        caught += not check.passed
    bound = 1 - (1 - f) ** k
    sigma = math.sqrt(bound * (1 - bound) / trials)
    # distinct checks catch more often than independent ones; allow 4 sigma of bad luck
    assert caught / trials >= bound - 4 * sigma, (caught, trials, bound)


def test_evidence_convinces_a_third_party(model: IsingModel, honest: list[StrikeLeaf]) -> None:
    rng = np.random.default_rng(2)
    leaves = [fake(leaf, rng, model) for leaf in honest]
    signed, tree = commit(leaves)
    check = Verifier(model).spot_check(signed, bytes(32), 3, revealer(leaves, tree))
    assert check.evidence is not None
    evidence = FraudEvidence.from_bytes(check.evidence.to_bytes())
    reason = check_fraud_evidence(evidence, model, backend="mps")
    assert KEY.public_key().compressed.hex() in reason and "shots" in reason
    # the evidence does not prove fraud with an honest leaf, a forged path or another model
    k = evidence.proof.index
    with pytest.raises(InvalidCommitment, match="does not lead"):
        check_fraud_evidence(FraudEvidence(evidence.signed, evidence.proof, honest[k], ()), model)
    honest_signed, honest_tree = commit(honest)
    with pytest.raises(InvalidCommitment, match="honestly"):
        check_fraud_evidence(FraudEvidence(honest_signed, honest_tree.proof(k),
                                           honest[k], ()), model)
    other = maxcut_to_ising(random_regular_graph(3, 8, seed=4))
    with pytest.raises(InvalidCommitment, match="another model"):
        check_fraud_evidence(evidence, other)
    with pytest.raises(InvalidCommitment):
        FraudEvidence.from_bytes(check.evidence.to_bytes()[:-3])


def test_faked_energies_are_fraud(model: IsingModel, honest: list[StrikeLeaf]) -> None:
    leaves = [StrikeLeaf(leaf.spec, leaf.indices, leaf.energies - 1.0) for leaf in honest]
    signed, tree = commit(leaves)
    check = Verifier(model).spot_check(signed, bytes(32), 1, revealer(leaves, tree))
    assert check.evidence is not None
    assert "energies" in check_fraud_evidence(check.evidence, model)


def test_unproven_or_unissued_leaves_are_refused(model: IsingModel,
                                                 honest: list[StrikeLeaf]) -> None:
    signed, tree = commit(honest)
    verifier = Verifier(model)
    def swapped(k: int) -> tuple[StrikeLeaf, MerkleProof]:
        return honest[(k + 1) % 40], tree.proof(k)

    with pytest.raises(InvalidCommitment, match="does not lead"):
        verifier.spot_check(signed, bytes(32), 2, swapped)
    def other(k: int) -> tuple[StrikeLeaf, MerkleProof]:
        return honest[k], MerkleProof(k + 1, 40, tree.proof(k + 1).siblings)

    with pytest.raises(InvalidCommitment, match="asked for leaf"):
        verifier.spot_check(signed, bytes(32), 2, other)
    issued = [leaf.spec.digest() for leaf in reversed(honest)]
    with pytest.raises(InvalidCommitment, match="not issued"):
        verifier.spot_check(signed, bytes(32), 2, revealer(honest, tree), issued)


def test_challenge_randomness(honest: list[StrikeLeaf]) -> None:
    signed, _ = commit(honest)
    beacon = Beacon(bytes(range(32)))
    r1 = challenge_from_beacon(beacon.commitment, beacon.secret, signed)
    with pytest.raises(InvalidCommitment, match="beacon"):
        challenge_from_beacon(beacon.commitment, bytes(32), signed)
    assert r1 != challenge_from_block_hash(bytes(32), signed)
    picks = challenge_indices(r1, 40, 44)
    assert sorted(picks) == list(range(40))  # more checks than leaves: every leaf once
    few = challenge_indices(r1, 1000, 10)
    assert len(set(few)) == 10 and all(0 <= k < 1000 for k in few)
    assert few == challenge_indices(r1, 1000, 10)

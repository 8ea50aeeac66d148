"""The work proof: packing, distances, verification and the greedy miner helper vs brute force."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poqw.chain import (
    WorkProof,
    build_topology,
    derive_instance,
    instance_energies,
    make_proof,
    pack_spins,
    pairwise_distances,
    unpack_spins,
    verify_proof,
)
from poqw.chain.instance import Instance
from poqw.chain.types import Hash32
from poqw.errors import InvalidProof
from poqw.problems import energy_diagonal, index_to_spins


def small_instance(n: int = 10, seed: int = 0) -> Instance:
    t = build_topology("regular3", n)
    return derive_instance(t, hashlib.sha256(bytes([seed])).digest())


def all_states(inst: Instance) -> tuple[np.ndarray, np.ndarray]:
    n = inst.num_variables
    spins = index_to_spins(np.arange(2**n), n).astype(np.int64)
    return spins, instance_energies(inst, spins)


@given(st.integers(1, 40), st.integers(1, 6), st.integers(0, 2**32))
def test_pack_unpack_roundtrip_and_layout(n, k, seed):
    rng = np.random.default_rng(seed)
    spins = rng.choice([-1, 1], size=(k, n)).astype(np.int64)
    packed = pack_spins(spins)
    assert all(len(p) == (n + 7) // 8 for p in packed)
    assert np.array_equal(unpack_spins(packed, n), spins)
    for row, p in zip(spins, packed, strict=True):  # bit j of byte j//8 set <=> spin -1
        for j in range(n):
            assert bool(p[j // 8] >> (j % 8) & 1) == (row[j] == -1)


@given(st.integers(1, 30), st.integers(0, 2**32))
def test_pairwise_distances_match_loops(n, seed):
    rng = np.random.default_rng(seed)
    spins = rng.choice([-1, 1], size=(5, n)).astype(np.int64)
    d = pairwise_distances(spins)
    for i, j in itertools.product(range(5), repeat=2):
        ham = int(np.sum(spins[i] != spins[j]))
        assert d[i, j] == min(ham, n - ham)
    assert np.all(pairwise_distances(np.vstack([spins[:1], -spins[:1]])) == 0)


def test_energy_matches_the_exact_diagonal():
    inst = small_instance(12)
    _, energies = all_states(inst)
    assert np.array_equal(energies, energy_diagonal(inst.to_model()).astype(np.int64))


def brute_force_proof_exists(energies, spins, k, d_min, bound):
    """Any k states under the bound with pairwise distance >= d_min (exhaustive oracle)."""
    ok = np.flatnonzero(energies <= bound)
    n = spins.shape[1]
    for combo in itertools.combinations(ok, k):
        s = spins[list(combo)]
        ov = s @ s.T
        ham = (n - ov) // 2
        dist = np.minimum(ham, n - ham)
        if np.all(dist[np.triu_indices(k, 1)] >= d_min):
            return True
    return False


@pytest.mark.parametrize("seed", range(4))
def test_make_proof_is_sound_and_finds_proofs_the_oracle_confirms(seed):
    inst = small_instance(8, seed)
    spins, energies = all_states(inst)
    k, d_min = 2, 2
    found = 0
    for bound in range(int(energies.min()), int(energies.min()) + 6):
        proof = make_proof(inst, spins, k, d_min, bound)
        exists = brute_force_proof_exists(energies, spins, k, d_min, bound)
        if proof is not None:
            found += 1
            assert exists
            verify_proof(inst, proof, k, d_min, bound)
        else:  # greedy keeps the lowest state, so it fails only if that has no partner
            keys = pack_spins(spins)
            best = spins[min(range(len(spins)), key=lambda i: (energies[i], keys[i]))]
            ok = spins[energies <= bound]
            ham = np.sum(ok != best, axis=1)
            assert np.all(np.minimum(ham, 8 - ham) < d_min)
    assert found


def test_verify_proof_rejects_each_broken_rule():
    inst = small_instance(10)
    spins, energies = all_states(inst)
    k, d_min = 3, 2
    bound = int(np.sort(energies)[40])
    proof = make_proof(inst, spins, k, d_min, bound)
    assert proof is not None
    verify_proof(inst, proof, k, d_min, bound)
    sols = list(proof.solutions)
    cases = [
        (sols[:2], "proof has 2 solutions, expected exactly 3"),
        ([*sols[:2], sols[2] + b"\x00"], "solution 2 is 3 bytes, expected 2"),
        ([sols[0], sols[1], sols[2][:1] + bytes([sols[2][1] | 0x80])], "padding bits"),
        ([sols[0], sols[0], sols[1]], "solutions 0 and 1 are duplicates"),
        ([sols[1], sols[0], sols[2]], "not in strictly ascending byte order"),
    ]
    for bad, reason in cases:
        with pytest.raises(InvalidProof, match=reason):
            verify_proof(inst, WorkProof(tuple(bad)), k, d_min, bound)
    with pytest.raises(InvalidProof, match="above the bound"):
        verify_proof(inst, proof, k, d_min, int(energies.min()) - 1)
    with pytest.raises(InvalidProof, match="< d_min 6"):
        verify_proof(inst, proof, k, 6, bound)


def test_a_vector_and_its_global_flip_count_as_one():
    t = build_topology("regular3", 10)
    inst = Instance(Hash32(bytes(32)), np.zeros(10, dtype=np.int64), np.ones(15, dtype=np.int64),
                    t.edges)  # no fields: E(s) == E(-s)
    s = np.array([1, -1] * 5, dtype=np.int64)
    sols = tuple(sorted(pack_spins(np.vstack([s, -s]))))
    e = int(instance_energies(inst, s[None, :])[0])
    with pytest.raises(InvalidProof, match="distance 0"):
        verify_proof(inst, WorkProof(sols), 2, 1, e)


def test_validity_does_not_depend_on_the_order_candidates_arrive_in():
    inst = small_instance(10, 3)
    spins, _ = all_states(inst)
    rng = np.random.default_rng(1)
    first = make_proof(inst, spins, 3, 3, 0)
    for _ in range(5):
        again = make_proof(inst, spins[rng.permutation(len(spins))], 3, 3, 0)
        assert again == first


def test_make_proof_says_none_when_there_is_nothing_to_prove():
    inst = small_instance(10)
    spins, energies = all_states(inst)
    assert make_proof(inst, spins, 2, 1, int(energies.min()) - 1) is None
    assert make_proof(inst, spins, 2**10 + 1, 0, 100) is None
    assert make_proof(inst, spins[:0], 1, 0, 100) is None


def test_make_proof_accepts_an_ising_model():
    inst = small_instance(10)
    spins, energies = all_states(inst)
    bound = int(np.sort(energies)[30])
    assert make_proof(inst.to_model(), spins, 3, 2, bound) == make_proof(inst, spins, 3, 2, bound)


@settings(max_examples=30)
@given(st.integers(0, 2**32), st.integers(1, 5), st.integers(0, 4))
def test_verify_accepts_exactly_what_a_direct_check_accepts(seed, k, d_min):
    inst = small_instance(10, seed % 7)
    rng = np.random.default_rng(seed)
    spins = rng.choice([-1, 1], size=(k, 10)).astype(np.int64)
    sols = pack_spins(spins)
    order = sorted(range(k), key=lambda i: sols[i])
    proof = WorkProof(tuple(sols[i] for i in order))
    energies = instance_energies(inst, spins)
    bound = int(np.median(energies))
    dist = pairwise_distances(spins)
    expected = bool(np.all(energies <= bound)) and bool(
        np.all(dist[np.triu_indices(k, 1)] >= d_min)) and len(set(sols)) == k
    try:
        verify_proof(inst, proof, k, d_min, bound)
        accepted = True
    except InvalidProof:
        accepted = False
    assert accepted == expected

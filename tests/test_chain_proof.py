"""The work proof: packing, distances, verification, the plateau rule, the ticket and the miner
helpers vs brute force."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poqw.chain import (
    MAX_TICKET_TARGET,
    WorkProof,
    build_topology,
    canonical_plateau,
    derive_instance,
    instance_energies,
    lead_proofs,
    make_proof,
    pack_spins,
    pairwise_distances,
    proof_ticket,
    unpack_spins,
    verify_proof,
)
from poqw.chain.instance import Instance
from poqw.chain.proof import local_fields
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


def is_canonical(inst: Instance, s: np.ndarray) -> bool:
    """The plateau rule read literally: every spin whose local field is zero is +1."""
    for i in range(inst.num_variables):
        field = int(inst.h[i])
        for (a, b), j in zip(inst.edges, inst.J, strict=True):
            if a == i:
                field += int(j) * int(s[b])
            elif b == i:
                field += int(j) * int(s[a])
        if field == 0 and s[i] == -1:
            return False
    return True


def canonical_states(inst: Instance) -> tuple[np.ndarray, np.ndarray]:
    spins, energies = all_states(inst)
    keep = np.array([is_canonical(inst, s) for s in spins])
    return spins[keep], energies[keep]


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
    every, _ = all_states(inst)
    spins, energies = canonical_states(inst)  # the only vectors a proof may hold
    k, d_min = 2, 2
    found = 0
    for bound in range(int(energies.min()), int(energies.min()) + 6):
        proof = make_proof(inst, every, k, d_min, bound)
        assert proof == make_proof(inst, spins, k, d_min, bound)
        exists = brute_force_proof_exists(energies, spins, k, d_min, bound)
        if proof is not None:
            found += 1
            assert exists
            verify_proof(inst, proof, k, d_min, bound, MAX_TICKET_TARGET)
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
    verify_proof(inst, proof, k, d_min, bound, MAX_TICKET_TARGET)
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
            verify_proof(inst, WorkProof(tuple(bad)), k, d_min, bound, MAX_TICKET_TARGET)
    with pytest.raises(InvalidProof, match="above the bound"):
        verify_proof(inst, proof, k, d_min, int(energies.min()) - 1, MAX_TICKET_TARGET)
    with pytest.raises(InvalidProof, match="< d_min 6"):
        verify_proof(inst, proof, k, 6, bound, MAX_TICKET_TARGET)


def test_a_vector_and_its_global_flip_count_as_one():
    t = build_topology("regular3", 10)
    inst = Instance(Hash32(bytes(32)), np.zeros(10, dtype=np.int64), np.ones(15, dtype=np.int64),
                    t.edges)  # no fields: E(s) == E(-s)
    s = np.array([1, -1] * 5, dtype=np.int64)
    sols = tuple(sorted(pack_spins(np.vstack([s, -s]))))
    e = int(instance_energies(inst, s[None, :])[0])
    with pytest.raises(InvalidProof, match="distance 0"):
        verify_proof(inst, WorkProof(sols), 2, 1, e, MAX_TICKET_TARGET)


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
    spins, energies = canonical_states(inst)  # a model knows no plateau rule: give it canonical
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
        np.all(dist[np.triu_indices(k, 1)] >= d_min)) and len(set(sols)) == k and all(
        is_canonical(inst, s) for s in spins)
    try:
        verify_proof(inst, proof, k, d_min, bound, MAX_TICKET_TARGET)
        accepted = True
    except InvalidProof:
        accepted = False
    assert accepted == expected


def test_canonical_plateau_keeps_energies_and_meets_the_rule():
    inst = small_instance(10, 5)
    spins, energies = all_states(inst)
    moved = canonical_plateau(inst, spins)
    assert np.array_equal(instance_energies(inst, moved), energies)
    assert all(is_canonical(inst, s) for s in moved[::7])
    fields = local_fields(inst, spins[:50])
    for s, f in zip(spins[:50], fields, strict=True):  # against the literal sum
        for i in range(10):
            lit = int(inst.h[i]) + sum(int(j) * int(s[b if a == i else a])
                                       for (a, b), j in zip(inst.edges, inst.J, strict=True)
                                       if i in (a, b))
            assert f[i] == lit


def test_a_solution_off_its_plateau_representative_is_refused():
    inst = small_instance(10, 1)
    spins, _energies = all_states(inst)
    loose = [s for s in spins if not is_canonical(inst, s)]
    s = loose[0]
    proof = WorkProof(pack_spins(s[None, :]))
    e = int(instance_energies(inst, s[None, :])[0])
    with pytest.raises(InvalidProof, match="not its plateau's canonical vector: spin"):
        verify_proof(inst, proof, 1, 0, e, MAX_TICKET_TARGET)
    fixed = WorkProof(pack_spins(canonical_plateau(inst, s[None, :])))
    verify_proof(inst, fixed, 1, 0, e, MAX_TICKET_TARGET)


def test_the_ticket_is_the_lead_solutions_and_decides_at_its_target():
    inst = small_instance(10, 2)
    spins, energies = all_states(inst)
    bound = int(np.sort(energies)[40])
    proof = make_proof(inst, spins, 3, 2, bound)
    assert proof is not None
    e = instance_energies(inst, unpack_spins(proof.solutions, 10))
    lead = proof.solutions[int(np.flatnonzero(e == e.min())[0])]  # lowest energy, first in order
    ticket = proof_ticket(inst.seed, lead)
    assert ticket == int.from_bytes(hashlib.sha256(
        bytes([len(b"poqw/ticket/v1")]) + b"poqw/ticket/v1" + inst.seed + lead).digest(), "big")
    verify_proof(inst, proof, 3, 2, bound, ticket)  # at the target: accepted
    with pytest.raises(InvalidProof, match=f"proof ticket 0x{ticket:064x} is above the ticket"):
        verify_proof(inst, proof, 3, 2, bound, ticket - 1)


def test_lead_proofs_draw_one_ticket_per_vector_that_can_lead_a_proof():
    inst = small_instance(10, 4)
    spins, _energies = all_states(inst)
    cs, ce = canonical_states(inst)
    k, d_min = 3, 2
    bound = int(np.sort(ce)[12])
    drawn = lead_proofs(inst, spins, k, d_min, bound)
    assert drawn[0][1] == make_proof(inst, spins, k, d_min, bound)
    leads = [lead for lead, _ in drawn]
    assert len(set(leads)) == len(leads)
    for lead, proof in drawn:
        verify_proof(inst, proof, k, d_min, bound, proof_ticket(inst.seed, lead))
    # oracle: a canonical vector under the bound leads some proof iff k - 1 diverse partners
    # come after it in (energy, bytes) order; greedy finds one whenever one exists here
    keys = pack_spins(cs)
    ok = np.flatnonzero(ce <= bound)
    order = sorted(ok, key=lambda i: (int(ce[i]), keys[i]))
    expected = []
    for pos, a in enumerate(order):
        later = order[pos + 1:]
        for combo in itertools.combinations(later, k - 1):
            group = cs[[a, *combo]]
            d = pairwise_distances(group)
            if np.all(d[np.triu_indices(k, 1)] >= d_min):
                expected.append(keys[a])
                break
    assert leads == expected

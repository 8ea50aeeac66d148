"""Block validity: the saved invalid-block corpus, QUIP v0.1's flaws, and a mined devnet chain."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import rlp

import poqw.errors as errors
from poqw.chain import (
    Block,
    ExecutionOutcome,
    Header,
    MemoryChainView,
    WorkProof,
    builtin_genesis,
    decode_block,
    decode_header,
    decode_proof,
    genesis_header,
    seal_message,
    validate_block,
    validate_header,
    validate_header_work,
)
from poqw.chain.mining import sa_solver, seal_block, search_proof, unsealed_header
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.crypto.hybrid import HybridPrivateKey, HybridSigner
from poqw.crypto.mldsa import MlDsaPrivateKey

CORPUS = json.loads((Path(__file__).parent / "vectors" / "chain" / "invalid_blocks.json")
                    .read_text())
GENESIS = builtin_genesis(CORPUS["genesis"])
# the same rules anchored at the easiest bound's work: mined blocks need one or two runs
CHEAP = replace(GENESIS, difficulty=replace(GENESIS.difficulty,
                                            initial_work=GENESIS.difficulty.work[-1]))


def _b(x: str) -> bytes:
    return bytes.fromhex(x[2:])


def signer(label: bytes) -> HybridSigner:
    ecdsa = EcdsaPrivateKey(hash32(b"poqw/test-key/ecdsa", label))
    return HybridSigner(HybridPrivateKey(ecdsa, MlDsaPrivateKey(hash32(b"poqw/test-key/mldsa",
                                                                         label))))


def raw_block(data: bytes) -> Block:
    """A block straight from its RLP, without the decoder's limits (to reach validation)."""
    header, proof, txs, public_key, signature = rlp.decode(data)
    return Block(Header.from_rlp(header), WorkProof(tuple(proof)), tuple(txs), public_key,
                 signature)


def corpus_context() -> tuple[MemoryChainView, Header, ExecutionOutcome]:
    headers = [decode_header(_b(h)) for h in CORPUS["chain"]]
    ex = CORPUS["execution"]
    outcome = ExecutionOutcome(_b(ex["state_root"]), _b(ex["receipt_root"]), ex["gas_used"])
    return MemoryChainView(headers), headers[-1], outcome


@pytest.mark.parametrize("case", CORPUS["cases"], ids=lambda c: c["name"])
def test_invalid_block_corpus(case):
    view, parent, outcome = corpus_context()
    data = _b(case["block"]) + bytes(case.get("append_zero_bytes", 0))
    if case["stage"] == "decode":
        with pytest.raises(errors.DecodeError) as info:
            decode_block(data, GENESIS.block_limits())
        assert case["reason"] in str(info.value)
        return
    if case["decode_error"]:
        with pytest.raises(errors.DecodeError) as dec:
            decode_block(data, GENESIS.block_limits())
        assert str(dec.value) == case["decode_error"]
    else:
        assert decode_block(data, GENESIS.block_limits()).encode() == data
    block = raw_block(data)
    if not case["error"]:
        validate_block(block, parent, view, CORPUS["now"], GENESIS, outcome)
        validate_header(block.header, parent, view, CORPUS["now"], GENESIS)
        return
    error = getattr(errors, case["error"])
    with pytest.raises(errors.InvalidBlock) as info:
        validate_block(block, parent, view, CORPUS["now"], GENESIS, outcome)
    assert type(info.value) is error
    assert case["reason"] in info.value.reason
    assert info.value.block is block


def test_corpus_covers_every_rule_family():
    names = " ".join(c["name"] for c in CORPUS["cases"])
    for needle in ["topology", "flaw 1", "flaw 2", "flaw 5", "flaw 6", "flaw 9", "too few",
                   "too many", "duplicate solutions", "diverse", "oversized", "bad signature",
                   "future timestamp", "root", "ticket target chosen", "plateau",
                   "ticket above"]:
        assert needle in names


def test_execution_runs_only_after_the_cheap_rules():
    view, parent, outcome = corpus_context()
    bad = next(c for c in CORPUS["cases"] if c["name"].startswith("bad signature"))
    block = decode_block(_b(bad["block"]), GENESIS.block_limits())
    calls = []

    def execute(b: Block) -> ExecutionOutcome:
        calls.append(b)
        return outcome

    with pytest.raises(errors.InvalidBlock, match="bad signature"):
        validate_block(block, parent, view, CORPUS["now"], GENESIS, execute)
    assert calls == []
    valid = decode_block(_b(CORPUS["cases"][0]["block"]), GENESIS.block_limits())
    validate_block(valid, parent, view, CORPUS["now"], GENESIS, execute)
    assert calls == [valid]


def test_validate_header_rules():
    view, parent, _ = corpus_context()
    header = decode_block(_b(CORPUS["cases"][0]["block"]), GENESIS.block_limits()).header
    now = CORPUS["now"]
    validate_header(header, parent, view, now, GENESIS)
    for change, reason in [({"number": 9}, "is not parent's"),
                           ({"parent_hash": bytes(32)}, "parent hash"),
                           ({"energy_bound": header.energy_bound - 1}, "differs from the bound"),
                           ({"ticket_target": header.ticket_target // 2},
                            "differs from the target"),
                           ({"timestamp": now + 100}, "in the future"),
                           ({"gas_used": header.gas_limit + 1}, "exceeds the gas limit")]:
        with pytest.raises(errors.InvalidHeader, match=reason) as info:
            validate_header(replace(header, **change), parent, view, now, GENESIS)
        assert isinstance(info.value.block, Header)


@pytest.mark.parametrize("case", [c for c in CORPUS["cases"] if c["stage"] != "decode"
                                  and c["error"] in ("", "InvalidProof", "InvalidHeader")],
                         ids=lambda c: c["name"])
def test_header_work_is_checked_without_the_body(case):
    # issue 10: a header sent with its proof is checked on its own, so an invented header
    # chain costs real work; every proof and header fault of the corpus is caught this way
    view, parent, _ = corpus_context()
    block = raw_block(_b(case["block"]) + bytes(case.get("append_zero_bytes", 0)))
    if not case["error"]:
        validate_header_work(block.header, block.proof, parent, view, CORPUS["now"], GENESIS)
        assert decode_proof(block.proof.encode(), GENESIS.block_limits()) == block.proof
        return
    with pytest.raises(getattr(errors, case["error"])) as info:
        validate_header_work(block.header, block.proof, parent, view, CORPUS["now"], GENESIS)
    assert case["reason"] in info.value.reason


def test_a_header_with_another_blocks_proof_or_a_bad_proof_encoding_is_refused():
    view, parent, _ = corpus_context()
    valid = decode_block(_b(CORPUS["cases"][0]["block"]), GENESIS.block_limits())
    other = WorkProof(tuple(sorted(bytes(len(s)) if i == 0 else s
                                   for i, s in enumerate(valid.proof.solutions))))
    with pytest.raises(errors.InvalidProof, match="proof hash"):
        validate_header_work(valid.header, other, parent, view, CORPUS["now"], GENESIS)
    limits = GENESIS.block_limits()
    encoded = valid.proof.encode()
    for bad, reason in [(rlp.encode(list(valid.proof.solutions[:-1])), "exactly"),
                        (encoded + b"\x00", "not canonical RLP"),
                        (bytes(10_000), "over the limit")]:
        with pytest.raises(errors.DecodeError, match=reason):
            decode_proof(bad, limits)


def test_mined_chain_validates_block_by_block_and_rejects_cross_miner_replay():
    g = CHEAP
    alice, bob = signer(b"alice"), signer(b"bob")
    state = hash32(b"test/state", b"")
    g0 = genesis_header(g, state, state)
    view = MemoryChainView([g0])
    solve = sa_solver(num_reads=64, num_sweeps=16, seed=3)
    parent = g0
    for i, who in enumerate([alice, alice, bob, alice]):
        salts = (hash32(b"test/salt", bytes([i, j])) for j in range(500))
        found = search_proof(g, parent, view, who.address(), salts, solve)
        assert found is not None
        salt, proof = found
        header = unsealed_header(g, parent, view, who.address(), parent.timestamp + 10, salt,
                                 proof, state, state)
        block = seal_block(header, proof, (), who.public_key.to_bytes(),
                           lambda m, w=who: w.sign(m).to_bytes())
        block = decode_block(block.encode(), g.block_limits())
        now = int(header.timestamp)
        validate_block(block, parent, view, now, g, ExecutionOutcome(state, state, 0))
        # flaw 5: another miner can neither re-sign the proof nor claim it as its own
        thief = bob if who is alice else alice
        stolen = replace(block, public_key=thief.public_key.to_bytes(),
                         signature=thief.sign(seal_message(header)).to_bytes())
        with pytest.raises(errors.InvalidBlock, match="does not belong to the miner"):
            validate_block(stolen, parent, view, now, g, ExecutionOutcome(state, state, 0))
        claimed = replace(header, miner=thief.address())
        relabelled = seal_block(claimed, proof, (), thief.public_key.to_bytes(),
                                lambda m, t=thief: t.sign(m).to_bytes())
        with pytest.raises(errors.InvalidProof):
            validate_block(relabelled, parent, view, now, g, ExecutionOutcome(state, state, 0))
        view.add(header)
        parent = header
    assert parent.number == 4


def test_custom_signature_functions_are_used():
    view, parent, outcome = corpus_context()
    block = decode_block(_b(CORPUS["cases"][0]["block"]), GENESIS.block_limits())
    with pytest.raises(errors.InvalidBlock, match="does not verify"):
        validate_block(block, parent, view, CORPUS["now"], GENESIS, outcome,
                       verify_signature=lambda pk, m, s: False)
    with pytest.raises(errors.InvalidBlock, match="does not belong"):
        validate_block(block, parent, view, CORPUS["now"], GENESIS, outcome,
                       address_of=lambda pk: bytes(20))
    garbage = replace(block, public_key=b"\x01\x02junk")
    with pytest.raises(errors.InvalidBlock, match="does not belong"):
        validate_block(garbage, parent, view, CORPUS["now"], GENESIS, outcome)


def test_a_reused_xmss_one_time_key_is_rejected(tmp_path):
    from poqw.chain.signing import one_time_key_use
    from poqw.crypto.hybrid import Scheme
    from poqw.crypto.keystate import IndexCounter
    from poqw.crypto.xmss import XmssPrivateKey

    g = CHEAP
    key = HybridPrivateKey(EcdsaPrivateKey(hash32(b"poqw/test-key/ecdsa", b"x")),
                           XmssPrivateKey.from_seed(bytes(range(96)), 2))
    assert key.scheme is Scheme.ECDSA_XMSS
    # a restored backup: two counters for one key both hand out index 0
    first = HybridSigner(key, IndexCounter.create(tmp_path / "a.json", key.public_key.key_id(), 4))
    again = HybridSigner(key, IndexCounter.create(tmp_path / "b.json", key.public_key.key_id(), 4))
    state = hash32(b"test/state", b"")
    g0 = genesis_header(g, state, state)
    view = MemoryChainView([g0])
    solve = sa_solver(seed=5)
    used: set[tuple[bytes, int]] = set()

    def reused(pk: bytes, sig: bytes) -> bool:
        use = one_time_key_use(pk, sig)
        return use is not None and use in used

    parent = g0
    for i, who in enumerate([first, again]):
        found = search_proof(g, parent, view, who.address(),
                             (hash32(b"s", bytes([i, j])) for j in range(500)), solve)
        assert found is not None
        header = unsealed_header(g, parent, view, who.address(), parent.timestamp + 10,
                                 found[0], found[1], state, state)
        block = seal_block(header, found[1], (), who.public_key.to_bytes(),
                           lambda m, w=who: w.sign(m).to_bytes())
        outcome = ExecutionOutcome(state, state, 0)
        if i == 0:
            validate_block(block, parent, view, int(header.timestamp), g, outcome,
                           one_time_key_reused=reused)
            use = one_time_key_use(block.public_key, block.signature)
            assert use == (key.public_key.key_id(), 0)
            used.add(use)
            view.add(header)
            parent = header
        else:
            with pytest.raises(errors.InvalidBlock, match="one-time key was already used"):
                validate_block(block, parent, view, int(header.timestamp), g, outcome,
                               one_time_key_reused=reused)

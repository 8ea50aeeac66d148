"""Regenerate the chain test vectors: ``.venv/bin/python tests/vectors/chain/make_vectors.py``.

Writes ``topology.json``, ``instances.json``, ``encoding.json`` and ``invalid_blocks.json`` next to
this file. Everything is derived from fixed seeds and keys; the saved files are the vectors (the
hybrid ML-DSA signatures are hedged, so a rerun changes signature bytes, never validity). Each
invalid block breaks exactly one rule of a valid block ``B2`` and is re-signed by its miner
unless the signature is what is wrong. B1 and B2 come on schedule, so their difficulty is the
devnet's lottery bound with a ticket target (a few thousand annealing runs each: about a minute).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from poqw.chain import (
    Block,
    Header,
    MemoryChainView,
    WorkProof,
    build_topology,
    builtin_genesis,
    canonical_plateau,
    decode_block,
    derive_instance,
    derive_instance_reference,
    derive_seed,
    genesis_header,
    make_proof,
    next_difficulty,
    pack_spins,
    seal_message,
    transactions_root,
    validate_block,
)
from poqw.chain.instance import instance_energies
from poqw.chain.mining import sa_solver, search_proof, unsealed_header
from poqw.chain.proof import (
    lead_index,
    local_fields,
    pairwise_distances,
    proof_ticket,
    unpack_spins,
)
from poqw.chain.topology import Topology, topology_hash
from poqw.chain.validation import ExecutionOutcome
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.crypto.hybrid import HybridPrivateKey, HybridSigner
from poqw.crypto.mldsa import MlDsaPrivateKey
from poqw.errors import DecodeError, PoqwError

HERE = Path(__file__).parent


def hx(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def test_signer(label: bytes) -> HybridSigner:
    """A deterministic ECDSA + ML-DSA-44 test key (never use such keys outside tests)."""
    ecdsa = EcdsaPrivateKey(hash32(b"poqw/test-key/ecdsa", label))
    mldsa = MlDsaPrivateKey(hash32(b"poqw/test-key/mldsa", label))
    return HybridSigner(HybridPrivateKey(ecdsa, mldsa))


def write(name: str, doc: Any) -> None:
    (HERE / name).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {name}")


def topology_vectors() -> None:
    out = []
    for family, size in (("regular3", 24), ("regular3", 10), ("chimera", 1), ("zephyr", 2)):
        t = build_topology(family, size)
        entry: dict[str, Any] = {"family": family, "size": size, "num_nodes": t.num_nodes,
                                 "num_edges": t.num_edges, "hash": hx(t.hash)}
        if t.num_edges <= 64:
            entry["edges"] = t.edges.tolist()
        out.append(entry)
    write("topology.json", {"description": "topology family+size -> canonical edges and hash",
                            "vectors": out})


def instance_vectors() -> None:
    out = []
    cases = [("regular3", 24, i) for i in range(6)] + [("zephyr", 2, 0), ("regular3", 10, 0)]
    for family, size, i in cases:
        t = build_topology(family, size)
        parent = hash32(b"poqw/test/parent", bytes([i]))
        miner = hash32(b"poqw/test/miner", bytes([i]))[:20]
        salt = hash32(b"poqw/test/salt", bytes([i]))
        seed = derive_seed(parent, miner, salt)
        inst = derive_instance_reference(t, seed)
        out.append({"topology": f"{family}-{size}", "parent_hash": hx(parent),
                     "miner": hx(miner), "salt": hx(salt), "seed": hx(seed),
                     "h": inst.h.tolist(), "J": inst.J.tolist()})
    write("instances.json", {"description": "seed = hash32('poqw/instance/v1', parent, miner, "
                             "salt); h and J from its SHAKE-256 stream (see poqw.chain.instance)",
                             "vectors": out})


class Corpus:
    """A devnet chain G -> B1 and a valid candidate B2 to break one rule at a time."""

    def __init__(self) -> None:
        self.genesis = builtin_genesis("devnet")
        self.alice, self.mallory = test_signer(b"alice"), test_signer(b"mallory")
        g = genesis_header(self.genesis, hash32(b"poqw/test/state", b"0"),
                           hash32(b"poqw/test/receipts", b""))
        self.view = MemoryChainView([g])
        self.solve = sa_solver(num_reads=64, num_sweeps=16, seed=1)
        self.b1 = self.mine(g, self.alice, self.genesis.timestamp + 10, b"b1")
        self.view.add(self.b1.header)
        self.parent = self.b1.header
        self.now = self.genesis.timestamp + 25
        self.outcome = ExecutionOutcome(hash32(b"poqw/test/state", b"2"),
                                        hash32(b"poqw/test/receipts", b"2"), 0)
        self.txs = (b"\x02tx-one", b"\x02tx-two")
        self.b2 = self.mine(self.parent, self.alice, self.genesis.timestamp + 20, b"b2",
                            self.txs)

    def salts(self, tag: bytes) -> Any:
        return (hash32(b"poqw/test/salt", tag, i.to_bytes(4, "big")) for i in range(100_000))

    def mine(self, parent: Header, signer: HybridSigner, timestamp: int, tag: bytes,
             txs: tuple[bytes, ...] = ()) -> Block:
        found = search_proof(self.genesis, parent, self.view, signer.address(), self.salts(tag),
                             self.solve)
        assert found is not None
        salt, proof = found
        header = unsealed_header(self.genesis, parent, self.view, signer.address(), timestamp,
                                 salt, proof, hash32(b"poqw/test/state", tag),
                                 hash32(b"poqw/test/receipts", tag), 0, txs)
        if tag == b"b2":
            header = replace(header, state_root=self.outcome.state_root,
                             receipt_root=self.outcome.receipt_root)
        return self.seal(Block(header, proof, txs), signer)

    def seal(self, block: Block, signer: HybridSigner | None = None) -> Block:
        signer = signer or self.alice
        sig = signer.sign(seal_message(block.header)).to_bytes()
        return replace(block, public_key=signer.public_key.to_bytes(), signature=sig)

    def with_proof(self, block: Block, solutions: list[bytes]) -> Block:
        proof = WorkProof(tuple(solutions))
        return self.seal(Block(replace(block.header, proof_hash=proof.hash()), proof,
                               block.transactions))

    def with_header(self, block: Block, **changes: Any) -> Block:
        return self.seal(replace(block, header=replace(block.header, **changes)))

    def check(self, block: Block) -> PoqwError | None:
        try:
            validate_block(block, self.parent, self.view, self.now, self.genesis, self.outcome)
        except PoqwError as exc:
            return exc
        return None


def foreign_graph_block(c: Corpus) -> Block:
    """Flaw 1: the proof is solved on a graph of the miner's choosing (same size)."""
    h = c.b2.header
    for graph_seed in range(100):  # the miner shops for a graph whose puzzle is easy
        g = nx.random_regular_graph(3, 24, seed=graph_seed)
        edges = np.array(sorted((min(a, b), max(a, b)) for a, b in g.edges), dtype=np.int64)
        fake = Topology("regular3", 24, 24, edges, topology_hash(24, edges))
        inst = derive_instance(fake, derive_seed(h.parent_hash, h.miner, h.salt))
        proof = make_proof(inst, c.solve(inst), c.genesis.k, c.genesis.d_min,
                           int(h.energy_bound))
        if proof is not None:
            return c.with_proof(c.b2, list(proof.solutions))
    raise AssertionError("no easy foreign graph found")


def close_pair_block(c: Corpus) -> Block:
    """Two solutions under the bound but within d_min of each other."""
    h = c.b2.header
    inst = derive_instance(c.genesis.topology, derive_seed(h.parent_hash, h.miner, h.salt))
    sols = list(c.b2.proof.solutions)
    base = unpack_spins((sols[0],), inst.num_variables)[0]
    for j in range(inst.num_variables):
        near = base.copy()
        near[j] = -near[j]
        near = canonical_plateau(inst, near[None, :])[0]
        if instance_energies(inst, near[None, :])[0] > h.energy_bound:
            continue
        cand = sorted([sols[0], pack_spins(near)[0], *sols[2:]])
        if len(set(cand)) == len(cand):
            return c.with_proof(c.b2, cand)
    raise AssertionError("no close neighbour under the bound; change the seeds")


def off_plateau_block(c: Corpus) -> Block:
    """A solution moved off its plateau representative: a zero-field +1 spin flipped to -1
    (same energy, so only the plateau rule can refuse it)."""
    h = c.b2.header
    inst = derive_instance(c.genesis.topology, derive_seed(h.parent_hash, h.miner, h.salt))
    sols = list(c.b2.proof.solutions)
    spins = unpack_spins(tuple(sols), inst.num_variables)
    fields = local_fields(inst, spins)
    for i, j in zip(*np.nonzero((fields == 0) & (spins == 1)), strict=True):
        moved = spins[i].copy()
        moved[j] = -1
        cand = sorted([*sols[:i], pack_spins(moved)[0], *sols[i + 1:]])
        if len(set(cand)) == len(cand):
            return c.with_proof(c.b2, cand)
    raise AssertionError("no zero-field spin in B2's proof; change the seeds")


def losing_ticket_block(c: Corpus) -> Block:
    """A valid proof under the bound whose ticket misses the target (another salt)."""
    h = c.b2.header
    bound = int(h.energy_bound)
    for salt in c.salts(b"loser"):
        inst = derive_instance(c.genesis.topology, derive_seed(h.parent_hash, h.miner, salt))
        proof = make_proof(inst, c.solve(inst), c.genesis.k, c.genesis.d_min, bound)
        if proof is None:
            continue
        e = instance_energies(inst, unpack_spins(proof.solutions, inst.num_variables))
        if proof_ticket(inst.seed, proof.solutions[lead_index(e)]) > h.ticket_target:
            header = replace(h, salt=salt, proof_hash=proof.hash())
            return c.seal(Block(header, proof, c.b2.transactions))
    raise AssertionError("no losing proof found")


def corpus_vectors() -> None:
    c = Corpus()
    assert c.check(c.b2) is None, c.check(c.b2)
    assert c.b2.header.ticket_target == next_difficulty(c.genesis, c.parent, c.view).ticket_target
    assert c.b2.header.ticket_target < (1 << 256) - 1  # the lottery is on
    g, b2, hd = c.genesis, c.b2, c.b2.header
    sols = list(b2.proof.solutions)
    inst = derive_instance(g.topology, derive_seed(hd.parent_hash, hd.miner, hd.salt))
    spins = unpack_spins(tuple(sols), g.topology.num_nodes)
    assert (pairwise_distances(spins)[np.triu_indices(len(sols), 1)] >= g.d_min).all()
    rng = np.random.default_rng(7)
    high = None
    for _ in range(10000):  # a random vector: above the bound, far from the others
        s = rng.choice([-1, 1], size=g.topology.num_nodes)
        d = pairwise_distances(np.vstack([spins[1:], s]))[-1, :-1]
        if instance_energies(inst, s[None, :])[0] > hd.energy_bound and d.min() >= g.d_min:
            high = pack_spins(s)[0]
            break
    assert high is not None
    stolen = replace(b2, public_key=c.mallory.public_key.to_bytes(),
                     signature=c.mallory.sign(seal_message(hd)).to_bytes())
    relabelled = c.seal(replace(b2, header=replace(hd, miner=c.mallory.address())), c.mallory)
    bad_sig = bytearray(b2.signature)
    bad_sig[-1] ^= 1
    cases: list[tuple[str, str, Block | bytes, str, str]] = [
        ("valid", "validate", b2, "", ""),
        ("wrong parent number", "validate", c.with_header(b2, number=5), "InvalidHeader",
         "is not parent's"),
        ("wrong topology (solutions sized for another graph)", "validate",
         c.with_proof(b2, [s + b"\x00" for s in sols]), "InvalidProof",
         "proof is not on the genesis topology"),
        ("flaw 1: proof on a graph of the miner's choosing", "validate", foreign_graph_block(c),
         "InvalidProof", "above the bound"),
        ("flaw 2: energy bound chosen by the producer", "validate",
         c.with_header(b2, energy_bound=hd.energy_bound + 1), "InvalidHeader",
         "differs from the bound"),
        ("ticket target chosen by the producer", "validate",
         c.with_header(b2, ticket_target=(1 << 256) - 1), "InvalidHeader",
         "differs from the target"),
        ("solution off its plateau representative", "validate", off_plateau_block(c),
         "InvalidProof", "not its plateau's canonical vector"),
        ("proof ticket above the ticket target", "validate", losing_ticket_block(c),
         "InvalidProof", "is above the ticket target"),
        ("proof hash not in header", "validate",
         c.seal(replace(b2, proof=WorkProof(tuple(reversed(sols))))), "InvalidProof",
         "proof does not match the header's proof hash"),
        ("energy above bound", "validate", c.with_proof(b2, sorted([high, *sols[1:]])),
         "InvalidProof", "above the bound"),
        ("too few solutions", "validate", c.with_proof(b2, sols[:-1]), "InvalidProof",
         f"proof has {g.k - 1} solutions, expected exactly {g.k}"),
        ("too many solutions", "validate", c.with_proof(b2, sorted([*sols, high])),
         "InvalidProof", f"proof has {g.k + 1} solutions, expected exactly {g.k}"),
        ("duplicate solutions", "validate", c.with_proof(b2, [sols[0], *sols[:-1]]),
         "InvalidProof", "are duplicates"),
        ("flaw 9: non-canonical solution order", "validate",
         c.with_proof(b2, [sols[1], sols[0], *sols[2:]]), "InvalidProof",
         "not in strictly ascending byte order"),
        ("insufficiently diverse", "validate", close_pair_block(c), "InvalidProof",
         f"< d_min {g.d_min}"),
        ("flaw 6: unbounded solution list (decoder)", "decode",
         c.with_proof(b2, [i.to_bytes(3, "big") for i in range(1000)]).encode(),
         "DecodeError", f"work proof has 1000 solutions, expected exactly {g.k}"),
        ("oversized proof solution (decoder)", "decode",
         c.with_proof(b2, [s + b"\x00" for s in sols]).encode(), "DecodeError",
         "work proof solution 0 is 4 bytes, expected 3"),
        ("oversized block (decoder; append_zero_bytes zeros to it)", "decode",
         c.with_header(b2).encode(), "DecodeError", "over the limit"),
        ("bad signature", "validate", replace(b2, signature=bytes(bad_sig)), "InvalidBlock",
         "bad signature: the miner's signature does not verify"),
        ("flaw 5: proof re-signed by another miner", "validate", stolen, "InvalidBlock",
         "bad signature: the public key does not belong to the miner"),
        ("flaw 5: proof claimed under another miner's address", "validate", relabelled,
         "InvalidProof", "above the bound"),
        ("future timestamp", "validate",
         c.with_header(b2, timestamp=c.now + g.max_future_drift + 1), "InvalidHeader",
         "in the future"),
        ("timestamp not after parent", "validate", c.with_header(b2, timestamp=hd.timestamp - 10),
         "InvalidHeader", "is not after the parent's"),
        ("bad transaction root", "validate",
         c.seal(replace(b2, transactions=b2.transactions[:1])), "InvalidBlock",
         "transaction root does not match"),
        ("duplicate transaction", "validate",
         c.seal(Block(replace(hd, tx_root=transactions_root(c.txs[:1] * 2)), b2.proof,
                      c.txs[:1] * 2)), "InvalidTransaction", "transaction 1 repeats transaction 0"),
        ("gas used over the gas limit", "validate",
         c.with_header(b2, gas_used=hd.gas_limit + 1), "InvalidHeader", "exceeds the gas limit"),
        ("gas limit jump", "validate", c.with_header(b2, gas_limit=hd.gas_limit * 2),
         "InvalidHeader", "moves more than"),
        ("bad state root", "validate", c.with_header(b2, state_root=hash32(b"x", b"")),
         "InvalidBlock", "state root does not match"),
        ("bad receipt root", "validate", c.with_header(b2, receipt_root=hash32(b"x", b"")),
         "InvalidBlock", "receipt root does not match"),
        ("gas used differs from execution", "validate", c.with_header(b2, gas_used=21000),
         "InvalidBlock", "differs from the executed"),
    ]
    out = []
    for name, stage, block, error, reason in cases:
        data = block if isinstance(block, bytes) else block.encode()
        if stage == "validate":
            assert isinstance(block, Block)
            exc = c.check(block)
            got = (type(exc).__name__, str(exc)) if exc else ("", "")
            if got[0] != error or reason not in got[1]:
                sys.exit(f"case {name!r}: expected {error} {reason!r}, got {got}")
        entry = {"name": name, "stage": stage, "block": hx(data), "error": error,
                 "reason": reason}
        if name.startswith("oversized block"):
            entry["append_zero_bytes"] = g.max_block_bytes
        if stage == "validate":  # what the size-checking decoder says before validation
            try:
                decode_block(data, g.block_limits())
                entry["decode_error"] = ""
            except DecodeError as exc:
                entry["decode_error"] = str(exc)
        out.append(entry)
    write("invalid_blocks.json", {
        "description": "devnet blocks on top of B1, each breaking one rule; 'decode' cases fail "
                       "decode_block with the genesis limits, 'validate' cases fail validate_block "
                       "(built from the raw RLP); decode_error is what decode_block says first",
        "genesis": "devnet",
        "chain": [hx(h.encode()) for h in (c.view.header(c.parent.parent_hash), c.parent)
                  if h is not None],
        "now": c.now,
        "execution": {"state_root": hx(c.outcome.state_root),
                      "receipt_root": hx(c.outcome.receipt_root),
                      "gas_used": c.outcome.gas_used},
        "cases": out,
    })
    write("encoding.json", {
        "description": "RLP encodings and hashes of the devnet B1 header and block",
        "header": hx(c.b1.header.encode()), "header_hash": hx(c.b1.header.hash()),
        "block": hx(c.b1.encode()), "proof_hash": hx(c.b1.proof.hash()),
        "fields": {"number": int(c.b1.header.number), "timestamp": int(c.b1.header.timestamp),
                   "miner": hx(c.b1.header.miner), "energy_bound": int(c.b1.header.energy_bound),
                   "salt": hx(c.b1.header.salt), "gas_limit": int(c.b1.header.gas_limit),
                   "ticket_target": hx(int(c.b1.header.ticket_target).to_bytes(32, "big"))},
    })


if __name__ == "__main__":
    topology_vectors()
    instance_vectors()
    corpus_vectors()

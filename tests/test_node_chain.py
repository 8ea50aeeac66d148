"""Chain state: import, fork choice, reorgs of any depth (past the warning depth too), orphans,
rejection, restart and EVM state repair.

Oracles: cumulative work summed by hand from ``block_work``, the tie-break rule read directly
(the first seen of equal work stays), miner balances as the sum of ``block_reward`` over the
blocks each miner has on the canonical chain, and proof energies recomputed with the
``IsingModel`` of each block's puzzle.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from poqw.chain import (
    U64,
    Block,
    Hash32,
    Header,
    block_reward,
    block_work,
    derive_instance,
    derive_seed,
    seal_message,
    unpack_spins,
)
from poqw.errors import InvalidBlock, StorageError
from poqw.node import Blockchain, ChainStore
from poqw.node.testing import build_block_on, funded_genesis, make_chain, mldsa_signer

GENESIS = funded_genesis()
# far behind the 10 s schedule: every block gets the easiest calibrated bound, so SA is quick
T0 = GENESIS.timestamp + 10**6
ALICE = mldsa_signer("alice")
BOB = mldsa_signer("bob")


def mine(chain: Blockchain, parent: Header, signer: object, count: int, label: str = "a",
         import_: bool = True) -> list[Block]:
    blocks = []
    for i in range(count):
        block = build_block_on(chain, parent, signer, T0 + int(parent.number) + 1,  # type: ignore[arg-type]
                               label=f"{label}{i}")
        if import_:
            chain.import_block(block, T0 + 10**3)
        blocks.append(block)
        parent = block.header
    return blocks


def genesis_header_of(chain: Blockchain) -> Header:
    h = chain.header(chain.canonical_hash(0) or b"")
    assert h is not None
    return h


def balance(chain: Blockchain, signer: object) -> int:
    root = chain.state_root(chain.tip().block_hash)
    return chain.engine.balance(root, signer.address())  # type: ignore[attr-defined]


def test_mined_chain_work_rewards_and_stats(tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path, GENESIS)
    blocks = mine(chain, genesis_header_of(chain), ALICE, 5)
    tip = chain.tip()
    assert tip.block_hash == blocks[-1].hash() and tip.number == 5
    assert tip.total_work == sum(block_work(GENESIS, b.header) for b in blocks)
    for b in blocks:
        assert chain.canonical_hash(int(b.header.number)) == b.hash()
    expected = sum(int(block_reward(GENESIS.rewards, n)) for n in range(1, 6))
    assert balance(chain, ALICE) == expected
    best = min(
        float(derive_instance(GENESIS.topology, derive_seed(b.header.parent_hash, b.header.miner,
                                                            b.header.salt)).to_model()
              .energies(unpack_spins(b.proof.solutions, GENESIS.topology.num_nodes)).min())
        for b in blocks)
    (stats,) = chain.store.miner_stats()
    assert (stats.miner, stats.blocks_won, stats.current_streak, stats.last_block) == (
        ALICE.address(), 5, 5, 5)
    assert stats.best_energy == best


def test_reorg_to_heavier_branch_rewrites_index_state_and_stats(tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path, GENESIS)
    g = genesis_header_of(chain)
    a = mine(chain, g, ALICE, 2, "a")
    b = mine(chain, g, BOB, 2, "b")
    before = [chain.canonical_hash(n) for n in (1, 2)]
    b += mine(chain, b[-1].header, BOB, 1, "b2", import_=False)
    result = chain.import_block(b[2], T0 + 10**3)
    assert result.status == "new-tip"
    assert chain.tip().block_hash == b[2].hash()
    assert [chain.canonical_hash(n) for n in (1, 2, 3)] == [x.hash() for x in b]
    lost = [h for h in before if h not in {x.hash() for x in b}]
    assert [x.hash() for x in result.disconnected] == lost
    assert result.reorg_depth == len(lost)
    assert balance(chain, ALICE) == 0
    assert balance(chain, BOB) == sum(int(block_reward(GENESIS.rewards, n)) for n in (1, 2, 3))
    stats = {s.miner: s for s in chain.store.miner_stats()}
    assert set(stats) == {BOB.address()}
    assert (stats[BOB.address()].blocks_won, stats[BOB.address()].current_streak) == (3, 3)
    assert chain.store.block_count() == 1 + len(a) + len(b)


def test_equal_work_tie_goes_to_the_first_seen_in_any_order(tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path / "x", GENESIS)
    g = genesis_header_of(chain)
    (x,) = mine(chain, g, ALICE, 1, "x", import_=False)
    (y,) = mine(chain, g, BOB, 1, "y", import_=False)
    assert block_work(GENESIS, x.header) == block_work(GENESIS, y.header)
    tips = []
    for name, order in (("one", (x, y)), ("two", (y, x))):
        other, _ = make_chain(tmp_path / name, GENESIS)
        for block in order:
            other.import_block(block, T0 + 10**3)
        tips.append(other.tip().block_hash)
    assert tips == [x.hash(), y.hash()]  # whichever hash is lower


def test_orphans_wait_for_their_parent(tmp_path: Path) -> None:
    source, _ = make_chain(tmp_path / "src", GENESIS)
    blocks = mine(source, genesis_header_of(source), ALICE, 3)
    chain, _ = make_chain(tmp_path / "dst", GENESIS)
    r3 = chain.import_block(blocks[2], T0 + 10**3)
    r2 = chain.import_block(blocks[1], T0 + 10**3)
    assert (r3.status, r3.missing_parent) == ("orphan", blocks[1].hash())
    assert (r2.status, r2.missing_parent) == ("orphan", blocks[0].hash())
    assert chain.tip().number == 0 and len(chain.orphans) == 2
    r1 = chain.import_block(blocks[0], T0 + 10**3)
    assert r1.imported == tuple(b.hash() for b in blocks)
    assert [b.hash() for b in r1.connected] == [b.hash() for b in blocks]
    assert chain.tip().block_hash == blocks[2].hash() and len(chain.orphans) == 0
    assert chain.import_block(blocks[1], T0 + 10**3).status == "duplicate"


def test_orphan_pool_is_bounded(tmp_path: Path) -> None:
    source, _ = make_chain(tmp_path / "src", GENESIS)
    blocks = mine(source, genesis_header_of(source), ALICE, 4)
    chain, _ = make_chain(tmp_path / "dst", GENESIS)
    chain.orphans.max_blocks = 2
    for block in blocks[1:]:
        chain.import_block(block, T0 + 10**3)
    assert len(chain.orphans) == 2 and blocks[1].hash() not in chain.orphans


def resign(block: Block, header: Header, signer: object) -> Block:
    sig = signer.sign(seal_message(header)).to_bytes()  # type: ignore[attr-defined]
    return dataclasses.replace(block, header=header, signature=sig)


@pytest.mark.parametrize("tamper, reason", [
    ("state_root", "state root does not match"),
    ("signature", "bad signature"),
    ("gas_used", "gas used"),
    ("future", "in the future"),
])
def test_invalid_block_is_rejected_and_nothing_is_stored(tmp_path: Path, tamper: str,
                                                         reason: str) -> None:
    chain, _ = make_chain(tmp_path, GENESIS)
    (good,) = mine(chain, genesis_header_of(chain), ALICE, 1, import_=False)
    h = good.header
    if tamper == "state_root":
        bad = resign(good, dataclasses.replace(h, state_root=Hash32(os.urandom(32))), ALICE)
    elif tamper == "gas_used":
        bad = resign(good, dataclasses.replace(h, gas_used=U64(1)), ALICE)
    elif tamper == "signature":
        bad = dataclasses.replace(good, signature=BOB.sign(seal_message(h)).to_bytes())
    else:
        bad = resign(good, dataclasses.replace(h, timestamp=U64(T0 + 10**3 + 10**4)), ALICE)
    tip = chain.tip()
    with pytest.raises(InvalidBlock, match=reason):
        chain.import_block(bad, T0 + 10**3)
    assert chain.tip() == tip and chain.store.block_count() == 1
    assert chain.import_block(good, T0 + 10**3).status == "new-tip"


def test_reorg_beyond_the_warning_depth_goes_to_the_most_work_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    genesis = funded_genesis(reorg_depth_limit=2)
    chain, _ = make_chain(tmp_path, genesis)
    g = genesis_header_of(chain)
    a = mine(chain, g, ALICE, 3, "a")
    assert chain.tip().block_hash == a[-1].hash()
    with caplog.at_level(logging.WARNING, logger="poqw.node.chain"):
        b = mine(chain, g, BOB, 5, "b")
    # issue 10: the depth limit no longer pins a node to the chain with less work
    assert chain.tip().block_hash == b[-1].hash()
    assert chain.tip().total_work > sum(block_work(genesis, x.header) for x in a)
    assert "DEEP REORG" in caplog.text and "undoes 3 blocks" in caplog.text
    # a shallow reorg says nothing
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="poqw.node.chain"):
        c = mine(chain, b[2].header, ALICE, 3, "c")
    assert chain.tip().block_hash == c[-1].hash()
    assert "DEEP REORG" not in caplog.text


def test_restart_keeps_chain_and_repairs_lost_evm_state(tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path, GENESIS)
    blocks = mine(chain, genesis_header_of(chain), ALICE, 3)
    tip, paid = chain.tip(), balance(chain, ALICE)
    chain.store.close()
    chain.engine.close()
    for name in os.listdir(tmp_path):
        if name.startswith("state.sqlite"):
            os.remove(tmp_path / name)
    again, _ = make_chain(tmp_path, GENESIS)
    assert again.tip() == tip
    assert again.block(blocks[1].hash()) == blocks[1]
    assert balance(again, ALICE) == paid
    assert again.repair_state() == 0


def test_foreign_corrupt_and_other_genesis_databases_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="not a usable poqw chain database"):
        ChainStore(junk, GENESIS.genesis_id)
    import sqlite3

    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER)")
    with pytest.raises(StorageError, match="not a poqw chain database"):
        ChainStore(foreign, GENESIS.genesis_id)
    ours = tmp_path / "chain.sqlite"
    ChainStore(ours, GENESIS.genesis_id).close()
    with pytest.raises(StorageError, match="belongs to another chain"):
        ChainStore(ours, funded_genesis(chain_id=99).genesis_id)
    newer = ChainStore(tmp_path / "newer.sqlite", GENESIS.genesis_id)
    newer.put_meta("schema_version", (3).to_bytes(32, "big"))
    newer.close()
    with pytest.raises(StorageError, match="schema version 3"):
        ChainStore(tmp_path / "newer.sqlite", GENESIS.genesis_id)
    ro = ChainStore.open_read_only(ours)
    with pytest.raises(StorageError, match="read-only"):
        ro.put_meta("x", b"y")
    ro.close()


def test_header_view_and_block_roundtrip(tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path, GENESIS)
    blocks = mine(chain, genesis_header_of(chain), ALICE, 2)
    for b in blocks:
        assert chain.header(b.hash()) == b.header
        assert chain.block(b.hash()) == b
    assert chain.header(os.urandom(32)) is None
    assert np.all([chain.store.has(b.hash()) for b in blocks])


def stats_from_scratch(chain: Blockchain) -> dict[bytes, tuple[int, float, int, int]]:
    """The oracle: walk the canonical chain in Python and count."""
    tip = chain.tip()
    headers = [chain.header(chain.canonical_hash(n) or b"") for n in range(1, tip.number + 1)]
    out: dict[bytes, list[float]] = {}
    for h in headers:
        assert h is not None
        inst = derive_instance(GENESIS.topology, derive_seed(h.parent_hash, h.miner, h.salt))
        block = chain.block(h.hash())
        assert block is not None
        energy = float(inst.to_model().energies(
            unpack_spins(block.proof.solutions, GENESIS.topology.num_nodes)).min())
        rec = out.setdefault(bytes(h.miner), [0, energy, 0, 0])
        rec[0] += 1
        rec[1] = min(rec[1], energy)
        rec[3] = int(h.number)
    streak = 0
    for h in reversed(headers):
        assert h is not None
        if h.miner != headers[-1].miner:  # type: ignore[union-attr]
            break
        streak += 1
    if headers:
        out[bytes(headers[-1].miner)][2] = streak  # type: ignore[union-attr]
    return {m: (int(r[0]), r[1], int(r[2]), int(r[3])) for m, r in out.items()}


def test_miner_statistics_match_a_recount_through_interleaving_and_reorg(
        tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path, GENESIS)
    carol = mldsa_signer("carol")

    def stored_stats() -> dict[bytes, tuple[object, ...]]:
        return {s.miner: (s.blocks_won, s.best_energy, s.current_streak, s.last_block)
                for s in chain.store.miner_stats()}

    head = genesis_header_of(chain)
    for i, signer in enumerate([ALICE, ALICE, BOB, ALICE, ALICE, ALICE]):
        (block,) = mine(chain, head, signer, 1, f"s{i}")  # the incremental path, each block
        head = block.header
        assert stored_stats() == stats_from_scratch(chain)
    fork_parent = chain.header(chain.canonical_hash(3) or b"")
    assert fork_parent is not None
    mine(chain, fork_parent, carol, 4, "c")  # heavier branch from height 3: a reorg
    got = stored_stats()
    assert got == stats_from_scratch(chain)
    assert got[carol.address()][2] == 4 and got[ALICE.address()][2] == 0

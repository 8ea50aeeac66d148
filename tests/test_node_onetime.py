"""One-time (XMSS) key reuse: a block that signs with an index its own ancestors already used is
refused on every import path (direct, orphans connected later, the local miner, after a restart
and after a schema migration), while the same index on a sibling branch stays valid but is
reported. The node also refuses to mine when its key's state file is behind the chain.

The reuse is made the way it happens in the field: the key's state file is copied aside and
restored later (a "backup"), so the real signer hands out an index a second time.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from poqw.chain import Block, Header
from poqw.chain.signing import one_time_key_use
from poqw.crypto.hybrid import HybridSigner
from poqw.errors import InvalidBlock, KeyStateBehind, OneTimeKeyReused
from poqw.node import Blockchain, ChainStore
from poqw.node.miner import Miner, make_solver
from poqw.node.storage import SCHEMA_VERSION
from poqw.node.testing import (
    build_block_on,
    funded_genesis,
    genesis_document,
    make_chain,
    mldsa_signer,
    salt_stream,
    xmss_signer,
)

GENESIS = funded_genesis()
T0 = GENESIS.timestamp + 10**6
NOW = T0 + 10**3
BOB = mldsa_signer("bob")


def state_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "carol.state"


def carol(tmp_path: Path) -> HybridSigner:
    (tmp_path / "keys").mkdir(exist_ok=True)
    return xmss_signer("carol", tmp_path / "keys", height=4)


def block_on(chain: Blockchain, parent: Header, signer: HybridSigner, label: str) -> Block:
    return build_block_on(chain, parent, signer, T0 + int(parent.number) + 1, label=label)


def genesis_of(chain: Blockchain) -> Header:
    header = chain.header(chain.canonical_hash(0) or b"")
    assert header is not None
    return header


def index_of(block: Block) -> int:
    use = one_time_key_use(block.public_key, block.signature)
    assert use is not None
    return use[1]


def test_block_reusing_an_ancestors_index_is_refused(tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path / "chain", GENESIS)
    signer = carol(tmp_path)
    backup = state_file(tmp_path).read_bytes()  # next index 0
    parent = genesis_of(chain)
    for i in range(3):
        block = block_on(chain, parent, signer, f"c{i}")
        assert chain.import_block(block, NOW).status == "new-tip"
        parent = block.header
    state_file(tmp_path).write_bytes(backup)  # the operator restores the backup
    reused = block_on(chain, parent, signer, "again")
    assert index_of(reused) == 0
    tip = chain.tip()
    with pytest.raises(InvalidBlock, match="one-time key was already used"):
        chain.import_block(reused, NOW)
    assert chain.tip() == tip and not chain.store.has(reused.hash())


def test_same_index_on_a_sibling_branch_is_valid_but_reported(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    chain, _ = make_chain(tmp_path / "chain", GENESIS)
    signer = carol(tmp_path)
    g = genesis_of(chain)
    a1 = block_on(chain, g, signer, "a1")                       # index 0
    chain.import_block(a1, NOW)
    backup = state_file(tmp_path).read_bytes()                  # next index 1
    a2 = block_on(chain, a1.header, signer, "a2")               # index 1
    chain.import_block(a2, NOW)
    state_file(tmp_path).write_bytes(backup)
    # a side branch from a1: index 1 was used by a2, which is not its ancestor
    b2 = block_on(chain, a1.header, signer, "b2")
    assert index_of(b2) == 1
    with caplog.at_level(logging.WARNING, logger="poqw.node.chain"):
        assert chain.import_block(b2, NOW).status in ("side", "new-tip")
    assert "one-time key reuse across branches" in caplog.text
    # ... but its child may not reuse index 0, which its ancestor a1 used below the fork
    state_file(tmp_path).write_bytes(state_file(tmp_path).read_bytes().replace(
        b'"next_index": 2', b'"next_index": 0'))
    b3 = block_on(chain, b2.header, signer, "b3")
    assert index_of(b3) == 0
    with pytest.raises(InvalidBlock, match="one-time key was already used"):
        chain.import_block(b3, NOW)


def test_reuse_within_a_side_branch_is_refused_and_cannot_reorg(tmp_path: Path) -> None:
    """The check walks the block's own branch, not the canonical chain: a side branch that
    could take over (tie or better) only through a reused index never does."""
    chain, _ = make_chain(tmp_path / "chain", GENESIS)
    signer = carol(tmp_path)
    g = genesis_of(chain)
    canonical = g
    for i in range(4):  # the canonical chain, by another miner
        block = block_on(chain, canonical, BOB, f"bob{i}")
        chain.import_block(block, NOW)
        canonical = block.header
    backup = state_file(tmp_path).read_bytes()
    side = g
    for i in range(3):  # indices 0, 1, 2 on a shorter side branch
        block = block_on(chain, side, signer, f"s{i}")
        assert chain.import_block(block, NOW).status == "side"
        side = block.header
    tip = chain.tip()
    state_file(tmp_path).write_bytes(backup)
    s4 = block_on(chain, side, signer, "s4")                    # index 0 again, on s1
    assert index_of(s4) == 0
    with pytest.raises(InvalidBlock, match="one-time key was already used"):
        chain.import_block(s4, NOW)
    assert chain.tip() == tip and tip.block_hash == canonical.hash()
    # the same index on the canonical branch (where the side blocks are not ancestors) is fine
    state_file(tmp_path).write_bytes(backup)
    c4 = block_on(chain, canonical, signer, "c4")
    assert index_of(c4) == 0
    assert chain.import_block(c4, NOW).status == "new-tip"


def test_orphan_reusing_its_parents_index_is_refused_when_connected(tmp_path: Path) -> None:
    """Sync delivers blocks out of order: the orphan is judged when its parent arrives."""
    source, _ = make_chain(tmp_path / "src", GENESIS)
    signer = carol(tmp_path)
    backup = state_file(tmp_path).read_bytes()
    first = block_on(source, genesis_of(source), signer, "p")
    source.import_block(first, NOW)
    state_file(tmp_path).write_bytes(backup)
    child = block_on(source, first.header, signer, "q")         # index 0 again
    chain, _ = make_chain(tmp_path / "dst", GENESIS)
    assert chain.import_block(child, NOW).status == "orphan"
    result = chain.import_block(first, NOW)
    assert result.imported == (first.hash(),)
    assert chain.tip().block_hash == first.hash() and not chain.store.has(child.hash())


def test_local_miner_block_reusing_an_index_is_refused(tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path / "chain", GENESIS)
    signer = carol(tmp_path)
    backup = state_file(tmp_path).read_bytes()
    miner = Miner(chain, None, signer, make_solver(num_sweeps=16), clock=lambda: NOW,
                  salt_source=salt_stream("miner"))
    assert miner.mine_block() is not None
    state_file(tmp_path).write_bytes(backup)
    with pytest.raises(KeyStateBehind):
        miner.mine_block()
    assert chain.tip().number == 1


def test_reuse_is_refused_after_a_restart_and_after_migrating_a_v1_database(
        tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path / "chain", GENESIS)
    signer = carol(tmp_path)
    backup = state_file(tmp_path).read_bytes()
    parent = genesis_of(chain)
    for i in range(2):
        block = block_on(chain, parent, signer, f"m{i}")
        chain.import_block(block, NOW)
        parent = block.header
    chain.store.close()
    chain.engine.close()
    # turn the file into a schema-1 database: no index table
    with sqlite3.connect(tmp_path / "chain" / "chain.sqlite") as conn:
        conn.execute("DROP TABLE one_time_keys")
        conn.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'",
                     ((1).to_bytes(32, "big"),))
    store = ChainStore(tmp_path / "chain" / "chain.sqlite", GENESIS.genesis_id,
                       genesis_raw=json.dumps(genesis_document()).encode())
    assert int.from_bytes(store.get_meta("schema_version") or b"", "big") == SCHEMA_VERSION
    key_id = signer.public_key.key_id()
    assert [u.index for u in (store.one_time_key_uses(key_id, 0)
                              + store.one_time_key_uses(key_id, 1))] == [0, 1]
    store.close()
    chain, _ = make_chain(tmp_path / "chain", GENESIS)
    state_file(tmp_path).write_bytes(backup)
    reused = block_on(chain, parent, signer, "after")
    with pytest.raises(InvalidBlock, match="one-time key was already used"):
        chain.import_block(reused, NOW)


def test_miner_refuses_to_start_when_the_state_file_is_behind_the_chain(tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path / "chain", GENESIS)
    signer = carol(tmp_path)
    backup = state_file(tmp_path).read_bytes()
    miner = Miner(chain, None, signer, make_solver(num_sweeps=16), clock=lambda: NOW,
                  salt_source=salt_stream("start"))
    miner.mine_block()
    miner.mine_block()
    state_file(tmp_path).write_bytes(backup)
    solved: list[int] = []

    def counting_solver(instance: object, seed: int) -> object:
        solved.append(seed)
        return make_solver(num_sweeps=16)(instance, seed)  # type: ignore[arg-type]

    restarted = Miner(chain, None, signer, counting_solver,  # type: ignore[arg-type]
                      clock=lambda: NOW, salt_source=salt_stream("restart"))
    with pytest.raises(KeyStateBehind, match=r"restored from a backup.*new key"):
        restarted.check_key()
    with pytest.raises(KeyStateBehind):
        restarted.mine_block()
    assert solved == [] and chain.tip().number == 2
    assert signer.counter is not None and signer.counter.next_index() == 0


def test_miner_refuses_a_key_the_chain_shows_reused(tmp_path: Path) -> None:
    """Two sibling blocks with one index are each valid, but the key has leaked: its miner
    must not go on with it, even once its state file is ahead of every index used."""
    chain, _ = make_chain(tmp_path / "chain", GENESIS)
    signer = carol(tmp_path)
    backup = state_file(tmp_path).read_bytes()
    g = genesis_of(chain)
    chain.import_block(block_on(chain, g, signer, "x"), NOW)
    state_file(tmp_path).write_bytes(backup)
    chain.import_block(block_on(chain, g, signer, "y"), NOW)   # index 0 again, a sibling
    assert signer.counter is not None and signer.counter.next_index() == 1
    miner = Miner(chain, None, signer, make_solver(num_sweeps=16), clock=lambda: NOW,
                  salt_source=salt_stream("leaked"))
    with pytest.raises(OneTimeKeyReused, match=r"reused one-time index \(index 0 in block 1"):
        miner.mine_block()
    assert chain.tip().number == 1 and signer.counter.next_index() == 1


def test_migration_reports_indices_already_used_twice(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    chain, _ = make_chain(tmp_path / "chain", GENESIS)
    signer = carol(tmp_path)
    backup = state_file(tmp_path).read_bytes()
    g = genesis_of(chain)
    x = block_on(chain, g, signer, "x")
    chain.import_block(x, NOW)
    state_file(tmp_path).write_bytes(backup)
    y = block_on(chain, g, signer, "y")
    chain.import_block(y, NOW)
    chain.store.close()
    chain.engine.close()
    with sqlite3.connect(tmp_path / "chain" / "chain.sqlite") as conn:
        conn.execute("DROP TABLE one_time_keys")
        conn.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'",
                     ((1).to_bytes(32, "big"),))
    with caplog.at_level(logging.WARNING, logger="poqw.node.storage"):
        store = ChainStore(tmp_path / "chain" / "chain.sqlite", GENESIS.genesis_id,
                           genesis_raw=json.dumps(genesis_document()).encode())
    assert "holds 1 one-time key indices used by more than one block" in caplog.text
    uses = store.reused_one_time_keys(signer.public_key.key_id())
    assert sorted(u.block_hash for u in uses) == sorted([x.hash(), y.hash()])
    store.close()

"""State on disk: forks, rollback by state root, reopening, block records, atomic blocks.

The scenario: G -> A1 -> A2 and G -> B1, each block moving coins differently, so every root has
balances we can write down by hand; then close the file, reopen it, and ask again.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from poqw.errors import ConfigError, InvalidTransaction, StorageError
from poqw.execution import BlockEnv, ExecutionEngine, GenesisAccount, SqliteStateDB

CHAIN_ID = 9
KEY = b"\x05" * 32
ALICE = bytes.fromhex(Account.from_key(KEY).address[2:])
BOB, CAROL, MINER = b"\xb0" * 20, b"\xc0" * 20, b"\xee" * 20
ALLOC = {ALICE: 10**18}
PRICE = 1  # base fee 1, tip 0: each transfer costs 21000 wei, all burnt
REWARD = 1000


def transfer(nonce: int, to: bytes, value: int) -> bytes:
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "maxFeePerGas": PRICE,
        "maxPriorityFeePerGas": 0,
        "gas": 21000,
        "to": to_checksum_address(to),
        "value": value,
    }
    return bytes(Account.from_key(KEY).sign_transaction(tx).raw_transaction)


def env(number: int) -> BlockEnv:
    return BlockEnv(
        number=number, timestamp=number, coinbase=MINER, gas_limit=10**6, base_fee_per_gas=PRICE
    )


def block_hash(name: str) -> bytes:
    return keccak(name.encode())


def build_forks(engine: ExecutionEngine) -> dict[str, bytes]:
    g = engine.genesis_state_root
    engine.record_block(block_hash("G"), bytes(32), 0, engine.genesis_result())
    a1 = engine.apply_block(g, env(1), [transfer(0, BOB, 100)], REWARD)
    engine.record_block(block_hash("A1"), block_hash("G"), 1, a1)
    a2 = engine.apply_block(a1.state_root, env(2), [transfer(1, BOB, 50)], REWARD)
    engine.record_block(block_hash("A2"), block_hash("A1"), 2, a2)
    b1 = engine.apply_block(g, env(1), [transfer(0, CAROL, 7)], REWARD)
    engine.record_block(block_hash("B1"), block_hash("G"), 1, b1)
    return {"G": g, "A1": a1.state_root, "A2": a2.state_root, "B1": b1.state_root}


EXPECTED = {  # (alice, bob, carol, miner) after each block, written out by hand
    "G": (10**18, 0, 0, 0),
    "A1": (10**18 - 100 - 21000, 100, 0, REWARD),
    "A2": (10**18 - 150 - 42000, 150, 0, 2 * REWARD),
    "B1": (10**18 - 7 - 21000, 0, 7, REWARD),
}


def balances(engine: ExecutionEngine, root: bytes) -> tuple[int, ...]:
    return tuple(engine.balance(root, a) for a in (ALICE, BOB, CAROL, MINER))


def test_forks_rollback_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with ExecutionEngine(path, CHAIN_ID, ALLOC) as engine:
        roots = build_forks(engine)
        assert len(set(roots.values())) == 4
        for name, root in roots.items():
            assert balances(engine, root) == EXPECTED[name]
        # rolling back A2, A1 and building on G again is just reading an older root
        assert engine.nonce(roots["A2"], ALICE) == 2 and engine.nonce(roots["B1"], ALICE) == 1

    with ExecutionEngine(path, CHAIN_ID, ALLOC) as engine:
        assert engine.genesis_state_root == roots["G"]
        for name in ("G", "A1", "A2", "B1"):
            assert engine.state_root_of(block_hash(name)) == roots[name]
            assert balances(engine, roots[name]) == EXPECTED[name]
        assert engine.state_root_of(block_hash("nope")) is None
        # B2 on top of B1 after the reopen
        b2 = engine.apply_block(roots["B1"], env(2), [transfer(1, CAROL, 3)], REWARD)
        assert balances(engine, b2.state_root) == (
            10**18 - 10 - 42000, 0, 10, 2 * REWARD
        )  # fmt: skip


def test_block_records_keep_receipts(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with ExecutionEngine(path, CHAIN_ID, ALLOC) as engine:
        result = engine.apply_block(
            engine.genesis_state_root, env(1), [transfer(0, BOB, 1), transfer(1, BOB, 2)], 0
        )
        engine.record_block(block_hash("X"), block_hash("G"), 1, result)
    with ExecutionEngine(path, CHAIN_ID, ALLOC) as engine:
        assert engine.block_receipts(block_hash("X")) == result.receipts
        tx1 = result.receipts[1].tx_hash
        assert engine.find_receipts(tx1) == [(block_hash("X"), result.receipts[1])]
        assert engine.find_receipts(b"\x00" * 32) == []
        assert engine.block_receipts(block_hash("Y")) is None


def test_reopen_with_another_chain_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    ExecutionEngine(path, CHAIN_ID, ALLOC).close()
    with pytest.raises(ConfigError, match="chain_id"):
        ExecutionEngine(path, CHAIN_ID + 1, ALLOC)
    with pytest.raises(ConfigError, match="genesis_state_root"):
        ExecutionEngine(path, CHAIN_ID, {ALICE: 1})


def count_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM kv").fetchone()[0])


def test_a_failed_block_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with ExecutionEngine(path, CHAIN_ID, ALLOC) as engine:
        before = count_rows(path)
        txs = [transfer(0, BOB, 1), transfer(0, BOB, 1)]  # the second reuses the nonce
        with pytest.raises(InvalidTransaction, match="transaction 1: nonce too low"):
            engine.apply_block(engine.genesis_state_root, env(1), txs, REWARD)
        assert count_rows(path) == before
        engine.apply_block(engine.genesis_state_root, env(1), txs[:1], REWARD)
        assert count_rows(path) > before


def test_unknown_root_is_a_storage_error() -> None:
    engine = ExecutionEngine(":memory:", CHAIN_ID, ALLOC)
    with pytest.raises(StorageError, match="unknown state root"):
        engine.balance(b"\x12" * 32, ALICE)
    with pytest.raises(StorageError, match="unknown state root"):
        engine.apply_block(b"\x12" * 32, env(1), [], 0)
    assert not engine.has_state(b"\x12" * 32)
    assert engine.has_state(engine.genesis_state_root)


def test_sqlite_db_as_a_key_value_store(tmp_path: Path) -> None:
    db = SqliteStateDB(tmp_path / "kv.sqlite")
    db[b"a"] = b"1"
    assert db[b"a"] == b"1" and b"a" in db and b"b" not in db
    with pytest.raises(KeyError):
        db[b"b"]
    with pytest.raises(RuntimeError), db.atomic_batch() as batch:
        batch[b"b"] = b"2"
        assert batch[b"b"] == b"2"
        raise RuntimeError("abandon the batch")
    assert b"b" not in db
    with db.transaction():
        db[b"c"] = b"3"
        with db.atomic_batch() as batch:
            batch[b"d"] = b"4"
        assert db[b"c"] == b"3" and db[b"d"] == b"4"
        with sqlite3.connect(tmp_path / "kv.sqlite") as other:  # not yet on disk
            assert other.execute("SELECT count(*) FROM kv").fetchone()[0] == 1
    del db[b"a"]
    db.close()
    reopened = SqliteStateDB(tmp_path / "kv.sqlite")
    assert reopened[b"c"] == b"3" and reopened[b"d"] == b"4" and b"a" not in reopened
    reopened.close()


def kv_keys(path: Path) -> set[bytes]:
    with sqlite3.connect(path) as conn:
        return {bytes(r[0]) for r in conn.execute("SELECT key FROM kv")}


STORE_WORD = bytes.fromhex("5f355f5500")  # PUSH0 CALLDATALOAD PUSH0 SSTORE STOP: slot 0 = word


def test_prune_keeps_exactly_what_the_kept_states_need(tmp_path: Path) -> None:
    contract = b"\xcc" * 20
    alloc: dict[bytes, int | GenesisAccount] = {
        ALICE: 10**18,
        contract: GenesisAccount(code=STORE_WORD, storage={0: 5, 1: 6}),
    }
    path = tmp_path / "state.sqlite"
    with ExecutionEngine(path, CHAIN_ID, alloc) as engine:
        g = engine.genesis_state_root
        set_tx = sign_call(0, contract, (77).to_bytes(32, "big"))
        a1 = engine.apply_block(g, env(1), [set_tx], REWARD)
        a2 = engine.apply_block(a1.state_root, env(2), [transfer(1, BOB, 50)], REWARD)
        b1 = engine.apply_block(g, env(1), [transfer(0, CAROL, 7)], REWARD)
        before = len(kv_keys(path))
        deleted = engine.prune([a2.state_root])
        assert deleted > 0 and len(kv_keys(path)) == before - deleted
        assert not engine.has_state(a1.state_root) and not engine.has_state(b1.state_root)
        root = a2.state_root
        assert engine.storage(root, contract, 0) == 77 and engine.storage(root, contract, 1) == 6
        assert engine.code(root, contract) == STORE_WORD
        assert engine.balance(root, BOB) == 50 and engine.balance(g, ALICE) == 10**18
        a3 = engine.apply_block(root, env(3), [transfer(2, BOB, 1)], REWARD)
        assert engine.balance(a3.state_root, BOB) == 51
        with pytest.raises(StorageError, match="unknown state root"):
            engine.prune([a1.state_root])
        # keeping nothing leaves exactly what a fresh database holds after genesis
        engine.prune([])
    fresh = tmp_path / "fresh.sqlite"
    ExecutionEngine(fresh, CHAIN_ID, alloc).close()
    assert kv_keys(path) == kv_keys(fresh)


def sign_call(nonce: int, to: bytes, data: bytes) -> bytes:
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "maxFeePerGas": PRICE,
        "maxPriorityFeePerGas": 0,
        "gas": 100_000,
        "to": to_checksum_address(to),
        "value": 0,
        "data": data,
    }
    return bytes(Account.from_key(KEY).sign_transaction(tx).raw_transaction)

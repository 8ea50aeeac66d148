"""Mempool: nonce order, fee priority, limits, replacement, expiry, re-validation after a block,
and transactions of reorged-out blocks coming back.

Oracles: the effective-tip rule written out (``min(tip cap, fee cap - base fee)``), nonce
sequences built by hand, and the EVM's own account nonces after each block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address

from poqw.chain import Header
from poqw.errors import DecodeError, InvalidTransaction, MempoolRejected
from poqw.execution import BlockEnv
from poqw.node import Mempool, MempoolLimits, effective_tip
from poqw.node.testing import (
    account_key,
    build_block_on,
    funded_genesis,
    make_chain,
    mldsa_signer,
)

GWEI = 10**9
KEYS = {name: account_key(name) for name in ("alice", "bob", "carol")}
ADDR = {name: bytes.fromhex(Account.from_key(k).address[2:]) for name, k in KEYS.items()}
GENESIS = funded_genesis({ADDR["alice"]: 10**21, ADDR["bob"]: 10**21, ADDR["carol"]: 10**16})
T0 = GENESIS.timestamp + 10**6
SINK = b"\x55" * 20


def tx(sender: str, nonce: int, tip_gwei: float = 1, fee_gwei: float = 5, value: int = 1,
       chain_id: int = GENESIS.chain_id) -> bytes:
    doc: dict[str, Any] = {
        "type": 2, "chainId": chain_id, "nonce": nonce, "gas": 21000,
        "maxFeePerGas": int(fee_gwei * GWEI), "maxPriorityFeePerGas": int(tip_gwei * GWEI),
        "to": to_checksum_address(SINK), "value": value, "data": b"",
    }
    return bytes(Account.from_key(KEYS[sender]).sign_transaction(doc).raw_transaction)


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Any, Mempool, Header, BlockEnv, bytes]:
    chain, pool = make_chain(tmp_path, GENESIS)
    head = chain.tip_header()
    env = chain.block_env(head, T0, bytes(20))
    return chain, pool, head, env, chain.state_root(head.hash())


def senders_and_nonces(pool: Mempool, raws: list[bytes]) -> list[tuple[bytes, int]]:
    by_raw = {i.raw: i for i in pool.transactions()}
    return [(by_raw[r].sender, by_raw[r].nonce) for r in raws]


def test_selection_by_effective_tip_keeping_nonce_order(setup: Any) -> None:
    _chain, pool, head, env, root = setup
    base = env.base_fee_per_gas
    raws = [tx("alice", 0, tip_gwei=1), tx("alice", 1, tip_gwei=9, fee_gwei=10),
            tx("alice", 2, tip_gwei=1), tx("bob", 0, tip_gwei=3), tx("bob", 1, tip_gwei=2)]
    for r in reversed(raws):  # arrival order must not matter
        pool.add(r, root, env, T0)
    picked = pool.select(root, base, int(head.gas_limit))
    order = senders_and_nonces(pool, picked)
    # bob0 (3) beats alice0 (1); then bob1 (2) vs alice0 (1): bob1; then alice 0, 1, 2
    assert order == [(ADDR["bob"], 0), (ADDR["bob"], 1), (ADDR["alice"], 0),
                     (ADDR["alice"], 1), (ADDR["alice"], 2)]
    tips = {i.raw: effective_tip(i, base) for i in pool.transactions()}
    assert tips[raws[3]] == min(3 * GWEI, 5 * GWEI - base)
    # gas budget: only two transfers fit
    assert len(pool.select(root, base, 2 * 21000)) == 2


def test_nonce_gap_is_held_back(setup: Any) -> None:
    _chain, pool, head, env, root = setup
    pool.add(tx("alice", 0), root, env, T0)
    pool.add(tx("alice", 2), root, env, T0)
    picked = pool.select(root, env.base_fee_per_gas, int(head.gas_limit))
    assert senders_and_nonces(pool, picked) == [(ADDR["alice"], 0)]
    pool.add(tx("alice", 1), root, env, T0)
    picked = pool.select(root, env.base_fee_per_gas, int(head.gas_limit))
    assert [n for _, n in senders_and_nonces(pool, picked)] == [0, 1, 2]


def test_invalid_transactions_are_refused(setup: Any) -> None:
    _chain, pool, _head, env, root = setup
    with pytest.raises(InvalidTransaction, match="insufficient balance"):
        pool.add(tx("carol", 0, value=10**17), root, env, T0)
    with pytest.raises((InvalidTransaction, DecodeError), match="chain id"):
        pool.add(tx("alice", 0, chain_id=1), root, env, T0)
    with pytest.raises(InvalidTransaction, match="below base fee"):
        pool.add(tx("alice", 0, fee_gwei=0.1, tip_gwei=0.1), root, env, T0)
    assert len(pool) == 0


def test_limits_replacement_and_eviction(setup: Any) -> None:
    chain, _, _head, env, root = setup
    pool = Mempool(chain.engine, MempoolLimits(max_count=3, max_per_sender=2))
    pool.add(tx("alice", 0, tip_gwei=2), root, env, T0)
    pool.add(tx("alice", 1, tip_gwei=2), root, env, T0)
    with pytest.raises(MempoolRejected, match="too far ahead"):
        pool.add(tx("alice", 2), root, env, T0)
    with pytest.raises(MempoolRejected, match="already pending"):
        pool.add(tx("alice", 0, tip_gwei=2), root, env, T0)
    with pytest.raises(MempoolRejected, match="replacement"):
        pool.add(tx("alice", 1, tip_gwei=2.1, fee_gwei=5.1), root, env, T0)  # +5 %
    better = tx("alice", 1, tip_gwei=2.2, fee_gwei=5.5)  # +10 %
    pool.add(better, root, env, T0)
    assert len(pool) == 2 and better in {i.raw for i in pool.transactions()}
    pool.add(tx("bob", 0, tip_gwei=1), root, env, T0)
    assert len(pool) == 3
    with pytest.raises(MempoolRejected, match="full"):
        pool.add(tx("bob", 1, tip_gwei=0.5), root, env, T0)  # bob's own tx is not a victim
    # carol pays more than the cheapest last-in-line transaction (bob 0): it is evicted
    pool.add(tx("carol", 0, tip_gwei=3, value=0), root, env, T0)
    assert len(pool) == 3 and tx("bob", 0, tip_gwei=1) not in {i.raw for i in
                                                               pool.transactions()}
    by_bytes = Mempool(chain.engine, MempoolLimits(max_bytes=2 * len(tx("alice", 0)) + 5))
    by_bytes.add(tx("alice", 0, tip_gwei=1), root, env, T0)
    by_bytes.add(tx("alice", 1, tip_gwei=1), root, env, T0)
    with pytest.raises(MempoolRejected, match="full"):
        by_bytes.add(tx("bob", 0, tip_gwei=0.5), root, env, T0)
    assert by_bytes.size_bytes <= 2 * len(tx("alice", 0)) + 5


def test_expiry_uses_the_given_time(setup: Any) -> None:
    chain, _, _head, env, root = setup
    pool = Mempool(chain.engine, MempoolLimits(lifetime=100))
    pool.add(tx("alice", 0), root, env, T0)
    pool.add(tx("bob", 0), root, env, T0 + 50)
    assert pool.expire(T0 + 100) == 0
    assert pool.expire(T0 + 101) == 1
    assert [i.sender for i in pool.transactions()] == [ADDR["bob"]]


def test_block_inclusion_revalidation_and_reorg_readd(tmp_path: Path) -> None:
    """Through the node wiring: mined txs leave the pool, a reorg brings them back."""
    from poqw.node.blockchain import ImportResult

    chain, pool = make_chain(tmp_path, GENESIS)

    def on_head(result: ImportResult) -> None:  # what Node._on_new_head does
        tip = chain.header(result.tip.block_hash)
        assert tip is not None
        pool.on_new_head(chain.state_root(tip.hash()), chain.block_env(tip, T0, bytes(20)), T0,
                         [t for b in result.connected for t in b.transactions],
                         [t for b in result.disconnected for t in b.transactions])

    chain.listeners.append(on_head)
    g = chain.tip_header()
    env = chain.block_env(g, T0, bytes(20))
    root = chain.state_root(g.hash())
    a0, a1, stale = tx("alice", 0), tx("alice", 1), tx("bob", 0, tip_gwei=1)
    for r in (a0, a1, stale):
        pool.add(r, root, env, T0)
    miner_a, miner_b = mldsa_signer("a"), mldsa_signer("b")
    # miner A includes all three
    block_a = build_block_on(chain, g, miner_a, T0 + 1, mempool=pool, label="a")
    assert set(block_a.transactions) == {a0, a1, stale}
    chain.import_block(block_a, T0 + 100)
    assert len(pool) == 0
    assert chain.engine.nonce(chain.state_root(block_a.hash()), ADDR["alice"]) == 2
    # miner B's heavier branch without them: alice's and bob's transactions come back
    b1 = build_block_on(chain, g, miner_b, T0 + 1, label="b1")
    chain.import_block(b1, T0 + 100)
    b2 = build_block_on(chain, b1.header, miner_b, T0 + 2, label="b2")
    result = chain.import_block(b2, T0 + 100)
    assert [b.hash() for b in result.disconnected] == [block_a.hash()]
    assert {i.raw for i in pool.transactions()} == {a0, a1, stale}
    # a block on B's branch that spends bob's nonce 0 differently makes the pooled one invalid
    other = tx("bob", 0, tip_gwei=1.5, value=2)
    side = Mempool(chain.engine)
    side.add(other, chain.state_root(b2.hash()), chain.block_env(b2.header, T0, bytes(20)), T0)
    b3 = build_block_on(chain, b2.header, miner_b, T0 + 3, mempool=side, label="b3")
    chain.import_block(b3, T0 + 100)
    assert {i.raw for i in pool.transactions()} == {a0, a1}


def big_tx(sender: str, nonce: int, tip_gwei: float, data_bytes: int,
           fee_gwei: float = 5) -> bytes:
    doc: dict[str, Any] = {
        "type": 2, "chainId": GENESIS.chain_id, "nonce": nonce,
        "gas": 21000 + 40 * data_bytes,  # EIP-7623 calldata floor
        "maxFeePerGas": int(fee_gwei * GWEI), "maxPriorityFeePerGas": int(tip_gwei * GWEI),
        "to": to_checksum_address(SINK), "value": 0, "data": b"\x01" * data_bytes,
    }
    return bytes(Account.from_key(KEYS[sender]).sign_transaction(doc).raw_transaction)


def test_eviction_is_all_or_nothing(setup: Any) -> None:
    """A newcomer that would need to evict a better-paying transaction is refused before any
    cheaper one is evicted, and a refused replacement keeps the original."""
    chain, _, _head, env, root = setup
    small = len(tx("bob", 0))
    pool = Mempool(chain.engine, MempoolLimits(max_bytes=3 * small + 20))
    cheap, dear = tx("bob", 0, tip_gwei=1), tx("carol", 0, tip_gwei=4, value=0)
    pool.add(cheap, root, env, T0)
    pool.add(dear, root, env, T0)
    big = big_tx("alice", 0, tip_gwei=2, data_bytes=2 * small)  # needs both slots freed
    with pytest.raises(MempoolRejected, match="pays no more"):
        pool.add(big, root, env, T0)
    assert {i.raw for i in pool.transactions()} == {cheap, dear}
    first = tx("alice", 0, tip_gwei=2)
    pool.add(first, root, env, T0)  # fits without evicting anyone
    bigger = big_tx("alice", 0, tip_gwei=3, fee_gwei=6, data_bytes=3 * small)
    with pytest.raises(MempoolRejected):
        pool.add(bigger, root, env, T0)
    assert {i.raw for i in pool.transactions()} == {cheap, dear, first}

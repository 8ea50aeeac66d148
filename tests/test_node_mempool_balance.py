"""Mempool balance admission is cumulative: a sender's balance must cover the worst-case cost of
its pending lower nonces plus the new transaction, and after a head change what the balance no
longer covers is dropped.

Oracle: worst-case costs written out by hand (value + 21000 gas x fee cap) against balances
chosen to cover an exact number of them; every transaction is really signed and, alone, would
pass the execution engine's own balance check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address

from poqw.errors import MempoolRejected
from poqw.node import Mempool
from poqw.node.blockchain import Blockchain
from poqw.node.testing import account_key, build_block_on, funded_genesis, make_chain, mldsa_signer

GWEI = 10**9
VALUE = 10**15
FEE = 5 * GWEI
COST = 21000 * FEE + VALUE  # the worst case of a plain transfer at FEE carrying VALUE
KEY = account_key("dave")
DAVE = bytes.fromhex(Account.from_key(KEY).address[2:])
GENESIS = funded_genesis({DAVE: 3 * COST})  # covers exactly three such transfers
T0 = GENESIS.timestamp + 10**6
SINK = b"\x66" * 20


def tx(nonce: int, value: int = VALUE, fee: int = FEE, tip: int = GWEI) -> bytes:
    doc: dict[str, Any] = {
        "type": 2, "chainId": GENESIS.chain_id, "nonce": nonce, "gas": 21000,
        "maxFeePerGas": fee, "maxPriorityFeePerGas": tip,
        "to": to_checksum_address(SINK), "value": value, "data": b"",
    }
    return bytes(Account.from_key(KEY).sign_transaction(doc).raw_transaction)


def pending(pool: Mempool) -> dict[int, bytes]:
    return {i.nonce: i.raw for i in pool.transactions() if i.sender == DAVE}


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Blockchain, Mempool, Any, bytes]:
    chain, pool = make_chain(tmp_path, GENESIS)
    head = chain.tip_header()
    return chain, pool, chain.block_env(head, T0, bytes(20)), chain.state_root(head.hash())


def test_the_whole_balance_cannot_be_spent_twice(setup: Any) -> None:
    chain, pool, env, root = setup
    everything = 3 * COST - 21000 * FEE
    pool.add(tx(0, value=everything), root, env, T0)
    for nonce in (1, 2, 3):
        second = tx(nonce, value=everything)
        chain.engine.validate_transaction(root, second, env, allow_future_nonce=True)  # alone: ok
        with pytest.raises(MempoolRejected, match="insufficient balance for the pending"):
            pool.add(second, root, env, T0)
    assert list(pending(pool)) == [0]


def test_pending_costs_add_up_to_the_balance(setup: Any) -> None:
    _chain, pool, env, root = setup
    for nonce in range(3):
        pool.add(tx(nonce), root, env, T0)
    with pytest.raises(MempoolRejected) as refused:
        pool.add(tx(3, value=1), root, env, T0)
    message = str(refused.value)
    assert f"0x{DAVE.hex()}" in message and str(3 * COST) in message
    assert f"pending nonces 0 to 2 may cost {3 * COST}" in message
    assert list(pending(pool)) == [0, 1, 2]


def test_a_replacement_replaces_the_old_cost(setup: Any) -> None:
    _chain, pool, env, root = setup
    for nonce in range(3):
        pool.add(tx(nonce), root, env, T0)
    # nonce 2 at a 10 % higher fee cap costs more than it did: 2 * COST + that > the balance
    with pytest.raises(MempoolRejected, match="insufficient balance"):
        pool.add(tx(2, fee=FEE * 11 // 10, tip=GWEI * 11 // 10), root, env, T0)
    # the same bump with less value fits, since the old nonce-2 cost no longer counts
    cheaper = tx(2, value=VALUE // 2, fee=FEE * 11 // 10, tip=GWEI * 11 // 10)
    pool.add(cheaper, root, env, T0)
    assert pending(pool) == {0: tx(0), 1: tx(1), 2: cheaper}


def test_a_costlier_lower_nonce_drops_what_it_leaves_uncovered(setup: Any) -> None:
    """Adding in descending nonce order must not get around the check."""
    _chain, pool, env, root = setup
    everything = 3 * COST - 21000 * FEE
    for nonce in (3, 2, 1):  # each alone fits: no lower nonce is pending yet
        pool.add(tx(nonce, value=everything), root, env, T0)
        assert list(pending(pool)) == [nonce]  # ... and leaves the higher one uncovered
    pool.add(tx(0), root, env, T0)
    assert list(pending(pool)) == [0]
    pool.add(tx(1), root, env, T0)
    bump = tx(0, value=3 * VALUE, fee=FEE * 11 // 10, tip=GWEI * 11 // 10)
    pool.add(bump, root, env, T0)  # costlier nonce 0: nonce 1 is no longer covered
    assert pending(pool) == {0: bump}


def test_head_change_drops_what_the_balance_no_longer_covers(setup: Any) -> None:
    chain, pool, env, root = setup
    for nonce in range(3):
        pool.add(tx(nonce), root, env, T0)
    # another nonce-0 transaction, carrying half a COST more, is mined instead of ours
    other = tx(0, value=VALUE + COST // 2, tip=2 * GWEI)
    side = Mempool(chain.engine)
    side.add(other, root, env, T0)
    block = build_block_on(chain, chain.tip_header(), mldsa_signer("m"), T0 + 1, mempool=side)
    assert block.transactions == (other,)
    chain.import_block(block, T0 + 100)
    new_root = chain.state_root(block.hash())
    balance = chain.engine.balance(new_root, DAVE)
    assert COST <= balance < 2 * COST  # nonce 1 alone fits; nonces 1 and 2 together do not
    new_env = chain.block_env(block.header, T0 + 2, bytes(20))
    chain.engine.validate_transaction(new_root, tx(2), new_env, allow_future_nonce=True)
    pool.on_new_head(new_root, new_env, T0 + 2, included=block.transactions)
    assert pending(pool) == {1: tx(1)}

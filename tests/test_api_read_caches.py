"""The read caches behind eth_call, eth_estimateGas and admission never serve a stale answer.

Call environments, account reads and decoded transactions are remembered by block hash,
state root or raw bytes; these tests move the head (a new block, then a reorg onto a heavier
branch without it) and check that ``latest`` reads follow, that a transaction admitted against
an old head but invalid on the new one stays out of the next block, and that the gas estimate
is still the smallest limit with which the message succeeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from poqw.api.backend import NodeBackend
from poqw.api.config import RpcConfig
from poqw.api.params import BlockRef
from poqw.errors import ExecutionError
from poqw.node import Mempool, Node
from poqw.node.testing import (
    account_key,
    build_block_on,
    dev_node_config,
    mldsa_signer,
    signed_transfer,
)

KEY = account_key("read-caches")
SENDER = bytes.fromhex(Account.from_key(KEY).address[2:])
RECIPIENT = b"\x42" * 20
LATEST = BlockRef(tag="latest")
# initcode run by eth_call with no `to`: returns NUMBER, COINBASE and BALANCE(RECIPIENT)
PROBE = bytes.fromhex("43600052" "41602052" "73") + RECIPIENT + bytes.fromhex(
    "31604052" "60606000f3")


def transfer(nonce: int, to: bytes, value: int) -> bytes:
    return signed_transfer(KEY, nonce, to, value)


def probe(backend: NodeBackend) -> tuple[int, bytes, int]:
    out = backend.call(LATEST, None, PROBE, None, 0, 1_000_000)
    return int.from_bytes(out[:32], "big"), out[44:64], int.from_bytes(out[64:], "big")


@pytest.fixture
def node(tmp_path: Path) -> Any:
    with Node(dev_node_config(tmp_path, {SENDER: 10**21})) as node:
        yield node


@pytest.mark.slow  # mines three blocks
def test_latest_reads_follow_a_new_head_and_a_reorg(node: Node) -> None:
    chain, signer = node.chain, mldsa_signer("read-caches")
    backend = NodeBackend(node, RpcConfig())
    g = chain.tip_header()
    t0 = int(g.timestamp)
    assert probe(backend) == (0, bytes(g.miner), 0)
    assert backend.balance(LATEST, RECIPIENT) == 0
    assert backend.estimate_gas(LATEST, RECIPIENT, b"", SENDER, 1, 10**7) == 21000

    env = chain.block_env(g, t0 + 1, bytes(20))
    node.mempool.add(transfer(0, RECIPIENT, 5), chain.state_root(g.hash()), env, t0)
    paid = build_block_on(chain, g, signer, t0 + 1, mempool=node.mempool, label="paid")
    assert len(paid.transactions) == 1
    assert chain.import_block(paid, t0 + 10**3).status == "new-tip"
    # a new head: number, coinbase and state all come from block 1
    assert probe(backend) == (1, bytes(paid.header.miner), 5)
    assert backend.balance(LATEST, RECIPIENT) == 5
    assert backend.nonce(LATEST, SENDER) == 1

    fork1 = build_block_on(chain, g, signer, t0 + 2, label="fork1")
    assert chain.import_block(fork1, t0 + 10**3).status == "side"
    assert probe(backend)[2] == 5  # a side block moves nothing
    fork2 = build_block_on(chain, fork1.header, signer, t0 + 3, label="fork2")
    assert chain.import_block(fork2, t0 + 10**3).reorg_depth == 1
    # the reorg: block 2 of the other branch, where the transfer never happened
    assert probe(backend) == (2, bytes(fork2.header.miner), 0)
    assert backend.balance(LATEST, RECIPIENT) == 0
    assert backend.nonce(LATEST, SENDER) == 0
    # and the replaced block's state is still what it was, by its hash
    assert backend.balance(BlockRef(block_hash=paid.hash()), RECIPIENT) == 5


@pytest.mark.slow  # mines two blocks
def test_a_transaction_invalid_at_inclusion_is_left_out(node: Node) -> None:
    chain, signer = node.chain, mldsa_signer("read-caches")
    g = chain.tip_header()
    t0 = int(g.timestamp)
    env = chain.block_env(g, t0 + 1, bytes(20))
    # a pool that admitted nonce 0 at genesis and never hears of the block that spends it
    stale = Mempool(node.engine)
    doomed = stale.add(transfer(0, RECIPIENT, 7), chain.state_root(g.hash()), env, t0)
    node.mempool.add(transfer(0, b"\x43" * 20, 9), chain.state_root(g.hash()), env, t0)
    spent = build_block_on(chain, g, signer, t0 + 1, mempool=node.mempool, label="spent")
    assert chain.import_block(spent, t0 + 10**3).status == "new-tip"

    # admission against the new head refuses it too, with the node's wording
    with pytest.raises(Exception, match="nonce too low"):
        node.submit_transaction(doomed.raw)
    block = build_block_on(chain, spent.header, signer, t0 + 2, mempool=stale, label="next")
    assert block.transactions == ()
    assert chain.import_block(block, t0 + 10**3).status == "new-tip"
    assert node.engine.balance(chain.state_root(block.hash()), RECIPIENT) == 0


def test_estimate_gas_is_the_smallest_limit_that_succeeds(node: Node) -> None:
    backend = NodeBackend(node, RpcConfig())
    # initcode that forwards all but 1/64 of its gas to a CALL of an empty account with
    # value, then needs 5000 more gas of its own: the estimate must leave room for both
    code = bytes.fromhex("6000600060006000" "6001" "73") + RECIPIENT + bytes.fromhex(
        "5a" "f1" "50" "5b" "600160005500")
    estimate = backend.estimate_gas(LATEST, None, code, SENDER, 10, 10**7)
    backend.call(LATEST, None, code, SENDER, 10, estimate)
    with pytest.raises(ExecutionError):
        backend.call(LATEST, None, code, SENDER, 10, estimate - 1)

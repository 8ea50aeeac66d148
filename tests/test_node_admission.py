"""Transaction admission against the head: looked up once per head, never stale after a block.

Oracles: the account nonce the EVM holds after a block (a second transaction with an included
nonce is "nonce too low"), and SQLite's own statement trace of the chain database (a repeat
submission on an unchanged head reads nothing from it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address

from poqw.errors import InvalidTransaction
from poqw.node import Node, NodeConfig, load_config
from poqw.node.testing import account_key, genesis_document

KEY = account_key("admission")
PAYER = bytes.fromhex(Account.from_key(KEY).address[2:])


def node_config(tmp_path: Path, name: str, mine: bool) -> NodeConfig:
    genesis = tmp_path / "genesis.json"
    if not genesis.exists():
        genesis.write_text(json.dumps(genesis_document({PAYER: 10**21})))
    return load_config(None, {"global.datadir": str(tmp_path / name), "global.auto_mine": mine,
                              "global.genesis": str(genesis), "global.key_height": 6,
                              "global.node_name": name})


def transfer(node: Node, nonce: int, value: int = 5) -> bytes:
    return bytes(Account.from_key(KEY).sign_transaction({
        "type": 2, "chainId": node.genesis.chain_id, "nonce": nonce, "gas": 21000,
        "maxFeePerGas": 5 * 10**9, "maxPriorityFeePerGas": 10**9,
        "to": to_checksum_address(b"\x01" * 20), "value": value, "data": b"",
    }).raw_transaction)


@pytest.fixture()
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    with Node(node_config(tmp_path, "miner", True)) as miner, \
            Node(node_config(tmp_path, "peer", False)) as peer:
        yield miner, peer


def test_after_its_own_block_a_node_admits_against_the_new_head(
        nodes: tuple[Node, Node]) -> None:
    miner, _ = nodes
    first = miner.submit_transaction(transfer(miner, 0))  # looks the genesis head up
    assert miner.run(max_blocks=1) == 1
    assert miner.engine.nonce(miner.chain.state_root(miner.tip().block_hash), PAYER) == 1
    assert first.tx_hash not in miner.mempool  # included
    # against the genesis head this would be a fresh nonce-0 transaction and be admitted
    with pytest.raises(InvalidTransaction, match="nonce too low"):
        miner.submit_transaction(transfer(miner, 0, value=6))
    assert miner.submit_transaction(transfer(miner, 1)).tx_hash in miner.mempool
    assert miner.admission.current().block_hash == bytes(miner.tip().block_hash)


def test_after_a_peers_block_a_node_admits_against_the_new_head(
        nodes: tuple[Node, Node]) -> None:
    miner, peer = nodes
    peer.submit_transaction(transfer(peer, 0))  # the peer looks its genesis head up
    miner.submit_transaction(transfer(miner, 0))
    miner.run(max_blocks=1)
    block_hash = miner.canonical_hash(1)
    assert block_hash is not None
    assert peer.import_block_bytes(miner.block_bytes(block_hash) or b"").status == "new-tip"
    with pytest.raises(InvalidTransaction, match="nonce too low"):
        peer.submit_transaction(transfer(peer, 0, value=7))
    assert len(peer.mempool) == 0  # the included one left, the stale one never came in
    assert peer.admission.current().number == 1


def test_a_submission_on_an_unchanged_head_reads_nothing_from_the_chain_database(
        nodes: tuple[Node, Node]) -> None:
    miner, _ = nodes
    miner.submit_transaction(transfer(miner, 0))
    statements: list[str] = []
    miner.store._conn.set_trace_callback(statements.append)
    try:
        miner.submit_transaction(transfer(miner, 1))
        miner.submit_transaction(transfer(miner, 2))
    finally:
        miner.store._conn.set_trace_callback(None)
    assert statements == []
    assert len(miner.mempool) == 3

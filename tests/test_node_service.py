"""The node service and its seam for the network layer: two nodes exchange blocks as bytes (out
of order), transactions are submitted, head changes are announced, a data directory serves one
node at a time, and a config for another genesis is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address

from poqw.errors import DecodeError, MiningStopped, StorageError
from poqw.node import ImportResult, Node, NodeConfig, load_config
from poqw.node.testing import account_key, genesis_document

KEY = account_key("service")
PAYER = bytes.fromhex(Account.from_key(KEY).address[2:])


def node_config(tmp_path: Path, name: str, genesis: Path, mine: bool) -> NodeConfig:
    return load_config(None, {"global.datadir": str(tmp_path / name), "global.auto_mine": mine,
                              "global.genesis": str(genesis), "global.key_height": 6,
                              "global.node_name": name})


def test_two_nodes_exchange_blocks_and_transactions(tmp_path: Path) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document({PAYER: 10**21})))
    with Node(node_config(tmp_path, "a", genesis, True)) as a, \
            Node(node_config(tmp_path, "b", genesis, False)) as b:
        assert a.genesis_hash() == b.genesis_hash()
        a.run(max_blocks=3)
        heads: list[ImportResult] = []
        b.subscribe(heads.append)
        hashes = [a.canonical_hash(n) for n in (1, 2, 3)]
        bodies = [a.block_bytes(h or b"") or b"" for h in hashes]
        assert b.import_block_bytes(bodies[2]).missing_parent == hashes[1]
        assert b.import_block_bytes(bodies[1]).status == "orphan"
        result = b.import_block_bytes(bodies[0])
        assert result.status == "new-tip" and b.tip() == a.tip()
        assert len(heads) == 1 and heads[0].imported == tuple(hashes)
        assert b.headers(0, 10) == a.headers(0, 10)
        assert b.canonical_height_of(hashes[1] or b"") == 2
        assert b.canonical_height_of(b"\x00" * 32) is None
        with pytest.raises(DecodeError):
            b.import_block_bytes(bodies[0][:-1])
        raw = bytes(Account.from_key(KEY).sign_transaction({
            "type": 2, "chainId": b.genesis.chain_id, "nonce": 0, "gas": 21000,
            "maxFeePerGas": 5 * 10**9, "maxPriorityFeePerGas": 10**9,
            "to": to_checksum_address(b"\x01" * 20), "value": 5, "data": b"",
        }).raw_transaction)
        info = b.submit_transaction(raw)
        assert info.sender == PAYER and info.tx_hash in b.mempool


def test_one_node_per_data_directory_and_genesis_is_checked(tmp_path: Path) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    config = node_config(tmp_path, "a", genesis, False)
    with Node(config), pytest.raises(StorageError, match="another node is using"):
        Node(config)
    other = tmp_path / "other.json"
    other.write_text(json.dumps(genesis_document(chain_id=4321)))
    with pytest.raises(StorageError, match="belongs to another chain"):
        Node(node_config(tmp_path, "a", other, False))
    with Node(config) as node:
        assert node.tip().number == 0  # the failed opens released the directory


def test_a_failing_miner_thread_stops_the_node_with_its_reason(tmp_path: Path) -> None:
    # the owner of the miner thread sees its exception: logged once, kept, and the node stops
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))

    def broken_solver(instance: object, seed: int) -> object:
        raise RuntimeError("solver exploded")

    config = node_config(tmp_path, "a", genesis, True)
    with Node(config, solver=broken_solver) as node:  # type: ignore[arg-type]
        thread = node.start()
        thread.join(60)
        assert not thread.is_alive() and node.stop_event.is_set()
        with pytest.raises(MiningStopped, match="RuntimeError: solver exploded") as raised:
            node.raise_miner_failure()
        assert isinstance(raised.value.cause, RuntimeError)
    log = config.log_path.read_text()
    assert log.count("mining stopped") == 1 and "solver exploded" in log


def test_past_its_stop_height_a_miner_mines_on_only_while_a_peer_disputes_the_head(
        tmp_path: Path) -> None:
    # first-seen fork choice keeps each node's own head of equal work: a network that stopped
    # mining at once would stay split, so a disputed head is settled by mining one more block
    import threading

    from poqw.cli.node import _mine

    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    with Node(node_config(tmp_path, "a", genesis, mine=True)) as node:
        asked: list[int] = []

        def disputed() -> bool:  # a peer holds another head at height 2, then agrees
            asked.append(node.tip().number)
            if node.tip().number >= 3:
                threading.Timer(0.2, node.stop_event.set).start()
            return node.tip().number < 3

        mined = _mine(node, None, 2, disputed)
        assert mined == 3 and node.tip().number == 3
        assert asked and asked[0] == 2 and asked[-1] == 3  # asked at the stop height, then idled

"""A reorg on a real node chain reaches filters and subscriptions: the log of a block the
heavier branch replaced comes back with ``removed: true``, from the node's own import result
through the backend's head notifications and the head feed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_utils.crypto import keccak
from web3 import Web3

from poqw.api.backend import NodeBackend
from poqw.api.config import RpcConfig
from poqw.api.filters import ChangedBlock, HeadChange
from poqw.api.headfeed import HeadFeed, HeadListener
from poqw.api.logs import parse_filter
from poqw.api.subscriptions import Subscriptions
from poqw.node import Node, load_config
from poqw.node.testing import build_block_on, genesis_document, mldsa_signer

FUNDER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PING = keccak(b"Ping(bytes32)")
RUNTIME = bytes.fromhex("3660006000376000357f") + PING + bytes.fromhex("366000a200")
INIT = bytes.fromhex(f"60{len(RUNTIME):02x}80600b6000396000f3") + RUNTIME
FUNDER = bytes.fromhex(Account.from_key(FUNDER_KEY).address[2:])
CONTRACT = keccak(rlp.encode([FUNDER, 0]))[12:]  # created by the funder's first transaction


def signed(nonce: int, chain_id: int, to: bytes | None, data: bytes) -> bytes:
    tx: dict[str, Any] = {"chainId": chain_id, "nonce": nonce, "value": 0, "gas": 200_000,
                          "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9,
                          "data": "0x" + data.hex(), "type": 2}
    if to is not None:
        tx["to"] = Web3.to_checksum_address(to)
    return bytes(Account.from_key(FUNDER_KEY).sign_transaction(tx).raw_transaction)


@pytest.mark.slow  # mines three blocks
def test_a_reorg_sends_the_replaced_blocks_logs_as_removed(tmp_path: Path) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    config = load_config(None, {"global.datadir": str(tmp_path / "node"),
                                "global.genesis": str(genesis), "global.key_height": 6})
    with Node(config) as node:
        chain, signer = node.chain, mldsa_signer("reorg")
        g = chain.tip_header()
        t0 = int(g.timestamp)
        env = chain.block_env(g, t0 + 1, bytes(20))
        for nonce, raw in enumerate([signed(0, node.genesis.chain_id, None, INIT),
                                     signed(1, node.genesis.chain_id, CONTRACT, b"\x07" * 32)]):
            node.mempool.add(raw, chain.state_root(g.hash()), env, t0 + nonce)
        logged = build_block_on(chain, g, signer, t0 + 1, mempool=node.mempool, label="a")
        fork1 = build_block_on(chain, g, signer, t0 + 2, label="b")

        async def scenario() -> tuple[list[Any], list[Any], list[dict[str, Any]]]:
            backend = NodeBackend(node, RpcConfig())
            backend.bind_loop(asyncio.get_running_loop())
            feed = HeadFeed(backend, backend.config)
            filter_id = feed.filters.install_logs("me", parse_filter({}), feed.now())
            subs = Subscriptions()
            subs.subscribe(["logs", {"address": "0x" + CONTRACT.hex()}])
            pushed: list[dict[str, Any]] = []

            def deliver(change: HeadChange, blocks: Sequence[ChangedBlock]) -> None:
                pushed.extend(json.loads(m)["params"]["result"]
                              for m in subs.head_messages(blocks, feed.head_json))
            feed.listeners.append(HeadListener(subs.wants_logs, deliver))

            assert chain.import_block(logged, t0 + 10**3).status == "new-tip"
            await asyncio.sleep(0.1)
            before = feed.filters.changes(filter_id, feed.now())
            assert chain.import_block(fork1, t0 + 10**3).status == "side"
            fork2 = build_block_on(chain, fork1.header, signer, t0 + 3, label="c")
            result = chain.import_block(fork2, t0 + 10**3)
            assert result.reorg_depth == 1
            await asyncio.sleep(0.1)
            after = feed.filters.changes(filter_id, feed.now())
            feed.close()
            return before, after, pushed

        before, after, pushed = asyncio.run(scenario())
    block = "0x" + logged.hash().hex()
    assert [(x["blockHash"], x["data"], x["removed"]) for x in before] == [
        (block, "0x" + "07" * 32, False)]
    assert [(x["blockHash"], x["data"], x["removed"]) for x in after] == [
        (block, "0x" + "07" * 32, True)]
    assert [(x["address"], x["removed"]) for x in pushed] == [
        ("0x" + CONTRACT.hex(), False), ("0x" + CONTRACT.hex(), True)]

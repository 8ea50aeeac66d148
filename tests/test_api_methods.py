"""The JSON-RPC methods' results on a small chain: block tags (safe and finalized as confirmation
depths), execution-apis shapes of blocks, transactions and receipts, the ``poqw_`` namespace
(proofs re-derived from the chain), CORS only when configured, the response-size limit, and the
``[global]`` rpc settings of the TOML config."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from poqw.api.config import RpcConfig, rpc_config_from
from poqw.api.testing import RpcThread, post, rpc_call, rpc_in_thread
from poqw.chain import derive_seed
from poqw.errors import ConfigError
from poqw.node import Node, load_config
from poqw.node.info import chain_info
from poqw.node.testing import account_key, genesis_document

KEY = account_key("rpc-methods")
SENDER = Account.from_key(KEY).address.lower()
ORIGIN = "https://wallet.example"
BLOCK_FIELDS = {"hash", "parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot",
                "receiptsRoot", "logsBloom", "difficulty", "number", "gasLimit", "gasUsed",
                "timestamp", "extraData", "mixHash", "nonce", "baseFeePerGas", "size",
                "transactions", "uncles"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, RpcThread, str]]:
    root = tmp_path_factory.mktemp("methods")
    genesis = root / "genesis.json"
    genesis.write_text(json.dumps(genesis_document({bytes.fromhex(SENDER[2:]): 10**21})))
    config = load_config(None, {"global.datadir": str(root / "node"), "global.auto_mine": True,
                                "global.genesis": str(genesis), "global.key_height": 6})
    with Node(config) as node:
        raw = bytes(Account.from_key(KEY).sign_transaction({
            "type": 2, "chainId": 7357, "nonce": 0, "gas": 21000, "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9, "to": "0x" + "22" * 20, "value": 5}).raw_transaction)
        tx_hash = "0x" + node.submit_transaction(raw).tx_hash.hex()
        node.run(max_blocks=4)  # the transaction goes into block 1
        with rpc_in_thread(node, RpcConfig(safe_depth=1, finalized_depth=2,
                                           cors_origins=(ORIGIN,))) as server:
            yield node, server, tx_hash


def call(server: RpcThread, method: str, *params: Any) -> Any:
    answer = rpc_call(server.url, method, *params)
    assert "error" not in answer, answer
    return answer["result"]


def test_block_tags_and_missing_blocks(served: tuple[Node, RpcThread, str]) -> None:
    _, server, _ = served
    assert call(server, "eth_blockNumber") == "0x4"
    numbers = {tag: call(server, "eth_getBlockByNumber", tag, False)["number"]
               for tag in ("latest", "pending", "safe", "finalized", "earliest")}
    assert numbers == {"latest": "0x4", "pending": "0x4", "safe": "0x3", "finalized": "0x2",
                       "earliest": "0x0"}
    assert call(server, "eth_getBlockByNumber", "0x5", False) is None
    assert call(server, "eth_getBlockByHash", "0x" + "ab" * 32, False) is None
    missing = rpc_call(server.url, "eth_getBalance", SENDER, "0x5")
    assert missing["error"] == {"code": -32000, "message": "header not found"}
    block2 = call(server, "eth_getBlockByNumber", "0x2", False)
    balance_at = call(server, "eth_getBalance", SENDER, {"blockHash": block2["hash"]})
    assert int(balance_at, 16) == int(call(server, "eth_getBalance", SENDER, "0x2"), 16) < 10**21
    assert call(server, "eth_getBalance", SENDER, "earliest") == hex(10**21)


def test_block_transaction_and_receipt_shapes(served: tuple[Node, RpcThread, str]) -> None:
    _, server, tx_hash = served
    block = call(server, "eth_getBlockByNumber", "0x1", True)
    assert set(block) == BLOCK_FIELDS
    assert block == call(server, "eth_getBlockByHash", block["hash"], True)
    assert block["parentHash"] == call(server, "eth_getBlockByNumber", "0x0", False)["hash"]
    assert block["mixHash"] == block["parentHash"] and block["gasUsed"] == "0x5208"
    [tx] = block["transactions"]
    assert tx == call(server, "eth_getTransactionByHash", tx_hash)
    assert tx == call(server, "eth_getTransactionByBlockNumberAndIndex", "0x1", "0x0")
    assert tx == call(server, "eth_getTransactionByBlockHashAndIndex", block["hash"], "0x0")
    assert call(server, "eth_getTransactionByBlockNumberAndIndex", "0x1", "0x1") is None
    assert (tx["hash"], tx["from"], tx["blockNumber"], tx["transactionIndex"], tx["type"],
            tx["value"], tx["nonce"]) == (tx_hash, SENDER, "0x1", "0x0", "0x2", "0x5", "0x0")
    assert call(server, "eth_getBlockByNumber", "0x1", False)["transactions"] == [tx_hash]
    assert call(server, "eth_getBlockTransactionCountByNumber", "0x1") == "0x1"
    assert call(server, "eth_getBlockTransactionCountByHash", block["hash"]) == "0x1"
    assert call(server, "eth_getUncleCountByBlockNumber", "0x1") == "0x0"
    receipt = call(server, "eth_getTransactionReceipt", tx_hash)
    assert receipt == call(server, "eth_getBlockReceipts", "0x1")[0]
    assert (receipt["status"], receipt["gasUsed"], receipt["blockHash"], receipt["from"],
            receipt["contractAddress"], receipt["logs"]) == ("0x1", "0x5208", block["hash"],
                                                             SENDER, None, [])
    assert int(receipt["effectiveGasPrice"], 16) == int(block["baseFeePerGas"], 16) + 10**9
    assert call(server, "eth_getTransactionCount", SENDER, "latest") == "0x1"
    assert call(server, "eth_getTransactionCount", SENDER, "0x0") == "0x0"


def test_fees(served: tuple[Node, RpcThread, str]) -> None:
    node, server, _ = served
    tip = int(call(server, "eth_maxPriorityFeePerGas"), 16)
    assert tip == 10**9  # the one transaction's tip
    next_base_fee = node.chain.base_fee_after(node.chain.tip_header())
    assert int(call(server, "eth_gasPrice"), 16) == next_base_fee + tip
    history = call(server, "eth_feeHistory", "0x2", "0x1", [10, 90])
    assert history["oldestBlock"] == "0x0" and len(history["baseFeePerGas"]) == 3
    assert history["reward"] == [["0x0", "0x0"], [hex(10**9), hex(10**9)]]
    assert history["gasUsedRatio"] == [0.0, 21000 / 30_000_000]
    bad = rpc_call(server.url, "eth_feeHistory", "0x2", "latest", [90, 10])
    assert bad["error"]["code"] == -32602 and "must increase" in bad["error"]["message"]


def test_poqw_namespace(served: tuple[Node, RpcThread, str]) -> None:
    node, server, _ = served
    proof = call(server, "poqw_getProof", "0x3")
    header = node.chain.header(bytes.fromhex(proof["hash"][2:]))
    assert header is not None
    assert proof["seed"] == "0x" + derive_seed(header.parent_hash, header.miner,
                                               header.salt).hex()
    k, n = node.genesis.k, node.genesis.topology.num_nodes
    assert len(proof["solutions"]) == len(proof["energies"]) == k
    assert all(len(s) == n and set(s) <= {"0", "1"} for s in proof["solutions"])
    assert max(proof["energies"]) <= proof["energyBound"] == int(header.energy_bound)
    assert proof["margin"] == proof["energyBound"] - min(proof["energies"])
    distances = proof["distances"]
    assert all(distances[i][j] == distances[j][i] >= node.genesis.d_min
               for i in range(k) for j in range(k) if i != j)
    assert call(server, "poqw_getProof", "earliest")["solutions"] == []
    assert call(server, "poqw_getProof", "0x9") is None
    info = chain_info(node.datadir)
    difficulty = call(server, "poqw_difficulty")
    assert (difficulty["number"], difficulty["energyBound"], difficulty["ticketTarget"]) == \
        (5, info["next_energy_bound"], hex(int(info["next_ticket_target"], 16)))
    status = call(server, "poqw_miningStatus")
    assert status["blocksMined"] == 4 and status["address"] == "0x" + node.signer().address(
    ).hex()
    node_info = call(server, "poqw_nodeInfo")
    assert (node_info["height"], node_info["chainId"], node_info["rpc"], node_info["safeDepth"],
            node_info["finalizedDepth"]) == (4, 7357, server.url, 1, 2)
    assert call(server, "poqw_peers") == [] and call(server, "net_peerCount") == "0x0"
    assert call(server, "eth_syncing") is False and call(server, "eth_accounts") == []
    assert call(server, "web3_sha3", "0x") == \
        "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def _preflight(url: str, origin: str) -> dict[str, str]:
    request = urllib.request.Request(url, method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(response.headers)
    except urllib.error.HTTPError as exc:
        return dict(exc.headers)


def test_cors_only_for_configured_origins_and_response_limit(
        served: tuple[Node, RpcThread, str]) -> None:
    node, server, _ = served
    allowed = _preflight(server.url, ORIGIN)
    assert allowed.get("access-control-allow-origin") == ORIGIN
    assert "access-control-allow-origin" not in _preflight(server.url, "https://evil.example")
    with rpc_in_thread(node, RpcConfig(max_response_bytes=600)) as plain:
        assert "access-control-allow-origin" not in _preflight(plain.url, ORIGIN)
        big = rpc_call(plain.url, "eth_getBlockByNumber", "0x1", True)
        assert big["error"]["code"] == -32000
        assert "exceeds the limit of 600 bytes" in big["error"]["message"]
        status, body = post(plain.url, b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}')
        assert status == 200 and json.loads(body)["result"] == "0x1cbd"


def test_toml_rpc_settings(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text('[global]\nrpc_host = "0.0.0.0"\nrpc_port = 9545\nrpc_cors = ["*"]\n')
    config = rpc_config_from(load_config(path).global_)
    assert (config.host, config.port, config.enabled, config.cors_origins) == \
        ("0.0.0.0", 9545, True, ("*",))
    off = load_config(path, {"global.rpc": False, "global.rpc_port": 0})
    assert rpc_config_from(off.global_).enabled is False and off.global_.rpc_port == 0
    path.write_text("[global]\nrpc_port = 70000\n")
    with pytest.raises(ConfigError, match="rpc_port"):
        load_config(path)
    path.write_text('[global]\nrpc = "yes"\n')
    with pytest.raises(ConfigError, match="rpc in"):
        load_config(path)

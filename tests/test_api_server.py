"""The JSON-RPC server on a real socket: a node's chain id, height and client version over HTTP,
batches, and the standard errors for malformed JSON, unknown methods, wrong parameters, and
bodies or batches over the limits (after which the node still answers); a runaway eth_call is
stopped at the time limit while other clients are served."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poqw.api.config import RpcConfig
from poqw.api.testing import RpcThread, post, rpc_call, rpc_in_thread
from poqw.node import Node, load_config
from poqw.node.testing import genesis_document


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, RpcThread]]:
    root: Path = tmp_path_factory.mktemp("rpc")
    genesis = root / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    config = load_config(None, {"global.datadir": str(root / "node"), "global.auto_mine": True,
                                "global.genesis": str(genesis), "global.key_height": 6})
    with Node(config) as node:
        node.run(max_blocks=2)
        with rpc_in_thread(node, RpcConfig(max_body_bytes=4096, max_batch=5)) as server:
            yield node, server


def test_chain_id_height_and_version(served: tuple[Node, RpcThread]) -> None:
    node, server = served
    assert rpc_call(server.url, "eth_chainId") == {"jsonrpc": "2.0", "id": 1, "result":
                                                   hex(node.genesis.chain_id)}
    assert rpc_call(server.url, "eth_blockNumber")["result"] == "0x2"
    assert rpc_call(server.url, "web3_clientVersion")["result"].startswith("poqw/v")
    assert rpc_call(server.url, "net_version")["result"] == str(node.genesis.chain_id)


def test_batch_answers_each_request_in_order(served: tuple[Node, RpcThread]) -> None:
    _, server = served
    batch = [{"jsonrpc": "2.0", "id": i, "method": m} for i, m in
             enumerate(["eth_blockNumber", "eth_nope", "eth_chainId"])]
    batch.append({"jsonrpc": "2.0", "method": "eth_chainId"})  # a notification: no answer
    status, body = post(server.url, json.dumps(batch).encode())
    answers = json.loads(body)
    assert status == 200 and [a["id"] for a in answers] == [0, 1, 2]
    assert answers[0]["result"] == "0x2" and answers[1]["error"]["code"] == -32601


@pytest.mark.parametrize(("body", "code", "words"), [
    (b"{not json", -32700, "parse error"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_sign", "params": []}', -32601,
     "eth_sign does not exist"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction", "params": [{}]}', -32601,
     "eth_sendTransaction does not exist"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "personal_unlockAccount"}', -32601,
     "does not exist"),
    (b'{"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}', -32600, '"jsonrpc" must be'),
    (b'{"jsonrpc": "2.0", "id": 1, "method": 5}', -32600, '"method" must be'),
    (b"[]", -32600, "empty batch"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": ["0x12"]}', -32602,
     "invalid argument 0 (address): an address must be 20 bytes, got 1"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": []}', -32602,
     "invalid argument 0 (address): missing value for required argument"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": '
     b'["0x0000000000000000000000000000000000000000", "0x01"]}', -32602,
     "invalid argument 1 (block): hex number with leading zero digits"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": '
     b'["0x0000000000000000000000000000000000000000", "newest"]}', -32602,
     "invalid argument 1 (block): expected a block number"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": '
     b'["0x0000000000000000000000000000000000000000", "latest", 3]}', -32602,
     "too many arguments, want at most 2"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": {"a": 1}}', -32602,
     "parameters by name are not supported"),
    (json.dumps([{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(6)]
                ).encode(), -32600, "batch of 6 requests exceeds the limit of 5"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": ["' + b"0" * 5000
     + b'"]}', -32600, "request body exceeds the limit of 4096 bytes"),
])
def test_bad_requests_get_the_standard_error(served: tuple[Node, RpcThread], body: bytes,
                                             code: int, words: str) -> None:
    node, server = served
    tip = node.tip()
    status, answer = post(server.url, body)
    error = json.loads(answer)["error"]
    assert error["code"] == code, error
    assert words in error["message"], error
    assert status == (413 if "body exceeds" in words else 200)
    assert rpc_call(server.url, "eth_blockNumber")["result"] == "0x2"  # still serving
    assert node.tip() == tip and len(node.mempool) == 0  # nothing changed


def test_a_runaway_call_is_stopped_and_others_are_served_meanwhile(
        served: tuple[Node, RpcThread]) -> None:
    node, _ = served
    with rpc_in_thread(node, RpcConfig(evm_timeout_s=2.0)) as server:
        answers: list[Any] = []
        # initcode JUMPDEST PUSH1 0 JUMP: loops until its 50M gas run out (minutes in py-evm)
        loop = threading.Thread(target=lambda: answers.append(rpc_call(
            server.url, "eth_call", {"data": "0x5b600056", "gas": hex(50_000_000)})))
        loop.start()
        quick = [rpc_call(server.url, "eth_blockNumber"),
                 rpc_call(server.url, "eth_getBalance", "0x" + "00" * 20, "latest"),
                 rpc_call(server.url, "eth_call", {"to": "0x" + "00" * 20})]
        still_running = loop.is_alive()
        loop.join(120)
        assert [a.get("result") for a in quick] == ["0x2", "0x0", "0x"]
        assert still_running, "the quick requests waited for the runaway call"
        assert answers == [{"jsonrpc": "2.0", "id": 1, "error": {
            "code": -32000, "message": "execution aborted (timeout = 2s)"}}]

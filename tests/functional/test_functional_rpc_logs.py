"""Logs, filters and subscriptions against a real mining ``poqw node cpu``: a tiny contract
emits an event; web3.py reads it with ``get_logs`` and a polled log filter, block and pending
transaction filters see the new blocks and transactions, and a WebSocket client on the same
port receives ``newHeads``, ``newPendingTransactions`` and the logs. A log query over too large
a range gets -32005 naming the limit, and the node keeps answering."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import rlp
from eth_account import Account
from eth_utils.crypto import keccak
from framework import Network, log, wait_until
from web3 import Web3
from websockets.sync.client import connect

# anvil's first default account, funded by the devnet genesis
FUNDER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PING = keccak(b"Ping(bytes32)")
# runtime: copy the calldata to memory, then LOG2(data = calldata, topics = PING, word 0)
RUNTIME = (bytes.fromhex("3660006000376000357f") + PING + bytes.fromhex("366000a200"))
# init: CODECOPY the runtime after these 11 bytes to memory 0 and RETURN it
INIT = bytes.fromhex(f"60{len(RUNTIME):02x}80600b6000396000f3") + RUNTIME


def transaction(nonce: int, chain_id: int, to: str | None, data: bytes, gas: int) -> bytes:
    tx: dict[str, Any] = {"chainId": chain_id, "nonce": nonce, "value": 0, "gas": gas,
                          "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9,
                          "data": "0x" + data.hex(), "type": 2}
    if to is not None:
        tx["to"] = to
    return bytes(Account.from_key(FUNDER_KEY).sign_transaction(tx).raw_transaction)


def receive_until(ws: Any, done: Callable[[list[dict[str, Any]]], bool],
                  timeout: float) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not done(got):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for notifications; got {got}")
        got.append(json.loads(ws.recv(timeout=left)))
    return got


def test_logs_filters_and_subscriptions_over_http_and_websocket(
        network: Callable[[int], Network]) -> None:
    net = network(1)
    node = net[0]
    node.start(mine=True)
    url = node.status()["rpc"]
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    chain_id = w3.eth.chain_id
    funder = Account.from_key(FUNDER_KEY).address
    nonce = w3.eth.get_transaction_count(funder)
    contract = Web3.to_checksum_address(keccak(rlp.encode([bytes.fromhex(funder[2:]),
                                                           nonce]))[12:])
    block_filter = w3.eth.filter("latest")
    pending_filter = w3.eth.filter("pending")
    log_filter = w3.eth.filter({"address": contract})
    assert log_filter.get_new_entries() == []

    with connect(url.replace("http://", "ws://"), open_timeout=30) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                            "params": ["newHeads"]}))
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe",
                            "params": ["logs", {"address": contract}]}))
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "eth_subscribe",
                            "params": ["newPendingTransactions"]}))
        answers = receive_until(ws, lambda got: sum("id" in m for m in got) == 3, 30)
        ids = {m["id"]: m["result"] for m in answers if "id" in m}
        log(f"subscribed over WebSocket: {ids}")

        words = [bytes([7]) * 32, bytes([9]) * 32]
        raws = [transaction(nonce, chain_id, None, INIT, 200_000)]
        raws += [transaction(nonce + 1 + i, chain_id, contract, word, 60_000)
                 for i, word in enumerate(words)]
        sent = [bytes(w3.eth.send_raw_transaction(raw)) for raw in raws]
        wait_until(lambda: w3.eth.get_transaction_count(funder) == nonce + 3, 180,
                   "the deployment and two pings to be mined")
        log(f"mined at height {w3.eth.block_number}")

        def everything(got: list[dict[str, Any]]) -> bool:
            results = [m["params"] for m in got if m.get("method") == "eth_subscription"]
            return (sum(p["subscription"] == ids[2] for p in results) == 2
                    and sum(p["subscription"] == ids[3] for p in results) == 3
                    and any(p["subscription"] == ids[1] for p in results))
        pushed = receive_until(ws, everything, 60)
        heads = [m["params"]["result"] for m in pushed
                 if m.get("method") == "eth_subscription" and m["params"]["subscription"] == ids[1]]
        pushed_logs = [m["params"]["result"] for m in pushed
                       if m.get("method") == "eth_subscription"
                       and m["params"]["subscription"] == ids[2]]
        assert all(int(h["number"], 16) >= 1 and len(h["hash"]) == 66 for h in heads)
        assert [p["data"] for p in pushed_logs] == ["0x" + w.hex() for w in words]
        assert all(p["removed"] is False for p in pushed_logs)
        assert [m["params"]["result"] for m in pushed if m.get("method") == "eth_subscription"
                and m["params"]["subscription"] == ids[3]] == ["0x" + h.hex() for h in sent]

    found = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": contract})
    assert [bytes(x["data"]) for x in found] == words
    assert [[bytes(t) for t in x["topics"]] for x in found] == [[PING, w] for w in words]
    assert [x["blockHash"].hex() for x in found] == [p["blockHash"][2:] for p in pushed_logs]
    only_second = w3.eth.get_logs({"fromBlock": 0, "topics": [None, "0x" + words[1].hex()]})
    assert [bytes(x["data"]) for x in only_second] == [words[1]]

    polled: list[Any] = []
    wait_until(lambda: bool(polled.extend(log_filter.get_new_entries())) or len(polled) >= 2,
               30, "the log filter to report both pings")
    assert [bytes(x["data"]) for x in polled] == words
    assert [bytes(h) for h in pending_filter.get_new_entries()] == sent
    new_blocks = {bytes(h) for h in block_filter.get_new_entries()}
    assert {bytes(x["blockHash"]) for x in found} <= new_blocks

    too_wide = w3.provider.make_request("eth_getLogs", [{"fromBlock": "0x0",
                                                         "toBlock": hex(10**6)}])
    log(f"whole-chain query: {too_wide['error']}")
    assert too_wide["error"]["code"] == -32005
    assert "block range too large" in too_wide["error"]["message"]
    assert too_wide["error"]["data"] == {"limit": 10_000}
    over_http = w3.provider.make_request("eth_subscribe", ["newHeads"])
    assert over_http["error"]["code"] == -32601
    assert w3.eth.block_number >= 1  # still answering

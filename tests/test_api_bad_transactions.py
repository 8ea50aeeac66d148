"""Invalid raw transactions sent over HTTP get go-ethereum's error (-32000) with the details
that name what was wrong; after each one the node still answers and nothing stored changed
(same tip, same mempool)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import rlp
from eth_account import Account

from poqw.api.testing import RpcThread, rpc_call, rpc_in_thread
from poqw.node import Node, load_config
from poqw.node.testing import account_key, genesis_document

KEY = account_key("rpc-bad-tx")
SENDER = Account.from_key(KEY).address.lower()
POOR = Account.from_key(account_key("rpc-poor"))
RECEIVER = "0x" + "11" * 20
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, RpcThread]]:
    root = tmp_path_factory.mktemp("badtx")
    genesis = root / "genesis.json"
    genesis.write_text(json.dumps(genesis_document({bytes.fromhex(SENDER[2:]): 10**21})))
    config = load_config(None, {"global.datadir": str(root / "node"), "global.auto_mine": True,
                                "global.genesis": str(genesis), "global.key_height": 6})
    with Node(config) as node, rpc_in_thread(node) as server:
        # nonce 0 mined, nonce 1 pending: the cases below meet both
        node.submit_transaction(_sign(nonce=0))
        node.run(max_blocks=1)
        node.submit_transaction(_sign(nonce=1))
        yield node, server


def _tx(**changes: Any) -> dict[str, Any]:
    tx: dict[str, Any] = {"type": 2, "chainId": 7357, "nonce": 2, "gas": 21000,
                          "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9,
                          "to": RECEIVER, "value": 1, "data": b""}
    tx.update(changes)
    return tx


def _sign(key: bytes = KEY, **changes: Any) -> bytes:
    return bytes(Account.from_key(key).sign_transaction(_tx(**changes)).raw_transaction)


def _high_s() -> bytes:
    """A valid signature made malleable (s -> n - s), which EIP-2 forbids."""
    fields = rlp.decode(_sign()[1:])
    s = int.from_bytes(fields[11], "big")
    fields[9] = b"" if fields[9] == b"\x01" else b"\x01"
    fields[11] = (SECP256K1_N - s).to_bytes(32, "big").lstrip(b"\x00")
    return b"\x02" + rlp.encode(fields)


CASES: list[tuple[str, Callable[[], bytes], str]] = [
    ("empty", lambda: b"", "rlp: empty transaction"),
    ("bad rlp", lambda: b"\x02\xc5\x01\x02", "rlp: malformed type-2 transaction"),
    ("truncated", lambda: _sign()[:-3], "rlp: malformed type-2 transaction"),
    ("legacy", lambda: bytes(Account.from_key(KEY).sign_transaction(
        {"nonce": 2, "gasPrice": 10**10, "gas": 21000, "to": RECEIVER, "value": 1,
         "chainId": 7357}).raw_transaction),
     "transaction type not supported: only EIP-1559 (type 2) transactions are accepted"),
    ("wrong chain id", lambda: _sign(chainId=1), "invalid chain id for signer: have 1 want 7357"),
    ("fee too low", lambda: _sign(maxFeePerGas=7, maxPriorityFeePerGas=7),
     f"max fee per gas less than block base fee: address {SENDER}, maxFeePerGas: 7, baseFee: "),
    ("tip above cap", lambda: _sign(maxFeePerGas=10**9, maxPriorityFeePerGas=2 * 10**9),
     "max priority fee per gas higher than max fee per gas"),
    ("nonce too low", lambda: _sign(nonce=0), f"nonce too low: address {SENDER}, tx: 0 state: 1"),
    ("nonce far ahead", lambda: _sign(nonce=500),
     f"nonce too high: address {SENDER}, tx: 500 state: 1"),
    ("insufficient funds", lambda: _sign(POOR.key, nonce=0),
     f"insufficient funds for gas * price + value: address {POOR.address.lower()} have 0 want "
     f"{21000 * 10**10 + 1}"),
    ("over the block gas limit", lambda: _sign(gas=30_000_001),
     "exceeds block gas limit: gas 30000001, block gas limit 30000000"),
    ("intrinsic gas", lambda: _sign(gas=20_000),
     "intrinsic gas too low: gas 20000, minimum needed 21000"),
    ("replacement underpriced", lambda: _sign(nonce=1, value=2),
     "replacement transaction underpriced"),
    ("already known", lambda: _sign(nonce=1), "already known"),
    ("high s", _high_s, "invalid sender: s above secp256k1n/2"),
    ("oversized", lambda: _sign(gas=3_000_000, data=b"\x01" * 140_000),
     "oversized data: transaction size"),
]


@pytest.mark.parametrize(("name", "make", "message"), CASES, ids=[c[0] for c in CASES])
def test_invalid_raw_transaction_gets_geths_error(served: tuple[Node, RpcThread], name: str,
                                                  make: Callable[[], bytes],
                                                  message: str) -> None:
    node, server = served
    tip, pool = node.tip(), sorted(i.tx_hash for i in node.mempool.transactions())
    answer = rpc_call(server.url, "eth_sendRawTransaction", "0x" + make().hex())
    assert answer["error"]["code"] == -32000, answer
    assert answer["error"]["message"].startswith(message), answer
    assert node.tip() == tip
    assert sorted(i.tx_hash for i in node.mempool.transactions()) == pool
    assert rpc_call(server.url, "eth_blockNumber")["result"] == hex(tip.number)


def test_a_valid_transaction_is_accepted_and_pending(served: tuple[Node, RpcThread]) -> None:
    node, server = served
    raw = _sign(nonce=2)
    answer = rpc_call(server.url, "eth_sendRawTransaction", "0x" + raw.hex())
    tx_hash = answer["result"]
    assert bytes.fromhex(tx_hash[2:]) in node.mempool
    pending = rpc_call(server.url, "eth_getTransactionByHash", tx_hash)["result"]
    assert pending["blockHash"] is None and pending["nonce"] == "0x2"
    assert rpc_call(server.url, "eth_getTransactionCount", SENDER, "pending")["result"] == "0x3"
    assert rpc_call(server.url, "eth_getTransactionCount", SENDER, "latest")["result"] == "0x1"
    assert rpc_call(server.url, "eth_getTransactionReceipt", tx_hash)["result"] is None

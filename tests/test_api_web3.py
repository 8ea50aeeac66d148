"""web3.py against a poqw node's JSON-RPC, unchanged: it deploys a small contract (compiled with
solc-js, see tests/vectors/api_counter.json), sends it a transaction, reads the event from the
receipt, calls it, and decodes a ``require`` reason and a custom error from reverting calls.

The node mines in-process (``Node.run``), one block whenever the test wants its transactions
included; the RPC is served on a free port by a background thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from poqw.api.testing import RpcThread, rpc_in_thread
from poqw.node import Node, load_config
from poqw.node.testing import genesis_document

VECTORS = Path(__file__).parent / "vectors"
# the devnet genesis funds anvil's first well-known test account (never use it for value)
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, RpcThread]]:
    root = tmp_path_factory.mktemp("web3")
    genesis = root / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    config = load_config(None, {"global.datadir": str(root / "node"), "global.auto_mine": True,
                                "global.genesis": str(genesis), "global.key_height": 6})
    with Node(config) as node, rpc_in_thread(node) as server:
        yield node, server


def _send(w3: Web3, node: Node, tx: dict[str, Any]) -> Any:
    """Sign ``tx`` with the dev key, send it raw, mine a block and return the receipt."""
    account = Account.from_key(DEV_KEY)
    tx.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    assert w3.eth.get_transaction(tx_hash)["blockHash"] is None  # pending
    node.run(max_blocks=1)
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)


def test_web3_deploys_calls_and_reads_events(chain: tuple[Node, RpcThread]) -> None:
    node, server = chain
    artifact = json.loads((VECTORS / "api_counter.json").read_text())
    w3 = Web3(Web3.HTTPProvider(server.url))
    assert w3.is_connected() and w3.eth.chain_id == node.genesis.chain_id
    me = Account.from_key(DEV_KEY).address
    before = w3.eth.get_balance(me)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    deployed = _send(w3, node, factory.constructor().build_transaction({"from": me}))
    assert deployed["status"] == 1 and deployed["contractAddress"] is not None
    assert w3.eth.get_code(deployed["contractAddress"]) != b""
    counter = w3.eth.contract(address=deployed["contractAddress"], abi=artifact["abi"])

    stored = _send(w3, node, counter.functions.store(42).build_transaction({"from": me}))
    events = counter.events.Stored().process_receipt(stored)
    assert [(e["args"]["who"], e["args"]["value"]) for e in events] == [(me, 42)]
    assert stored["logs"][0]["logIndex"] == 0 and stored["blockNumber"] == w3.eth.block_number
    assert counter.functions.value().call() == 42
    assert int.from_bytes(w3.eth.get_storage_at(counter.address, 0), "big") == 42
    assert counter.functions.double(21).call() == 42
    assert w3.eth.get_balance(me) < before

    with pytest.raises(ContractLogicError, match="seven is unlucky"):
        counter.functions.double(7).call()
    with pytest.raises(ContractCustomError) as caught:
        counter.functions.store(2000).estimate_gas({"from": me})
    selector = Web3.keccak(text="TooBig(uint256,uint256)")[:4]
    data = caught.value.data
    assert isinstance(data, str)
    assert bytes.fromhex(data[2:]) == selector + (2000).to_bytes(32, "big") + \
        (1000).to_bytes(32, "big")

    block = w3.eth.get_block(stored["blockNumber"], full_transactions=True)
    assert block["hash"] == stored["blockHash"] and block["transactions"][0]["hash"] == \
        stored["transactionHash"]
    sent = w3.eth.get_transaction(stored["transactionHash"])
    assert sent["input"] == Web3.keccak(text="store(uint256)")[:4] + (42).to_bytes(32, "big")
    assert sent["blockNumber"] == stored["blockNumber"] and sent["from"] == me
    history = w3.eth.fee_history(3, "latest", [50])
    assert len(history["baseFeePerGas"]) == 4 and len(history["reward"]) == 3
    assert w3.eth.get_block("finalized")["number"] == 0  # fewer blocks than the depth

"""ethers.js v6 against a real ``poqw node cpu`` process, unchanged:
``clients/ethers_roundtrip.mjs`` (the README's command) reads the block number, sends a transfer,
deploys the Counter of ``tests/vectors/api_counter.json``, calls it (a result, a ``require``
reason, a custom error), stores a value and reads its ``Stored`` event from the receipt and
through ``eth_getLogs``, then hears a new head and the next ``Stored`` event through
``eth_subscribe`` with ethers' ``WebSocketProvider`` on the same port."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from framework import Network, log

from poqw.api.testing import rpc_call

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().parent / "clients" / "ethers_roundtrip.mjs"
COUNTER = ROOT / "tests" / "vectors" / "api_counter.json"
ETHERS = ROOT / "node_modules" / "ethers" / "package.json"
NODE = shutil.which("node")
# anvil's first test account, funded by the devnet genesis (a test key: never use it for value)
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
RECEIVER = "0x" + "22" * 20  # the script's transfer goes here


@pytest.mark.slow
@pytest.mark.skipif(NODE is None or not ETHERS.exists(),
                    reason="Node.js or ethers is missing: `make install` (npm ci) installs ethers "
                    "from package.json into node_modules")
def test_ethers_works_unchanged(network: Callable[[int], Network]) -> None:
    net = network(1)
    node = net[0]
    node.start(mine=True)
    url = node.status()["rpc"]
    assert NODE is not None
    result = subprocess.run([NODE, str(SCRIPT), url, DEV_KEY, str(COUNTER)], capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=ROOT)
    log(f"ethers: rc {result.returncode}, {result.stdout.strip()[:600]!r} "
        f"{result.stderr.strip()[-600:]!r}")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)

    assert seen["chainId"] == "7357" and seen["blockNumber"] >= 0
    assert seen["transfer"]["status"] == 1 and seen["receiverBalance"] == "1234"
    assert int(rpc_call(url, "eth_getBalance", RECEIVER, "latest")["result"], 16) == 1234
    mined = rpc_call(url, "eth_getTransactionByHash", seen["transfer"]["hash"])["result"]
    assert mined["from"] == DEV_ADDRESS.lower() and int(mined["blockNumber"], 16) == \
        seen["transfer"]["block"]

    assert seen["code"] is True and seen["doubled"] == "42"
    assert seen["revertReason"] == "seven is unlucky"
    assert seen["customError"] == {"name": "TooBig", "args": ["2000", "1000"]}
    assert seen["storedStatus"] == 1 and seen["value"] == "77"
    assert seen["events"] == [{"name": "Stored", "who": DEV_ADDRESS, "value": "77"}]
    assert seen["queried"] == [{"name": "Stored", "value": "77"}]
    slot0 = rpc_call(url, "eth_getStorageAt", seen["contract"], "0x0", "latest")["result"]
    assert int(slot0, 16) == 88  # the store(88) whose event came over the WebSocket
    assert seen["wsEvent"] == "88" and seen["wsHead"] > seen["transfer"]["block"]
    log(f"ethers deployed {seen['contract']}, stored 77 and read its event from {url}")

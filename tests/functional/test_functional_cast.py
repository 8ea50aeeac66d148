"""Foundry's ``cast`` against a real ``poqw node cpu`` process, unchanged: block-number, balance,
send (a transfer, and a contract creation signed with a funded devnet key), call (a result, a
``require`` reason and a custom error with its data), receipt and storage."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from framework import Network, log

CAST = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "cast"
VECTORS = Path(__file__).resolve().parents[1] / "vectors"
# anvil's first test account, funded by the devnet genesis (a test key: never use it for value)
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
RECEIVER = "0x1111111111111111111111111111111111111111"


def cast(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    command, *rest = args
    result = subprocess.run([str(CAST), command, "--rpc-url", url, *rest], capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL)
    log(f"cast {args[0]}: rc {result.returncode}, {result.stdout.strip()[:120]!r} "
        f"{result.stderr.strip()[:200]!r}")
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow
@pytest.mark.skipif(not CAST.exists(), reason="cast is missing: `make install` installs "
                    "@foundry-rs/cast from package.json into node_modules")
def test_cast_works_unchanged(network: Callable[[int], Network]) -> None:
    net = network(1)
    node = net[0]
    node.start(mine=True)
    url = node.status()["rpc"]
    assert int(cast(url, "chain-id").stdout) == 7357
    assert int(cast(url, "block-number").stdout) >= 0
    assert int(cast(url, "balance", DEV_ADDRESS).stdout) == 10**24

    sent = json.loads(cast(url, "send", "--private-key", DEV_KEY, RECEIVER, "--value", "1000",
                           "--json").stdout)
    assert sent["status"] == "0x1"
    assert int(cast(url, "balance", RECEIVER).stdout) == 1000
    receipt = json.loads(cast(url, "receipt", sent["transactionHash"], "--json").stdout)
    assert receipt["blockHash"] == sent["blockHash"] and receipt["gasUsed"] == "0x5208"

    bytecode = json.loads((VECTORS / "api_counter.json").read_text())["bytecode"]
    created = json.loads(cast(url, "send", "--private-key", DEV_KEY, "--create", bytecode,
                              "--json").stdout)
    assert created["status"] == "0x1"
    counter = created["contractAddress"]
    assert cast(url, "call", counter, "double(uint256)(uint256)", "21").stdout.strip() == "42"
    stored = json.loads(cast(url, "send", "--private-key", DEV_KEY, counter, "store(uint256)",
                             "77", "--json").stdout)
    assert stored["status"] == "0x1" and len(stored["logs"]) == 1
    assert cast(url, "call", counter, "value()(uint256)").stdout.strip() == "77"
    assert int(cast(url, "storage", counter, "0").stdout, 16) == 77

    require = cast(url, "call", counter, "double(uint256)(uint256)", "7", check=False)
    assert "execution reverted: seven is unlucky" in require.stderr
    custom = cast(url, "call", counter, "store(uint256)", "2000", check=False)
    # TooBig(2000, 1000): selector 0x6ad9cdfc, then the two arguments
    assert "error code 3: execution reverted" in custom.stderr
    assert "0x6ad9cdfc" + f"{2000:064x}" + f"{1000:064x}" in custom.stderr
    log(f"cast deployed {counter}, stored 77 and read it back from {url}")

"""Foundry's ``forge create`` and ``forge script --broadcast`` against a real ``poqw node cpu``
process, unchanged: the README's commands, run in a copy of ``contracts/`` (so ``out/``,
``cache/`` and ``broadcast/`` land in the test's folder), deploy ``PoQWToken`` with the funded
devnet key, and the script's two transactions (a deployment, then a token transfer) are mined
into PoQW blocks and read back over JSON-RPC."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from framework import Network, log

from poqw.api.testing import rpc_call

ROOT = Path(__file__).resolve().parents[2]
FORGE = ROOT / "node_modules" / ".bin" / "forge"
SOLC = ROOT / "node_modules" / "solc"
# anvil's first test account, funded by the devnet genesis (a test key: never use it for value)
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
RECIPIENT = "0x1111111111111111111111111111111111111111"
SUPPLY = 10**24
AMOUNT = 1000 * 10**18  # DeployToken.s.sol's default transfer


def forge(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run([str(FORGE), *args], cwd=project, capture_output=True, text=True,
                            timeout=300, stdin=subprocess.DEVNULL, env=env)
    log(f"forge {args[0]}: rc {result.returncode}, {result.stdout.strip()[-300:]!r} "
        f"{result.stderr.strip()[-300:]!r}")
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def balance_of(url: str, token: str, holder: str) -> int:
    data = "0x70a08231" + holder[2:].lower().rjust(64, "0")  # balanceOf(address)
    answer = rpc_call(url, "eth_call", {"to": token, "data": data}, "latest")
    assert "result" in answer, answer
    return int(answer["result"], 16)


def copy_contracts(root: Path) -> Path:
    """``contracts/`` (sources, scripts, config, solc wrapper) under ``root``, next to a
    ``node_modules`` link, as foundry.toml and the wrapper expect."""
    project = root / "contracts"
    project.mkdir(parents=True)
    for name in ("src", "script"):
        shutil.copytree(ROOT / "contracts" / name, project / name)
    for name in ("foundry.toml", "solc-wrapper"):
        shutil.copy2(ROOT / "contracts" / name, project / name)
    (root / "node_modules").symlink_to(ROOT / "node_modules")
    return project


@pytest.mark.slow
@pytest.mark.skipif(not FORGE.exists() or not SOLC.exists() or shutil.which("node") is None,
                    reason="forge or solc-js is missing: `make install` (npm ci) installs "
                    "@foundry-rs/forge and solc from package.json into node_modules; Node.js "
                    "runs the solc wrapper")
def test_forge_create_and_script_broadcast_work_unchanged(
        network: Callable[[int], Network], tmp_path: Path) -> None:
    project = copy_contracts(tmp_path / "work")
    # compile once (solc-js is slow) while the node starts; create and script reuse the cache
    build = subprocess.Popen([str(FORGE), "build"], cwd=project,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             stdin=subprocess.DEVNULL)
    try:
        net = network(1)
        node = net[0]
        node.start(mine=True)
        output, _ = build.communicate(timeout=300)
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
    assert build.returncode == 0, output
    log(f"forge build: {output.strip()[-200:]!r}")
    url = node.status()["rpc"]

    created = forge(project, "create", "src/PoQWToken.sol:PoQWToken", "--rpc-url", url,
                    "--private-key", DEV_KEY, "--broadcast", "--json",
                    "--constructor-args", DEV_ADDRESS, str(SUPPLY))
    deployed = json.loads(created.stdout[created.stdout.index("{"):])
    token = deployed["deployedTo"]
    receipt = rpc_call(url, "eth_getTransactionReceipt", deployed["transactionHash"])["result"]
    assert receipt["status"] == "0x1" and receipt["contractAddress"] == token.lower()
    assert balance_of(url, token, DEV_ADDRESS) == SUPPLY
    log(f"forge create deployed PoQWToken at {token} in block {int(receipt['blockNumber'], 16)}")

    forge(project, "script", "script/DeployToken.s.sol", "--rpc-url", url, "--private-key",
          DEV_KEY, "--broadcast")
    run = json.loads((project / "broadcast" / "DeployToken.s.sol" / "7357" /
                      "run-latest.json").read_text())
    kinds = [(tx["transactionType"], tx["function"]) for tx in run["transactions"]]
    assert kinds == [("CREATE", None), ("CALL", "transfer(address,uint256)")]
    assert [r["status"] for r in run["receipts"]] == ["0x1", "0x1"]
    scripted = run["transactions"][0]["contractAddress"]
    for tx in run["transactions"]:  # the node itself has them in its blocks
        mined = rpc_call(url, "eth_getTransactionReceipt", tx["hash"])["result"]
        assert mined["status"] == "0x1" and mined["from"] == DEV_ADDRESS.lower()
    assert rpc_call(url, "eth_getCode", scripted, "latest")["result"] != "0x"
    assert balance_of(url, scripted, RECIPIENT) == AMOUNT
    assert balance_of(url, scripted, DEV_ADDRESS) == SUPPLY - AMOUNT
    log(f"forge script deployed PoQWToken at {scripted} and sent {AMOUNT} to {RECIPIENT}")

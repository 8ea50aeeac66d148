"""Solvers must be staked: ``RegistryStakeCheck`` against a real ``SolverRegistry`` on anvil,
and the QUIC coordinator refusing an unstaked solver (saying why) while it lets a staked one in.

The contracts are the market's shipped artifacts (``poqw/market/artifacts``); anvil is the npm
one in ``node_modules/.bin``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import poqw
from poqw.compute.network import QuicCoordinatorTransport
from poqw.compute.solver_client import run_solver
from poqw.compute.stake import AllowAll, RegistryStakeCheck
from poqw.crypto.ecdsa import EcdsaPrivateKey, to_checksum_address
from poqw.errors import ConfigError
from poqw.p2p.quic import ensure_tls_identity
from poqw.problems import maxcut_to_ising, random_regular_graph

ROOT = Path(__file__).resolve().parents[1]
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
ARTIFACTS = Path(poqw.__file__).parent / "market" / "artifacts"
TOKEN = 10**18
MIN_STAKE = 100 * TOKEN


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chain() -> Iterator[dict[str, Any]]:
    from web3 import HTTPProvider, Web3

    anvil = str(ANVIL) if ANVIL.exists() else shutil.which("anvil")
    assert anvil, f"anvil is not installed ({ANVIL})"
    port = _port()
    process = subprocess.Popen([anvil, "--host", "127.0.0.1", "--port", str(port), "--silent"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        w3 = Web3(HTTPProvider(url))
        deadline = time.monotonic() + 60
        while not w3.is_connected():
            assert time.monotonic() < deadline, "anvil did not start"
            time.sleep(0.1)
        me = w3.eth.accounts[0]

        def deploy(name: str, *args: object) -> Any:
            doc = json.loads((ARTIFACTS / f"{name}.json").read_text())
            code = doc["bytecode"] if isinstance(doc["bytecode"], str) else \
                doc["bytecode"]["object"]
            tx = w3.eth.contract(abi=doc["abi"], bytecode=code).constructor(*args).transact(
                {"from": me})
            address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
            return w3.eth.contract(address=address, abi=doc["abi"])

        token = deploy("PoQWToken", me, 10**9 * TOKEN)
        registry = deploy("SolverRegistry", token.address, MIN_STAKE, 3600, MIN_STAKE, 5000, me,
                          me)
        staked = EcdsaPrivateKey.generate()
        who = to_checksum_address(staked.address())
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(
            {"from": me, "to": who, "value": Web3.to_wei(1, "ether")}))
        w3.eth.wait_for_transaction_receipt(
            token.functions.transfer(who, MIN_STAKE).transact({"from": me}))
        w3.provider.make_request("anvil_impersonateAccount", [who])  # type: ignore[arg-type]
        for call in (token.functions.approve(registry.address, MIN_STAKE),
                     registry.functions.stake(MIN_STAKE)):
            w3.eth.wait_for_transaction_receipt(call.transact({"from": who}))
        yield {"url": url, "registry": registry.address, "staked": staked}
    finally:
        process.terminate()
        process.wait(10)


def test_the_registry_says_who_is_staked(chain: dict[str, Any]) -> None:
    check = RegistryStakeCheck(chain["url"], chain["registry"])
    assert check.refusal(chain["staked"].address()) is None
    stranger = EcdsaPrivateKey.generate().address()
    assert check.refusal(stranger) == (f"{to_checksum_address(stranger)} is not staked in the "
                                       "SolverRegistry")
    assert AllowAll().refusal(stranger) is None


def test_an_unreachable_chain_refuses_and_says_so() -> None:
    check = RegistryStakeCheck(f"http://127.0.0.1:{_port()}", "0x" + "11" * 20, timeout=2)
    refusal = check.refusal(b"\x22" * 20)
    assert refusal is not None and refusal.startswith("cannot read the stake of")
    with pytest.raises(ConfigError, match="is not an address"):
        RegistryStakeCheck("http://127.0.0.1:1", "0x1234")


def test_the_coordinator_lets_in_only_staked_solvers(chain: dict[str, Any],
                                                     tmp_path: Path) -> None:
    model = maxcut_to_ising(random_regular_graph(3, 8, seed=1))
    transport = QuicCoordinatorTransport(
        EcdsaPrivateKey.generate(), ensure_tls_identity(tmp_path / "coord"), model,
        stake=RegistryStakeCheck(chain["url"], chain["registry"]))
    port = transport.start()
    try:
        stranger = EcdsaPrivateKey.generate()
        outcome = asyncio.run(run_solver(stranger, ensure_tls_identity(tmp_path / "s1"),
                                         "127.0.0.1", port))
        assert outcome.reason == (f"{to_checksum_address(stranger.address())} is not staked in "
                                  "the SolverRegistry")

        async def staked_joins() -> list[str]:
            task = asyncio.create_task(run_solver(chain["staked"],
                                                  ensure_tls_identity(tmp_path / "s2"),
                                                  "127.0.0.1", port))
            names = await asyncio.to_thread(transport.wait_for_solvers, 1, 30)
            transport.close()
            outcome = await task
            assert outcome.reason == "the solve is finished"
            return names

        assert asyncio.run(staked_joins()) == [chain["staked"].public_key().compressed.hex()]
    finally:
        transport.close()

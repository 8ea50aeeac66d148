"""An anvil node for the market tests: started on a free loopback port, stopped by its pid."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

ANVIL = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "anvil"
MNEMONIC = "test test test test test test test test test test test junk"  # anvil's default


@dataclass
class Anvil:
    url: str
    w3: Web3
    accounts: list[LocalAccount]

    def advance(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block at the new time."""
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def run_anvil(accounts: int = 6) -> Iterator[Anvil]:
    binary = ANVIL if ANVIL.exists() else shutil.which("anvil")
    if binary is None:
        pytest.skip("anvil is not installed (npm ci installs @foundry-rs/anvil)")
    port = _free_port()
    proc = subprocess.Popen([str(binary), "--host", "127.0.0.1", "--port", str(port),
                             "--accounts", str(accounts), "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(Exception):
                if w3.eth.chain_id:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"anvil on port {port} did not answer (exit {proc.poll()})")
            time.sleep(0.1)
        Account.enable_unaudited_hdwallet_features()
        keys = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
                for i in range(accounts)]
        yield Anvil(url, w3, keys)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

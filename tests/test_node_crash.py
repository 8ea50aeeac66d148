"""Crash safety: a real ``poqw node cpu`` process is SIGKILLed at random moments while it mines
and commits, then restarted, several times.

Checked afterwards: every block the node reported (it prints a block only after its commit) is
still stored and canonical; the canonical chain links up; the EVM state at the tip exists and
pays the miner exactly the sum of the block rewards (the oracle: ``block_reward`` per height);
no XMSS one-time index appears twice and the key state is ahead of every used index; SQLite's
integrity check passes; and the node resumes mining and stops
cleanly on SIGTERM. The seed is printed for replay
(``POQW_CRASH_SEED=...``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from poqw.chain import block_reward
from poqw.crypto import new_key, show_key
from poqw.crypto.hybrid import HybridSignature
from poqw.node.info import chain_info
from poqw.node.service import resolve_genesis
from poqw.node.testing import genesis_document, make_chain

PASSPHRASE = "crash test passphrase"
CYCLES = 5


class NodeProcess:
    """A node subprocess whose stdout lines are collected by a thread."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from poqw.cli.main import main; main()", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def blocks(self) -> list[tuple[int, str]]:
        return [(int(p[1]), p[2]) for p in (ln.split() for ln in list(self.lines))
                if len(p) >= 3 and p[0] == "block"]

    def wait_for_blocks(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.blocks()) < count:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"node exited early ({self.proc.returncode}): {err}")
            assert time.monotonic() < deadline, "node mined nothing in time"
            time.sleep(0.02)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        if self.proc.stderr:
            self.proc.stderr.close()


def test_sigkill_while_mining_loses_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("POQW_CRASH_SEED", random.randrange(1 << 32)))
    print(f"POQW_CRASH_SEED={seed}")
    rng = random.Random(seed)
    key = tmp_path / "miner.key"
    new_key(key, PASSPHRASE, "ecdsa+xmss", height=8, scrypt_log2_n=10)
    pass_file = tmp_path / "pass"
    pass_file.write_text(PASSPHRASE)
    datadir = tmp_path / "data"
    genesis_file = tmp_path / "genesis.json"  # the devnet on a cheap difficulty anchor
    genesis_file.write_text(json.dumps(genesis_document()))
    args = ["node", "cpu", "--auto-mine", "--datadir", str(datadir), "--port", "0",
            "--rpc-port", "0", "--key-file", str(key), "--passphrase-file", str(pass_file),
            "--genesis", str(genesis_file)]
    reported: dict[int, str] = {}
    for cycle in range(CYCLES):
        node = NodeProcess(args)
        try:
            if cycle == 0:  # anywhere in start-up: creating genesis, the databases, mining
                time.sleep(rng.uniform(0.2, 3.0))
            else:
                node.wait_for_blocks(1)
                if cycle == 1:  # readers work while the node writes
                    assert chain_info(datadir)["height"] >= 1
                time.sleep(rng.uniform(0.0, 0.5))
        finally:
            node.kill()
        for number, block_hash in node.blocks():
            reported[number] = block_hash  # a later run may legitimately replace nothing
        print(f"cycle {cycle}: killed after {len(node.blocks())} reported blocks")

    genesis, _ = resolve_genesis(str(genesis_file), datadir)
    chain, _ = make_chain(datadir, genesis)
    chain.store.integrity_check()
    assert chain.repair_state() == 0
    tip = chain.tip()
    assert tip.number >= max(reported)
    for number, block_hash in reported.items():
        assert chain.canonical_hash(number) == bytes.fromhex(block_hash[2:]), number
    hashes = [chain.canonical_hash(n) for n in range(tip.number + 1)]
    assert None not in hashes
    for n in range(1, tip.number + 1):
        header = chain.header(hashes[n] or b"")
        assert header is not None and header.parent_hash == hashes[n - 1]
    miner = chain.header(tip.block_hash).miner  # type: ignore[union-attr]
    paid = chain.engine.balance(chain.state_root(tip.block_hash), bytes(miner))
    assert paid == sum(int(block_reward(genesis.rewards, n)) for n in range(1, tip.number + 1))
    blocks = [chain.block(h) for h in hashes[1:] if h is not None]
    indices = [HybridSignature.from_bytes(b.signature).one_time_index
               for b in blocks if b is not None]
    assert len(set(indices)) == len(indices) == tip.number
    used = show_key(key)["used"]
    assert max(i for i in indices if i is not None) < used
    chain.store.close()
    chain.engine.close()

    # the node resumes, and SIGTERM stops it cleanly (exit status 0, "stopped" reported)
    node = NodeProcess(args)
    node.wait_for_blocks(1)
    node.proc.send_signal(signal.SIGTERM)
    assert node.proc.wait(timeout=30) == 0
    node._reader.join(timeout=10)
    assert any(line.startswith("stopped: mined") for line in node.lines)
    assert chain_info(datadir)["height"] >= tip.number + 1

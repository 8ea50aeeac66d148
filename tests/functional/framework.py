"""A small Bitcoin-Core-style functional test framework: real ``poqw node cpu`` processes on
loopback, each with a temporary data directory and a free UDP port, sharing one genesis file.

``Network.start(i, peers=[...])`` starts node i joining the listed nodes; ``sync_blocks`` waits
until the given nodes agree on one tip; ``wait_until`` polls a condition; a partition is made by
restarting nodes with other ``--peer`` lists (``restart``); ``stop_all`` ends every process by its
process group. The seed (``POQW_FUNCTIONAL_SEED`` to replay) is printed at the start.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from poqw.cli.devnet import free_port
from poqw.errors import PoqwError
from poqw.node.info import chain_info
from poqw.node.testing import genesis_document

__all__ = ["Network", "TestNode", "wait_until"]

_NODE_MAIN = "from poqw.cli.main import main; main()"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition",
               interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class TestNode:
    """One node process (see the module docstring)."""

    __test__ = False  # not a pytest test class

    def __init__(self, index: int, root: Path, genesis: Path) -> None:
        self.index = index
        self.name = f"node{index}"
        self.datadir = root / self.name
        self.genesis = genesis
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.out_path = root / f"{self.name}.out"

    def start(self, peers: Sequence[TestNode] = (), mine: bool = True,
              stop_mining_at: int | None = None, extra: Sequence[str] = ()) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        cmd = [sys.executable, "-c", _NODE_MAIN, "node", "cpu", "--datadir", str(self.datadir),
               "--genesis", str(self.genesis), "--port", str(self.port), "--node-name",
               self.name, "--auto-mine" if mine else "--no-mine", "--no-discover",
               "--config", str(self.genesis.with_name("node.toml")), "--rpc-port", "0", *extra]
        if stop_mining_at is not None:
            cmd += ["--stop-mining-at", str(stop_mining_at)]
        for peer in peers:
            cmd += ["--peer", f"127.0.0.1:{peer.port}"]
        (self.datadir / "network.json").unlink(missing_ok=True)
        with open(self.out_path, "ab") as out:
            self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        log(f"{self.name} started on port {self.port}, peers "
            f"{[p.name for p in peers]}, mine={mine}, stop_mining_at={stop_mining_at}")
        wait_until(lambda: self.status().get("running") is True, 60, f"{self.name} to listen")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        log(f"{self.name} stopped (exit {self.process.returncode})")

    def info(self) -> dict[str, Any] | None:
        try:
            return chain_info(self.datadir)
        except (PoqwError, OSError):
            return None

    def status(self) -> dict[str, Any]:
        try:
            doc: dict[str, Any] = json.loads((self.datadir / "network.json").read_text())
            return doc
        except (OSError, ValueError):
            return {}

    def height(self) -> int:
        info = self.info()
        return -1 if info is None else int(info["height"])

    def tip(self) -> str | None:
        info = self.info()
        return None if info is None else str(info["tip"])

    def peer_count(self) -> int:
        return int(self.status().get("peer_count", 0))

    def log_text(self) -> str:
        path = self.datadir / "node.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Network:
    """N nodes sharing one genesis in ``root``; a far future drift lets blocks come fast."""

    def __init__(self, root: Path, n: int, drift: int = 10**6) -> None:
        env_seed = os.environ.get("POQW_FUNCTIONAL_SEED")
        self.seed = int(env_seed) if env_seed else random.SystemRandom().randrange(2**32)
        log(f"functional test seed {self.seed} (replay with POQW_FUNCTIONAL_SEED={self.seed})")
        self.rng = random.Random(self.seed)
        self.root = root
        self.genesis = root / "genesis.json"
        self.genesis.write_text(json.dumps(genesis_document(
            max_future_drift=drift, timestamp=int(time.time()))))
        # 1024 blocks per miner key: plenty for a test, and quick to generate on a busy machine
        self.genesis.with_name("node.toml").write_text("[global]\nkey_height = 10\n")
        self.nodes = [TestNode(i, root, self.genesis) for i in range(n)]

    def __getitem__(self, index: int) -> TestNode:
        return self.nodes[index]

    def restart(self, index: int, peers: Sequence[int] = (), **kwargs: Any) -> None:
        node = self.nodes[index]
        node.stop()
        node.start([self.nodes[j] for j in peers], **kwargs)

    def sync_blocks(self, nodes: Sequence[TestNode] | None = None, timeout: float = 60.0) -> str:
        """Wait until ``nodes`` (default all) report the same tip; returns it."""
        group = list(nodes) if nodes is not None else self.nodes
        wait_until(lambda: len({n.tip() for n in group}) == 1 and group[0].tip() is not None,
                   timeout, f"{[n.name for n in group]} to agree on a tip")
        tip = group[0].tip()
        assert tip is not None
        log(f"{[n.name for n in group]} synced at height {group[0].height()} {tip[:18]}")
        return tip

    def stop_all(self) -> None:
        for node in self.nodes:
            node.stop()

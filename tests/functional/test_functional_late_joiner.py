"""Scenario 2: a node that joins late syncs a few hundred blocks (headers first, then bodies)
mined beforehand by another node, and then follows that node's new blocks."""

from __future__ import annotations

import time
from collections.abc import Callable

from framework import Network, log, wait_until

BLOCKS = 250


def test_late_joiner_syncs_hundreds_of_blocks(network: Callable[[int], Network]) -> None:
    net = network(2)
    miner, joiner = net[0], net[1]
    miner.start(stop_mining_at=BLOCKS)
    wait_until(lambda: miner.height() >= BLOCKS, 120, f"{BLOCKS} blocks on the miner")
    tip = miner.tip()
    log(f"miner reached height {miner.height()}; starting the late joiner")
    started = time.monotonic()
    joiner.start([miner], mine=False)
    wait_until(lambda: joiner.tip() == tip, 90, "the joiner to reach the miner's tip")
    elapsed = time.monotonic() - started
    log(f"joiner synced {BLOCKS} blocks in {elapsed:.1f} s ({BLOCKS / elapsed:.0f} blocks/s)")
    info = joiner.info()
    assert info is not None and info["blocks_stored"] == miner.height() + 1
    # network.json is rewritten within a quarter second of a change
    wait_until(lambda: joiner.status().get("height") == miner.height(), 5, "network.json")
    status = joiner.status()
    assert status["peer_count"] == 1 and status["blocks_imported"] >= BLOCKS, status
    assert status["invalid_blocks"] == 0
    # the miner goes on: its next blocks reach the joiner by gossip
    net.restart(0, peers=[1], stop_mining_at=BLOCKS + 3)
    wait_until(lambda: miner.height() >= BLOCKS + 3, 60, "three more blocks")
    net.sync_blocks()

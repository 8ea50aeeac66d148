"""Scenario (issues 9 and 10): a peer killed without a goodbye and restarted is redialed and
followed again; a peer on another genesis is refused, and both operators see why on the
console, not only in node.log."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable

from framework import Network, TestNode, log, wait_until

from poqw.node.testing import genesis_document


def kill(node: TestNode) -> None:
    assert node.process is not None
    os.killpg(node.process.pid, signal.SIGKILL)
    node.process.wait()
    log(f"{node.name} killed")


def test_a_killed_peer_is_redialed_and_another_chain_is_shown_on_the_console(
        network: Callable[[int], Network]) -> None:
    net = network(2)
    first, follower = net[0], net[1]
    first.start(stop_mining_at=5)
    follower.start([first], mine=False)
    wait_until(lambda: first.height() >= 5, 60, "five blocks")
    net.sync_blocks()
    kill(first)
    started = time.monotonic()
    first.start(stop_mining_at=12)  # same port and data, no --peer: it cannot dial back
    wait_until(lambda: first.height() >= 12, 60, "seven more blocks")
    net.sync_blocks(timeout=120)
    log(f"follower redialed and synced {time.monotonic() - started:.0f} s after the restart")
    assert follower.peer_count() == 1
    # a node made with another genesis is refused by both sides, on the console
    other = TestNode(2, net.root, net.root / "other-genesis.json")
    other.genesis.write_text(json.dumps(genesis_document(
        max_future_drift=10**6, timestamp=int(time.time()) + 7)))
    net.nodes.append(other)
    other.start([first], mine=False)
    wait_until(lambda: "another chain" in other.out_path.read_text(errors="replace"), 30,
               "the dialer to say it was refused for another chain")
    wait_until(lambda: "another chain" in first.out_path.read_text(errors="replace"), 30,
               "the listener to say it refused a peer on another chain")
    out = other.out_path.read_text(errors="replace")
    assert out.count("another chain") == 1, "said once, not at every redial"
    assert other.peer_count() == 0

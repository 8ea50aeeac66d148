"""Scenario (issues 9 and 10): a peer killed without a goodbye and restarted is redialed and
followed again. The dialer learns the old session is dead from the protocol's silence timeout
(60 s), then dials again every few seconds until the peer answers."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
from framework import Network, TestNode, log, wait_until


def kill(node: TestNode) -> None:
    assert node.process is not None
    os.killpg(node.process.pid, signal.SIGKILL)
    node.process.wait()
    log(f"{node.name} killed")


@pytest.mark.slow
def test_a_killed_and_restarted_peer_is_redialed(network: Callable[[int], Network]) -> None:
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
    wait_until(lambda: follower.peer_count() == 1, 30, "the follower shows its peer")
    assert "peer" in follower.log_text() and "joined" in follower.log_text()

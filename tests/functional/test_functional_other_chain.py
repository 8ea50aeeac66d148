"""Scenario (issue 9): a node made with another genesis dials a node; each refuses the other,
and both operators see why on the console (once), not only in node.log."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from framework import Network, TestNode, wait_until

from poqw.node.testing import genesis_document


def test_a_peer_on_another_chain_is_refused_on_the_console(
        network: Callable[[int], Network]) -> None:
    net = network(1)
    listener = net[0]
    listener.start(mine=False)
    other = TestNode(1, net.root, net.root / "other-genesis.json")
    other.genesis.write_text(json.dumps(genesis_document(
        max_future_drift=10**6, timestamp=int(time.time()) + 7)))
    net.nodes.append(other)
    other.start([listener], mine=False)

    def said(node: TestNode) -> int:
        return node.out_path.read_text(errors="replace").count("on another chain")

    wait_until(lambda: said(other) >= 1, 30, "the dialer to say it was refused")
    wait_until(lambda: said(listener) >= 1, 30, "the listener to say whom it refused")
    time.sleep(3)  # several redials later: still said once
    assert said(other) == 1 and other.peer_count() == 0 and listener.peer_count() == 0
    assert "genesis" in other.out_path.read_text(errors="replace")

"""Scenario 5: trust on first use. A node that comes back with the same node key but a new TLS
certificate is refused by the peer that pinned its first certificate; its old certificate is
accepted again."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

from framework import Network, log, wait_until

from poqw.p2p import TrustStore


def test_changed_certificate_is_refused(network: Callable[[int], Network]) -> None:
    net = network(2)
    server, client = net[0], net[1]
    server.start(stop_mining_at=2)
    client.start([server], mine=False)
    wait_until(lambda: server.peer_count() == 1 and client.peer_count() == 1, 30, "the join")
    node_id = bytes.fromhex(client.status()["node_id"])
    with TrustStore(server.datadir / "trust.db") as pins:
        first = pins.pinned(node_id)
    assert first is not None
    client.stop()
    saved = net.root / "saved-cert"
    saved.mkdir()
    for name in ("node.crt", "node.key"):
        shutil.move(client.datadir / name, saved / name)  # same p2p.key, new certificate
    client.start([server], mine=False)
    wait_until(lambda: "is pinned for it" in server.log_text(), 30, "the refusal")
    time.sleep(1.0)
    assert client.status()["node_id"] == node_id.hex()
    assert client.peer_count() == 0 and server.peer_count() == 0
    assert "is pinned for it" in client.log_text()
    with TrustStore(server.datadir / "trust.db") as pins:
        assert pins.pinned(node_id) == first  # the pin was not overwritten
    log("new certificate refused; restoring the pinned one")
    client.stop()
    for name in ("node.crt", "node.key"):
        (client.datadir / name).unlink()
        shutil.move(saved / name, client.datadir / name)
    client.start([server], mine=False)
    wait_until(lambda: client.peer_count() == 1, 30, "the join with the pinned certificate")
    net.sync_blocks()

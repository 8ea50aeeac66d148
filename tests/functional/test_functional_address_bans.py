"""Scenario: bans follow proven node keys, not addresses. Eighteen bytes of garbage sent from
127.0.0.1 before any join used to ban ``host:127.0.0.1`` for 24 hours, persisted, so every honest
peer on loopback (or behind the same NAT) was refused, also after a restart. Now the garbage only
closes that connection: an honest node on the same address joins, an address ban left in
trust.db by an older version is dropped at start, and after both restart they join again, even
while garbage from the address has spent its budget for unknown peers (the honest node's
certificate is pinned: a known peer is not held back by others on its address)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from aioquic.asyncio.client import connect as quic_connect
from framework import Network, log, wait_until

from poqw.p2p import TrustStore
from poqw.p2p.framing import encode_frame
from poqw.p2p.messages import StatusRequest
from poqw.p2p.policing import BanEntry
from poqw.p2p.quic import _configuration, ensure_tls_identity

GARBAGE = encode_frame(StatusRequest(), 1) + b"\xde\xad\xbe"  # 18 bytes, no join first


async def send_before_join(port: int, tmp: Path, data: bytes) -> None:
    """A QUIC client that finishes TLS, then sends ``data`` on its stream instead of a join."""
    config = _configuration(ensure_tls_identity(tmp / "garbage-client"), True, 30.0)
    async with quic_connect("127.0.0.1", port, configuration=config) as client:
        stream = client._quic.get_next_available_stream_id()
        client._quic.send_stream_data(stream, data)
        client.transmit()
        await asyncio.wait_for(client.wait_closed(), 20)


def test_garbage_from_an_address_does_not_isolate_its_honest_peers(
        network: Callable[[int], Network], tmp_path: Path) -> None:
    net = network(2)
    target, honest = net[0], net[1]
    target.start(stop_mining_at=3)
    assert len(GARBAGE) == 18
    asyncio.run(send_before_join(target.port, tmp_path, GARBAGE))
    wait_until(lambda: "refused peer" in target.log_text(), 30, "the garbage to be refused")
    log("garbage sent and refused; an honest node on 127.0.0.1 joins now")
    honest.start([target], mine=False)
    wait_until(lambda: honest.peer_count() == 1 and target.peer_count() == 1, 60,
               "the honest node to join despite the garbage from its address")
    net.sync_blocks(timeout=90)
    target.stop()
    honest.stop()
    with TrustStore(target.datadir / "trust.db") as store:
        wall = time.time()
        assert not [e for e in store.load_bans(wall) if e.key.startswith("host:")]
        # what an older version wrote for the same garbage: it must not outlive that version
        store.save_bans([BanEntry("host:127.0.0.1", wall + 86400, "bad magic")], [], wall)
    log("restarting both, with a legacy address ban in the target's trust.db, and the "
        "address's connection budget spent on garbage")
    target.start(stop_mining_at=3)
    for _ in range(6):  # each costs a connection and a strike: 6 x (1 + 10) > 40
        asyncio.run(send_before_join(target.port, tmp_path, GARBAGE))
    honest.start([target], mine=False)
    wait_until(lambda: honest.peer_count() == 1 and target.peer_count() == 1, 60,
               "the honest node to join again after a restart")
    assert "host 127.0.0.1 is banned" not in honest.log_text()
    with TrustStore(target.datadir / "trust.db") as store:
        assert store.load_bans(time.time()) == []

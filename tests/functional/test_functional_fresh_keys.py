"""Scenario: a banned attacker comes back under fresh node keys. Each key costs its address some of
a small budget of new identities, and each ban of a key from that address costs more, so after a
few bans the address brings no new key for a while; a peer the node already knows is not held
back by it, and trust.db keeps no pin for the refused keys."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Callable
from pathlib import Path

from framework import Network, TestNode, log, wait_until

from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.errors import ProtocolError
from poqw.p2p import ChainTip, ConnectionClosed, LocalNode, TrustStore
from poqw.p2p.framing import MAGIC, PROTOCOL_VERSION
from poqw.p2p.messages import MAX_PAYLOAD, MessageType
from poqw.p2p.quic import QuicTransport, ensure_tls_identity

ATTEMPTS = 10


async def comeback(node: TestNode, tmp: Path, attempt: int) -> str:
    """Join under a fresh node key and certificate, send an oversize frame header (a ban at
    once), and return why the node closed the connection."""
    status = node.status()
    key = EcdsaPrivateKey(hash32(b"fresh-key", attempt.to_bytes(4, "big") + os.urandom(8)))
    local = LocalNode(key, status["chain_id"], bytes.fromhex(status["genesis_hash"]))
    transport = QuicTransport(local, ChainTip(0, local.genesis_hash, 0),
                              ensure_tls_identity(tmp / f"fresh-{attempt}"))
    try:
        try:
            session = await transport.connect("127.0.0.1", node.port)
        except ProtocolError as exc:
            return str(exc)
        limit = MAX_PAYLOAD[MessageType.BLOCK_SUBMIT]
        session.protocol._outgoing += struct.pack(">4sBBII", MAGIC, PROTOCOL_VERSION,
                                                  MessageType.BLOCK_SUBMIT, 0, limit + 1)
        session.flush()
        while True:
            event = await session.next_event(15)
            if isinstance(event, ConnectionClosed):
                return event.reason
    finally:
        await transport.close()


def test_fresh_node_keys_from_one_address_are_limited(
        network: Callable[[int], Network], tmp_path: Path) -> None:
    net = network(2)
    target, known = net[0], net[1]
    target.start(stop_mining_at=3)
    known.start([target], mine=False)
    wait_until(lambda: target.peer_count() == 1, 60, "the known peer to join")
    reasons = [asyncio.run(asyncio.wait_for(comeback(target, tmp_path, i), 60))
               for i in range(ATTEMPTS)]
    for i, reason in enumerate(reasons):
        log(f"fresh key {i}: {reason}")
    banned = sum("banned for misbehaviour" in r for r in reasons)
    refused = sum("too many new node keys" in r for r in reasons)
    log(f"{banned} of {ATTEMPTS} fresh keys got in (and were banned), {refused} refused")
    assert banned + refused == ATTEMPTS
    assert 1 <= banned <= 5 and refused >= ATTEMPTS - 5
    with TrustStore(target.datadir / "trust.db") as store:
        assert len(store) == 1 + banned  # the known peer and the keys that got in, no more
    log("the known peer restarts and is let in at once")
    known.stop()
    wait_until(lambda: target.peer_count() == 0, 30, "the known peer to leave")
    known.start([target], mine=False)
    wait_until(lambda: known.peer_count() == 1 and target.peer_count() == 1, 60,
               "the known peer to join again")

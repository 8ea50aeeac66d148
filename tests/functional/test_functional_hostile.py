"""Scenario 4: hostile peers (a Python client speaking QUIC) that send garbage, an oversize
frame, a request flood or invalid blocks are each banned, and cannot come back, while an honest
node keeps syncing from the same node."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import struct
from collections.abc import Callable
from pathlib import Path

from framework import Network, TestNode, log, wait_until

from poqw.chain import Bytes32, decode_block
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.errors import RemoteProtocolError
from poqw.node.testing import funded_genesis
from poqw.p2p import BlocksReceived, ChainTip, ConnectionClosed, LocalNode
from poqw.p2p.framing import MAGIC, PROTOCOL_VERSION, encode_frame
from poqw.p2p.messages import MAX_PAYLOAD, MessageType, StatusRequest
from poqw.p2p.quic import PeerSession, QuicTransport, ensure_tls_identity


def garbage(session: PeerSession, rng_bytes: bytes) -> None:
    session.protocol._outgoing += rng_bytes  # bypass the encoder: raw bytes on the stream


def oversize(session: PeerSession, _: bytes) -> None:
    limit = MAX_PAYLOAD[MessageType.BLOCK_SUBMIT]
    session.protocol._outgoing += struct.pack(">4sBBII", MAGIC, PROTOCOL_VERSION,
                                              MessageType.BLOCK_SUBMIT, 0, limit + 1)


def flood(session: PeerSession, _: bytes) -> None:
    for request_id in range(1, 400):
        session.protocol._outgoing += encode_frame(StatusRequest(), request_id)


async def invalid_blocks(session: PeerSession, noise: bytes) -> None:
    loop = asyncio.get_running_loop()
    session.protocol.request_blocks(loop.time(), start=1, count=1)
    session.flush()
    while True:
        event = await session.next_event(10)
        if isinstance(event, BlocksReceived):
            break
    limits = funded_genesis().block_limits()
    block = decode_block(event.blocks[0], limits)
    for _ in range(6):  # a changed salt: another instance, so the proof no longer holds
        forged = dataclasses.replace(block, header=dataclasses.replace(
            block.header, salt=Bytes32(os.urandom(32))))
        session.protocol.push_block(forged.encode(), bytes(forged.hash()))
    session.flush()


async def attack(node: TestNode, tmp: Path, name: str, how: Callable[..., object],
                 noise: bytes) -> str:
    status = node.status()
    local = LocalNode(EcdsaPrivateKey(hash32(b"hostile", name.encode())), status["chain_id"],
                      bytes.fromhex(status["genesis_hash"]))
    transport = QuicTransport(local, ChainTip(0, local.genesis_hash, 0),
                              ensure_tls_identity(tmp / name))
    try:
        session = await transport.connect("127.0.0.1", node.port)
        outcome = how(session, noise)
        if asyncio.iscoroutine(outcome):
            await outcome
        session.flush()
        while True:
            event = await session.next_event(15)
            if isinstance(event, ConnectionClosed):
                log(f"{name}: closed by the node: {event.reason}")
                reason = event.reason
                break
        # the same node key is refused from now on
        try:
            await transport.connect("127.0.0.1", node.port)
            raise AssertionError(f"{name} was let back in")
        except RemoteProtocolError as exc:
            assert "banned" in str(exc), exc
        return reason
    finally:
        await transport.close()


def test_hostile_peers_are_banned_while_honest_sync_goes_on(
        network: Callable[[int], Network], tmp_path: Path) -> None:
    net = network(2)
    target, honest = net[0], net[1]
    target.start(stop_mining_at=40)
    honest.start([target], mine=False)
    wait_until(lambda: target.height() >= 2, 30, "a first block")
    attacks = [("garbage", garbage), ("oversize", oversize), ("flood", flood),
               ("invalid-blocks", invalid_blocks)]
    for name, how in attacks:
        reason = asyncio.run(asyncio.wait_for(
            attack(target, tmp_path, name, how, net.rng.randbytes(64)), 60))
        assert reason, name
    wait_until(lambda: target.height() >= 40, 90, "the miner to reach 40")
    net.sync_blocks()
    assert honest.peer_count() == 1 and target.peer_count() == 1
    text = target.log_text()
    assert text.count("banned: banned for misbehaviour") == len(attacks)
    for evidence in ("bad magic", "over the limit", "invalid block"):
        assert evidence in text, evidence
    assert "request rate limit" in text or "too many open requests" in text
    assert "banned:" not in honest.log_text() and "sent bad data" not in honest.log_text()

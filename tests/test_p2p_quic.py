"""Two QUIC endpoints on 127.0.0.1: join over real TLS, exchange messages, close everything."""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aioquic.asyncio.client import connect as quic_connect
from aioquic.quic.configuration import QuicConfiguration
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.errors import ConfigError, RemoteProtocolError
from poqw.p2p import (
    ChainTip,
    ConnectionClosed,
    ConnectionState,
    Event,
    GossipReceived,
    LocalNode,
    StatusReceived,
    StatusRequested,
    TrustStore,
)
from poqw.p2p.quic import ALPN, QuicTransport, ensure_tls_identity

GENESIS = hash32(b"test/genesis", b"quic")
TIP = ChainTip(3, hash32(b"test/tip", b"3"), 300)
T = TypeVar("T")
E = TypeVar("E", bound=Event)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 30))


def node(name: str, chain_id: int = 1) -> LocalNode:
    return LocalNode(EcdsaPrivateKey(hash32(b"test/key", name.encode())), chain_id, GENESIS)


async def wait_for_event(session: Any, kind: type[E], timeout: float = 5.0) -> E:
    while True:
        event = await session.next_event(timeout)
        if isinstance(event, kind):
            return event


def test_self_signed_identity_is_made_once_and_kept(tmp_path: Path) -> None:
    first = ensure_tls_identity(tmp_path)
    again = ensure_tls_identity(tmp_path)
    assert first == again  # generated on first start only
    assert stat.S_IMODE(os.stat(first.key_file).st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(first.cert_file.read_bytes())
    # The fingerprint is the SHA-256 of the DER certificate, as openssl prints it.
    assert first.fingerprint == cert.fingerprint(hashes.SHA256())
    own = ensure_tls_identity(tmp_path / "unused", first.cert_file, first.key_file)
    assert own.fingerprint == first.fingerprint
    with pytest.raises(ConfigError, match="both"):
        ensure_tls_identity(tmp_path, cert_file=first.cert_file)
    other = ensure_tls_identity(tmp_path / "other")
    with pytest.raises(ConfigError, match="does not belong"):
        ensure_tls_identity(tmp_path, first.cert_file, other.key_file)


def test_loopback_join_exchange_and_close(tmp_path: Path) -> None:
    async def scenario() -> None:
        id_a, id_b = ensure_tls_identity(tmp_path / "a"), ensure_tls_identity(tmp_path / "b")
        trust_a = TrustStore(tmp_path / "a" / "trust.db")
        trust_b = TrustStore(tmp_path / "b" / "trust.db")
        server = QuicTransport(node("server"), TIP, id_a, trust=trust_a)
        client = QuicTransport(node("client"), TIP, id_b, trust=trust_b)
        try:
            port = await server.start_server("127.0.0.1", 0)
            assert port > 0
            out = await client.connect("127.0.0.1", port, timeout=10)
            inc = await server.accept(timeout=10)
            assert out.state is inc.state is ConnectionState.READY
            assert out.alpn == inc.alpn == ALPN
            assert out.remote_address == ("127.0.0.1", port)
            assert inc.remote_address is not None and inc.remote_address[0] == "127.0.0.1"
            # Each side saw the other's real certificate and bound it to the other's key.
            assert out.protocol.peer_fingerprint == id_a.fingerprint
            assert inc.protocol.peer_fingerprint == id_b.fingerprint
            assert out.protocol.node_id == node("server").node_id
            assert inc.protocol.node_id == node("client").node_id
            assert trust_a.pinned(node("client").node_id) == id_b.fingerprint
            assert trust_b.pinned(node("server").node_id) == id_a.fingerprint

            loop = asyncio.get_running_loop()
            rid = out.protocol.request_status(loop.time())
            out.flush()
            asked = await wait_for_event(inc, StatusRequested)
            assert asked.request_id == rid
            inc.protocol.respond_status(rid, peer_count=1)
            inc.flush()
            got = await wait_for_event(out, StatusReceived)
            assert (got.request_id, got.height, got.tip, got.peer_count) == \
                (rid, TIP.height, TIP.tip, 1)

            block_hash = hash32(b"test/block", b"4")
            inc.protocol.send_gossip((block_hash,), ())
            inc.flush()
            gossip = await wait_for_event(out, GossipReceived)
            assert gossip.blocks == (block_hash,)

            out.close("test done")
            closed = await wait_for_event(inc, ConnectionClosed)
            assert closed.by_peer and closed.reason == "test done"
        finally:
            await client.close()
            await server.close()
            trust_a.close()
            trust_b.close()

    run(scenario())


def test_loopback_wrong_chain_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = QuicTransport(node("server", chain_id=1), TIP,
                               ensure_tls_identity(tmp_path / "a"))
        client = QuicTransport(node("client", chain_id=2), TIP,
                               ensure_tls_identity(tmp_path / "b"))
        try:
            port = await server.start_server("127.0.0.1", 0)
            with pytest.raises(RemoteProtocolError, match="chain id 2 is not ours"):
                await client.connect("127.0.0.1", port, timeout=10)
        finally:
            await client.close()
            await server.close()

    run(scenario())


def test_client_without_certificate_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = QuicTransport(node("server"), TIP, ensure_tls_identity(tmp_path / "a"))
        try:
            port = await server.start_server("127.0.0.1", 0)
            bare = QuicConfiguration(is_client=True, alpn_protocols=[ALPN],
                                     verify_mode=ssl.CERT_NONE)
            async with quic_connect("127.0.0.1", port, configuration=bare) as client:
                await asyncio.wait_for(client.wait_closed(), 5)  # the server hangs up
            (session,) = server.sessions
            assert session.state is ConnectionState.CLOSED
            assert session.protocol.close_reason == "no certificate: a poqw peer must present one"
            with pytest.raises(TimeoutError):
                await server.accept(timeout=0.1)
        finally:
            await server.close()

    run(scenario())


def test_banned_node_cannot_rejoin_but_others_can(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = QuicTransport(node("server"), TIP, ensure_tls_identity(tmp_path / "s"))
        mallory = QuicTransport(node("mallory"), TIP, ensure_tls_identity(tmp_path / "m"))
        carol = QuicTransport(node("carol"), TIP, ensure_tls_identity(tmp_path / "c"))
        try:
            port = await server.start_server("127.0.0.1", 0)
            await mallory.connect("127.0.0.1", port)
            inc = await server.accept(timeout=5)
            loop = asyncio.get_running_loop()
            for i in range(5):  # the node found five of Mallory's blocks invalid
                inc.protocol.report_invalid(f"invalid block {i}", loop.time())
            inc.flush()
            assert inc.state is ConnectionState.CLOSED
            with pytest.raises(RemoteProtocolError, match="banned"):
                await mallory.connect("127.0.0.1", port, timeout=5)
            honest = await carol.connect("127.0.0.1", port, timeout=5)
            assert honest.state is ConnectionState.READY
        finally:
            for transport in (carol, mallory, server):
                await transport.close()

    run(scenario())

"""Bans survive a restart: the pure ban list exports, imports and reports its changes; the trust
store keeps them with a wall-clock expiry and prunes expired ones; a bad bans table is named and
leaves the pins alone; and a node banned over real QUIC is still refused after its host restarts.

Oracle: expiry times written out by hand, across two different monotonic clocks.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.errors import RemoteProtocolError, StorageError
from poqw.node import Node, load_config
from poqw.node.network import TRUST_FILE, NetworkService
from poqw.node.testing import genesis_document
from poqw.p2p import BanList, ChainTip, ConnectionClosed, LocalNode, TrustStore
from poqw.p2p.policing import BanEntry
from poqw.p2p.quic import QuicTransport, ensure_tls_identity

NODE, FP = b"\x02" * 33, b"\x07" * 32


def test_ban_list_exports_imports_and_reports_changes() -> None:
    bans = BanList()
    bans.ban("node:aa", now=0.0, duration=100.0, reason="spam")
    bans.ban("host:1.2.3.4", now=0.0, duration=10.0, reason="garbage")
    assert bans.take_changes() == ([BanEntry("host:1.2.3.4", 10.0, "garbage"),
                                    BanEntry("node:aa", 100.0, "spam")], [])
    assert bans.take_changes() == ([], [])
    bans.ban("node:aa", now=5.0, duration=10.0, reason="shorter")  # changes nothing
    bans.unban("host:1.2.3.4")
    assert bans.take_changes() == ([], ["host:1.2.3.4"])
    assert bans.entries(50.0) == [BanEntry("node:aa", 100.0, "spam")]
    assert bans.entries(100.0) == []

    other = BanList()
    other.ban("node:bb", now=0.0, duration=50.0, reason="mine")
    other.take_changes()
    taken = other.restore([BanEntry("node:bb", 20.0, "older, shorter"),
                           BanEntry("node:cc", 30.0, "kept"), BanEntry("node:dd", 1.0, "gone")],
                          now=2.0)
    assert taken == 1  # the longer ban held wins; an expired one is skipped
    assert other.reason("node:bb", 2.0) == "mine" and other.reason("node:cc", 29.0) == "kept"
    assert not other.is_banned("node:dd", 2.0) and not other.is_banned("node:cc", 30.0)
    assert other.take_changes() == ([], [])  # restoring is not a change to write back


def test_bans_survive_a_restart_with_their_remaining_time(tmp_path: Path) -> None:
    path = tmp_path / "trust.db"
    with TrustStore(path) as store:  # wall clock 1000
        store.check_and_pin(NODE, FP, 1000.0)
        store.save_bans([BanEntry("node:aa", 1600.0, "spam"),
                         BanEntry("host:10.0.0.9", 1050.0, "short")], [], now=1000.0)
    with TrustStore(path) as store:  # restarted at wall clock 1100: the short ban has run out
        stored = store.load_bans(1100.0)
        assert stored == [BanEntry("node:aa", 1600.0, "spam")]
        assert store.pinned(NODE) == FP
    with sqlite3.connect(path) as raw:  # and was pruned from the file
        assert raw.execute("SELECT key FROM bans").fetchall() == [("node:aa",)]
    # the new process's monotonic clock reads 5.0 at wall 1100: 500 s are left
    bans = BanList()
    bans.restore([BanEntry(e.key, e.until - 1100.0 + 5.0, e.reason) for e in stored], 5.0)
    assert bans.is_banned("node:aa", 504.9) and bans.reason("node:aa", 6.0) == "spam"
    assert not bans.is_banned("node:aa", 505.0)


def test_lifted_and_replaced_bans_are_written(tmp_path: Path) -> None:
    with TrustStore(tmp_path / "trust.db") as store:
        store.save_bans([BanEntry("node:aa", 500.0, "a"), BanEntry("node:bb", 500.0, "b")], [],
                        now=0.0)
        store.save_bans([BanEntry("node:aa", 900.0, "again")], ["node:bb"], now=10.0)
        assert store.load_bans(10.0) == [BanEntry("node:aa", 900.0, "again")]


@pytest.mark.parametrize("damage", [
    "INSERT INTO bans VALUES ('node:aa', 'soon', 'x')",  # not a time
    "INSERT INTO bans VALUES ('7', 2000.0, 'x')",  # not a node or host key
    "DROP TABLE bans; CREATE TABLE bans (who TEXT)",  # not the table we wrote
])
def test_a_bad_bans_table_is_named_and_the_pins_are_kept(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "trust.db"
    with TrustStore(path) as store:
        store.check_and_pin(NODE, FP, 1.0)
    with sqlite3.connect(path) as raw:
        raw.executescript(damage)
    with TrustStore(path) as store:
        with pytest.raises(StorageError, match=f"bans table of trust store {path}"):
            store.load_bans(1000.0)
        assert store.pinned(NODE) == FP and len(store) == 1
    with TrustStore(path) as store:  # still there after the failed load
        assert store.pinned(NODE) == FP


def test_a_peer_banned_over_quic_is_refused_after_a_restart(tmp_path: Path) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    cfg = load_config(None, {"global.datadir": str(tmp_path / "node"), "global.key_height": 4,
                             "global.genesis": str(genesis), "global.node_name": "target"})
    with Node(cfg) as node:
        local = LocalNode(EcdsaPrivateKey(hash32(b"hostile", b"persist")),
                          node.genesis.chain_id, node.genesis_hash())

    async def connect_and_misbehave(service: NetworkService) -> str:
        client = QuicTransport(local, ChainTip(0, local.genesis_hash, 0),
                               ensure_tls_identity(tmp_path / "client"))
        try:
            session = await client.connect("127.0.0.1", service.port)
            session.protocol._outgoing += b"\x00" * 64  # garbage: bad magic
            session.flush()
            while not isinstance(event := await session.next_event(10), ConnectionClosed):
                pass
            return event.reason
        finally:
            await client.close()

    async def refused(service: NetworkService) -> str:
        client = QuicTransport(local, ChainTip(0, local.genesis_hash, 0),
                               ensure_tls_identity(tmp_path / "client"))
        try:
            with pytest.raises(RemoteProtocolError) as exc:
                await client.connect("127.0.0.1", service.port, timeout=10)
            return str(exc.value)
        finally:
            await client.close()

    async def run(first: bool) -> str:
        with Node(cfg) as node:
            service = NetworkService(node, port=0)
            await service.start()
            try:
                if first:
                    assert "banned for misbehaviour" in await connect_and_misbehave(service)
                return await refused(service)
            finally:
                await service.close()

    key = f"node:{local.node_id.hex()}"
    assert "banned" in asyncio.run(run(first=True))
    with TrustStore(tmp_path / "node" / TRUST_FILE) as store:
        assert [e.key for e in store.load_bans(0.0)] == [key]
    assert "banned" in asyncio.run(run(first=False))  # the restarted node remembers

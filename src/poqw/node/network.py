"""The running network: glue between a :class:`~poqw.node.Node` and its QUIC peers.

:class:`NetworkService` listens with :class:`~poqw.p2p.quic.QuicTransport`, dials the configured
peers (and redials them), drains each peer's events and answers them from the node: it serves
headers, blocks, status, stats and peer lists; fetches gossiped blocks once and imports them;
follows better chains headers-first with :class:`~poqw.p2p.SyncManager` (bodies from several
peers at once); reports invalid data to the sender's misbehaviour score; and gossips every new
head of the local chain, mined here or received. The miner keeps running in its own thread and
moves to a better tip by itself (it re-reads the tip after every puzzle attempt). The node key
(``p2p.key``), the certificate (``node.crt``/``node.key``) and the TOFU pins (``trust.db``) live
in the data directory; ``network.json`` there reports port, peers and tip for tools. Bans live in
``trust.db`` too: loaded at start, written as they happen, with their expiry converted between
the protocol's monotonic clock (the event loop's) and the wall clock, so a ban survives a
restart with the time it had left.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from poqw.chain import decode_block, decode_header
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import (
    ConfigError,
    DecodeError,
    InvalidBlock,
    LocalProtocolError,
    PoqwError,
    ProtocolError,
    StorageError,
)
from poqw.node.blockchain import ImportResult
from poqw.node.service import Node
from poqw.p2p import events as ev
from poqw.p2p.config import ChainTip, LocalNode, PeerConfig
from poqw.p2p.identity import Role
from poqw.p2p.messages import (
    MAX_BLOCKS_PER_MESSAGE,
    MAX_GOSSIP_HASHES,
    MAX_HEADERS_PER_MESSAGE,
    MAX_PEERS_PER_MESSAGE,
    PeerAddress,
)
from poqw.p2p.peer import ConnectionState
from poqw.p2p.policing import BanList, Penalty
from poqw.p2p.quic import DEFAULT_PORT, PeerSession, QuicTransport, ensure_tls_identity
from poqw.p2p.sync import (
    RequestBlocks,
    RequestHeaders,
    SyncManager,
    block_locator,
    find_fork_point,
)
from poqw.p2p.trust import TrustStore

__all__ = ["NODE_KEY_FILE", "STATUS_FILE", "NetworkService", "load_node_key", "parse_peer"]

NODE_KEY_FILE = "p2p.key"
STATUS_FILE = "network.json"
TRUST_FILE = "trust.db"
_TICK = 0.25  # seconds between sync polls, redials and status writes
_MAX_REDIAL_DELAY = 5.0
_MAX_PARENT_WALK = 16  # blocks: a shorter gap is closed by fetching parents one by one
_MIN_ANNOUNCE_GAP = 0.06  # s: under the peers' gossip rate limit (20 a second by default)

log = logging.getLogger("poqw.node.network")


def parse_peer(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) as a pair; raises :class:`ConfigError` naming it."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"peer {value!r} is not HOST:PORT")
    return host, int(port)


def load_node_key(datadir: Path) -> EcdsaPrivateKey:
    """The node's network identity (``DATADIR/p2p.key``, made on first start, owner-only)."""
    path = Path(datadir) / NODE_KEY_FILE
    if not path.exists():
        while True:
            secret = os.urandom(32)
            with contextlib.suppress(ValueError):
                EcdsaPrivateKey(secret)
                break
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret.hex() + "\n")
    try:
        return EcdsaPrivateKey(bytes.fromhex(path.read_text().strip()))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the node key {path}: {exc}") from exc


@dataclass
class _Dial:
    """A configured peer address we keep connected."""

    host: str
    port: int
    next_try: float = 0.0
    delay: float = 0.5
    session: PeerSession | None = None
    dialing: bool = False


class NetworkService:
    """Runs the peer-to-peer side of one node (see the module docstring).

    ``await start()`` binds and returns the port; ``await close()`` stops everything.
    """

    def __init__(self, node: Node, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 peers: Sequence[str] = (), tls_cert_file: str | None = None,
                 tls_key_file: str | None = None, peer_config: PeerConfig | None = None,
                 max_peers: int = 16, discover: bool = True) -> None:
        self.node = node
        self.host = host
        self.port = port
        self.max_peers = max_peers
        self.discover = discover
        self._dials = [_Dial(*parse_peer(p)) for p in peers]
        datadir = node.datadir
        self.identity = ensure_tls_identity(datadir, tls_cert_file or None,
                                            tls_key_file or None)
        self.trust = TrustStore(datadir / TRUST_FILE)
        self.bans = BanList()  # on the event loop's clock; persisted in trust.db
        self.local = LocalNode(load_node_key(datadir), node.genesis.chain_id,
                               node.genesis_hash(), listen_host=host, listen_port=port)
        self.transport = QuicTransport(self.local, self._chain_tip(), self.identity,
                                       config=peer_config, trust=self.trust, bans=self.bans)
        self.status_path = datadir / STATUS_FILE
        self.peers: dict[bytes, PeerSession] = {}  # node id -> ready session
        self.sync = self._new_sync()
        self.stats = {"blocks_received": 0, "blocks_imported": 0, "invalid_blocks": 0,
                      "peers_banned": 0}
        self._requests: dict[tuple[bytes, int], tuple[str, tuple[bytes, ...]]] = {}
        self._sync_source: dict[bytes, bytes] = {}  # block hash -> node id that sent it
        self._sync_headers: set[bytes] = set()  # hashes of headers accepted for the sync
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty = True
        self._closing = False
        self._last_announce = -1.0
        self._announced_txs: set[bytes] = set()
        self._refused: weakref.WeakSet[PeerSession] = weakref.WeakSet()  # already logged
        self._announce_handle: asyncio.TimerHandle | None = None
        node.subscribe(self._on_head_threadsafe)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> int:
        """Listen, start the accept/tick loops; returns the bound port."""
        self._loop = asyncio.get_running_loop()
        self.trust.wall_offset = time.time() - self._now()  # pins are kept on the wall clock
        self._load_bans()
        try:
            self.port = await self.transport.start_server(self.host, self.port)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.local = replace(self.local, listen_port=self.port)
        self.transport.local = self.local
        self._spawn(self._accept_loop())
        self._spawn(self._tick_loop())
        log.info("p2p listening on %s:%d as node %s (certificate %s...)", self.host, self.port,
                 self.local.node_id.hex()[:16], self.identity.fingerprint.hex()[:16])
        self._write_status()
        return self.port

    async def close(self) -> None:
        self._closing = True
        if self._announce_handle is not None:
            self._announce_handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.transport.close()
        if self._loop is not None:
            self._save_bans()
        self.trust.close()
        self._write_status()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_loop(self) -> None:
        while True:
            session = await self.transport.accept()
            self._spawn(self._serve(session))

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(_TICK)
            now = self._now()
            listening = {(s.protocol.peer.listen_host, s.protocol.peer.listen_port)
                         for s in self.peers.values() if s.protocol.peer is not None}
            for dial in self._dials:
                alive = (dial.session is not None and not dial.session.closed.is_set()) or \
                    (dial.host, dial.port) in listening  # it dialled us
                if not alive and not dial.dialing and now >= dial.next_try:
                    dial.dialing = True
                    self._spawn(self._dial(dial))
            self._pump_sync()
            self._log_refused()
            self._announce_new_transactions()
            self._save_bans()
            if self._dirty:
                self._write_status()

    def _load_bans(self) -> None:
        """Bans still in force from ``trust.db``, their wall-clock expiry moved to our clock."""
        wall, now = time.time(), self._now()
        stored = self.trust.load_bans(wall)
        taken = self.bans.restore([replace(e, until=e.until - wall + now) for e in stored], now)
        if taken:
            log.info("%d bans still in force from %s", taken, self.trust.path)

    def _save_bans(self) -> None:
        """Write bans made (or lifted) since the last call to ``trust.db``, on the wall clock."""
        banned, unbanned = self.bans.take_changes()
        if not banned and not unbanned:
            return
        wall, now = time.time(), self._now()
        try:
            self.trust.save_bans([replace(e, until=e.until - now + wall) for e in banned],
                                 unbanned, wall)
        except StorageError as exc:
            log.warning("bans not saved, a restart will forget them: %s", exc)

    def _log_refused(self) -> None:
        """Incoming connections that closed before the join finished never reach ``accept``:
        say why (a changed certificate, a ban, another chain) once each."""
        for session in self.transport.sessions:
            if session.state is ConnectionState.CLOSED and not session.ready.is_set() \
                    and session not in self._refused:
                self._refused.add(session)
                log.warning("refused peer %s: %s", session.remote_address,
                            session.protocol.close_reason)

    async def _dial(self, dial: _Dial) -> None:
        try:
            session = await self.transport.connect(dial.host, dial.port, timeout=5.0)
        except ProtocolError as exc:
            dial.next_try = self._now() + dial.delay
            log.info("cannot join peer %s:%d: %s (retry in %.1f s)", dial.host, dial.port, exc,
                     dial.delay)
            dial.delay = min(dial.delay * 2, _MAX_REDIAL_DELAY)
            return
        finally:
            dial.dialing = False
        dial.session = session
        joined = self._now()
        await self._serve(session)
        # a peer that drops us at once (a refused pin, a ban) is retried ever more slowly
        dial.delay = 0.5 if self._now() - joined > 10 * _MAX_REDIAL_DELAY else \
            min(dial.delay * 2, _MAX_REDIAL_DELAY)
        dial.next_try = self._now() + dial.delay

    async def _dial_discovered(self, address: PeerAddress) -> None:
        try:
            session = await self.transport.connect(address.host, address.port, timeout=5.0)
        except ProtocolError as exc:
            log.info("cannot join discovered peer %s:%d: %s", address.host, address.port, exc)
            return
        await self._serve(session)

    # --- one peer ------------------------------------------------------------------------------

    async def _serve(self, session: PeerSession) -> None:
        key: bytes | None = None
        try:
            while True:
                try:
                    event = await session.next_event(timeout=1.0)
                except TimeoutError:
                    if session.state is ConnectionState.CLOSED:
                        return  # we closed it (a ban from report_invalid): no event follows
                    continue
                if isinstance(event, ev.HandshakeCompleted):
                    key = self._joined(session, event)
                    if key is None:
                        return
                elif isinstance(event, ev.ConnectionClosed):
                    self._log_close(session, event)
                    return
                elif key is not None:
                    self._handle(key, session, event)
                    session.flush()
                    if session.state is ConnectionState.CLOSED:  # ended (a ban, say)
                        for rest in session.pending_events():
                            if isinstance(rest, ev.ConnectionClosed):
                                self._log_close(session, rest)
                            elif isinstance(rest, ev.PeerMisbehaved):
                                self._handle(key, session, rest)
                        return
        finally:
            if key is not None and self.peers.get(key) is session:
                del self.peers[key]
                self.sync.remove_peer(key)
                self._requests = {k: v for k, v in self._requests.items() if k[0] != key}
                self._dirty = True
                log.info("peer %s left (%d peers)", key.hex()[:16], len(self.peers))

    def _joined(self, session: PeerSession, event: ev.HandshakeCompleted) -> bytes | None:
        key = event.peer.node_id
        old = self.peers.get(key)
        if old is not None and not old.closed.is_set():
            # Both sides dialled: keep the connection the lower node id initiated, so both
            # ends drop the same one.
            initiator = self.local.node_id if session.protocol.role is Role.INITIATOR else key
            if initiator != min(self.local.node_id, key):
                session.close("duplicate connection")
                return None
            old.close("duplicate connection")
        elif len(self.peers) >= self.max_peers:
            session.close("too many peers")
            return None
        self.peers[key] = session
        self._dirty = True
        log.info("peer %s joined from %s (%s, height %d; %d peers)", key.hex()[:16],
                 session.remote_address, "new certificate pinned" if event.first_seen
                 else "pinned certificate matches", event.peer.height, len(self.peers))
        with contextlib.suppress(LocalProtocolError):
            if self.discover:
                session.protocol.request_peers(self._now())
            session.protocol.send_gossip(blocks=(self.node.tip().block_hash,))
        session.flush()
        return key

    def _log_close(self, session: PeerSession, event: ev.ConnectionClosed) -> None:
        who = session.protocol.peer.node_id.hex()[:16] if session.protocol.peer else "?"
        if event.banned:
            self.stats["peers_banned"] += 1
            log.warning("peer %s banned: %s", who, event.reason)
            self._save_bans()
        else:
            log.info("connection to %s closed (%s): %s", who,
                     "by peer" if event.by_peer else "by us", event.reason)

    def _handle(self, key: bytes, session: PeerSession, event: ev.Event) -> None:
        peer, now, node = session.protocol, self._now(), self.node
        if isinstance(event, ev.TipAnnounced | ev.StatusReceived):
            self.sync.peer_tip(key, event.height, event.work)
            self._pump_sync()
        elif isinstance(event, ev.GossipReceived):
            wanted = tuple(h for h in event.blocks if not node.store.has(h))
            for i in range(0, len(wanted), MAX_BLOCKS_PER_MESSAGE):
                self._request(key, session, "fetch", wanted[i:i + MAX_BLOCKS_PER_MESSAGE])
            if event.transactions:
                missing = tuple(h for h in event.transactions if h not in node.mempool)
                if missing:
                    with contextlib.suppress(LocalProtocolError):
                        peer.request_transactions(missing[:64], now)
        elif isinstance(event, ev.BlocksReceived):
            self._blocks_received(key, session, event)
        elif isinstance(event, ev.HeadersReceived):
            self._headers_received(key, session, event)
        elif isinstance(event, ev.HeadersRequested):
            fork = find_fork_point(event.locator, node.canonical_height_of)
            count = min(event.max_count, MAX_HEADERS_PER_MESSAGE)
            peer.respond_headers(event.request_id,
                                 () if fork is None else tuple(node.headers(fork + 1, count)))
        elif isinstance(event, ev.BlocksRequested):
            peer.respond_blocks(event.request_id, self._blocks_for(event))
        elif isinstance(event, ev.StatusRequested):
            peer.respond_status(event.request_id, len(self.peers))
        elif isinstance(event, ev.StatsRequested):
            peer.respond_stats(event.request_id, self._stats())
        elif isinstance(event, ev.PeersRequested):
            peer.respond_peers(event.request_id, self._addresses(exclude=key))
        elif isinstance(event, ev.PeersReceived):
            self._discovered(event.peers)
        elif isinstance(event, ev.TransactionsRequested):
            wanted_txs = set(event.hashes)
            peer.respond_transactions(event.request_id, tuple(
                i.raw for i in node.mempool.transactions() if i.tx_hash in wanted_txs)[:64])
        elif isinstance(event, ev.TransactionsReceived):
            self._transactions_received(event)
        elif isinstance(event, ev.RequestTimedOut | ev.RequestFailed):
            self._request_failed(key, event.request_id)
        elif isinstance(event, ev.PeerMisbehaved):
            log.info("peer %s misbehaved (+%d, score %.0f): %s", key.hex()[:16], event.points,
                     event.score, event.reason)

    def _request(self, key: bytes, session: PeerSession, kind: str,
                 hashes: tuple[bytes, ...]) -> None:
        try:
            request_id = session.protocol.request_blocks(self._now(), hashes=hashes)
        except LocalProtocolError as exc:
            log.info("cannot ask %s for blocks now: %s", key.hex()[:16], exc)
            if kind == "sync":
                self.sync.blocks_failed(key, hashes, self._now())
            return
        self._requests[(key, request_id)] = (kind, hashes)

    def _request_failed(self, key: bytes, request_id: int) -> None:
        kind, hashes = self._requests.pop((key, request_id), ("", ()))
        if kind == "sync":
            self.sync.blocks_failed(key, hashes, self._now())
        elif kind == "headers":
            self.sync.headers_failed(key, self._now())

    # --- blocks and headers --------------------------------------------------------------------

    def _blocks_for(self, event: ev.BlocksRequested) -> tuple[bytes, ...]:
        node = self.node
        if event.hashes:
            found = (node.block_bytes(h) for h in event.hashes[:MAX_BLOCKS_PER_MESSAGE])
        else:
            count = min(event.count, MAX_BLOCKS_PER_MESSAGE)
            found = (node.block_bytes(h) for h in (node.canonical_hash(event.start + i)
                                                   for i in range(count)) if h is not None)
        return tuple(b for b in found if b is not None)

    def _blocks_received(self, key: bytes, session: PeerSession,
                         event: ev.BlocksReceived) -> None:
        kind, requested = self._requests.pop((key, event.request_id), ("push", ()))
        self.stats["blocks_received"] += len(event.blocks)
        if kind != "sync":
            for data in event.blocks:
                result = self._import(key, session, data)
                if result is not None and result.status == "orphan":
                    self._orphaned(key, session, data, result)
            return
        by_hash: dict[bytes, bytes] = {}
        for data in event.blocks:
            try:
                by_hash[bytes(decode_block(bytes(data), self.node.chain.limits).hash())] = data
            except DecodeError as exc:
                self._penalize(key, session, f"undecodable block: {exc}", Penalty.MALFORMED)
                return
        for block_hash in by_hash:
            self._sync_source[block_hash] = key
        self.sync.blocks_received(key, requested, by_hash, self._now())
        self._pump_sync()

    def _import(self, key: bytes, session: PeerSession, data: bytes) -> ImportResult | None:
        try:
            result = self.node.import_block_bytes(data)
        except DecodeError as exc:
            self._penalize(key, session, f"undecodable block: {exc}", Penalty.MALFORMED)
            return None
        except InvalidBlock as exc:
            if "in the future" in exc.reason:  # may become valid: not the peer's fault
                log.info("block from %s is early: %s", key.hex()[:16], exc.reason)
                return None
            self.stats["invalid_blocks"] += 1
            self._penalize(key, session, f"invalid block: {exc.reason}", Penalty.INVALID_DATA)
            return None
        if result.status in ("new-tip", "side"):
            self.stats["blocks_imported"] += len(result.imported)
        return result

    def _orphaned(self, key: bytes, session: PeerSession, data: bytes,
                  result: ImportResult) -> None:
        """A block whose parent we lack: fetch the parent when the gap is short, and ask the
        peer's status (its tip starts a headers-first sync when the gap is long)."""
        number = int(decode_block(bytes(data), self.node.chain.limits).header.number)
        with contextlib.suppress(LocalProtocolError):
            if number - self.node.tip().number <= _MAX_PARENT_WALK and result.missing_parent:
                self._request(key, session, "fetch", (result.missing_parent,))
            session.protocol.request_status(self._now())

    def _penalize(self, key: bytes, session: PeerSession, reason: str, points: int) -> None:
        log.warning("peer %s sent bad data: %s", key.hex()[:16], reason)
        for event in session.protocol.report_invalid(reason, self._now(), points):
            if isinstance(event, ev.ConnectionClosed):
                self._log_close(session, event)
        session.flush()

    def _headers_received(self, key: bytes, session: PeerSession,
                          event: ev.HeadersReceived) -> None:
        kind, _ = self._requests.pop((key, event.request_id), ("", ()))
        if kind != "headers":
            return
        try:
            headers = [decode_header(bytes(raw)) for raw in event.headers]
        except DecodeError as exc:
            self.sync.headers_failed(key, self._now())
            self._penalize(key, session, f"undecodable header: {exc}", Penalty.MALFORMED)
            return
        linked = all(b.parent_hash == a.hash() and b.number == a.number + 1
                     for a, b in itertools.pairwise(headers))
        anchored = bool(headers) and (headers[0].parent_hash in self._sync_headers
                                      or self.node.store.has(headers[0].parent_hash))
        if headers and (not linked or not anchored):
            self.sync.headers_failed(key, self._now())
            self._penalize(key, session, "headers that do not chain onto ours",
                           Penalty.INVALID_DATA)
            return
        pairs = [(int(h.number), bytes(h.hash())) for h in headers]
        self._sync_headers.update(h for _, h in pairs)  # a continuation may build on these
        self.sync.headers_received(key, pairs, self._now())
        self._pump_sync()

    def _pump_sync(self) -> None:
        """Turn the sync plan into requests, and import what arrived, in height order."""
        now = self._now()
        for action in self.sync.poll(now):
            key = cast(bytes, action.peer)
            session = self.peers.get(key)
            if session is None:
                continue
            if isinstance(action, RequestHeaders):
                try:
                    rid = session.protocol.request_headers(action.locator, action.max_count,
                                                           now)
                except LocalProtocolError:
                    self.sync.headers_failed(key, now)
                    continue
                self._requests[(key, rid)] = ("headers", ())
            elif isinstance(action, RequestBlocks):
                self._request(key, session, "sync", action.hashes)
            session.flush()
        for height, block_hash, data in self.sync.take_ready():
            sender = self._sync_source.pop(block_hash, None)
            if self.node.store.has(block_hash):
                continue
            session = self.peers.get(sender) if sender is not None else None
            try:
                result = self.node.import_block_bytes(data)
                self.stats["blocks_imported"] += len(result.imported)
            except (InvalidBlock, DecodeError) as exc:
                log.warning("synced block %d 0x%s is invalid: %s", height, block_hash.hex()[:16],
                            exc)
                self.stats["invalid_blocks"] += 1
                if sender is not None and session is not None:
                    self._penalize(sender, session, f"invalid block in sync: {exc}",
                                   Penalty.INVALID_DATA)
                self._reset_sync()
                return

    def _new_sync(self) -> SyncManager:
        tip = self.node.tip()
        return SyncManager(tip.number, tip.total_work, self._locator(tip.number),
                           batch_size=MAX_BLOCKS_PER_MESSAGE, max_in_flight_per_peer=4)

    def _reset_sync(self) -> None:
        self.sync = self._new_sync()
        for key, session in self.peers.items():
            tip = session.protocol.peer_tip
            if tip is not None:
                self.sync.peer_tip(key, tip.height, tip.work)
        self._requests = {k: v for k, v in self._requests.items() if v[0] == "fetch"}
        self._sync_source.clear()
        self._sync_headers.clear()

    def _locator(self, height: int) -> tuple[bytes, ...]:
        return block_locator(height, lambda h: self.node.canonical_hash(h) or bytes(32))

    # --- peers, transactions, status -----------------------------------------------------------

    def _addresses(self, exclude: bytes) -> tuple[PeerAddress, ...]:
        out = [PeerAddress(k, s.protocol.peer.listen_host, s.protocol.peer.listen_port)
               for k, s in self.peers.items()
               if k != exclude and s.protocol.peer is not None and s.protocol.peer.listen_port]
        return tuple(out[:MAX_PEERS_PER_MESSAGE])

    def _discovered(self, addresses: tuple[PeerAddress, ...]) -> None:
        if not self.discover:
            return
        for address in addresses:
            if len(self.peers) >= self.max_peers:
                return
            if address.node_id == self.local.node_id or address.node_id in self.peers:
                continue
            self._spawn(self._dial_discovered(address))

    def _transactions_received(self, event: ev.TransactionsReceived) -> None:
        accepted = []
        for raw in event.transactions:
            try:
                accepted.append(bytes(self.node.submit_transaction(raw).tx_hash))
            except PoqwError as exc:
                log.info("transaction refused: %s", exc)
        if accepted:
            self.announce(transactions=tuple(accepted))

    def announce(self, blocks: tuple[bytes, ...] = (), transactions: tuple[bytes, ...] = ()
                 ) -> None:
        """Gossip hashes to every ready peer (each peer hears each hash once)."""
        step = MAX_GOSSIP_HASHES
        for session in list(self.peers.values()):
            with contextlib.suppress(LocalProtocolError):
                for i in range(0, max(len(blocks), len(transactions)), step):
                    session.protocol.send_gossip(blocks[i:i + step], transactions[i:i + step])
                session.flush()

    def _announce_new_transactions(self) -> None:
        """Gossip transactions that entered the mempool since the last tick (submitted here,
        through the API or by a peer); ``send_gossip`` skips peers that already know them."""
        current = {bytes(i.tx_hash) for i in self.node.mempool.transactions()}
        new = tuple(current - self._announced_txs)
        self._announced_txs = current
        if new:
            self.announce(transactions=new)

    def _on_head_threadsafe(self, result: ImportResult) -> None:
        # Called by whichever thread imported (miner or network), right after the commit.
        log.info("head %d 0x%s imported %d at %.6f", result.tip.number,
                 bytes(result.tip.block_hash).hex(), len(result.imported), time.time())
        if self._loop is not None and not self._closing:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(self._on_head, result)

    def _on_head(self, result: ImportResult) -> None:
        tip = self._chain_tip()
        self.transport.set_tip(tip)
        self.sync.set_local(tip.height, tip.work, self._locator(tip.height))
        self._dirty = True
        if self._announce_handle is not None:
            return  # an announcement is already due: it will carry the newest tip
        wait = self._last_announce + _MIN_ANNOUNCE_GAP - self._now()
        if wait > 0:
            assert self._loop is not None
            self._announce_handle = self._loop.call_later(wait, self._announce_tip)
        else:
            self._announce_tip()

    def _announce_tip(self) -> None:
        # Only the newest head is announced, at most every _MIN_ANNOUNCE_GAP: a node importing
        # hundreds of blocks must not flood its peers (their gossip rate limit would ban it).
        self._announce_handle = None
        self._last_announce = self._now()
        self.announce(blocks=(bytes(self.node.tip().block_hash),))

    def _chain_tip(self) -> ChainTip:
        tip = self.node.tip()
        return ChainTip(tip.number, bytes(tip.block_hash), tip.total_work)

    def _stats(self) -> dict[str, int | str]:
        tip = self.node.tip()
        return {"height": tip.number, "tip": bytes(tip.block_hash).hex(),
                "peers": len(self.peers), **self.stats}

    def status(self) -> dict[str, Any]:
        """What ``network.json`` holds: where we listen, who we talk to, our tip."""
        tip = self.node.tip()
        return {
            "node_id": self.local.node_id.hex(), "host": self.host, "port": self.port,
            "chain_id": self.local.chain_id, "genesis_hash": self.local.genesis_hash.hex(),
            "pid": os.getpid(), "peer_count": len(self.peers),
            "peers": [{"node_id": k.hex(), "address": list(s.remote_address or ())}
                      for k, s in self.peers.items()],
            "height": tip.number, "tip": "0x" + bytes(tip.block_hash).hex(),
            "total_work": tip.total_work, "updated": time.time(), "running": not self._closing,
            "mining": self.node.mining, **self.stats,
        }

    def mark_changed(self) -> None:
        """Rewrite ``network.json`` at the next tick (the node's state changed outside us)."""
        self._dirty = True

    def _write_status(self) -> None:
        self._dirty = False
        tmp = self.status_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.status(), indent=1))
            tmp.replace(self.status_path)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.status_path, exc)

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

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
import functools
import json
import logging
import os
import sys
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from poqw.chain import (
    Header,
    WorkProof,
    block_work,
    decode_header,
    decode_proof,
    encoded_proof,
    validate_header_work,
)
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import (
    ConfigError,
    DecodeError,
    InvalidBlock,
    InvalidCapability,
    LocalProtocolError,
    PoqwError,
    ProtocolError,
    StorageError,
)
from poqw.node.blockchain import ImportResult
from poqw.node.capabilities import CapabilityBook, capability_json
from poqw.node.importer import UntrustedWork
from poqw.node.service import Node
from poqw.p2p import events as ev
from poqw.p2p.config import ChainTip, LocalNode, PeerConfig
from poqw.p2p.dialpolicy import DialPolicy, dial_refusal, policy_for_listen_host
from poqw.p2p.identity import Role, load_key_file
from poqw.p2p.messages import (
    MAX_BLOCKS_PER_MESSAGE,
    MAX_GOSSIP_HASHES,
    MAX_HEADERS_PER_MESSAGE,
    MAX_PEERS_PER_MESSAGE,
    PeerAddress,
)
from poqw.p2p.pacing import RequestPacing
from poqw.p2p.peer import ConnectionState
from poqw.p2p.policing import BanList, Penalty, TokenBucket
from poqw.p2p.quic import DEFAULT_PORT, PeerSession, QuicTransport, ensure_tls_identity
from poqw.p2p.sync import (
    RequestBlocks,
    RequestHeaders,
    SyncManager,
    block_locator,
    find_fork_point,
)
from poqw.p2p.trust import DEFAULT_MAX_PINS, TrustStore

__all__ = ["NODE_KEY_FILE", "STATUS_FILE", "NetworkService", "load_node_key", "parse_peer"]

NODE_KEY_FILE = "p2p.key"
STATUS_FILE = "network.json"
TRUST_FILE = "trust.db"
_TICK = 0.25  # seconds between sync polls, redials and status writes
_MAX_REDIAL_DELAY = 5.0
_MAX_PARENT_WALK = 16  # blocks: a shorter gap is closed by fetching parents one by one
_MAX_ORPHANS_PER_PEER = 32  # orphans one peer may have waiting (a parent walk needs <= 16)
_MIN_ANNOUNCE_GAP = 0.06  # s: under the peers' gossip rate limit (20 a second by default)
_HEADERS_PER_REQUEST = 500  # each header travels with its work proof, checked on arrival

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
    return load_key_file(Path(datadir) / NODE_KEY_FILE)


@dataclass
class _Dial:
    """A configured peer address we keep connected."""

    host: str
    port: int
    next_try: float = 0.0
    delay: float = 0.5
    session: PeerSession | None = None
    dialing: bool = False


class _SyncView:
    """The chain as consensus reads it, plus the headers checked for the sync so far."""

    def __init__(self, held: Mapping[bytes, tuple[Header, int]], chain: Any) -> None:
        self.held, self.chain = held, chain

    def header(self, block_hash: bytes) -> Header | None:
        held = self.held.get(bytes(block_hash))
        return held[0] if held is not None else self.chain.header(block_hash)


def _check_headers(pairs: Sequence[tuple[Header, WorkProof]],
                   held: dict[bytes, tuple[Header, int]], chain: Any, genesis: Any,
                   now: int) -> tuple[list[tuple[bytes, Header, int]], int, str | None]:
    """Check headers with their work proofs in order, each against its parent (ours, one held
    for the sync, or one checked just before), on the worker thread. Returns what passed (hash,
    header, total work), the total work of the last one, and why the rest failed (None: all
    passed; a reason starting with ``early: `` is not the peer's fault)."""
    view = _SyncView(held, chain)
    found: list[tuple[bytes, Header, int]] = []
    work = 0
    for header, proof in pairs:
        parent = view.header(header.parent_hash)
        parent_hash = bytes(header.parent_hash)
        if parent_hash in held:
            parent_work: int | None = held[parent_hash][1]
        else:
            stored = chain.store.get(parent_hash)
            parent_work = None if stored is None else stored.total_work
        if parent is None or parent_work is None:
            return found, work, "headers that do not chain onto ours"
        try:
            validate_header_work(header, proof, parent, view, now, genesis)
        except InvalidBlock as exc:
            if "in the future" in exc.reason:
                return found, work, f"early: {exc.reason}"
            return found, work, f"invalid header {int(header.number)}: {exc.reason}"
        block_hash = bytes(header.hash())
        work = parent_work + block_work(genesis, header)
        held[block_hash] = (header, work)
        found.append((block_hash, header, work))
    return found, work, None


class NetworkService:
    """Runs the peer-to-peer side of one node (see the module docstring).

    ``await start()`` binds and returns the port; ``await close()`` stops everything.
    """

    def __init__(self, node: Node, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 peers: Sequence[str] = (), tls_cert_file: str | None = None,
                 tls_key_file: str | None = None, peer_config: PeerConfig | None = None,
                 max_peers: int = 16, discover: bool = True,
                 dial_policy: DialPolicy | None = None, max_pins: int = DEFAULT_MAX_PINS) -> None:
        self.node = node
        self.host = host
        self.port = port
        self.max_peers = max_peers
        self.discover = discover
        self.dial_policy = dial_policy or policy_for_listen_host("auto", host)
        self._dials = [_Dial(*parse_peer(p)) for p in peers]
        datadir = node.datadir
        self.identity = ensure_tls_identity(datadir, tls_cert_file or None,
                                            tls_key_file or None)
        self.trust = TrustStore(datadir / TRUST_FILE, max_pins=max_pins)
        self.bans = BanList()  # on the event loop's clock; persisted in trust.db
        self.local = LocalNode(load_node_key(datadir), node.genesis.chain_id,
                               node.genesis_hash(), listen_host=host, listen_port=port)
        self.transport = QuicTransport(self.local, self._chain_tip(), self.identity,
                                       config=peer_config, trust=self.trust, bans=self.bans)
        self.status_path = datadir / STATUS_FILE
        self.status_extra: dict[str, Any] = {}  # more for network.json (e.g. the RPC URL)
        self.peers: dict[bytes, PeerSession] = {}  # node id -> ready session
        self.sync = self._new_sync()
        self.stats = {"blocks_received": 0, "blocks_imported": 0, "invalid_blocks": 0,
                      "peers_banned": 0}
        self.capabilities = CapabilityBook(datadir, self.local.node_id, self.local.chain_id,
                                           max_entries=max(1, max_peers))
        self._requests: dict[tuple[bytes, int], tuple[str, tuple[bytes, ...]]] = {}
        self._sync_source: dict[bytes, bytes] = {}  # block hash -> node id that sent it
        # headers checked for the sync (with their total work), a continuation builds on them
        self._sync_headers: OrderedDict[bytes, tuple[Header, int]] = OrderedDict()
        self._orphan_senders: dict[bytes, tuple[bytes, int]] = {}  # orphan -> sender, height
        self._tasks: set[asyncio.Task[Any]] = set()
        self._crashes: dict[str, int] = {}  # supervised task -> times it failed
        self._session_keys: weakref.WeakKeyDictionary[PeerSession, bytes] = \
            weakref.WeakKeyDictionary()
        self._told: set[str] = set()  # console notices already shown
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty = True
        self._closing = False
        self._last_announce = -1.0
        self._announced_txs: set[bytes] = set()
        self._refused: weakref.WeakSet[PeerSession] = weakref.WeakSet()  # already logged
        self._announce_handle: asyncio.TimerHandle | None = None
        self._discovered_dials: TokenBucket | None = None  # made on the loop's clock
        self._dialing_discovered: set[tuple[str, int]] = set()
        # Decoding and validating peers' data runs here, off the loop (see poqw.node.importer).
        self.untrusted = UntrustedWork(node)
        self._sync_imports: deque[tuple[SyncManager, int, bytes, bytes]] = deque()
        self.pacing = RequestPacing()  # fetches and status requests leave budget to the sync
        self._importing = False
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
        self._spawn(self._accept_loop, "the accept loop", restart=True)
        self._spawn(self._tick_loop, "the tick loop", restart=True)
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
        self.untrusted.close()
        with contextlib.suppress(Exception):
            await self.transport.close()
        if self._loop is not None:
            self._save_bans()
        self.trust.close()
        self._write_status()

    def _spawn(self, make: Callable[[], Coroutine[Any, Any, None]], what: str, *,
               restart: bool = False) -> None:
        """Run ``make()`` as a supervised task: its exception is logged once, with the
        traceback, and a loop (``restart``) is started again after a growing pause."""
        task = asyncio.ensure_future(make())
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(t, make, what, restart))

    def _task_done(self, task: asyncio.Task[None], make: Callable[[], Coroutine[Any, Any, None]],
                   what: str, restart: bool) -> None:
        self._tasks.discard(task)
        if task.cancelled() or self._closing:
            return
        exc = task.exception()
        if exc is None and not restart:
            return
        failures = self._crashes.get(what, 0) + 1
        self._crashes[what] = failures
        log.error("%s failed (%d times so far): %r", what, failures, exc, exc_info=exc)
        if restart and self._loop is not None:
            delay = min(_MAX_REDIAL_DELAY * 2 ** min(failures - 1, 3), 30.0) / 5
            log.error("restarting %s in %.1f s", what, delay)
            self._loop.call_later(delay, lambda: None if self._closing else
                                  self._spawn(make, what, restart=True))

    async def _accept_loop(self) -> None:
        while True:
            session = await self.transport.accept()
            self._spawn(functools.partial(self._serve, session), "a peer session")

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
                    self._spawn(functools.partial(self._dial, dial), "a dial")
            for session in list(self.peers.values()):
                if self.pacing.ask_owed(session.protocol, now):
                    session.flush()
            self._pump_sync()
            self._log_refused()
            self._announce_new_transactions()
            self._save_bans()
            if self.capabilities.reload():
                self._send_capability(tuple(self.peers.values()))
            if self._dirty:
                self._write_status()

    def _load_bans(self) -> None:
        """Bans still in force from ``trust.db``, their wall-clock expiry moved to our clock.
        Address bans (``host:``, written by older versions) are dropped: an address is shared
        by honest peers, only a proven node key is banned."""
        wall, now = time.time(), self._now()
        stored = self.trust.load_bans(wall)
        hosts = [e.key for e in stored if not e.key.startswith("node:")]
        if hosts:
            log.info("dropping %d address bans from %s: only node keys are banned now",
                     len(hosts), self.trust.path)
            with contextlib.suppress(StorageError):
                self.trust.save_bans([], hosts, wall)
            stored = [e for e in stored if e.key.startswith("node:")]
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

    def _tell_if_other_chain(self, who: str, reason: str) -> None:
        """A peer on another genesis is a configuration mistake the operator must see: say it
        on the console (stderr) once per peer, not only in node.log."""
        if "genesis" not in reason or who in self._told:
            return
        self._told.add(who)
        message = f"refused peer {who}: it is on another chain ({reason})"
        log.warning(message)
        print(f"warning: {message}", file=sys.stderr, flush=True)

    def _log_refused(self) -> None:
        """Incoming connections that closed before the join finished never reach ``accept``:
        say why (a changed certificate, a ban, another chain) once each."""
        for session in self.transport.sessions:
            if session.state is ConnectionState.CLOSED and not session.ready.is_set() \
                    and session not in self._refused:
                self._refused.add(session)
                log.warning("refused peer %s: %s", session.remote_address,
                            session.protocol.close_reason)
                if session.protocol.role is Role.RESPONDER:  # _dial tells of our own dials
                    address = session.remote_address  # its port changes at every try
                    self._tell_if_other_chain(str(address[0]) if address else "?",
                                              str(session.protocol.close_reason))

    async def _dial(self, dial: _Dial) -> None:
        """Join a configured peer and serve it; whatever ends the session (the peer left, was
        killed, or our handler failed), the tick loop dials it again after ``dial.delay``."""
        try:
            session = await self.transport.connect(dial.host, dial.port, timeout=5.0)
        except (ProtocolError, OSError) as exc:
            dial.next_try = self._now() + dial.delay
            log.info("cannot join peer %s:%d: %s (retry in %.1f s)", dial.host, dial.port, exc,
                     dial.delay)
            self._tell_if_other_chain(f"{dial.host}:{dial.port}", str(exc))
            dial.delay = min(dial.delay * 2, _MAX_REDIAL_DELAY)
            return
        finally:
            dial.dialing = False
        dial.session = session
        if session.protocol.node_id is not None:  # a configured peer's pin is never evicted
            with contextlib.suppress(StorageError):
                self.trust.keep(session.protocol.node_id)
        joined = self._now()
        await self._serve(session)
        # a peer that drops us at once (a refused pin, a ban) is retried ever more slowly
        dial.delay = 0.5 if self._now() - joined > 10 * _MAX_REDIAL_DELAY else \
            min(dial.delay * 2, _MAX_REDIAL_DELAY)
        dial.next_try = self._now() + dial.delay

    async def _dial_discovered(self, address: PeerAddress) -> None:
        where = (address.host, address.port)
        self._dialing_discovered.add(where)
        try:
            log.info("dialing discovered peer %s:%d", address.host, address.port)
            try:
                session = await self.transport.connect(address.host, address.port, timeout=5.0)
            except ProtocolError as exc:
                log.info("cannot join discovered peer %s:%d: %s", address.host, address.port,
                         exc)
                return
            await self._serve(session)
        finally:
            self._dialing_discovered.discard(where)

    # --- one peer ------------------------------------------------------------------------------

    async def _serve(self, session: PeerSession) -> None:
        """One peer's events until its session ends. A failure of our own handling is logged
        once with its traceback and closes the session (a configured peer is redialed)."""
        key: bytes | None = None
        try:
            await self._serve_events(session)
        except Exception as exc:  # a bug of ours: never let it leave a half-dead session
            who = session.protocol.peer.node_id.hex()[:16] if session.protocol.peer else "?"
            log.error("session with peer %s failed, closing it: %r", who, exc, exc_info=exc)
            self._crashes["a peer session"] = self._crashes.get("a peer session", 0) + 1
            with contextlib.suppress(Exception):
                session.close("internal error")
                session.flush()
        finally:
            key = self._session_keys.pop(session, None)
            if key is not None and self.peers.get(key) is session:
                del self.peers[key]
                self.sync.remove_peer(key)
                self.capabilities.forget(key)
                self._requests = {k: v for k, v in self._requests.items() if k[0] != key}
                self._dirty = True
                log.info("peer %s left (%d peers)", key.hex()[:16], len(self.peers))

    async def _serve_events(self, session: PeerSession) -> None:
        key: bytes | None = None  # the peer's node id once it has joined
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
                self._session_keys[session] = key
            elif isinstance(event, ev.ConnectionClosed):
                self._log_close(session, event)
                return
            elif key is not None:
                await self._handle_untrusted(key, session, event)
                session.flush()
                if session.state is ConnectionState.CLOSED:  # ended (a ban, say)
                    for rest in session.pending_events():
                        if isinstance(rest, ev.ConnectionClosed):
                            self._log_close(session, rest)
                        elif isinstance(rest, ev.PeerMisbehaved):
                            self._handle(key, session, rest)
                    return

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
        self._send_capability((session,))
        session.flush()
        return key

    def _send_capability(self, sessions: Sequence[PeerSession]) -> None:
        """Our capability record (if we have one) to ``sessions``."""
        record = self.capabilities.local_record
        if record is None:
            return
        for session in sessions:
            with contextlib.suppress(LocalProtocolError):
                session.protocol.send_capability(record)
                session.flush()
        self._dirty = True

    def _log_close(self, session: PeerSession, event: ev.ConnectionClosed) -> None:
        who = session.protocol.peer.node_id.hex()[:16] if session.protocol.peer else "?"
        if event.banned:
            self.stats["peers_banned"] += 1
            self.node.chain.telemetry.peer_banned()
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
            if wanted and not self.pacing.may_fetch(peer, now):
                # the budget left is the sync's: learn the peer's tip, the sync fetches it
                self.pacing.ask_status(peer, now)
                wanted = ()
            for i in range(0, len(wanted), MAX_BLOCKS_PER_MESSAGE):
                self._request(key, session, "fetch", wanted[i:i + MAX_BLOCKS_PER_MESSAGE])
            if event.transactions:
                missing = tuple(h for h in event.transactions if h not in node.mempool)
                if missing:
                    with contextlib.suppress(LocalProtocolError):
                        peer.request_transactions(missing[:64], now)
        elif isinstance(event, ev.HeadersRequested):
            fork = find_fork_point(event.locator, node.canonical_height_of)
            count = min(event.max_count, MAX_HEADERS_PER_MESSAGE)
            headers, proofs = ((), ()) if fork is None else self._headers_with_proofs(
                fork + 1, count)
            peer.respond_headers(event.request_id, headers, proofs)
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
        elif isinstance(event, ev.RequestTimedOut | ev.RequestFailed):
            self._request_failed(key, event.request_id)
        elif isinstance(event, ev.CapabilityReceived):
            try:
                self.capabilities.receive(key, event.record)
            except InvalidCapability as exc:
                self._penalize(key, session, str(exc), Penalty.INVALID_DATA)
            self._dirty = True
        elif isinstance(event, ev.PeerMisbehaved):
            log.info("peer %s misbehaved (+%d, score %.0f): %s", key.hex()[:16], event.points,
                     event.score, event.reason)

    async def _handle_untrusted(self, key: bytes, session: PeerSession, event: ev.Event) -> None:
        """Events that make us decode or validate the peer's data await the worker thread;
        this peer's next event waits, every other peer is served meanwhile."""
        if isinstance(event, ev.BlocksReceived):
            await self._blocks_received(key, session, event)
        elif isinstance(event, ev.HeadersReceived):
            await self._headers_received(key, session, event)
        elif isinstance(event, ev.TransactionsReceived):
            await self._transactions_received(key, session, event)
        else:
            self._handle(key, session, event)

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

    async def _blocks_received(self, key: bytes, session: PeerSession,
                               event: ev.BlocksReceived) -> None:
        kind, requested = self._requests.pop((key, event.request_id), ("push", ()))
        self.stats["blocks_received"] += len(event.blocks)
        if kind != "sync":
            for data in event.blocks:
                result = await self._import(key, session, data)
                if result is not None and result.status == "orphan":
                    await self._orphaned(key, session, data, result)
            self._penalize_dropped_orphans()
            return
        try:
            hashes = await self.untrusted.block_hashes(event.blocks)
        except DecodeError as exc:
            self._penalize(key, session, f"undecodable block: {exc}", Penalty.MALFORMED)
            return
        by_hash = dict(zip(hashes, event.blocks, strict=True))
        for block_hash in by_hash:
            if self.sync.holds(block_hash):  # only what the sync will hand over
                self._sync_source[block_hash] = key
        if len(self._sync_source) > self.sync.max_headers:  # left by a replaced branch
            self._sync_source = {h: k for h, k in self._sync_source.items()
                                 if self.sync.holds(h)}
        self.sync.blocks_received(key, requested, by_hash, self._now())
        self._pump_sync()

    async def _import(self, key: bytes, session: PeerSession, data: bytes
                      ) -> ImportResult | None:
        try:
            result = await self.untrusted.import_block(data)
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

    async def _orphaned(self, key: bytes, session: PeerSession, data: bytes,
                        result: ImportResult) -> None:
        """A block whose parent we lack: fetch the parent when the gap is short and the
        request budget has more than the sync's reserve left, and ask the peer's status (its
        tip starts a headers-first sync, which fetches whatever the parent walk does not)."""
        number = result.orphan_number
        assert number is not None  # set for every orphan
        now = self._now()
        if number - self.node.tip().number > _MAX_PARENT_WALK \
                or not self.pacing.may_fetch(session.protocol, now):
            # far ahead, or no budget left to walk its parents (an honest peer mining faster
            # than it announces sends many of these): the headers-first sync fetches it in
            # order; keeping it would only crowd the pool
            self.node.chain.orphans.discard(result.block_hash)
            self.pacing.ask_status(session.protocol, now)
            return
        self._orphan_senders[result.block_hash] = (key, number)
        self._limit_orphans_of(key, session)
        if session.state is ConnectionState.CLOSED:
            return
        if result.missing_parent:
            self._request(key, session, "fetch", (result.missing_parent,))
        self.pacing.ask_status(session.protocol, now)

    def _limit_orphans_of(self, key: bytes, session: PeerSession) -> None:
        """One peer may hold at most a quarter of the orphan pool's bytes and
        ``_MAX_ORPHANS_PER_PEER`` orphans: past that its own oldest go, at a penalty each, so a
        flood pushes out the flooder's orphans rather than other peers'."""
        pool = self.node.chain.orphans
        held = [h for h, (k, _) in self._orphan_senders.items() if k == key and h in pool]
        size = sum(pool.size_of(h) for h in held)
        continued = pool.parents()
        while held and (len(held) > _MAX_ORPHANS_PER_PEER or size > pool.max_bytes // 4):
            oldest = held.pop(0)
            size -= pool.discard(oldest)
            del self._orphan_senders[oldest]
            # an honest peer far ahead of us sends a chain: its oldest orphans are continued by
            # newer ones and cost nothing; unrelated orphans past the quota are junk
            if oldest not in continued and session.state is not ConnectionState.CLOSED:
                self._penalize(key, session, f"too many orphans waiting for their parent: "
                               f"0x{oldest.hex()[:16]} dropped", Penalty.UNSOLICITED)

    def _penalize_dropped_orphans(self) -> None:
        """Orphans that left the pool without their parent ever arriving (evicted by newer ones
        or expired) cost whoever sent them, if they were close enough to our tip that we asked
        that sender for the parent (a far one waits for the sync, which may take long);
        senders of orphans that connected are forgotten."""
        pool, tip = self.node.chain.orphans, self.node.tip().number
        continued = pool.parents()
        for block_hash in pool.take_dropped():
            sender, number = self._orphan_senders.pop(block_hash, (b"", 0))
            session = self.peers.get(sender)
            if session is not None and not session.closed.is_set() \
                    and number - tip <= _MAX_PARENT_WALK and block_hash not in continued:
                self._penalize(sender, session, f"orphan 0x{block_hash.hex()[:16]} never "
                               "connected to the chain", Penalty.UNSOLICITED)
        self._orphan_senders = {h: k for h, k in self._orphan_senders.items() if h in pool}
        self._dirty = True  # network.json shows the pool

    def _penalize(self, key: bytes, session: PeerSession, reason: str, points: int) -> None:
        log.warning("peer %s sent bad data: %s", key.hex()[:16], reason)
        for event in session.protocol.report_invalid(reason, self._now(), points):
            if isinstance(event, ev.ConnectionClosed):
                self._log_close(session, event)
        session.flush()

    def _headers_with_proofs(self, start: int, count: int
                             ) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
        """Canonical headers from ``start`` and the encoded work proof of each."""
        headers, proofs = [], []
        store, limits = self.node.store, self.node.chain.limits
        for block_hash in store.canonical_range(start, count):
            stored = store.get(block_hash)
            if stored is None:
                break
            headers.append(stored.header)
            proofs.append(encoded_proof(stored.body, limits))
        return tuple(headers), tuple(proofs)

    async def _headers_received(self, key: bytes, session: PeerSession,
                                event: ev.HeadersReceived) -> None:
        """Check every header and its work proof against its parent (ours, or one checked
        earlier in this sync), then tell the sync how much work they prove."""
        kind, _ = self._requests.pop((key, event.request_id), ("", ()))
        if kind != "headers":
            return
        now = self._now()
        node = self.node
        try:
            if len(event.proofs) != len(event.headers):
                raise DecodeError(f"{len(event.headers)} headers but {len(event.proofs)} "
                                  "proofs")
            limits = node.chain.limits
            pairs = await self.untrusted.run(lambda: [
                (decode_header(bytes(raw)), decode_proof(bytes(proof), limits))
                for raw, proof in zip(event.headers, event.proofs, strict=True)])
        except DecodeError as exc:
            self.sync.headers_failed(key, now)
            self._penalize(key, session, f"undecodable header: {exc}", Penalty.MALFORMED)
            return
        held = dict(self._sync_headers)  # a snapshot: the worker must not see it change
        found, work, failure = await self.untrusted.run(
            _check_headers, pairs, held, node.chain, node.genesis, int(time.time()))
        for block_hash, header, header_work in found:
            self._remember_header(block_hash, header, header_work)
        if failure is not None:
            self.sync.headers_failed(key, now)
            if failure.startswith("early: "):  # may become valid: not the peer's fault
                log.info("header from %s is %s", key.hex()[:16], failure)
            else:
                self._penalize(key, session, failure, Penalty.INVALID_DATA)
            return
        checked = [(int(header.number), block_hash) for block_hash, header, _ in found]
        if not self.sync.headers_received(key, checked, now, work):
            claim = session.protocol.peer_tip
            self._penalize(key, session, "claimed work its headers do not show (claimed "
                           f"{claim.work if claim else '?'}, showed {work})",
                           Penalty.UNSOLICITED)
        self._pump_sync()

    def _remember_header(self, block_hash: bytes, header: Header, work: int) -> None:
        self._sync_headers[block_hash] = (header, work)
        self._sync_headers.move_to_end(block_hash)
        while len(self._sync_headers) > 2 * self.sync.max_headers:
            self._sync_headers.popitem(last=False)

    def _pump_sync(self) -> None:
        """Turn the sync plan into requests, and import what arrived, in height order. A
        failure of the plan is a bug: it is logged once and the plan starts afresh (keeping
        each peer's back-off), so peers stay connected and the sync goes on."""
        try:
            self._pump_sync_once()
        except (PoqwError, LookupError, ValueError, TypeError, AssertionError) as exc:
            key = f"sync: {exc!r}"
            if key not in self._told:
                self._told.add(key)
                log.error("sync failed, starting it afresh: %r", exc, exc_info=exc)
            self._crashes["sync"] = self._crashes.get("sync", 0) + 1
            self._reset_sync()

    def _pump_sync_once(self) -> None:
        now = self._now()
        for action in self.sync.poll(now):
            key = cast(bytes, action.peer)
            session = self.peers.get(key)
            if session is None:
                continue
            if not session.protocol.can_request(now):
                self.sync.request_deferred(action)  # our budget, not the peer's fault
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
        self._sync_imports.extend((self.sync, *ready) for ready in self.sync.take_ready())
        if self._sync_imports and not self._importing:
            self._importing = True
            self._spawn(self._import_synced, "the synced-block importer")

    async def _import_synced(self) -> None:
        """Import synced blocks in height order on the worker thread; a block the plan that
        produced it no longer owns (the sync was reset meanwhile) is dropped."""
        try:
            while self._sync_imports:
                sync, height, block_hash, data = self._sync_imports.popleft()
                if sync is not self.sync:
                    continue
                sender = self._sync_source.pop(block_hash, None)
                if self.node.store.has(block_hash):
                    continue
                try:
                    result = await self.untrusted.import_block(data)
                    self.stats["blocks_imported"] += len(result.imported)
                except (InvalidBlock, DecodeError) as exc:
                    log.warning("synced block %d 0x%s is invalid: %s", height,
                                block_hash.hex()[:16], exc)
                    self.stats["invalid_blocks"] += 1
                    session = self.peers.get(sender) if sender is not None else None
                    if sender is not None and session is not None:
                        self._penalize(sender, session, f"invalid block in sync: {exc}",
                                       Penalty.INVALID_DATA)
                    self._reset_sync()
        except Exception:  # a bug: say so once; the next sync poll starts a fresh importer
            log.exception("importing synced blocks failed")
        finally:
            self._importing = False

    def _new_sync(self, old: SyncManager | None = None) -> SyncManager:
        tip = self.node.tip()
        sync = SyncManager(tip.number, tip.total_work, self._locator(tip.number),
                           batch_size=MAX_BLOCKS_PER_MESSAGE, max_in_flight_per_peer=4,
                           headers_per_request=_HEADERS_PER_REQUEST,
                           max_peers=max(self.max_peers, 1))
        if old is not None:
            sync.inherit_backoff(old)  # a reset must not forgive a peer that lied
        return sync

    def _reset_sync(self) -> None:
        self.sync = self._new_sync(self.sync)
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
        """Dial peers a PEERS answer named, if the dial policy allows them, at a bounded rate."""
        if not self.discover:
            return
        now, policy = self._now(), self.dial_policy
        if self._discovered_dials is None:
            self._discovered_dials = TokenBucket(policy.rate, policy.burst, now)
        for address in addresses:
            if len(self.peers) >= self.max_peers:
                return
            if address.node_id == self.local.node_id or address.node_id in self.peers \
                    or (address.host, address.port) in self._dialing_discovered:
                continue
            refusal = dial_refusal(address.host, address.port, policy)
            if refusal is None and not self._discovered_dials.take(now):
                refusal = "over the rate of discovered dials"
            if refusal is not None:
                log.info("not dialing discovered peer %r port %d: %s", address.host[:64],
                         address.port, refusal)
                continue
            self._spawn(functools.partial(self._dial_discovered, address), "a dial")

    async def _transactions_received(self, key: bytes, session: PeerSession,
                                     event: ev.TransactionsReceived) -> None:
        admitted = await self.untrusted.admit_transactions(event.transactions)
        if admitted.undecodable:  # bytes no honest node relays: it decodes before it relays
            self._penalize(key, session, f"{len(admitted.undecodable)} undecodable transactions, "
                           f"first: {admitted.undecodable[0]}", Penalty.MALFORMED)
        if admitted.accepted:
            self.announce(transactions=tuple(admitted.accepted))

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

    def tip_disputed(self) -> bool:
        """True when a peer's last known head has our head's work but another hash (an
        equal-work fork that only a next block settles). Safe to call from the miner thread."""
        tip = self.node.tip()
        for session in list(self.peers.values()):
            theirs = session.protocol.peer_tip
            if theirs is not None and theirs.work == tip.total_work \
                    and bytes(theirs.tip) != bytes(tip.block_hash):
                return True
        return False

    def _chain_tip(self) -> ChainTip:
        tip = self.node.tip()
        return ChainTip(tip.number, bytes(tip.block_hash), tip.total_work)

    def _stats(self) -> dict[str, int | str]:
        tip = self.node.tip()
        return {"height": tip.number, "tip": bytes(tip.block_hash).hex(),
                "peers": len(self.peers), **self.stats, **self._orphan_stats()}

    def _orphan_stats(self) -> dict[str, int]:
        pool = self.node.chain.orphans
        return {"orphans": len(pool), "orphan_bytes": pool.size_bytes}

    def status(self) -> dict[str, Any]:
        """What ``network.json`` holds: where we listen, who we talk to, our tip."""
        tip = self.node.tip()
        return {
            "node_id": self.local.node_id.hex(), "host": self.host, "port": self.port,
            "chain_id": self.local.chain_id, "genesis_hash": self.local.genesis_hash.hex(),
            "pid": os.getpid(), "peer_count": len(self.peers),
            "peers": [{"node_id": k.hex(), "address": list(s.remote_address or ()),
                       "capability": self.capabilities.json_of(k)}
                      for k, s in self.peers.items()],
            "capability": None if self.capabilities.local is None
            else capability_json(self.capabilities.local),
            "capabilities_refused": self.capabilities.refused,
            "height": tip.number, "tip": "0x" + bytes(tip.block_hash).hex(),
            "total_work": tip.total_work, "updated": time.time(), "running": not self._closing,
            "mining": self.node.mining, **self.stats, **self._orphan_stats(),
            **self.node.key_status(), **self.status_extra,
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

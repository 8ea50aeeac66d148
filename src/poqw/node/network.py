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

This module owns the service's lifecycle, its supervised tasks and each peer's event loop; the
work those events lead to lives beside it: :mod:`~poqw.node.network_dial` (dialing, discovery),
:mod:`~poqw.node.network_gossip` (announcements), :mod:`~poqw.node.network_blocks` (serving and
importing blocks, orphans), :mod:`~poqw.node.network_sync` (headers-first sync),
:mod:`~poqw.node.network_status` (``network.json``, stats) and :mod:`~poqw.node.network_bans`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from poqw.chain import Header
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import ConfigError, InvalidCapability, LocalProtocolError
from poqw.node.blockchain import ImportResult
from poqw.node.capabilities import CapabilityBook
from poqw.node.importer import UntrustedWork
from poqw.node.network_bans import load_bans, save_bans
from poqw.node.network_blocks import blocks_for, blocks_received, headers_with_proofs
from poqw.node.network_dial import (
    MAX_REDIAL_DELAY,
    Dial,
    addresses_for,
    log_refused,
    on_discovered,
    parse_peer,
    redial,
)
from poqw.node.network_gossip import (
    announce_new_transactions,
    gossip_hashes,
    gossip_received,
    on_head,
    transactions_received,
)
from poqw.node.network_status import network_status, stats_of, write_status
from poqw.node.network_sync import headers_received, new_sync, pump_sync, request_failed
from poqw.node.service import Node
from poqw.p2p import events as ev
from poqw.p2p.config import ChainTip, LocalNode, PeerConfig
from poqw.p2p.dialpolicy import DialPolicy, policy_for_listen_host
from poqw.p2p.identity import Role, load_key_file
from poqw.p2p.messages import MAX_HEADERS_PER_MESSAGE
from poqw.p2p.pacing import RequestPacing
from poqw.p2p.peer import ConnectionState
from poqw.p2p.policing import BanList, Penalty, TokenBucket
from poqw.p2p.quic import DEFAULT_PORT, PeerSession, QuicTransport, ensure_tls_identity
from poqw.p2p.sync import SyncManager, find_fork_point
from poqw.p2p.trust import DEFAULT_MAX_PINS, TrustStore

__all__ = ["NODE_KEY_FILE", "STATUS_FILE", "NetworkService", "load_node_key", "parse_peer"]

NODE_KEY_FILE = "p2p.key"
STATUS_FILE = "network.json"
TRUST_FILE = "trust.db"
_TICK = 0.25  # seconds between sync polls, redials and status writes

log = logging.getLogger("poqw.node.network")


def load_node_key(datadir: Path) -> EcdsaPrivateKey:
    """The node's network identity (``DATADIR/p2p.key``, made on first start, owner-only)."""
    return load_key_file(Path(datadir) / NODE_KEY_FILE)


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
        self._dials = [Dial(*parse_peer(p)) for p in peers]
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
        self.sync = new_sync(self)
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
        load_bans(self.trust, self.bans, self._now())
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
        write_status(self)
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
            save_bans(self.trust, self.bans, self._now())
        self.trust.close()
        write_status(self)

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
            delay = min(MAX_REDIAL_DELAY * 2 ** min(failures - 1, 3), 30.0) / 5
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
            redial(self, now)
            for session in list(self.peers.values()):
                if self.pacing.ask_owed(session.protocol, now):
                    session.flush()
            pump_sync(self)
            log_refused(self)
            self._announce_new_transactions()
            save_bans(self.trust, self.bans, self._now())
            if self.capabilities.reload():
                self._send_capability(tuple(self.peers.values()))
            if self._dirty:
                write_status(self)

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
            save_bans(self.trust, self.bans, self._now())
        else:
            log.info("connection to %s closed (%s): %s", who,
                     "by peer" if event.by_peer else "by us", event.reason)

    def _handle(self, key: bytes, session: PeerSession, event: ev.Event) -> None:
        peer, now, node = session.protocol, self._now(), self.node
        if isinstance(event, ev.TipAnnounced | ev.StatusReceived):
            self.sync.peer_tip(key, event.height, event.work)
            pump_sync(self)
        elif isinstance(event, ev.GossipReceived):
            gossip_received(self, key, session, event, now)
        elif isinstance(event, ev.HeadersRequested):
            fork = find_fork_point(event.locator, node.canonical_height_of)
            count = min(event.max_count, MAX_HEADERS_PER_MESSAGE)
            headers, proofs = ((), ()) if fork is None else headers_with_proofs(
                node, fork + 1, count)
            peer.respond_headers(event.request_id, headers, proofs)
        elif isinstance(event, ev.BlocksRequested):
            peer.respond_blocks(event.request_id, blocks_for(node, event))
        elif isinstance(event, ev.StatusRequested):
            peer.respond_status(event.request_id, len(self.peers))
        elif isinstance(event, ev.StatsRequested):
            peer.respond_stats(event.request_id, stats_of(self))
        elif isinstance(event, ev.PeersRequested):
            peer.respond_peers(event.request_id, addresses_for(self, exclude=key))
        elif isinstance(event, ev.PeersReceived):
            on_discovered(self, event.peers)
        elif isinstance(event, ev.TransactionsRequested):
            wanted_txs = set(event.hashes)
            peer.respond_transactions(event.request_id, tuple(
                i.raw for i in node.mempool.transactions() if i.tx_hash in wanted_txs)[:64])
        elif isinstance(event, ev.RequestTimedOut | ev.RequestFailed):
            request_failed(self, key, event.request_id)
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
            await blocks_received(self, key, session, event)
        elif isinstance(event, ev.HeadersReceived):
            await headers_received(self, key, session, event)
        elif isinstance(event, ev.TransactionsReceived):
            await transactions_received(self, key, session, event)
        else:
            self._handle(key, session, event)

    def _penalize(self, key: bytes, session: PeerSession, reason: str, points: int) -> None:
        log.warning("peer %s sent bad data: %s", key.hex()[:16], reason)
        for event in session.protocol.report_invalid(reason, self._now(), points):
            if isinstance(event, ev.ConnectionClosed):
                self._log_close(session, event)
        session.flush()

    # --- announcements, status -----------------------------------------------------------------

    def announce(self, blocks: tuple[bytes, ...] = (), transactions: tuple[bytes, ...] = ()
                 ) -> None:
        """Gossip hashes to every ready peer (each peer hears each hash once)."""
        gossip_hashes(list(self.peers.values()), blocks, transactions)

    def _announce_new_transactions(self) -> None:
        announce_new_transactions(self)

    def _on_head_threadsafe(self, result: ImportResult) -> None:
        # Called by whichever thread imported (miner or network), right after the commit.
        log.info("head %d 0x%s imported %d at %.6f", result.tip.number,
                 bytes(result.tip.block_hash).hex(), len(result.imported), time.time())
        if self._loop is not None and not self._closing:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(on_head, self, result)

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

    def status(self) -> dict[str, Any]:
        """What ``network.json`` holds: where we listen, who we talk to, our tip."""
        return network_status(self)

    def mark_changed(self) -> None:
        """Rewrite ``network.json`` at the next tick (the node's state changed outside us)."""
        self._dirty = True

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

"""The discrete-event network simulator: real ``PeerConnection`` objects over simulated links.

A heap of timed events (byte deliveries, protocol timers, block discoveries, validation ends)
drives N nodes on a simulated clock. Each node holds one real sans-I/O ``PeerConnection`` per
link, feeds it bytes with ``receive_data(data, now)``, answers its events (fetch announced blocks
with BLOCK_REQUEST, serve BLOCK_SUBMIT, relay by GOSSIP) and ships ``data_to_send()`` over a
link with a propagation delay and a bandwidth queue. Randomness comes only from the generator
made from the seed, and nothing reads the wall clock, so a seed replays a run exactly.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from poqw.chain.block import Header
from poqw.chain.forkchoice import Tip, is_better_tip
from poqw.chain.types import Hash32
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.errors import CryptoError, DecodeError
from poqw.netsim.chain import (
    SimChain,
    decode_sim_block,
    encode_sim_block,
    simulation_genesis,
)
from poqw.netsim.config import SimConfig
from poqw.netsim.latency import parse_latency
from poqw.p2p import events as ev
from poqw.p2p.config import ChainTip, LocalNode, PeerConfig, SeenHashes
from poqw.p2p.identity import Role
from poqw.p2p.peer import ConnectionState, PeerConnection

__all__ = ["SimConfig", "SimRecord", "Simulation", "run_simulation"]

_DELIVER, _TIMER, _MINE, _VALIDATED, _START, _CONNECTED = 0, 1, 2, 3, 4, 5


@dataclass
class _Link:
    """One direction of a connection: a FIFO pipe with a delay and a bandwidth queue."""

    latency: float
    bytes_per_s: float
    busy_until: float = 0.0


@dataclass(eq=False)
class _Port:
    """A node's end of one connection."""

    node: int
    peer: int
    conn: PeerConnection
    out: _Link
    remote: _Port | None = None
    timer_due: float | None = None
    requests: dict[int, tuple[bytes, ...]] = field(default_factory=dict)


@dataclass(eq=False)
class _Node:
    index: int
    key: EcdsaPrivateKey
    address: bytes
    share: float
    best: Tip
    ports: list[_Port] = field(default_factory=list)
    have: set[bytes] = field(default_factory=set)
    in_flight: dict[bytes, _Port] = field(default_factory=dict)
    announcers: dict[bytes, list[_Port]] = field(default_factory=dict)
    validating: set[bytes] = field(default_factory=set)
    orphans: dict[bytes, list[bytes]] = field(default_factory=dict)  # by missing parent
    parked: set[bytes] = field(default_factory=set)  # validated, waiting for the parent
    busy_until: float = 0.0  # validating blocks, one at a time
    uplink_busy: float = 0.0
    mine_version: int = 0
    bytes_sent: int = 0


@dataclass
class SimRecord:
    """What a run observed; :mod:`poqw.netsim.report` turns it into statistics."""

    config: SimConfig
    regions: np.ndarray
    mined_at: dict[bytes, float]
    miner_of: dict[bytes, int]
    received_at: dict[bytes, np.ndarray]  # per block: time each node connected it (nan: never)
    tips: list[bytes]  # each node's head at the end
    main_chain: list[bytes]
    chain: SimChain
    bytes_sent: np.ndarray
    connections: int
    connections_ready: int
    closed: int
    misbehaviour: int
    block_requests: int
    end_time: float
    mining_start: float
    events: int
    shares: tuple[float, ...] = ()  # each node's share of solver power


def _node_key(seed: int, index: int) -> EcdsaPrivateKey:
    counter = 0
    while True:  # a digest at or above the curve order is vanishingly rare: hash again
        secret = hash32(b"poqw/netsim/node-key/v1", seed.to_bytes(8, "big", signed=True),
                        index.to_bytes(4, "big"), counter.to_bytes(4, "big"))
        try:
            return EcdsaPrivateKey(secret)
        except (CryptoError, ValueError):
            counter += 1


def _fingerprint(node_id: bytes) -> bytes:
    return hash32(b"poqw/netsim/tls-fingerprint/v1", node_id)  # no TLS here: a stand-in


class Simulation:
    """Builds the network from a :class:`SimConfig` and runs it (see the module docstring)."""

    def __init__(self, config: SimConfig,
                 progress: Callable[[int, int], None] | None = None) -> None:
        config.check()
        self.config = config
        self.progress = progress
        self.rng = np.random.default_rng(config.seed)
        self.model = parse_latency(config.latency)
        self.chain = SimChain(simulation_genesis(config.target_interval, config.halflife))
        genesis = self.chain.genesis
        self.now = 0.0
        self._queue: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        self._mining = False
        self._mined = 0
        self._goal = config.blocks  # raised while the last blocks leave the nodes split
        self._events = 0
        self.closed = 0
        self.misbehaviour = 0
        self.block_requests = 0
        self.mined_at: dict[bytes, float] = {}
        self.miner_of: dict[bytes, int] = {}
        self.received_at: dict[bytes, np.ndarray] = {}
        self._have_count: dict[bytes, int] = {}
        self._encoded: dict[bytes, bytes] = {}
        self._decoded: dict[bytes, tuple[Header, bytes]] = {}
        self.mining_start = config.warmup_s
        self._uplink_bytes_per_s = config.uplink_mbps * 125_000.0
        anchor_work = self.chain.child_work(self.chain.genesis_hash)
        self._network_power = config.power_scale * anchor_work / config.target_interval
        self.regions = self.model.place(self.rng, config.nodes)
        shares = self._shares()
        genesis_tip = self.chain.tips[self.chain.genesis_hash]
        self.nodes: list[_Node] = []
        for i in range(config.nodes):
            key = _node_key(config.seed, i)
            node = _Node(i, key, key.address(), float(shares[i]), genesis_tip)
            node.have.add(self.chain.genesis_hash)
            self.nodes.append(node)
        self._locals = [LocalNode(n.key, genesis.chain_id, self.chain.genesis_hash,
                                  listen_host=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
                        for i, n in enumerate(self.nodes)]
        # The protocol's own ratio of silence timeout to heartbeat (60 s / 15 s); a smaller
        # per-connection memory of known hashes, as 16 000 connections each keep one.
        self._peer_config = PeerConfig(heartbeat_interval=config.heartbeat_s,
                                       silence_timeout=4 * config.heartbeat_s, known_hashes=256)
        self.connections = 0
        for a, b in self._edges():
            self._connect(a, b)

    # ---------------------------------------------------------------- set-up

    def _shares(self) -> np.ndarray:
        n = self.config.nodes
        if self.config.power == "exponential":
            raw = self.rng.exponential(1.0, size=n)
        else:
            raw = np.ones(n)
        if self.config.miners:
            mask = np.zeros(n, dtype=bool)
            mask[list(self.config.miners)] = True
            raw = np.where(mask, raw, 0.0)
        return np.asarray(raw / raw.sum())

    def _edges(self) -> list[tuple[int, int]]:
        """Who dials whom: each node dials ``degree`` distinct random peers (or line/ring)."""
        n = self.config.nodes
        if self.config.topology in ("line", "ring"):
            edges = [(i, i + 1) for i in range(n - 1)]
            if self.config.topology == "ring" and n > 2:
                edges.append((n - 1, 0))
            return edges
        pairs: set[tuple[int, int]] = set()
        edges = []
        for a in range(n):
            choices = self.rng.permutation(n)
            dialled = 0
            for b in choices:
                b = int(b)
                pair = (min(a, b), max(a, b))
                if b == a or pair in pairs:
                    continue
                pairs.add(pair)
                edges.append((a, b))
                dialled += 1
                if dialled == min(self.config.degree, n - 1):
                    break
        return edges

    def _connect(self, a: int, b: int) -> None:
        cfg = self.config
        bps = cfg.bandwidth_mbps * 125_000.0
        ports = []
        for me, other, role in ((a, b, Role.INITIATOR), (b, a, Role.RESPONDER)):
            node = self.nodes[me]
            conn = PeerConnection(self._locals[me], self._chain_tip(node), role,
                                  nonce=self.rng.bytes(32),
                                  local_fingerprint=_fingerprint(self._locals[me].node_id),
                                  now=0.0, config=self._peer_config,
                                  seen=SeenHashes(256), peer_host=self._locals[other].listen_host)
            delay = self.model.one_way(self.rng, int(self.regions[me]), int(self.regions[other]))
            port = _Port(me, other, conn, _Link(delay, bps))
            node.ports.append(port)
            ports.append(port)
        ports[0].remote, ports[1].remote = ports[1], ports[0]
        # The transport (QUIC) needs one round trip before the peer protocol starts.
        rtt = ports[0].out.latency + ports[1].out.latency
        self._push(rtt, _CONNECTED, (ports[0], ports[1]))
        self.connections += 1

    def _connected(self, ports: tuple[_Port, _Port]) -> None:
        for port in ports:
            peer_fp = _fingerprint(self._locals[port.peer].node_id)
            port.conn.connection_made(peer_fp, self.now)
        for port in ports:
            self._flush(port, self.now)

    def _chain_tip(self, node: _Node) -> ChainTip:
        return ChainTip(node.best.number, bytes(node.best.block_hash), node.best.total_work)

    # ---------------------------------------------------------------- event loop

    def _push(self, when: float, kind: int, item: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, kind, item))

    def run(self) -> SimRecord:
        cfg = self.config
        self._push(self.mining_start, _START, None)
        total = cfg.nodes
        stop_at = math.inf
        while self._queue:
            when, _, kind, item = heapq.heappop(self._queue)
            if when > stop_at:
                if self._settle():  # equal-work forks at the end: the next block decides
                    stop_at = math.inf
                    self._push(when, kind, item)
                    continue
                break
            self.now = max(self.now, when)
            self._events += 1
            if kind == _DELIVER:
                port, data = item
                self._deliver(port, data)
            elif kind == _TIMER:
                self._timer(item, when)
            elif kind == _MINE:
                node_index, version = item
                self._mine(self.nodes[node_index], version)
            elif kind == _CONNECTED:
                self._connected(item)
            elif kind == _START:
                self._mining = True
                for node in self.nodes:
                    self._schedule_mining(node)
            else:
                node_index, block_hash = item
                self._validated(self.nodes[node_index], block_hash)
            if self._mined >= self._goal:
                if stop_at == math.inf:
                    stop_at = self.now + cfg.drain_s
                if all(c == total for c in self._have_count.values()):
                    if self._settle():
                        stop_at = math.inf
                        continue
                    break
        return self._record()

    def _send(self, port: _Port, data: bytes) -> None:
        """Queue ``data`` behind what the link and the node's uplink are still sending."""
        link = port.out
        node = self.nodes[port.node]
        start = max(self.now, link.busy_until, node.uplink_busy)
        node.uplink_busy = start + len(data) / self._uplink_bytes_per_s
        link.busy_until = start + len(data) / link.bytes_per_s
        node.bytes_sent += len(data)
        assert port.remote is not None
        self._push(link.busy_until + link.latency, _DELIVER, (port.remote, data))

    def _flush(self, port: _Port, now: float) -> None:
        data = port.conn.data_to_send()
        if data:
            self._send(port, data)
        due = port.conn.next_timer()
        if due is not None and due != port.timer_due:
            port.timer_due = due
            self._push(max(due, now), _TIMER, port)

    def _deliver(self, port: _Port, data: bytes) -> None:
        events = port.conn.receive_data(data, self.now)
        self._handle(port, events)
        self._flush(port, self.now)

    def _timer(self, port: _Port, when: float) -> None:
        if port.timer_due is None or when < port.timer_due:
            return  # superseded by a later deadline
        port.timer_due = None
        events = port.conn.handle_timer(self.now)
        self._handle(port, events)
        self._flush(port, self.now)

    # ---------------------------------------------------------------- protocol events

    def _handle(self, port: _Port, events: list[ev.Event]) -> None:
        node = self.nodes[port.node]
        for event in events:
            if isinstance(event, ev.GossipReceived):
                for block_hash in event.blocks:
                    self._announced(node, port, block_hash)
            elif isinstance(event, ev.BlocksRequested):
                blocks = tuple(self._block_bytes(h) for h in event.hashes if h in node.have)
                port.conn.respond_blocks(event.request_id, blocks)
            elif isinstance(event, ev.BlocksReceived):
                asked = port.requests.pop(event.request_id, ())
                for data in event.blocks:
                    self._received(node, port, data)
                self._retry_elsewhere(node, port, asked)  # whatever the answer lacked
            elif isinstance(event, ev.TipAnnounced):
                if event.tip not in node.have and event.work > node.best.total_work:
                    self._announced(node, port, event.tip)
            elif isinstance(event, ev.RequestTimedOut | ev.RequestFailed):
                self._retry_elsewhere(node, port, port.requests.pop(event.request_id, ()))
            elif isinstance(event, ev.StatusRequested):
                port.conn.respond_status(event.request_id, len(node.ports))
            elif isinstance(event, ev.HeadersRequested | ev.PeersRequested | ev.StatsRequested
                            | ev.TransactionsRequested):
                port.conn.respond_error(event.request_id, "not served by simulated nodes")
            elif isinstance(event, ev.ConnectionClosed):
                self.closed += 1
            elif isinstance(event, ev.PeerMisbehaved):
                self.misbehaviour += 1

    def _announced(self, node: _Node, port: _Port, block_hash: bytes) -> None:
        if block_hash in node.parked:
            self._fetch_missing_ancestor(node, port, block_hash)
            return
        if block_hash in node.have or block_hash in node.validating:
            return
        if block_hash in node.in_flight:
            node.announcers.setdefault(block_hash, []).append(port)
            return
        self._fetch(node, port, block_hash)

    def _fetch(self, node: _Node, port: _Port, block_hash: bytes) -> None:
        if (port.conn.state is not ConnectionState.READY
                or port.conn.outstanding_requests >= self._peer_config.max_outstanding_requests):
            return  # the peer's next heartbeat re-announces its tip and we try again
        request_id = port.conn.request_blocks(self.now, hashes=(block_hash,))
        self.block_requests += 1
        port.requests[request_id] = (block_hash,)
        node.in_flight[block_hash] = port

    def _fetch_missing_ancestor(self, node: _Node, port: _Port, block_hash: bytes) -> None:
        """``block_hash`` waits for a parent: make sure its oldest missing ancestor is asked
        for (an earlier request may have failed with no other peer to try)."""
        h = block_hash
        while h in node.parked:  # parked blocks were validated, so their headers are known
            h = bytes(self.chain.headers[h].parent_hash)
        if h not in node.have and h not in node.validating and h not in node.in_flight:
            self._fetch(node, port, h)

    def _retry_elsewhere(self, node: _Node, port: _Port, hashes: tuple[bytes, ...]) -> None:
        """``port`` did not deliver ``hashes``: ask the next peer that announced each."""
        for block_hash in hashes:
            if node.in_flight.get(block_hash) is not port:
                continue  # delivered, or already asked of someone else
            del node.in_flight[block_hash]
            others = node.announcers.pop(block_hash, [])
            while others and block_hash not in node.in_flight:
                other = others.pop(0)
                self._fetch(node, other, block_hash)
                self._flush(other, self.now)
            if others:
                node.announcers[block_hash] = others

    def _block_bytes(self, block_hash: bytes) -> bytes:
        data = self._encoded.get(block_hash)
        if data is None:
            data = encode_sim_block(self.chain.headers[block_hash], self.config.block_bytes)
            self._encoded[block_hash] = data
        return data

    def _decode(self, data: bytes) -> tuple[Header, bytes]:
        """Header and hash of a received block; decoding is a pure function of the bytes, so
        the first node to decode a block does the work and later ones reuse the result."""
        known = self._decoded.get(data)
        if known is None:
            header = decode_sim_block(data)
            known = (header, bytes(header.hash()))
            self._decoded[data] = known
        return known

    def _received(self, node: _Node, port: _Port, data: bytes) -> None:
        try:
            header, block_hash = self._decode(data)
        except DecodeError as exc:
            self._handle(port, port.conn.report_invalid(f"undecodable block: {exc}", self.now))
            return
        node.in_flight.pop(block_hash, None)
        node.announcers.pop(block_hash, None)
        if block_hash in node.have or block_hash in node.validating or block_hash in node.parked:
            return
        parent = bytes(header.parent_hash)
        # The bound rule needs the parent's header; every block was made by some simulated
        # miner, so the shared chain has it even before this node does (same verdict).
        if parent not in self.chain.headers:
            self._handle(port, port.conn.report_invalid("block on an unknown parent", self.now))
            return
        required = self.chain.child_difficulty(parent)
        if (int(header.energy_bound), int(header.ticket_target)) != (
                required.energy_bound, required.ticket_target):
            self._handle(port, port.conn.report_invalid(
                f"difficulty ({int(header.energy_bound)}, {int(header.ticket_target):#x}) is not "
                f"the required ({required.energy_bound}, {required.ticket_target:#x})",
                self.now))
            return
        cfg = self.config
        delay = (cfg.validate_base_ms + cfg.validate_per_kib_ms * len(data) / 1024) / 1000
        node.busy_until = max(self.now, node.busy_until) + delay
        node.validating.add(block_hash)
        if parent not in node.have and parent not in node.validating \
                and parent not in node.in_flight:
            self._fetch(node, port, parent)  # we missed the parent's announcement
        self._push(node.busy_until, _VALIDATED, (node.index, block_hash))

    def _validated(self, node: _Node, block_hash: bytes) -> None:
        node.validating.discard(block_hash)
        parent = bytes(self.chain.headers[block_hash].parent_hash)
        if parent not in node.have:
            node.orphans.setdefault(parent, []).append(block_hash)
            node.parked.add(block_hash)
            return
        self._accept(node, block_hash)

    def _accept(self, node: _Node, block_hash: bytes) -> None:
        todo = [block_hash]
        while todo:
            h = todo.pop()
            if h in node.have:
                continue
            node.have.add(h)
            node.parked.discard(h)
            self.received_at[h][node.index] = self.now
            self._have_count[h] += 1
            tip = self.chain.tips[h]
            if self._prefer(tip, node.best):
                node.best = tip
                chain_tip = self._chain_tip(node)
                for port in node.ports:
                    port.conn.set_tip(chain_tip)
                self._schedule_mining(node)
            for port in node.ports:
                if port.conn.state is ConnectionState.READY and port.conn.send_gossip((h,)):
                    self._flush(port, self.now)
            todo.extend(node.orphans.pop(h, []))

    def _prefer(self, tip: Tip, best: Tip) -> bool:
        """The consensus fork choice (first seen among equal work), or the old lowest-hash
        tie break when the config asks for it (to measure what grinding gained)."""
        if is_better_tip(tip, best):
            return True
        return (self.config.tie_break == "lowest-hash" and tip.total_work == best.total_work
                and int.from_bytes(tip.block_hash, "big") < int.from_bytes(best.block_hash,
                                                                             "big"))

    # ---------------------------------------------------------------- mining

    def _settle(self) -> bool:
        """At the end, nodes split between heads of equal work (first seen keeps each node's
        own) mine on, one more block at a time and at most ``settle_blocks`` more, as a real
        network does: True when mining resumed."""
        split = len({bytes(n.best.block_hash) for n in self.nodes}) > 1
        if not split or self._goal >= self.config.blocks + self.config.settle_blocks:
            return False
        self._goal = self._mined + 1
        self._mining = True
        for node in self.nodes:
            node.mine_version += 1
            self._schedule_mining(node)
        return True

    def _schedule_mining(self, node: _Node) -> None:
        node.mine_version += 1
        if not self._mining or node.share <= 0:
            return
        # Independent attempts at the node's rate, each succeeding with the real chance: the
        # number of attempts to a block is geometric (memoryless), so no progress carries over.
        attempts_per_s = node.share * self._network_power / self.chain.attempt_work
        attempts = int(self.rng.geometric(self.chain.attempt_success(bytes(node.best.block_hash))))
        when = self.now + attempts / attempts_per_s
        self._push(when, _MINE, (node.index, node.mine_version))

    def _mine(self, node: _Node, version: int) -> None:
        if version != node.mine_version or not self._mining:
            return
        timestamp = self.chain.genesis.timestamp + int(self.now - self.mining_start)
        header = self.chain.make_header(bytes(node.best.block_hash), timestamp, node.address,
                                        self.rng.bytes(32))
        if node.index in self.config.grinders:
            # the proof is found; the transaction order (here: the root) is free to vary, and
            # the variant with the lowest hash is kept
            variants = [replace(header, tx_root=Hash32(self.rng.bytes(32)))
                        for _ in range(self.config.grind_attempts)]
            header = min(variants, key=lambda v: int.from_bytes(v.hash(), "big"))
        block_hash = self.chain.add(header)
        self.mined_at[block_hash] = self.now
        self.miner_of[block_hash] = node.index
        self.received_at[block_hash] = np.full(self.config.nodes, np.nan)
        self._have_count[block_hash] = 0
        self._mined += 1
        if self._mined >= self._goal:
            self._mining = False
        if self.progress is not None:
            self.progress(self._mined, self.config.blocks)
        self._accept(node, block_hash)
        if not self._mining:
            node.mine_version += 1

    # ---------------------------------------------------------------- results

    def _record(self) -> SimRecord:
        tips = [bytes(n.best.block_hash) for n in self.nodes]
        best = self.nodes[0].best
        for node in self.nodes[1:]:
            if self._prefer(node.best, best):
                best = node.best
        ready = sum(1 for n in self.nodes for p in n.ports
                    if p.conn.state is ConnectionState.READY) // 2
        return SimRecord(
            config=self.config, regions=self.regions, mined_at=self.mined_at,
            miner_of=self.miner_of, received_at=self.received_at, tips=tips,
            main_chain=self.chain.main_chain(bytes(best.block_hash)), chain=self.chain,
            bytes_sent=np.array([n.bytes_sent for n in self.nodes], dtype=np.int64),
            connections=self.connections, connections_ready=ready, closed=self.closed,
            misbehaviour=self.misbehaviour, block_requests=self.block_requests,
            end_time=self.now, mining_start=self.mining_start,
            events=self._events, shares=tuple(n.share for n in self.nodes))


def run_simulation(config: SimConfig, progress: Callable[[int, int], None] | None = None
                   ) -> SimRecord:
    """Build the network of ``config`` and run it to the end."""
    return Simulation(config, progress).run()

"""The sans-I/O peer connection: bytes and the current time in, events and bytes out.

A ``PeerConnection`` never touches a socket or a clock. The transport feeds it received bytes with
``receive_data(data, now)``, sends what ``data_to_send()`` returns, and calls ``handle_timer(now)``
when ``next_timer()`` is due. It runs the join handshake (binding the peer's key to its TLS
certificate), heartbeats, the 60 s silence drop, request/response matching by request id with
timeouts, rate limits, and the misbehaviour score that ends in a ban.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from poqw.errors import (
    LocalProtocolError,
    MalformedMessage,
    RemoteProtocolError,
    UnsupportedVersion,
    UntrustedPeer,
)
from poqw.p2p import events as ev
from poqw.p2p.config import ChainTip, LocalNode, PeerConfig, SeenHashes
from poqw.p2p.framing import (
    HEADER_SIZE,
    MAX_REQUEST_ID,
    FrameDecoder,
    RawFrame,
    decode_raw,
    encode_frame,
)
from poqw.p2p.identity import Role, sign_handshake, verify_handshake
from poqw.p2p.messages import (
    MAX_PAYLOAD,
    BlockRequest,
    BlockSubmit,
    CapabilityRecord,
    Disconnect,
    DisconnectReason,
    Error,
    GetHeaders,
    Gossip,
    Headers,
    Heartbeat,
    Hello,
    JoinConfirm,
    JoinRequest,
    JoinResponse,
    Message,
    MessageType,
    PeerAddress,
    Peers,
    PeersRequest,
    StatsRequest,
    StatsResponse,
    StatusRequest,
    StatusResponse,
    Transactions,
    TxRequest,
)
from poqw.p2p.policing import BanList, MisbehaviourScore, Penalty, TokenBucket, TrafficClass
from poqw.p2p.trust import TrustStore

__all__ = [
    "ChainTip",
    "ConnectionState",
    "LocalNode",
    "PeerConfig",
    "PeerConnection",
    "SeenHashes",
]  # ChainTip, LocalNode, PeerConfig and SeenHashes live in poqw.p2p.config

_RESPONSE_TO: dict[MessageType, MessageType] = {
    MessageType.BLOCK_REQUEST: MessageType.BLOCK_SUBMIT,
    MessageType.GET_HEADERS: MessageType.HEADERS,
    MessageType.STATUS_REQUEST: MessageType.STATUS_RESPONSE,
    MessageType.STATS_REQUEST: MessageType.STATS_RESPONSE,
    MessageType.PEERS_REQUEST: MessageType.PEERS,
    MessageType.TX_REQUEST: MessageType.TRANSACTIONS,
}
_RESPONSES = frozenset(_RESPONSE_TO.values())
_PUSHABLE = frozenset({MessageType.BLOCK_SUBMIT, MessageType.TRANSACTIONS})  # may come unasked
_JOIN = frozenset({MessageType.JOIN_REQUEST, MessageType.JOIN_RESPONSE, MessageType.JOIN_CONFIRM})
# Message types whose payload may take milliseconds to decode (thousands of items, megabytes):
# a transport that passes ``offload=HEAVY_TYPES`` decodes them off its event loop.
HEAVY_TYPES = frozenset({MessageType.BLOCK_SUBMIT, MessageType.HEADERS, MessageType.TRANSACTIONS})
# While one frame is being decoded elsewhere, what the peer may send on top of it: one more
# largest frame. More than that and the peer is flooding faster than we read.
_MAX_BACKLOG = max(MAX_PAYLOAD.values()) + HEADER_SIZE


class ConnectionState(enum.Enum):
    CONNECTING = "connecting"  # transport not up yet
    HANDSHAKING = "handshaking"  # exchanging JOIN_* messages
    READY = "ready"
    CLOSED = "closed"


def _classify(message_type: MessageType, request_id: int) -> TrafficClass | None:
    if message_type in _RESPONSE_TO:
        return TrafficClass.REQUEST
    if message_type is MessageType.GOSSIP:
        return TrafficClass.GOSSIP
    if message_type in _PUSHABLE and request_id == 0:
        return TrafficClass.PUSH
    if message_type is MessageType.CAPABILITY:
        return TrafficClass.CAPABILITY
    if message_type in (MessageType.HEARTBEAT, MessageType.ERROR):
        return TrafficClass.CONTROL
    return None  # answers to our requests, the join, disconnect


class PeerConnection:
    """One connection to one peer, as a state machine (see the module docstring).

    What the node does with each event: ``TipAnnounced`` -> ``SyncManager.peer_tip``;
    ``GossipReceived`` -> ``request_blocks(hashes=...)`` / ``request_transactions``;
    ``*Requested`` -> the matching ``respond_*`` (or ``respond_error``) with the same request
    id; ``BlocksReceived``/``TransactionsReceived``/``HeadersReceived`` -> validate, and
    ``report_invalid`` on failure; ``RequestTimedOut``/``RequestFailed`` -> ask someone else;
    ``ConnectionClosed`` -> forget the peer. After any call, send ``data_to_send()``.
    """

    def __init__(self, local: LocalNode, tip: ChainTip, role: Role, *, nonce: bytes,
                 local_fingerprint: bytes, now: float, config: PeerConfig | None = None,
                 trust: TrustStore | None = None, bans: BanList | None = None,
                 seen: SeenHashes | None = None, peer_host: str | None = None,
                 offload: frozenset[MessageType] = frozenset()) -> None:
        if len(nonce) != 32 or len(local_fingerprint) != 32:
            raise ValueError("nonce and certificate fingerprint must be 32 bytes each")
        self.local = local
        self.tip = tip
        self.role = role
        self.config = config or PeerConfig()
        self.trust = trust
        self.bans = bans
        self.seen = seen if seen is not None else SeenHashes()
        self.peer_host = peer_host
        self.state = ConnectionState.CONNECTING
        self.peer: Hello | None = None
        self.peer_fingerprint: bytes | None = None
        self.peer_tip: ChainTip | None = None
        self.close_reason: str | None = None
        self._nonce = nonce
        self._proven = False  # the peer signed our nonce with the key of its node id
        self._local_fingerprint = local_fingerprint
        self._decoder = FrameDecoder(joined=False)  # join messages only, until _finish_join
        self.offload = offload - _JOIN  # frames the transport decodes (``DecodeRequested``)
        self._awaiting: RawFrame | None = None  # the offloaded frame not decoded yet
        self._outgoing = bytearray()
        self._created = now
        self._last_received = now
        self._last_sent_heartbeat = now
        self._next_request_id = 1
        self._outstanding: dict[int, tuple[MessageType, float]] = {}
        self._incoming: dict[int, MessageType] = {}
        self._known = SeenHashes(self.config.known_hashes)  # hashes this peer already has
        self._score = MisbehaviourScore(self.config.ban_threshold,
                                        self.config.score_decay_per_second)
        self._buckets = {cls: TokenBucket(rate, burst, now)
                         for cls, (rate, burst) in self.config.rate_limits.items()}
        # what we ask of the peer stays under the request limit it enforces on us (the same
        # default limits, with a margin), so a fast sync never gets an honest node banned
        rate, burst = self.config.rate_limits.get(TrafficClass.REQUEST, (20.0, 100.0))
        self._asking = TokenBucket(0.8 * rate, max(1.0, 0.8 * burst), now)

    # ---------------------------------------------------------------- transport side

    @property
    def is_open(self) -> bool:
        return self.state is not ConnectionState.CLOSED

    @property
    def node_id(self) -> bytes | None:
        """The peer's node id once it has proven it holds the key (``None`` before)."""
        return self.peer.node_id if self._proven and self.peer is not None else None

    def connection_made(self, peer_fingerprint: bytes, now: float) -> None:
        """The transport is up and TLS showed the peer's certificate fingerprint."""
        if self.state is not ConnectionState.CONNECTING:
            raise LocalProtocolError(f"connection_made in state {self.state.value}")
        if len(peer_fingerprint) != 32:
            raise ValueError("the peer certificate fingerprint must be 32 bytes")
        self.peer_fingerprint = peer_fingerprint
        self.state = ConnectionState.HANDSHAKING
        self._created = self._last_received = self._last_sent_heartbeat = now
        if self.role is Role.INITIATOR:
            self._send(JoinRequest(self._hello()))

    def connection_lost(self, now: float, reason: str = "transport closed") -> list[ev.Event]:
        """The transport went away; ends the connection if it was not ended already."""
        if self.state is ConnectionState.CLOSED:
            return []
        self.state = ConnectionState.CLOSED
        self.close_reason = reason
        return [ev.ConnectionClosed(DisconnectReason.SHUTDOWN, reason, by_peer=True)]

    def data_to_send(self) -> bytes:
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def receive_data(self, data: bytes, now: float) -> list[ev.Event]:
        """Feed received bytes; returns what happened, in order."""
        if self.state is ConnectionState.CLOSED:
            return []
        if self.state is ConnectionState.CONNECTING:
            raise LocalProtocolError("receive_data before connection_made")
        self._last_received = now

        def feed(events: list[ev.Event]) -> None:
            self._decoder.feed(data)
            if self._awaiting is None:
                self._drain(now, events)
            elif self._decoder.buffered > _MAX_BACKLOG:
                raise RemoteProtocolError(
                    f"{self._decoder.buffered} bytes sent while one "
                    f"{self._awaiting.message_type.name} was still being read")

        return self._guarded(feed, now)

    def decoded(self, frame: RawFrame, result: Message | MalformedMessage, now: float
                ) -> list[ev.Event]:
        """The transport decoded the frame of a ``DecodeRequested`` event: ``result`` is its
        message or the ``MalformedMessage`` it raised. Reading the stream resumes."""
        if frame is not self._awaiting:
            raise LocalProtocolError("decoded() for a frame this connection did not hand out")
        self._awaiting = None
        if self.state is ConnectionState.CLOSED:
            return []

        def handle(events: list[ev.Event]) -> None:
            if isinstance(result, MalformedMessage):
                self._penalize(Penalty.MALFORMED, str(result), now, events)
            else:
                self._dispatch(result, frame.request_id, now, events)
            self._drain(now, events)

        return self._guarded(handle, now)

    def _drain(self, now: float, events: list[ev.Event]) -> None:
        """Handle every complete frame buffered, until one must be decoded elsewhere."""
        while self.is_open and self._awaiting is None:
            raw = self._decoder.next_raw()
            if raw is None:
                break
            if raw.message_type in self.offload:
                self._awaiting = raw
                events.append(ev.DecodeRequested(raw))
                break
            try:
                frame = decode_raw(raw)
            except MalformedMessage as exc:
                self._penalize(Penalty.MALFORMED, str(exc), now, events)
                continue
            self._dispatch(frame.message, frame.request_id, now, events)

    def _guarded(self, step: Callable[[list[ev.Event]], None], now: float) -> list[ev.Event]:
        """Run ``step``; what the peer did wrong ends as a penalty or a close, in ``events``."""
        events: list[ev.Event] = []
        try:
            step(events)
        except UntrustedPeer as exc:
            self._close(DisconnectReason.UNTRUSTED, str(exc), events)
        except UnsupportedVersion as exc:
            self._close(DisconnectReason.PROTOCOL_ERROR, str(exc), events)
        except RemoteProtocolError as exc:
            self._penalize(Penalty.FRAMING, str(exc), now, events)
            self._close(DisconnectReason.PROTOCOL_ERROR, str(exc), events)
        return events

    def next_timer(self) -> float | None:
        """When ``handle_timer`` must next be called (absolute time), or ``None``."""
        if self.state in (ConnectionState.CLOSED, ConnectionState.CONNECTING):
            return None
        times = [self._last_received + self.config.silence_timeout]
        if self.state is ConnectionState.HANDSHAKING:
            times.append(self._created + self.config.handshake_timeout)
        else:
            times.append(self._last_sent_heartbeat + self.config.heartbeat_interval)
        times.extend(deadline for _, deadline in self._outstanding.values())
        return min(times)

    def handle_timer(self, now: float) -> list[ev.Event]:
        events: list[ev.Event] = []
        if self.state in (ConnectionState.CLOSED, ConnectionState.CONNECTING):
            return events
        if now >= self._last_received + self.config.silence_timeout:
            silent = now - self._last_received
            self._close(DisconnectReason.TIMEOUT, f"peer silent for {silent:.0f} s", events)
            return events
        if self.state is ConnectionState.HANDSHAKING:
            if now >= self._created + self.config.handshake_timeout:
                self._close(DisconnectReason.TIMEOUT, "handshake not finished in time", events)
            return events
        for request_id, (message_type, deadline) in list(self._outstanding.items()):
            if now >= deadline:
                del self._outstanding[request_id]
                events.append(ev.RequestTimedOut(request_id, message_type))
        if now >= self._last_sent_heartbeat + self.config.heartbeat_interval:
            self._send(Heartbeat(self.tip.height, self.tip.tip, self.tip.work))
            self._last_sent_heartbeat = now
        return events

    # ---------------------------------------------------------------- node side

    def set_tip(self, tip: ChainTip) -> None:
        self.tip = tip

    def close(self, reason: str = "closing", code: int = DisconnectReason.REQUESTED) -> None:
        """Queue DISCONNECT and end the connection (the transport flushes, then closes)."""
        self._close(code, reason, [])

    def send_gossip(self, blocks: tuple[bytes, ...] = (), transactions: tuple[bytes, ...] = ()
                    ) -> bool:
        """Announce hashes the peer has not told us about or heard from us; ``False`` if none."""
        self._require_ready()
        new_blocks = tuple(h for h in blocks if self._known.add(h))
        new_txs = tuple(h for h in transactions if self._known.add(h))
        if not new_blocks and not new_txs:
            return False
        self._send(Gossip(new_blocks, new_txs))
        return True

    def push_block(self, block: bytes, block_hash: bytes) -> None:
        """Send a freshly mined block unasked."""
        self._require_ready()
        self._known.add(block_hash)
        self._send(BlockSubmit((block,)))

    def push_transactions(self, transactions: tuple[bytes, ...], hashes: tuple[bytes, ...]
                          ) -> None:
        """Send raw transactions unasked (e.g. ones submitted to this node)."""
        self._require_ready()
        for h in hashes:
            self._known.add(h)
        self._send(Transactions(tuple(transactions)))

    def send_capability(self, record: bytes) -> None:
        """Send our signed capability record (after the join, and whenever it changes)."""
        self._require_ready()
        self._send(CapabilityRecord(record))

    def request_blocks(self, now: float, hashes: tuple[bytes, ...] = (), start: int = 0,
                       count: int = 0) -> int:
        return self._request(BlockRequest(tuple(hashes), start, count), now)

    def request_transactions(self, hashes: tuple[bytes, ...], now: float) -> int:
        return self._request(TxRequest(tuple(hashes)), now)

    def request_headers(self, locator: tuple[bytes, ...], max_count: int, now: float) -> int:
        return self._request(GetHeaders(tuple(locator), max_count), now)

    def request_status(self, now: float) -> int:
        return self._request(StatusRequest(), now)

    def request_stats(self, now: float) -> int:
        return self._request(StatsRequest(), now)

    def request_peers(self, now: float) -> int:
        return self._request(PeersRequest(), now)

    def respond_blocks(self, request_id: int, blocks: tuple[bytes, ...]) -> None:
        self._respond(request_id, BlockSubmit(tuple(blocks)))

    def respond_transactions(self, request_id: int, transactions: tuple[bytes, ...]) -> None:
        self._respond(request_id, Transactions(tuple(transactions)))

    def respond_headers(self, request_id: int, headers: tuple[bytes, ...],
                        proofs: tuple[bytes, ...] = ()) -> None:
        """Headers in height order with the encoded work proof of each (same length)."""
        self._respond(request_id, Headers(tuple(headers), tuple(proofs)))

    def respond_status(self, request_id: int, peer_count: int) -> None:
        self._respond(request_id, StatusResponse(self.tip.height, self.tip.tip, self.tip.work,
                                                 peer_count))

    def respond_stats(self, request_id: int, stats: dict[str, int | str]) -> None:
        self._respond(request_id, StatsResponse(dict(stats)))

    def respond_peers(self, request_id: int, peers: tuple[PeerAddress, ...]) -> None:
        self._respond(request_id, Peers(tuple(peers)))

    def respond_error(self, request_id: int, reason: str,
                      code: int = DisconnectReason.INVALID_DATA) -> None:
        self._respond(request_id, Error(code, reason))

    def report_invalid(self, reason: str, now: float,
                       points: int = Penalty.INVALID_DATA) -> list[ev.Event]:
        """The node found the peer's block, header or transaction invalid: raise its score."""
        events: list[ev.Event] = []
        self._penalize(points, reason, now, events)
        return events

    def score(self, now: float) -> float:
        return self._score.value(now)

    @property
    def outstanding_requests(self) -> int:
        return len(self._outstanding)

    def can_request(self, now: float, keep: float = 0.0) -> bool:
        """Whether one more request fits under the limit this peer enforces on us (and the
        cap on outstanding requests) while leaving ``keep``, a fraction of the burst, unspent:
        what the node holds back for requests that matter more."""
        if len(self._outstanding) >= self.config.max_outstanding_requests:
            return False
        return self._asking.tokens(now) >= 1.0 + keep * self._asking.burst

    # ---------------------------------------------------------------- internals

    def _hello(self) -> Hello:
        return Hello(self.local.node_id, self.local.chain_id, self.local.genesis_hash,
                     self.tip.height, self.tip.tip, self.tip.work, self.local.listen_host,
                     self.local.listen_port, self._nonce, self.local.agent)

    def _send(self, message: Message, request_id: int = 0) -> None:
        self._outgoing += encode_frame(message, request_id)

    def _require_ready(self) -> None:
        if self.state is not ConnectionState.READY:
            raise LocalProtocolError(f"cannot send to a peer in state {self.state.value}")

    def _request(self, message: Message, now: float) -> int:
        self._require_ready()
        if len(self._outstanding) >= self.config.max_outstanding_requests:
            raise LocalProtocolError(
                f"{len(self._outstanding)} requests already outstanding to this peer")
        if not self._asking.take(now):
            raise LocalProtocolError("asking this peer faster than its request limit allows")
        request_id = self._next_request_id
        self._next_request_id = request_id % MAX_REQUEST_ID + 1
        self._outstanding[request_id] = (message.TYPE, now + self.config.request_timeout)
        self._send(message, request_id)
        return request_id

    def _respond(self, request_id: int, message: Message) -> None:
        if self.state is ConnectionState.CLOSED:
            return  # the peer left while the node prepared the answer
        self._require_ready()
        asked = self._incoming.pop(request_id, None)
        if asked is None:
            raise LocalProtocolError(f"no request {request_id} from this peer awaits an answer")
        if message.TYPE is not MessageType.ERROR and _RESPONSE_TO[asked] is not message.TYPE:
            self._incoming[request_id] = asked
            raise LocalProtocolError(f"{asked.name} is answered by {_RESPONSE_TO[asked].name}, "
                                     f"not {message.TYPE.name}")
        self._send(message, request_id)

    def _close(self, code: int, reason: str, events: list[ev.Event], banned: bool = False
               ) -> None:
        if self.state is ConnectionState.CLOSED:
            return
        if self.state is not ConnectionState.CONNECTING:
            self._send(Disconnect(code, reason))
        self.state = ConnectionState.CLOSED
        self.close_reason = reason
        self._outstanding.clear()
        self._incoming.clear()
        events.append(ev.ConnectionClosed(code, reason, by_peer=False, banned=banned))

    def _penalize(self, points: int, reason: str, now: float, events: list[ev.Event]) -> None:
        over = self._score.add(points, now)
        events.append(ev.PeerMisbehaved(int(points), self._score.value(now), reason))
        if not over:
            return
        # Only a node id the peer proved it holds is banned: an impostor must not get its victim
        # banned, and an address is shared (NAT, loopback) by peers that did nothing wrong. An
        # unproven peer is only disconnected (the transport charges its address's budget).
        if not self._proven or self.peer is None:
            self._close(DisconnectReason.MISBEHAVIOUR,
                        f"disconnected for misbehaviour before proving its key: {reason}", events)
            return
        if self.bans is not None:
            self.bans.ban(f"node:{self.peer.node_id.hex()}", now, self.config.ban_duration,
                          reason)
        self._close(DisconnectReason.MISBEHAVIOUR, f"banned for misbehaviour: {reason}", events,
                    banned=True)

    def _dispatch(self, message: Message, request_id: int, now: float,
                  events: list[ev.Event]) -> None:
        kind = message.TYPE
        if isinstance(message, Disconnect):
            self.state = ConnectionState.CLOSED
            self.close_reason = message.reason
            events.append(ev.ConnectionClosed(message.code, message.reason, by_peer=True))
            return
        if self.state is ConnectionState.HANDSHAKING:
            self._handle_join(message, now, events)
            return
        if kind in _JOIN:
            raise RemoteProtocolError(f"{kind.name} after the handshake finished")
        traffic = _classify(kind, request_id)
        bucket = None if traffic is None else self._buckets.get(traffic)
        if traffic is not None and bucket is not None and not bucket.take(now):
            if kind in _RESPONSE_TO:
                self._send(Error(DisconnectReason.MISBEHAVIOUR, "rate limited"), request_id)
            self._penalize(Penalty.RATE_LIMIT, f"{traffic.value} rate limit exceeded", now,
                           events)
            return
        if kind in _RESPONSE_TO:
            self._handle_request(message, request_id, now, events)
        elif request_id != 0 and (kind in _RESPONSES or kind is MessageType.ERROR):
            self._handle_response(message, request_id, now, events)
        else:
            self._handle_unsolicited(message, now, events)

    def _handle_request(self, message: Message, request_id: int, now: float,
                        events: list[ev.Event]) -> None:
        if request_id == 0:
            self._penalize(Penalty.MALFORMED, f"{message.TYPE.name} without a request id", now,
                           events)
            return
        if request_id in self._incoming:
            self._penalize(Penalty.MALFORMED, f"request id {request_id} reused", now, events)
            return
        if len(self._incoming) >= self.config.max_incoming_requests:
            self._send(Error(DisconnectReason.MISBEHAVIOUR, "too many open requests"), request_id)
            self._penalize(Penalty.RATE_LIMIT, "too many open requests", now, events)
            return
        self._incoming[request_id] = message.TYPE
        if isinstance(message, BlockRequest):
            events.append(ev.BlocksRequested(request_id, message.hashes, message.start,
                                             message.count))
        elif isinstance(message, GetHeaders):
            events.append(ev.HeadersRequested(request_id, message.locator, message.max_count))
        elif isinstance(message, StatusRequest):
            events.append(ev.StatusRequested(request_id))
        elif isinstance(message, StatsRequest):
            events.append(ev.StatsRequested(request_id))
        elif isinstance(message, PeersRequest):
            events.append(ev.PeersRequested(request_id))
        elif isinstance(message, TxRequest):
            events.append(ev.TransactionsRequested(request_id, message.hashes))

    def _handle_response(self, message: Message, request_id: int, now: float,
                         events: list[ev.Event]) -> None:
        pending = self._outstanding.get(request_id)
        if pending is None:
            self._penalize(Penalty.UNSOLICITED, f"{message.TYPE.name} for request {request_id} "
                           "that is not outstanding", now, events)
            return
        asked = pending[0]
        if isinstance(message, Error):
            del self._outstanding[request_id]
            events.append(ev.RequestFailed(request_id, message.code, message.reason))
            return
        if _RESPONSE_TO[asked] is not message.TYPE:
            self._penalize(Penalty.MALFORMED, f"{message.TYPE.name} does not answer "
                           f"{asked.name}", now, events)
            return
        del self._outstanding[request_id]
        if isinstance(message, BlockSubmit):
            events.append(ev.BlocksReceived(request_id, message.blocks))
        elif isinstance(message, Headers):
            events.append(ev.HeadersReceived(request_id, message.headers, message.proofs))
        elif isinstance(message, StatusResponse):
            self._note_tip(message.height, message.tip, message.work, events)
            events.append(ev.StatusReceived(request_id, message.height, message.tip,
                                            message.work, message.peer_count))
        elif isinstance(message, StatsResponse):
            events.append(ev.StatsReceived(request_id, message.stats))
        elif isinstance(message, Peers):
            events.append(ev.PeersReceived(request_id, message.peers))
        elif isinstance(message, Transactions):
            events.append(ev.TransactionsReceived(request_id, message.transactions))

    def _handle_unsolicited(self, message: Message, now: float, events: list[ev.Event]) -> None:
        if isinstance(message, Heartbeat):
            self._note_tip(message.height, message.tip, message.work, events)
        elif isinstance(message, Gossip):
            for h in message.blocks + message.transactions:
                self._known.add(h)
            blocks = tuple(h for h in message.blocks if self.seen.add(h))
            txs = tuple(h for h in message.transactions if self.seen.add(h))
            if blocks or txs:
                events.append(ev.GossipReceived(blocks, txs))
        elif isinstance(message, BlockSubmit):
            events.append(ev.BlocksReceived(0, message.blocks))
        elif isinstance(message, Transactions):
            events.append(ev.TransactionsReceived(0, message.transactions))
        elif isinstance(message, CapabilityRecord):
            events.append(ev.CapabilityReceived(message.record))
        elif isinstance(message, Error):
            events.append(ev.RequestFailed(0, message.code, message.reason))
        else:  # a response type with request id 0
            self._penalize(Penalty.UNSOLICITED, f"unsolicited {message.TYPE.name}", now, events)

    def _note_tip(self, height: int, tip: bytes, work: int, events: list[ev.Event]) -> None:
        new = ChainTip(height, tip, work)
        if new != self.peer_tip:
            self.peer_tip = new
            events.append(ev.TipAnnounced(height, tip, work))

    # ---------------------------------------------------------------- the join handshake

    def _handle_join(self, message: Message, now: float, events: list[ev.Event]) -> None:
        if isinstance(message, JoinRequest) and self.role is Role.RESPONDER and self.peer is None:
            if self._accept_hello(message.hello, now, events):
                self._send(JoinResponse(self._hello(), self._sign(message.hello.nonce,
                                                                  Role.RESPONDER)))
        elif isinstance(message, JoinResponse) and self.role is Role.INITIATOR:
            if not self._accept_hello(message.hello, now, events):
                return
            self._verify_peer(message.signature, Role.RESPONDER, now, events)
            self._send(JoinConfirm(self._sign(message.hello.nonce, Role.INITIATOR)))
            self._finish_join(now, events)
        elif (isinstance(message, JoinConfirm) and self.role is Role.RESPONDER
              and self.peer is not None):
            self._verify_peer(message.signature, Role.INITIATOR, now, events)
            self._finish_join(now, events)
        else:
            raise RemoteProtocolError(
                f"{message.TYPE.name} during the handshake (this side is the "
                f"{self.role.name.lower()})")

    def _sign(self, peer_nonce: bytes, role: Role) -> bytes:
        return sign_handshake(self.local.key, role, self._local_fingerprint, peer_nonce,
                              self.local.chain_id, self.local.genesis_hash)

    def _accept_hello(self, hello: Hello, now: float, events: list[ev.Event]) -> bool:
        """Check chain, self-connection and bans; closes with a reason and returns False if not."""
        if hello.chain_id != self.local.chain_id:
            self._close(DisconnectReason.WRONG_CHAIN, f"chain id {hello.chain_id} is not ours "
                        f"({self.local.chain_id})", events)
            return False
        if hello.genesis_hash != self.local.genesis_hash:
            self._close(DisconnectReason.WRONG_CHAIN, f"genesis {hello.genesis_hash.hex()} is "
                        f"not ours ({self.local.genesis_hash.hex()})", events)
            return False
        if hello.node_id == self.local.node_id:
            self._close(DisconnectReason.DUPLICATE, "connected to ourselves", events)
            return False
        if self.bans is not None:
            reason = self.bans.reason(f"node:{hello.node_id.hex()}", now)
            if reason is not None:
                self._close(DisconnectReason.BANNED, f"node is banned: {reason}", events)
                return False
        self.peer = hello
        return True

    def _verify_peer(self, signature: bytes, role: Role, now: float,
                     events: list[ev.Event]) -> None:
        assert self.peer is not None and self.peer_fingerprint is not None
        try:
            verify_handshake(self.peer.node_id, signature, role, self.peer_fingerprint,
                             self._nonce, self.local.chain_id, self.local.genesis_hash)
            self._proven = True
        except UntrustedPeer as exc:
            # A forged or relayed handshake is an attack; a changed pin (below) may be honest.
            self._penalize(Penalty.BAD_HANDSHAKE, str(exc), now, events)
            raise

    def _finish_join(self, now: float, events: list[ev.Event]) -> None:
        assert self.peer is not None and self.peer_fingerprint is not None
        first = False
        if self.trust is not None:
            first = self.trust.check_and_pin(self.peer.node_id, self.peer_fingerprint, now)
        self.state = ConnectionState.READY
        self._decoder.join()
        self._last_sent_heartbeat = now
        events.append(ev.HandshakeCompleted(self.peer, self.peer_fingerprint, first))
        self._note_tip(self.peer.height, self.peer.tip, self.peer.work, events)

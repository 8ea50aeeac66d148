"""Events a ``PeerConnection`` hands to the node, one dataclass per thing that happened.

The node reacts to each: it answers requests with the connection's ``respond_*`` methods, passes
received blocks and headers to chain validation, and reports invalid data back with
``report_invalid`` so the peer's misbehaviour score rises.
"""

from __future__ import annotations

from dataclasses import dataclass

from poqw.p2p.framing import RawFrame
from poqw.p2p.messages import Hello, MessageType, PeerAddress

__all__ = [
    "BlocksReceived",
    "BlocksRequested",
    "CapabilityReceived",
    "ConnectionClosed",
    "DecodeRequested",
    "Event",
    "GossipReceived",
    "HandshakeCompleted",
    "HeadersReceived",
    "HeadersRequested",
    "PeerMisbehaved",
    "PeersReceived",
    "PeersRequested",
    "RequestFailed",
    "RequestTimedOut",
    "StatsReceived",
    "StatsRequested",
    "StatusReceived",
    "StatusRequested",
    "TipAnnounced",
    "TransactionsReceived",
    "TransactionsRequested",
]


class Event:
    """Base of every event."""


@dataclass(frozen=True)
class HandshakeCompleted(Event):
    """The peer proved its key and chain; ``fingerprint`` is its TLS certificate's SHA-256."""

    peer: Hello
    fingerprint: bytes
    first_seen: bool  # true when its certificate was pinned just now (trust on first use)


@dataclass(frozen=True)
class ConnectionClosed(Event):
    code: int
    reason: str
    by_peer: bool
    banned: bool = False


@dataclass(frozen=True)
class TipAnnounced(Event):
    """The peer's best chain as it last told us (hello, heartbeat or status)."""

    height: int
    tip: bytes
    work: int


@dataclass(frozen=True)
class GossipReceived(Event):
    """Hashes announced by the peer that this node has not seen before: fetch each once."""

    blocks: tuple[bytes, ...]
    transactions: tuple[bytes, ...]


@dataclass(frozen=True)
class BlocksRequested(Event):
    request_id: int
    hashes: tuple[bytes, ...]
    start: int
    count: int


@dataclass(frozen=True)
class BlocksReceived(Event):
    """Encoded blocks: pushed unasked (``request_id`` 0) or the answer to our request."""

    request_id: int
    blocks: tuple[bytes, ...]


@dataclass(frozen=True)
class CapabilityReceived(Event):
    """The peer's signed capability record, unchecked (the node verifies it)."""

    record: bytes


@dataclass(frozen=True)
class TransactionsRequested(Event):
    request_id: int
    hashes: tuple[bytes, ...]


@dataclass(frozen=True)
class TransactionsReceived(Event):
    """Raw transactions: pushed unasked (``request_id`` 0) or the answer to our request."""

    request_id: int
    transactions: tuple[bytes, ...]


@dataclass(frozen=True)
class HeadersRequested(Event):
    request_id: int
    locator: tuple[bytes, ...]
    max_count: int


@dataclass(frozen=True)
class HeadersReceived(Event):
    """Encoded headers and, beside each, its encoded work proof."""

    request_id: int
    headers: tuple[bytes, ...]
    proofs: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class StatusRequested(Event):
    request_id: int


@dataclass(frozen=True)
class StatusReceived(Event):
    request_id: int
    height: int
    tip: bytes
    work: int
    peer_count: int


@dataclass(frozen=True)
class StatsRequested(Event):
    request_id: int


@dataclass(frozen=True)
class StatsReceived(Event):
    request_id: int
    stats: dict[str, int | str]


@dataclass(frozen=True)
class PeersRequested(Event):
    request_id: int


@dataclass(frozen=True)
class PeersReceived(Event):
    request_id: int
    peers: tuple[PeerAddress, ...]


@dataclass(frozen=True)
class RequestFailed(Event):
    """The peer answered our request (or, with ``request_id`` 0, nothing) with ERROR."""

    request_id: int
    code: int
    reason: str


@dataclass(frozen=True)
class RequestTimedOut(Event):
    request_id: int
    message_type: MessageType


@dataclass(frozen=True)
class PeerMisbehaved(Event):
    """The peer earned ``points``; ``score`` is its total after decay."""

    points: int
    score: float
    reason: str


@dataclass(frozen=True)
class DecodeRequested(Event):
    """For the transport, not the node: decode ``frame`` (``poqw.p2p.framing.decode_raw``) off
    the event loop and hand the result to ``PeerConnection.decoded``. Until then the connection
    reads no further frames from this peer, so its messages keep their order."""

    frame: RawFrame

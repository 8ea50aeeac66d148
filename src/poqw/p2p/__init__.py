"""The peer-to-peer protocol: sans-I/O framing, messages, peer state machine and sync.

The protocol objects never read a socket or a clock: they take bytes and the current time in and
hand events and bytes out, so tests and simulators drive them with explicit time. The node answers
events through ``PeerConnection`` methods and plans catch-up with ``SyncManager``. ``TrustStore``
pins peers' certificates in a SQLite file; ``poqw.p2p.quic`` (imported on demand: it pulls in
aioquic) moves the bytes over QUIC with TLS 1.3 and reports the certificate each peer presented.
"""

from poqw.p2p.config import ChainTip, LocalNode, PeerConfig, SeenHashes
from poqw.p2p.events import (
    BlocksReceived,
    BlocksRequested,
    CapabilityReceived,
    ConnectionClosed,
    Event,
    GossipReceived,
    HandshakeCompleted,
    HeadersReceived,
    HeadersRequested,
    PeerMisbehaved,
    PeersReceived,
    PeersRequested,
    RequestFailed,
    RequestTimedOut,
    StatsReceived,
    StatsRequested,
    StatusReceived,
    StatusRequested,
    TipAnnounced,
    TransactionsReceived,
    TransactionsRequested,
)
from poqw.p2p.framing import Frame, FrameDecoder, encode_frame
from poqw.p2p.identity import Role, certificate_fingerprint
from poqw.p2p.messages import DisconnectReason, Hello, MessageType, PeerAddress
from poqw.p2p.peer import ConnectionState, PeerConnection
from poqw.p2p.policing import BanList, MisbehaviourScore, Penalty, TokenBucket, TrafficClass
from poqw.p2p.sync import (
    RequestBlocks,
    RequestHeaders,
    SyncManager,
    block_locator,
    find_fork_point,
)
from poqw.p2p.trust import TrustStore

__all__ = [
    "BanList",
    "BlocksReceived",
    "BlocksRequested",
    "CapabilityReceived",
    "ChainTip",
    "ConnectionClosed",
    "ConnectionState",
    "DisconnectReason",
    "Event",
    "Frame",
    "FrameDecoder",
    "GossipReceived",
    "HandshakeCompleted",
    "HeadersReceived",
    "HeadersRequested",
    "Hello",
    "LocalNode",
    "MessageType",
    "MisbehaviourScore",
    "PeerAddress",
    "PeerConfig",
    "PeerConnection",
    "PeerMisbehaved",
    "PeersReceived",
    "PeersRequested",
    "Penalty",
    "RequestBlocks",
    "RequestFailed",
    "RequestHeaders",
    "RequestTimedOut",
    "Role",
    "SeenHashes",
    "StatsReceived",
    "StatsRequested",
    "StatusReceived",
    "StatusRequested",
    "SyncManager",
    "TipAnnounced",
    "TokenBucket",
    "TrafficClass",
    "TransactionsReceived",
    "TransactionsRequested",
    "TrustStore",
    "block_locator",
    "certificate_fingerprint",
    "encode_frame",
    "find_fork_point",
]

"""The messages peers exchange, as frozen dataclasses with a canonical RLP payload each.

Blocks, headers and transactions are opaque bytes at this layer; they are named by 32-byte
hashes. Every message type has a hard payload limit (``MAX_PAYLOAD``) that the framing layer
checks before it reads a single payload byte, and every list and string inside a payload has
its own limit, declared in the message's ``SHAPE`` and checked while the payload is read (before
the item it bounds is built), so a peer cannot make us allocate more than a few megabytes per
message, nor spend more than linear time on it.

The types live in modules by concern, re-exported here: :mod:`~poqw.p2p.messages_limits` (wire
codes and limits), :mod:`~poqw.p2p.messages_base` (the base class and shared field readers),
:mod:`~poqw.p2p.messages_join` (handshake and session), :mod:`~poqw.p2p.messages_chain` (blocks,
headers, transactions) and :mod:`~poqw.p2p.messages_info` (status, stats, peers, capability).
"""

from __future__ import annotations

from poqw.errors import MalformedMessage
from poqw.p2p.codec import decode_payload
from poqw.p2p.messages_base import Message
from poqw.p2p.messages_chain import (
    BlockRequest,
    BlockSubmit,
    GetHeaders,
    Gossip,
    Headers,
    Transactions,
    TxRequest,
)
from poqw.p2p.messages_info import (
    CapabilityRecord,
    PeerAddress,
    Peers,
    PeersRequest,
    StatsRequest,
    StatsResponse,
    StatusRequest,
    StatusResponse,
)
from poqw.p2p.messages_join import (
    Disconnect,
    Error,
    Heartbeat,
    Hello,
    JoinConfirm,
    JoinRequest,
    JoinResponse,
)
from poqw.p2p.messages_limits import (
    MAX_BLOCK_BYTES,
    MAX_BLOCKS_PER_MESSAGE,
    MAX_CAPABILITY_BYTES,
    MAX_GOSSIP_HASHES,
    MAX_HEADER_BYTES,
    MAX_HEADER_PROOF_BYTES,
    MAX_HEADERS_PER_MESSAGE,
    MAX_LOCATOR_HASHES,
    MAX_PAYLOAD,
    MAX_PEERS_PER_MESSAGE,
    MAX_TRANSACTION_BYTES,
    MAX_TRANSACTIONS_PER_MESSAGE,
    NODE_ID_SIZE,
    SIGNATURE_SIZE,
    DisconnectReason,
    MessageType,
)

__all__ = [
    "MAX_BLOCKS_PER_MESSAGE",
    "MAX_BLOCK_BYTES",
    "MAX_CAPABILITY_BYTES",
    "MAX_GOSSIP_HASHES",
    "MAX_HEADERS_PER_MESSAGE",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_PROOF_BYTES",
    "MAX_LOCATOR_HASHES",
    "MAX_PAYLOAD",
    "MAX_PEERS_PER_MESSAGE",
    "MAX_TRANSACTIONS_PER_MESSAGE",
    "MAX_TRANSACTION_BYTES",
    "NODE_ID_SIZE",
    "SIGNATURE_SIZE",
    "BlockRequest",
    "BlockSubmit",
    "CapabilityRecord",
    "Disconnect",
    "DisconnectReason",
    "Error",
    "GetHeaders",
    "Gossip",
    "Headers",
    "Heartbeat",
    "Hello",
    "JoinConfirm",
    "JoinRequest",
    "JoinResponse",
    "Message",
    "MessageType",
    "PeerAddress",
    "Peers",
    "PeersRequest",
    "StatsRequest",
    "StatsResponse",
    "StatusRequest",
    "StatusResponse",
    "Transactions",
    "TxRequest",
    "decode_message",
]


_CLASSES: dict[MessageType, type[Message]] = {
    cls.TYPE: cls
    for cls in (JoinRequest, JoinResponse, JoinConfirm, Heartbeat, Gossip, BlockRequest,
                BlockSubmit, GetHeaders, Headers, StatusRequest, StatusResponse, StatsRequest,
                StatsResponse, PeersRequest, Peers, Error, Disconnect, TxRequest, Transactions,
                CapabilityRecord)
}


def decode_message(message_type: MessageType, payload: bytes) -> Message:
    """The message of ``message_type`` whose payload is ``payload`` (strict, size-limited)."""
    limit = MAX_PAYLOAD[message_type]
    if len(payload) > limit:
        raise MalformedMessage(
            f"{message_type.name} payload is {len(payload)} bytes, over the limit of {limit}")
    cls = _CLASSES[message_type]
    items = decode_payload(payload, message_type.name, cls.SHAPE)
    return cls.from_rlp(items)


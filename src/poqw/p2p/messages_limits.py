"""The registry of peer message types, their wire codes and every size limit.

Each message type has a hard payload limit (``MAX_PAYLOAD``), checked against the frame header
before a single payload byte is read; the per-field limits here are the ones the message shapes
declare, so the two cannot drift apart.
"""

from __future__ import annotations

import enum

__all__ = [
    "HASH_SIZE",
    "MAX_AGENT_BYTES",
    "MAX_BLOCKS_PER_MESSAGE",
    "MAX_BLOCK_BYTES",
    "MAX_BLOCK_RANGE",
    "MAX_CAPABILITY_BYTES",
    "MAX_GOSSIP_HASHES",
    "MAX_HEADERS_PER_MESSAGE",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_PROOF_BYTES",
    "MAX_HOST_BYTES",
    "MAX_LOCATOR_HASHES",
    "MAX_PAYLOAD",
    "MAX_PEERS_PER_MESSAGE",
    "MAX_REASON_BYTES",
    "MAX_STATS_ENTRIES",
    "MAX_STAT_KEY_BYTES",
    "MAX_STAT_TEXT_BYTES",
    "MAX_TRANSACTIONS_PER_MESSAGE",
    "MAX_TRANSACTION_BYTES",
    "NODE_ID_SIZE",
    "NONCE_SIZE",
    "SIGNATURE_SIZE",
    "DisconnectReason",
    "MessageType",
]

NODE_ID_SIZE = 33  # a compressed secp256k1 public key: a node is its key
SIGNATURE_SIZE = 65  # recoverable ECDSA r || s || v
HASH_SIZE = 32
NONCE_SIZE = 32
MAX_HOST_BYTES = 255
MAX_AGENT_BYTES = 64
MAX_REASON_BYTES = 256
MAX_GOSSIP_HASHES = 256
MAX_HEADER_BYTES = 1024
MAX_HEADERS_PER_MESSAGE = 2000
MAX_HEADER_PROOF_BYTES = 1024  # one encoded work proof beside its header (devnet: 4 x 3 bytes)
MAX_LOCATOR_HASHES = 64
MAX_BLOCK_BYTES = 2 * 1024 * 1024
MAX_BLOCKS_PER_MESSAGE = 8
MAX_BLOCK_RANGE = MAX_BLOCKS_PER_MESSAGE  # a range answer must fit one BLOCK_SUBMIT
MAX_TRANSACTION_BYTES = 128 * 1024
MAX_TRANSACTIONS_PER_MESSAGE = 64
MAX_PEERS_PER_MESSAGE = 64
MAX_STATS_ENTRIES = 64
MAX_STAT_KEY_BYTES = 64
MAX_STAT_TEXT_BYTES = 256
MAX_CAPABILITY_BYTES = 2048  # one signed capability record (poqw.node.capability checks it)


class MessageType(enum.IntEnum):
    """The wire code of each message (one byte in the frame header)."""

    JOIN_REQUEST = 1
    JOIN_RESPONSE = 2
    JOIN_CONFIRM = 3
    HEARTBEAT = 4
    GOSSIP = 5
    BLOCK_REQUEST = 6
    BLOCK_SUBMIT = 7
    GET_HEADERS = 8
    HEADERS = 9
    STATUS_REQUEST = 10
    STATUS_RESPONSE = 11
    STATS_REQUEST = 12
    STATS_RESPONSE = 13
    PEERS_REQUEST = 14
    PEERS = 15
    ERROR = 16
    DISCONNECT = 17
    TX_REQUEST = 18
    TRANSACTIONS = 19
    CAPABILITY = 20


class DisconnectReason(enum.IntEnum):
    """Why a connection ends (carried by DISCONNECT and ERROR)."""

    REQUESTED = 0
    PROTOCOL_ERROR = 1
    WRONG_CHAIN = 2
    BAD_HANDSHAKE = 3
    UNTRUSTED = 4
    TIMEOUT = 5
    BANNED = 6
    MISBEHAVIOUR = 7
    SHUTDOWN = 8
    DUPLICATE = 9
    INVALID_DATA = 10


def _list_overhead(n: int) -> int:
    return 9 + 9 * n  # generous RLP prefix allowance per item


_HELLO_BYTES = 2048
# Hard payload limits per type, checked against the frame header before the payload is read.
MAX_PAYLOAD: dict[MessageType, int] = {
    MessageType.JOIN_REQUEST: _HELLO_BYTES,
    MessageType.JOIN_RESPONSE: _HELLO_BYTES + 128,
    MessageType.JOIN_CONFIRM: 128,
    MessageType.HEARTBEAT: 128,
    MessageType.GOSSIP: 2 * _list_overhead(MAX_GOSSIP_HASHES) + 2 * 32 * MAX_GOSSIP_HASHES,
    MessageType.BLOCK_REQUEST: _list_overhead(MAX_BLOCKS_PER_MESSAGE) + 32 * MAX_BLOCKS_PER_MESSAGE
    + 32,
    MessageType.BLOCK_SUBMIT: MAX_BLOCKS_PER_MESSAGE * (MAX_BLOCK_BYTES + 9) + 9,
    MessageType.GET_HEADERS: _list_overhead(MAX_LOCATOR_HASHES) + 32 * MAX_LOCATOR_HASHES + 16,
    MessageType.HEADERS: 2 * _list_overhead(MAX_HEADERS_PER_MESSAGE)
    + (MAX_HEADER_BYTES + MAX_HEADER_PROOF_BYTES) * MAX_HEADERS_PER_MESSAGE,
    MessageType.STATUS_REQUEST: 16,
    MessageType.STATUS_RESPONSE: 256,
    MessageType.STATS_REQUEST: 16,
    MessageType.STATS_RESPONSE: _list_overhead(MAX_STATS_ENTRIES) * 3
    + MAX_STATS_ENTRIES * (MAX_STAT_KEY_BYTES + MAX_STAT_TEXT_BYTES),
    MessageType.PEERS_REQUEST: 16,
    MessageType.PEERS: _list_overhead(MAX_PEERS_PER_MESSAGE) * 4
    + MAX_PEERS_PER_MESSAGE * (NODE_ID_SIZE + MAX_HOST_BYTES + 4),
    MessageType.ERROR: MAX_REASON_BYTES + 32,
    MessageType.DISCONNECT: MAX_REASON_BYTES + 32,
    MessageType.TX_REQUEST: _list_overhead(MAX_TRANSACTIONS_PER_MESSAGE)
    + 32 * MAX_TRANSACTIONS_PER_MESSAGE,
    MessageType.TRANSACTIONS: _list_overhead(MAX_TRANSACTIONS_PER_MESSAGE)
    + MAX_TRANSACTION_BYTES * MAX_TRANSACTIONS_PER_MESSAGE,
    MessageType.CAPABILITY: _list_overhead(1) + MAX_CAPABILITY_BYTES + 9,
}

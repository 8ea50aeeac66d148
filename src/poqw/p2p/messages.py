"""The messages peers exchange, as frozen dataclasses with a canonical RLP payload each.

Blocks, headers and transactions are opaque bytes at this layer; they are named by 32-byte
hashes. Every message type has a hard payload limit (``MAX_PAYLOAD``) that the framing layer
checks before it reads a single payload byte, and every list and string inside a payload has
its own limit, declared in the message's ``SHAPE`` and checked while the payload is read (before
the item it bounds is built), so a peer cannot make us allocate more than a few megabytes per
message, nor spend more than linear time on it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from poqw.encoding.rlp import Bytes, Fields, ListOf, Shape, Uint
from poqw.errors import LocalProtocolError, MalformedMessage
from poqw.p2p.codec import (
    decode_payload,
    encode_uint,
    read_bytes,
    read_fixed,
    read_list,
    read_text,
    read_uint,
    rlp_encode,
)

__all__ = [
    "MAX_BLOCKS_PER_MESSAGE",
    "MAX_BLOCK_BYTES",
    "MAX_CAPABILITY_BYTES",
    "MAX_GOSSIP_HASHES",
    "MAX_HEADERS_PER_MESSAGE",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_PROOF_BYTES",
    "MAX_PAYLOAD",
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


_HASH = Bytes(HASH_SIZE, HASH_SIZE)
_SIGNATURE = Bytes(SIGNATURE_SIZE, SIGNATURE_SIZE)


def _record(**fields: Shape) -> Fields:
    """The shape of an RLP list of named fields, in declaration order."""
    return Fields(tuple(fields.items()))


_HELLO = _record(node_id=Bytes(NODE_ID_SIZE, NODE_ID_SIZE), chain_id=Uint(8), genesis_hash=_HASH,
                 height=Uint(8), tip=_HASH, work=Uint(), listen_host=Bytes(MAX_HOST_BYTES),
                 listen_port=Uint(2), nonce=Bytes(NONCE_SIZE, NONCE_SIZE),
                 agent=Bytes(MAX_AGENT_BYTES))
_REASON = _record(code=Uint(2), reason=Bytes(MAX_REASON_BYTES))


def _check_count(what: str, items: tuple[Any, ...] | dict[str, Any], max_items: int) -> None:
    """Refuse to build a message the peer would refuse to read (a bug on our side)."""
    if len(items) > max_items:
        raise LocalProtocolError(f"{what} has {len(items)} items, over the limit of {max_items}")


def _hashes(items: Any, what: str, max_items: int) -> tuple[bytes, ...]:
    return tuple(
        read_fixed(h, f"{what}[{i}]", HASH_SIZE)
        for i, h in enumerate(read_list(items, what, max_items))
    )


def _blobs(items: Any, what: str, max_items: int, max_len: int) -> tuple[bytes, ...]:
    return tuple(
        read_bytes(b, f"{what}[{i}]", max_len)
        for i, b in enumerate(read_list(items, what, max_items))
    )


class Message:
    """Base of every message: ``TYPE`` names its wire code; ``to_rlp`` gives the payload items."""

    TYPE: ClassVar[MessageType]
    SHAPE: ClassVar[Fields] = _record()  # what the payload must be, checked while reading it

    def to_rlp(self) -> list[Any]:
        return []

    def encode(self) -> bytes:
        return rlp_encode(self.to_rlp())

    @classmethod
    def from_rlp(cls, items: list[Any]) -> Message:
        return cls()


@dataclass(frozen=True)
class Hello:
    """What a node says about itself when joining: identity, chain, tip and where to reach it."""

    node_id: bytes
    chain_id: int
    genesis_hash: bytes
    height: int
    tip: bytes
    work: int
    listen_host: str
    listen_port: int
    nonce: bytes
    agent: str = "poqw/0.1"

    def __post_init__(self) -> None:
        if len(self.node_id) != NODE_ID_SIZE:
            raise ValueError(f"node id must be {NODE_ID_SIZE} bytes, got {len(self.node_id)}")
        if len(self.nonce) != NONCE_SIZE:
            raise ValueError(f"nonce must be {NONCE_SIZE} bytes, got {len(self.nonce)}")
        if not 0 <= self.listen_port < 65536:
            raise ValueError(f"listen port {self.listen_port} out of range")

    def to_rlp(self) -> list[Any]:
        return [self.node_id, encode_uint(self.chain_id), self.genesis_hash,
                encode_uint(self.height), self.tip, encode_uint(self.work),
                self.listen_host.encode(), encode_uint(self.listen_port), self.nonce,
                self.agent.encode()]

    @classmethod
    def from_rlp(cls, items: Any, what: str) -> Hello:
        items = read_list(items, what, 10)
        if len(items) != 10:
            raise MalformedMessage(f"{what}: expected 10 fields, got {len(items)}")
        return cls(
            node_id=read_fixed(items[0], f"{what}.node_id", NODE_ID_SIZE),
            chain_id=read_uint(items[1], f"{what}.chain_id", 8),
            genesis_hash=read_fixed(items[2], f"{what}.genesis_hash", HASH_SIZE),
            height=read_uint(items[3], f"{what}.height", 8),
            tip=read_fixed(items[4], f"{what}.tip", HASH_SIZE),
            work=read_uint(items[5], f"{what}.work"),
            listen_host=read_text(items[6], f"{what}.listen_host", MAX_HOST_BYTES),
            listen_port=read_uint(items[7], f"{what}.listen_port", 2),
            nonce=read_fixed(items[8], f"{what}.nonce", NONCE_SIZE),
            agent=read_text(items[9], f"{what}.agent", MAX_AGENT_BYTES),
        )


@dataclass(frozen=True)
class JoinRequest(Message):
    """The initiator's hello (with its nonce, which the responder must sign)."""

    TYPE = MessageType.JOIN_REQUEST
    SHAPE = _record(hello=_HELLO)
    hello: Hello

    def to_rlp(self) -> list[Any]:
        return [self.hello.to_rlp()]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> JoinRequest:
        return cls(Hello.from_rlp(items[0], "JOIN_REQUEST.hello"))


@dataclass(frozen=True)
class JoinResponse(Message):
    """The responder's hello and its signature binding its key, its TLS certificate, our nonce."""

    TYPE = MessageType.JOIN_RESPONSE
    SHAPE = _record(hello=_HELLO, signature=_SIGNATURE)
    hello: Hello
    signature: bytes

    def to_rlp(self) -> list[Any]:
        return [self.hello.to_rlp(), self.signature]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> JoinResponse:
        return cls(Hello.from_rlp(items[0], "JOIN_RESPONSE.hello"),
                   read_fixed(items[1], "JOIN_RESPONSE.signature", SIGNATURE_SIZE))


@dataclass(frozen=True)
class JoinConfirm(Message):
    """The initiator's signature over its TLS certificate and the responder's nonce."""

    TYPE = MessageType.JOIN_CONFIRM
    SHAPE = _record(signature=_SIGNATURE)
    signature: bytes

    def to_rlp(self) -> list[Any]:
        return [self.signature]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> JoinConfirm:
        return cls(read_fixed(items[0], "JOIN_CONFIRM.signature", SIGNATURE_SIZE))


@dataclass(frozen=True)
class Heartbeat(Message):
    """Sent every 15 s; carries the sender's current tip so peers learn of new work."""

    TYPE = MessageType.HEARTBEAT
    SHAPE = _record(height=Uint(8), tip=_HASH, work=Uint())
    height: int
    tip: bytes
    work: int

    def to_rlp(self) -> list[Any]:
        return [encode_uint(self.height), self.tip, encode_uint(self.work)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> Heartbeat:
        return cls(read_uint(items[0], "HEARTBEAT.height", 8),
                   read_fixed(items[1], "HEARTBEAT.tip", HASH_SIZE),
                   read_uint(items[2], "HEARTBEAT.work"))


@dataclass(frozen=True)
class Gossip(Message):
    """An announcement of new blocks and transactions by hash; the receiver fetches each once."""

    TYPE = MessageType.GOSSIP
    SHAPE = _record(blocks=ListOf(_HASH, MAX_GOSSIP_HASHES, "hashes"),
                    transactions=ListOf(_HASH, MAX_GOSSIP_HASHES, "hashes"))
    blocks: tuple[bytes, ...] = ()
    transactions: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        _check_count("GOSSIP.blocks", self.blocks, MAX_GOSSIP_HASHES)
        _check_count("GOSSIP.transactions", self.transactions, MAX_GOSSIP_HASHES)


    def to_rlp(self) -> list[Any]:
        return [list(self.blocks), list(self.transactions)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> Gossip:
        return cls(_hashes(items[0], "GOSSIP.blocks", MAX_GOSSIP_HASHES),
                   _hashes(items[1], "GOSSIP.transactions", MAX_GOSSIP_HASHES))


@dataclass(frozen=True)
class BlockRequest(Message):
    """Blocks by hash (``hashes``), or by height range (``start``, ``count``): exactly one."""

    TYPE = MessageType.BLOCK_REQUEST
    SHAPE = _record(hashes=ListOf(_HASH, MAX_BLOCKS_PER_MESSAGE, "hashes"), start=Uint(8),
                    count=Uint(2))
    hashes: tuple[bytes, ...] = ()
    start: int = 0
    count: int = 0

    def __post_init__(self) -> None:
        if bool(self.hashes) == bool(self.count):
            raise LocalProtocolError("a block request asks by hashes or by a range, not both")
        _check_count("BLOCK_REQUEST.hashes", self.hashes, MAX_BLOCKS_PER_MESSAGE)
        if self.count > MAX_BLOCK_RANGE:
            raise LocalProtocolError(f"BLOCK_REQUEST.count {self.count} over {MAX_BLOCK_RANGE}")

    def to_rlp(self) -> list[Any]:
        return [list(self.hashes), encode_uint(self.start), encode_uint(self.count)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> BlockRequest:
        hashes = _hashes(items[0], "BLOCK_REQUEST.hashes", MAX_BLOCKS_PER_MESSAGE)
        start = read_uint(items[1], "BLOCK_REQUEST.start", 8)
        count = read_uint(items[2], "BLOCK_REQUEST.count", 2)
        if bool(hashes) == bool(count):
            raise MalformedMessage("BLOCK_REQUEST must ask by hashes or by range, not both")
        if count > MAX_BLOCK_RANGE:
            raise MalformedMessage(f"BLOCK_REQUEST.count {count} over {MAX_BLOCK_RANGE}")
        return cls(hashes, start, count)


@dataclass(frozen=True)
class BlockSubmit(Message):
    """Encoded blocks: a new block pushed unasked (request id 0) or a BLOCK_REQUEST answer."""

    TYPE = MessageType.BLOCK_SUBMIT
    SHAPE = _record(blocks=ListOf(Bytes(MAX_BLOCK_BYTES), MAX_BLOCKS_PER_MESSAGE, "blocks"))
    blocks: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_count("BLOCK_SUBMIT.blocks", self.blocks, MAX_BLOCKS_PER_MESSAGE)


    def to_rlp(self) -> list[Any]:
        return [list(self.blocks)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> BlockSubmit:
        return cls(_blobs(items[0], "BLOCK_SUBMIT.blocks", MAX_BLOCKS_PER_MESSAGE,
                          MAX_BLOCK_BYTES))


@dataclass(frozen=True)
class GetHeaders(Message):
    """Headers after the first locator hash on the responder's best chain (Bitcoin-style)."""

    TYPE = MessageType.GET_HEADERS
    SHAPE = _record(locator=ListOf(_HASH, MAX_LOCATOR_HASHES, "hashes"), max_count=Uint(4))
    locator: tuple[bytes, ...]
    max_count: int

    def __post_init__(self) -> None:
        _check_count("GET_HEADERS.locator", self.locator, MAX_LOCATOR_HASHES)


    def to_rlp(self) -> list[Any]:
        return [list(self.locator), encode_uint(self.max_count)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> GetHeaders:
        locator = _hashes(items[0], "GET_HEADERS.locator", MAX_LOCATOR_HASHES)
        count = read_uint(items[1], "GET_HEADERS.max_count", 4)
        if not 0 < count <= MAX_HEADERS_PER_MESSAGE:
            raise MalformedMessage(
                f"GET_HEADERS.max_count {count} not in 1..{MAX_HEADERS_PER_MESSAGE}")
        return cls(locator, count)


@dataclass(frozen=True)
class Headers(Message):
    """Encoded headers in height order, each with its encoded work proof (``proofs[i]`` belongs
    to ``headers[i]``), so the receiver checks every header's work before believing it."""

    TYPE = MessageType.HEADERS
    SHAPE = _record(headers=ListOf(Bytes(MAX_HEADER_BYTES), MAX_HEADERS_PER_MESSAGE,
                                    "headers"),
                    proofs=ListOf(Bytes(MAX_HEADER_PROOF_BYTES), MAX_HEADERS_PER_MESSAGE,
                                  "proofs"))
    headers: tuple[bytes, ...]
    proofs: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        _check_count("HEADERS.headers", self.headers, MAX_HEADERS_PER_MESSAGE)
        if len(self.proofs) != len(self.headers):
            raise LocalProtocolError(f"HEADERS has {len(self.headers)} headers but "
                                     f"{len(self.proofs)} proofs")

    def to_rlp(self) -> list[Any]:
        return [list(self.headers), list(self.proofs)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> Headers:
        headers = _blobs(items[0], "HEADERS.headers", MAX_HEADERS_PER_MESSAGE, MAX_HEADER_BYTES)
        proofs = _blobs(items[1], "HEADERS.proofs", MAX_HEADERS_PER_MESSAGE,
                        MAX_HEADER_PROOF_BYTES)
        if len(proofs) != len(headers):
            raise MalformedMessage(f"HEADERS has {len(headers)} headers but {len(proofs)} "
                                   "proofs")
        return cls(headers, proofs)


@dataclass(frozen=True)
class StatusRequest(Message):
    TYPE = MessageType.STATUS_REQUEST


@dataclass(frozen=True)
class StatusResponse(Message):
    """The responder's height, tip, cumulative work and number of connected peers."""

    TYPE = MessageType.STATUS_RESPONSE
    SHAPE = _record(height=Uint(8), tip=_HASH, work=Uint(), peer_count=Uint(4))
    height: int
    tip: bytes
    work: int
    peer_count: int

    def to_rlp(self) -> list[Any]:
        return [encode_uint(self.height), self.tip, encode_uint(self.work),
                encode_uint(self.peer_count)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> StatusResponse:
        return cls(read_uint(items[0], "STATUS_RESPONSE.height", 8),
                   read_fixed(items[1], "STATUS_RESPONSE.tip", HASH_SIZE),
                   read_uint(items[2], "STATUS_RESPONSE.work"),
                   read_uint(items[3], "STATUS_RESPONSE.peer_count", 4))


@dataclass(frozen=True)
class StatsRequest(Message):
    TYPE = MessageType.STATS_REQUEST


@dataclass(frozen=True)
class StatsResponse(Message):
    """Mining statistics as a small map of names to integers or short texts."""

    TYPE = MessageType.STATS_RESPONSE
    SHAPE = _record(stats=ListOf(
        _record(key=Bytes(MAX_STAT_KEY_BYTES), kind=Bytes(1), value=Bytes(MAX_STAT_TEXT_BYTES)),
        MAX_STATS_ENTRIES, "entries"))
    stats: dict[str, int | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_count("STATS_RESPONSE.stats", self.stats, MAX_STATS_ENTRIES)


    def to_rlp(self) -> list[Any]:
        entries = []
        for key in sorted(self.stats):
            value = self.stats[key]
            if isinstance(value, int):
                entries.append([key.encode(), b"i", encode_uint(value)])
            else:
                entries.append([key.encode(), b"s", value.encode()])
        return [entries]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> StatsResponse:
        stats: dict[str, int | str] = {}
        for i, entry in enumerate(read_list(items[0], "STATS_RESPONSE.stats", MAX_STATS_ENTRIES)):
            what = f"STATS_RESPONSE.stats[{i}]"
            entry = read_list(entry, what, 3)
            if len(entry) != 3:
                raise MalformedMessage(f"{what} must have 3 fields")
            key = read_text(entry[0], f"{what}.key", MAX_STAT_KEY_BYTES)
            if key in stats:
                raise MalformedMessage(f"{what}.key {key!r} repeated")
            kind = read_bytes(entry[1], f"{what}.kind", 1)
            if kind == b"i":
                stats[key] = read_uint(entry[2], f"{what}.value")
            elif kind == b"s":
                stats[key] = read_text(entry[2], f"{what}.value", MAX_STAT_TEXT_BYTES)
            else:
                raise MalformedMessage(f"{what}.kind must be b'i' or b's', got {kind!r}")
        return cls(stats)


@dataclass(frozen=True)
class PeersRequest(Message):
    TYPE = MessageType.PEERS_REQUEST


@dataclass(frozen=True)
class PeerAddress:
    """A peer known to the sender: its node id and where it listens."""

    node_id: bytes
    host: str
    port: int


@dataclass(frozen=True)
class Peers(Message):
    TYPE = MessageType.PEERS
    SHAPE = _record(peers=ListOf(
        _record(node_id=Bytes(NODE_ID_SIZE, NODE_ID_SIZE), host=Bytes(MAX_HOST_BYTES),
                port=Uint(2)),
        MAX_PEERS_PER_MESSAGE, "peers"))
    peers: tuple[PeerAddress, ...]

    def __post_init__(self) -> None:
        _check_count("PEERS.peers", self.peers, MAX_PEERS_PER_MESSAGE)


    def to_rlp(self) -> list[Any]:
        return [[[p.node_id, p.host.encode(), encode_uint(p.port)] for p in self.peers]]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> Peers:
        peers = []
        for i, entry in enumerate(read_list(items[0], "PEERS.peers", MAX_PEERS_PER_MESSAGE)):
            what = f"PEERS.peers[{i}]"
            entry = read_list(entry, what, 3)
            if len(entry) != 3:
                raise MalformedMessage(f"{what} must have 3 fields")
            peers.append(PeerAddress(read_fixed(entry[0], f"{what}.node_id", NODE_ID_SIZE),
                                     read_text(entry[1], f"{what}.host", MAX_HOST_BYTES),
                                     read_uint(entry[2], f"{what}.port", 2)))
        return cls(tuple(peers))


@dataclass(frozen=True)
class _Reason(Message):
    """A reason code and its text: the payload of ERROR and DISCONNECT."""

    SHAPE = _REASON
    code: int
    reason: str

    def to_rlp(self) -> list[Any]:
        return [encode_uint(self.code), self.reason.encode()[:MAX_REASON_BYTES]]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> Self:
        return cls(read_uint(items[0], f"{cls.TYPE.name}.code", 2),
                   read_text(items[1], f"{cls.TYPE.name}.reason", MAX_REASON_BYTES))


@dataclass(frozen=True)
class Error(_Reason):
    """A refused request (the request id says which), with a reason code and text."""

    TYPE = MessageType.ERROR


@dataclass(frozen=True)
class Disconnect(_Reason):
    """The last message on a connection: why the sender is leaving."""

    TYPE = MessageType.DISCONNECT


@dataclass(frozen=True)
class TxRequest(Message):
    """Raw transactions by hash (after a GOSSIP announced them)."""

    TYPE = MessageType.TX_REQUEST
    SHAPE = _record(hashes=ListOf(_HASH, MAX_TRANSACTIONS_PER_MESSAGE, "hashes"))
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_count("TX_REQUEST.hashes", self.hashes, MAX_TRANSACTIONS_PER_MESSAGE)

    def to_rlp(self) -> list[Any]:
        return [list(self.hashes)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> TxRequest:
        return cls(_hashes(items[0], "TX_REQUEST.hashes", MAX_TRANSACTIONS_PER_MESSAGE))


@dataclass(frozen=True)
class Transactions(Message):
    """Raw transactions: a TX_REQUEST answer, or pushed unasked (request id 0)."""

    TYPE = MessageType.TRANSACTIONS
    SHAPE = _record(transactions=ListOf(Bytes(MAX_TRANSACTION_BYTES),
                                         MAX_TRANSACTIONS_PER_MESSAGE, "transactions"))
    transactions: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_count("TRANSACTIONS.transactions", self.transactions,
                     MAX_TRANSACTIONS_PER_MESSAGE)

    def to_rlp(self) -> list[Any]:
        return [list(self.transactions)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> Transactions:
        return cls(_blobs(items[0], "TRANSACTIONS.transactions", MAX_TRANSACTIONS_PER_MESSAGE,
                          MAX_TRANSACTION_BYTES))


@dataclass(frozen=True)
class CapabilityRecord(Message):
    """The sender's signed capability record (always pushed, request id 0): opaque bytes here,
    checked by the node (signature, signer, chain) before it is stored."""

    TYPE = MessageType.CAPABILITY
    SHAPE = _record(record=Bytes(MAX_CAPABILITY_BYTES))
    record: bytes

    def __post_init__(self) -> None:
        if len(self.record) > MAX_CAPABILITY_BYTES:
            raise LocalProtocolError(f"CAPABILITY.record of {len(self.record)} bytes is over "
                                     f"{MAX_CAPABILITY_BYTES}")

    def to_rlp(self) -> list[Any]:
        return [self.record]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> CapabilityRecord:
        return cls(read_bytes(items[0], "CAPABILITY.record", MAX_CAPABILITY_BYTES))


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

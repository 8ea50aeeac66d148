"""Messages a node answers about itself: its status, mining statistics, peers and capability.

Each request is empty; each answer is a small record or a bounded list of them (stats entries,
peer addresses), read field by field within its limits. The capability record is opaque bytes
here; the node checks its signature before storing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from poqw.encoding.rlp import Bytes, ListOf, Uint
from poqw.errors import LocalProtocolError, MalformedMessage
from poqw.p2p.codec import encode_uint, read_bytes, read_fixed, read_list, read_text, read_uint
from poqw.p2p.messages_base import HASH_SHAPE, Message, check_count, record
from poqw.p2p.messages_limits import (
    HASH_SIZE,
    MAX_CAPABILITY_BYTES,
    MAX_HOST_BYTES,
    MAX_PEERS_PER_MESSAGE,
    MAX_STAT_KEY_BYTES,
    MAX_STAT_TEXT_BYTES,
    MAX_STATS_ENTRIES,
    NODE_ID_SIZE,
    MessageType,
)

__all__ = ["CapabilityRecord", "PeerAddress", "Peers", "PeersRequest", "StatsRequest",
           "StatsResponse", "StatusRequest", "StatusResponse"]


@dataclass(frozen=True)
class StatusRequest(Message):
    TYPE = MessageType.STATUS_REQUEST


@dataclass(frozen=True)
class StatusResponse(Message):
    """The responder's height, tip, cumulative work and number of connected peers."""

    TYPE = MessageType.STATUS_RESPONSE
    SHAPE = record(height=Uint(8), tip=HASH_SHAPE, work=Uint(), peer_count=Uint(4))
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
    SHAPE = record(stats=ListOf(
        record(key=Bytes(MAX_STAT_KEY_BYTES), kind=Bytes(1), value=Bytes(MAX_STAT_TEXT_BYTES)),
        MAX_STATS_ENTRIES, "entries"))
    stats: dict[str, int | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_count("STATS_RESPONSE.stats", self.stats, MAX_STATS_ENTRIES)


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
    SHAPE = record(peers=ListOf(
        record(node_id=Bytes(NODE_ID_SIZE, NODE_ID_SIZE), host=Bytes(MAX_HOST_BYTES),
                port=Uint(2)),
        MAX_PEERS_PER_MESSAGE, "peers"))
    peers: tuple[PeerAddress, ...]

    def __post_init__(self) -> None:
        check_count("PEERS.peers", self.peers, MAX_PEERS_PER_MESSAGE)


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
class CapabilityRecord(Message):
    """The sender's signed capability record (always pushed, request id 0): opaque bytes here,
    checked by the node (signature, signer, chain) before it is stored."""

    TYPE = MessageType.CAPABILITY
    SHAPE = record(record=Bytes(MAX_CAPABILITY_BYTES))
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

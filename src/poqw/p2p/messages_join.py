"""Messages that open, keep and end a session: the join handshake, heartbeats, errors, goodbyes.

A joining node introduces itself with a :class:`Hello` (identity, chain, tip, where it listens);
the handshake's signatures bind its key to its TLS certificate and the peer's nonce. Heartbeats
carry the sender's tip; ERROR and DISCONNECT carry a reason code and text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from poqw.encoding.rlp import Bytes, Uint
from poqw.errors import MalformedMessage
from poqw.p2p.codec import encode_uint, read_fixed, read_list, read_text, read_uint
from poqw.p2p.messages_base import HASH_SHAPE, SIGNATURE_SHAPE, Message, record
from poqw.p2p.messages_limits import (
    HASH_SIZE,
    MAX_AGENT_BYTES,
    MAX_HOST_BYTES,
    MAX_REASON_BYTES,
    NODE_ID_SIZE,
    NONCE_SIZE,
    SIGNATURE_SIZE,
    MessageType,
)

__all__ = ["Disconnect", "Error", "Heartbeat", "Hello", "JoinConfirm", "JoinRequest",
           "JoinResponse"]

_HELLO = record(node_id=Bytes(NODE_ID_SIZE, NODE_ID_SIZE), chain_id=Uint(8),
                genesis_hash=HASH_SHAPE, height=Uint(8), tip=HASH_SHAPE, work=Uint(),
                listen_host=Bytes(MAX_HOST_BYTES), listen_port=Uint(2),
                nonce=Bytes(NONCE_SIZE, NONCE_SIZE), agent=Bytes(MAX_AGENT_BYTES))
_REASON = record(code=Uint(2), reason=Bytes(MAX_REASON_BYTES))


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
    SHAPE = record(hello=_HELLO)
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
    SHAPE = record(hello=_HELLO, signature=SIGNATURE_SHAPE)
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
    SHAPE = record(signature=SIGNATURE_SHAPE)
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
    SHAPE = record(height=Uint(8), tip=HASH_SHAPE, work=Uint())
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

"""Message framing: a fixed 14-byte header, then the payload.

The header is ``magic (4) | version (1) | type (1) | request id (4) | payload length (4)``, all
big-endian. ``FrameDecoder`` accepts the byte stream in any chunking (one byte at a time is fine)
and checks magic, version, type and the type's payload limit as soon as the header is complete,
before buffering any payload, so an oversize message costs the receiver nothing. Until the join
handshake completes only the join messages (and DISCONNECT), with their small limits, are
accepted: an unauthenticated peer cannot make us buffer or decode a large message.

Framing and decoding are separate steps: ``next_raw`` only cuts the next payload out of the
stream (cheap: one copy), and ``decode_raw`` turns it into a message (linear in its size, but a
few milliseconds for the largest), so a transport can decode big payloads off its event loop.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from poqw.errors import (
    LocalProtocolError,
    RemoteProtocolError,
    UnsupportedVersion,
)
from poqw.p2p.messages import MAX_PAYLOAD, Message, MessageType, decode_message

__all__ = [
    "CHAIN_FRAMES",
    "HEADER_SIZE",
    "MAGIC",
    "PROTOCOL_VERSION",
    "Frame",
    "FrameDecoder",
    "FrameSchema",
    "RawFrame",
    "decode_raw",
    "encode_frame",
    "encode_payload",
]

MAGIC = b"PoQW"
PROTOCOL_VERSION = 1
MAX_REQUEST_ID = 2**32 - 1
_HEADER = struct.Struct(">4sBBII")
HEADER_SIZE = _HEADER.size
# What an unauthenticated peer may send: the handshake and a goodbye, each a few hundred bytes.
PRE_JOIN_TYPES = frozenset({MessageType.JOIN_REQUEST, MessageType.JOIN_RESPONSE,
                            MessageType.JOIN_CONFIRM, MessageType.DISCONNECT})


@dataclass(frozen=True)
class FrameSchema:
    """What one protocol's frames may be: its magic, version, message-type enum, per-type
    payload limits and the types accepted before its handshake. The chain protocol is
    ``CHAIN_FRAMES``; the layer-2 compute protocol (:mod:`poqw.compute.wire`) has its own."""

    magic: bytes
    version: int
    types: Callable[[int], Any]
    limits: Mapping[Any, int]
    pre_join: frozenset[Any]


CHAIN_FRAMES = FrameSchema(MAGIC, PROTOCOL_VERSION, MessageType, MAX_PAYLOAD, PRE_JOIN_TYPES)


@dataclass(frozen=True)
class Frame:
    """One decoded message with the request id it travelled under (0: not a request/answer)."""

    request_id: int
    message: Message
    size: int  # bytes on the wire, header included


@dataclass(frozen=True)
class RawFrame:
    """One framed payload, cut out of the stream but not decoded yet (see ``decode_raw``)."""

    message_type: MessageType
    request_id: int
    payload: bytes = field(repr=False)

    @property
    def size(self) -> int:
        """Bytes on the wire, header included."""
        return HEADER_SIZE + len(self.payload)


def decode_raw(raw: RawFrame) -> Frame:
    """The message in ``raw`` (raises ``MalformedMessage`` only). Pure: safe on any thread."""
    return Frame(raw.request_id, decode_message(raw.message_type, raw.payload), raw.size)


def encode_frame(message: Message, request_id: int = 0) -> bytes:
    """Header + payload of ``message``; refuses to send what the peer would refuse to read."""
    if not 0 <= request_id <= MAX_REQUEST_ID:
        raise LocalProtocolError(f"request id {request_id} out of range")
    return encode_payload(message.TYPE, message.encode(), request_id)


def encode_payload(message_type: Any, payload: bytes, request_id: int = 0,
                   schema: FrameSchema = CHAIN_FRAMES) -> bytes:
    """Header + ``payload`` as a ``message_type`` frame of ``schema``'s protocol."""
    if not 0 <= request_id <= MAX_REQUEST_ID:
        raise LocalProtocolError(f"request id {request_id} out of range")
    limit = schema.limits[message_type]
    if len(payload) > limit:
        raise LocalProtocolError(
            f"{message_type.name} payload is {len(payload)} bytes, over the limit of {limit}")
    return _HEADER.pack(schema.magic, schema.version, message_type, request_id,
                        len(payload)) + payload


class FrameDecoder:
    """Incremental decoder: ``feed`` bytes, then ``next_frame`` until it returns ``None``.

    A ``MalformedMessage`` (bad payload in a well-formed frame) leaves the stream usable. After
    any other ``RemoteProtocolError`` (bad magic, version, type or length) the stream cannot be
    resynchronised: the decoder stays broken and every further call raises the same error.
    With ``joined=False`` only ``PRE_JOIN_TYPES`` are accepted until :meth:`join` is called.
    """

    def __init__(self, *, joined: bool = True, schema: FrameSchema = CHAIN_FRAMES) -> None:
        self.schema = schema
        self._buffer = bytearray()
        self._header: tuple[MessageType, int, int] | None = None
        self._error: RemoteProtocolError | None = None
        self._joined = joined

    def join(self) -> None:
        """The handshake completed: from the next frame on, every message type is accepted."""
        self._joined = True

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._buffer += data

    def next_frame(self) -> Frame | None:
        """The next complete frame, decoded, or ``None`` if more bytes are needed. A
        ``MalformedMessage`` consumes its frame whole: the stream is still in step."""
        raw = self.next_raw()
        return None if raw is None else decode_raw(raw)

    def next_raw(self) -> RawFrame | None:
        """The next complete frame's payload, not decoded, or ``None`` if more bytes are
        needed. Raises ``RemoteProtocolError`` (for good) on a bad header."""
        if self._error is not None:
            raise self._error
        try:
            return self._next_raw()
        except RemoteProtocolError as exc:
            self._error = exc
            raise

    def _next_raw(self) -> RawFrame | None:
        if self._header is None:
            if len(self._buffer) < HEADER_SIZE:
                self._check_magic_prefix()
                return None
            self._header = parse_header(bytes(self._buffer[:HEADER_SIZE]), self._joined,
                                        self.schema)
            del self._buffer[:HEADER_SIZE]
        message_type, request_id, length = self._header
        if len(self._buffer) < length:
            return None
        with memoryview(self._buffer) as view:
            payload = bytes(view[:length])  # one copy (a bytearray slice would make two)
        del self._buffer[:length]
        self._header = None
        return RawFrame(message_type, request_id, payload)

    def _check_magic_prefix(self) -> None:
        # Fail on the first wrong byte rather than waiting for a full header of garbage.
        magic = self.schema.magic
        prefix = bytes(self._buffer[: len(magic)])
        if not magic.startswith(prefix):
            raise RemoteProtocolError(f"bad magic {prefix.hex()}, expected {magic.hex()}")


def parse_header(header: bytes, joined: bool = True,
                 schema: FrameSchema = CHAIN_FRAMES) -> tuple[MessageType, int, int]:
    """(type, request id, payload length) from 14 header bytes, checking every field
    (and, before the join, that the type is one of ``PRE_JOIN_TYPES``)."""
    magic, version, type_code, request_id, length = _HEADER.unpack(header)
    if magic != schema.magic:
        raise RemoteProtocolError(f"bad magic {magic.hex()}, expected {schema.magic.hex()}")
    if version != schema.version:
        raise UnsupportedVersion(
            f"unsupported protocol version {version}, this node speaks {schema.version}")
    try:
        message_type = schema.types(type_code)
    except ValueError:
        raise RemoteProtocolError(f"unknown message type {type_code}") from None
    if not joined and message_type not in schema.pre_join:
        raise RemoteProtocolError(
            f"{message_type.name} (payload length {length}) before the handshake finished")
    limit = schema.limits[message_type]
    if length > limit:
        raise RemoteProtocolError(
            f"{message_type.name} payload length {length} is over the limit of {limit}")
    return message_type, request_id, length

"""Canonical RLP for peer messages, and strict readers for the fields inside.

Payloads are read by :mod:`poqw.encoding.rlp` against each message's declared shape: only the
canonical encoding is accepted, and every count and length is checked as the bytes are walked,
before anything is built, in time linear in the payload. Each field reader checks kind and
length before use and raises ``MalformedMessage`` naming the message and field: only a peer
sends them.
"""

from __future__ import annotations

from typing import Any

from poqw.encoding import rlp
from poqw.errors import DecodeError, MalformedMessage

__all__ = [
    "decode_payload",
    "encode_uint",
    "read_bytes",
    "read_fixed",
    "read_list",
    "read_text",
    "read_uint",
    "rlp_decode",
    "rlp_encode",
]

MAX_UINT_BYTES = 32
MAX_DEPTH = 8

RlpItem = bytes | list[Any]


def encode_uint(value: int) -> bytes:
    """Big-endian with no leading zero byte (zero is the empty string), as RLP expects."""
    if value < 0:
        raise ValueError(f"cannot encode negative integer {value}")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def rlp_encode(item: RlpItem) -> bytes:
    """The RLP encoding of a byte string or a (nested) list of them."""
    return rlp.encode(item)


def rlp_decode(data: bytes) -> RlpItem:
    """The item ``data`` canonically encodes (at most ``MAX_DEPTH`` lists deep); anything else
    raises ``MalformedMessage``."""
    try:
        item: RlpItem = rlp.decode(data, rlp.Item(MAX_DEPTH), "")
    except DecodeError as exc:
        raise MalformedMessage(str(exc)) from None
    return item


def decode_payload(data: bytes, what: str, shape: rlp.Shape) -> list[Any]:
    """The top-level RLP list of a message, read against the message's declared shape, so
    every count and length is checked before the part it bounds is built."""
    try:
        items: list[Any] = rlp.decode(data, shape, what)
    except DecodeError as exc:
        raise MalformedMessage(str(exc)) from None
    return items


def read_bytes(item: Any, what: str, max_len: int) -> bytes:
    if not isinstance(item, bytes):
        raise MalformedMessage(f"{what} must be a byte string, got a list")
    if len(item) > max_len:
        raise MalformedMessage(f"{what} is {len(item)} bytes, over the limit of {max_len}")
    return item


def read_fixed(item: Any, what: str, length: int) -> bytes:
    data = read_bytes(item, what, length)
    if len(data) != length:
        raise MalformedMessage(f"{what} must be {length} bytes, got {len(data)}")
    return data


def read_uint(item: Any, what: str, max_bytes: int = MAX_UINT_BYTES) -> int:
    data = read_bytes(item, what, max_bytes)
    if data[:1] == b"\x00":
        raise MalformedMessage(f"{what} has a leading zero byte (non-canonical integer)")
    return int.from_bytes(data, "big")


def read_text(item: Any, what: str, max_len: int) -> str:
    data = read_bytes(item, what, max_len)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"{what} is not UTF-8") from exc


def read_list(item: Any, what: str, max_items: int) -> list[Any]:
    if not isinstance(item, list):
        raise MalformedMessage(f"{what} must be a list, got a byte string")
    if len(item) > max_items:
        raise MalformedMessage(f"{what} has {len(item)} items, over the limit of {max_items}")
    return item

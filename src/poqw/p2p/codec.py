"""Canonical RLP for peer messages, and strict readers for the fields inside.

``rlp_encode``/``rlp_decode`` implement Ethereum's Recursive Length Prefix (Yellow Paper,
appendix B) over nested lists of byte strings. The decoder accepts only the canonical encoding
(shortest length prefixes, single bytes below 0x80 as themselves, no trailing bytes, bounded
nesting), so every payload has exactly one encoding. Each field reader checks kind and length
before use and raises ``MalformedMessage`` naming the message and field: only a peer sends them.
"""

from __future__ import annotations

from typing import Any

from poqw.errors import MalformedMessage

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


def _prefix(length: int, short: int) -> bytes:
    if length <= 55:
        return bytes([short + length])
    size = encode_uint(length)
    return bytes([short + 55 + len(size)]) + size


def rlp_encode(item: RlpItem) -> bytes:
    """The RLP encoding of a byte string or a (nested) list of them."""
    if isinstance(item, bytes | bytearray):
        if len(item) == 1 and item[0] < 0x80:
            return bytes(item)
        return _prefix(len(item), 0x80) + bytes(item)
    if isinstance(item, list | tuple):
        body = b"".join(rlp_encode(x) for x in item)
        return _prefix(len(body), 0xC0) + body
    raise TypeError(f"RLP encodes bytes and lists, not {type(item).__name__}")


def _length(data: bytes, pos: int, size: int, end: int) -> int:
    if pos + size > end:
        raise MalformedMessage("RLP length runs past the end of the data")
    if data[pos] == 0:
        raise MalformedMessage("RLP length has a leading zero byte")
    length = int.from_bytes(data[pos:pos + size], "big")
    if length <= 55:
        raise MalformedMessage("RLP long form used for a short item")
    return length


def _decode_at(data: bytes, pos: int, end: int, depth: int) -> tuple[RlpItem, int]:
    if pos >= end:
        raise MalformedMessage("RLP item is truncated")
    first = data[pos]
    if first < 0x80:
        return data[pos:pos + 1], pos + 1
    if first < 0xC0:
        if first <= 0xB7:
            length, start = first - 0x80, pos + 1
        else:
            size = first - 0xB7
            length, start = _length(data, pos + 1, size, end), pos + 1 + size
        if start + length > end:
            raise MalformedMessage("RLP string runs past the end of the data")
        if length == 1 and data[start] < 0x80:
            raise MalformedMessage("RLP single byte below 0x80 must encode as itself")
        return data[start:start + length], start + length
    if depth >= MAX_DEPTH:
        raise MalformedMessage(f"RLP nesting deeper than {MAX_DEPTH}")
    if first <= 0xF7:
        length, start = first - 0xC0, pos + 1
    else:
        size = first - 0xF7
        length, start = _length(data, pos + 1, size, end), pos + 1 + size
    stop = start + length
    if stop > end:
        raise MalformedMessage("RLP list runs past the end of the data")
    items: list[Any] = []
    while start < stop:
        item, start = _decode_at(data, start, stop, depth + 1)
        items.append(item)
    return items, stop


def rlp_decode(data: bytes) -> RlpItem:
    """The item ``data`` canonically encodes; anything else raises ``MalformedMessage``."""
    item, pos = _decode_at(data, 0, len(data), 0)
    if pos != len(data):
        raise MalformedMessage(f"{len(data) - pos} bytes after the RLP item")
    return item


def decode_payload(data: bytes, what: str, fields: int) -> list[Any]:
    """The top-level RLP list of ``fields`` items."""
    try:
        items = rlp_decode(data)
    except MalformedMessage as exc:
        raise MalformedMessage(f"{what}: payload is not canonical RLP ({exc})") from exc
    if not isinstance(items, list):
        raise MalformedMessage(f"{what}: payload must be an RLP list")
    if len(items) != fields:
        raise MalformedMessage(f"{what}: expected {fields} fields, got {len(items)}")
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

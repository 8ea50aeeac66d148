"""A bounded, linear-time RLP reader that decodes against a declared shape.

A shape says what the bytes must hold: a byte string of bounded length (``Bytes``), a canonical
unsigned integer (``Uint``), a list of at most ``n`` items of one shape (``ListOf``), a record of
named fields (``Fields``), an item kept encoded for a later, separate decode (``Raw``), or any
item up to a nesting depth (``Item``). The reader walks the input once and checks every count and
length against the shape *before* it builds the item, so a peer's bytes cost time and memory in
proportion to what the shape allows, never more; only the canonical encoding (Yellow Paper,
appendix B) is accepted, and every failure is a :class:`~poqw.errors.DecodeError` naming the
offending position, e.g. ``block.transactions[7]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from poqw.errors import DecodeError

__all__ = [
    "Bytes",
    "Fields",
    "Item",
    "ListOf",
    "Raw",
    "RlpItem",
    "Shape",
    "Uint",
    "count_items",
    "decode",
    "encode",
]

RlpItem = bytes | list[Any]


class Shape:
    """What an encoded item must be (see the module docstring)."""


@dataclass(frozen=True)
class Bytes(Shape):
    """A byte string of ``min_len`` to ``max_len`` bytes."""

    max_len: int
    min_len: int = 0


@dataclass(frozen=True)
class Uint(Shape):
    """A canonical big-endian unsigned integer (no leading zero byte) of at most ``max_bytes``;
    decodes to its bytes, which the caller turns into an ``int``."""

    max_bytes: int = 32


@dataclass(frozen=True)
class ListOf(Shape):
    """A list of at most ``max_items`` items, each of shape ``item``."""

    item: Shape
    max_items: int
    label: str = "items"  # what the error says the list has too many of


@dataclass(frozen=True)
class Fields(Shape):
    """A list of exactly ``len(fields)`` items, each named and shaped."""

    fields: tuple[tuple[str, Shape], ...]


@dataclass(frozen=True)
class Raw(Shape):
    """Any item of at most ``max_bytes`` encoded bytes, returned still encoded (checked only
    for its outer prefix), so its owner can decode it with its own shape and messages."""

    max_bytes: int


@dataclass(frozen=True)
class Item(Shape):
    """Any byte string or list, nested at most ``max_depth`` lists deep."""

    max_depth: int


def encode(item: RlpItem) -> bytes:
    """The RLP encoding of a byte string or a (nested) list of them."""
    if isinstance(item, bytes | bytearray):
        if len(item) == 1 and item[0] < 0x80:
            return bytes(item)
        return _prefix(len(item), 0x80) + bytes(item)
    if isinstance(item, list | tuple):
        body = b"".join(encode(x) for x in item)
        return _prefix(len(body), 0xC0) + body
    raise TypeError(f"RLP encodes bytes and lists, not {type(item).__name__}")


def _prefix(length: int, short: int) -> bytes:
    if length <= 55:
        return bytes([short + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([short + 55 + len(size)]) + size


class _Failure(Exception):
    """Internal: a decode failure on its way up, collecting the path as it unwinds."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


def decode(data: bytes, shape: Shape, what: str) -> Any:
    """The item ``data`` canonically encodes, checked against ``shape`` as it is read.

    Raises :class:`DecodeError` naming ``what`` and the position of the first problem.
    """
    data = bytes(data)
    try:
        item, pos = _decode(data, 0, len(data), shape)
    except _Failure as exc:
        where = what + "".join(reversed(exc.path))
        glue = (" is not canonical RLP: " if exc.reason.startswith("RLP")
                else ": " if exc.reason.startswith("expected") else " ")
        raise DecodeError(f"{where}{glue}{exc.reason}" if where else exc.reason) from None
    if pos != len(data):
        raise DecodeError(f"{what} is not canonical RLP: {len(data) - pos} bytes after the RLP "
                          "item")
    return item


def count_items(data: bytes, cap: int) -> int:
    """How many items the encoded list ``data`` holds, counting no further than ``cap + 1``.

    Only item prefixes are read (nothing is built), so this is cheap even for a hostile list;
    a caller uses it to say how far over a limit a list is.
    """
    try:
        is_list, start, length = _header(data, 0, len(data))
        if not is_list:
            raise DecodeError("expected an RLP list, got a byte string")
        return _count(data, start, start + length, cap)
    except _Failure as exc:
        raise DecodeError(exc.reason) from None


def _count(data: bytes, pos: int, stop: int, cap: int) -> int:
    count = 0
    while pos < stop and count <= cap:
        _, item_start, item_length = _header(data, pos, stop)
        pos = item_start + item_length
        count += 1
    return count


def _header(data: bytes, pos: int, end: int) -> tuple[bool, int, int]:
    """(is a list, payload start, payload length) of the item at ``pos``; canonical only."""
    if pos >= end:
        raise _Failure("RLP item is truncated")
    first = data[pos]
    if first < 0x80:
        return False, pos, 1
    if first <= 0xB7:
        start, length = pos + 1, first - 0x80
        if length == 1 and start < end and data[start] < 0x80:
            raise _Failure("RLP single byte below 0x80 must encode as itself")
        is_list = False
    elif first < 0xC0:
        start, length = pos + 1 + first - 0xB7, _long_length(data, pos + 1, first - 0xB7, end)
        is_list = False
    elif first <= 0xF7:
        start, length, is_list = pos + 1, first - 0xC0, True
    else:
        start, length = pos + 1 + first - 0xF7, _long_length(data, pos + 1, first - 0xF7, end)
        is_list = True
    if start + length > end:
        kind = "list" if is_list else "string"
        raise _Failure(f"RLP {kind} runs past the end of the data")
    return is_list, start, length


def _long_length(data: bytes, pos: int, size: int, end: int) -> int:
    if pos + size > end:
        raise _Failure("RLP length runs past the end of the data")
    if data[pos] == 0:
        raise _Failure("RLP length has a leading zero byte")
    length = int.from_bytes(data[pos:pos + size], "big")
    if length <= 55:
        raise _Failure("RLP long form used for a short item")
    return length


def _decode(data: bytes, pos: int, end: int, shape: Shape) -> tuple[Any, int]:
    is_list, start, length = _header(data, pos, end)
    stop = start + length
    if isinstance(shape, Bytes):
        if is_list:
            raise _Failure("must be a byte string, got a list")
        if not shape.min_len <= length <= shape.max_len:
            if shape.min_len == shape.max_len:
                raise _Failure(f"must be {shape.max_len} bytes, got {length}")
            raise _Failure(f"is {length} bytes, outside the limits {shape.min_len}.."
                           f"{shape.max_len}")
        return data[start:stop], stop
    if isinstance(shape, Uint):
        if is_list:
            raise _Failure("must be an integer (a byte string), got a list")
        if length > shape.max_bytes:
            raise _Failure(f"is a {length}-byte integer, over the limit of {shape.max_bytes}")
        if length and data[start] == 0:
            raise _Failure("has a leading zero byte (non-canonical integer)")
        return data[start:stop], stop
    if isinstance(shape, Raw):
        if stop - pos > shape.max_bytes:
            raise _Failure(f"is {stop - pos} bytes, over the limit of {shape.max_bytes}")
        return data[pos:stop], stop
    if not is_list:
        if isinstance(shape, Item):
            return data[start:stop], stop
        raise _Failure("must be an RLP list, got a byte string")
    if isinstance(shape, Fields):
        return _decode_fields(data, start, stop, shape), stop
    if isinstance(shape, ListOf):
        return _decode_list(data, start, stop, shape.item, shape.max_items, shape.label), stop
    if isinstance(shape, Item):
        if shape.max_depth <= 0:
            raise _Failure("RLP nesting deeper than allowed")
        return _decode_list(data, start, stop, Item(shape.max_depth - 1), stop - start,
                            "items"), stop
    raise TypeError(f"unknown RLP shape {shape!r}")


def _decode_list(data: bytes, pos: int, stop: int, shape: Shape, max_items: int,
                 label: str) -> list[Any]:
    items: list[Any] = []
    short = isinstance(shape, Bytes)  # a list of hashes or blobs: the hot case, read inline
    low, high = (shape.min_len, shape.max_len) if isinstance(shape, Bytes) else (0, 0)
    while pos < stop:
        if len(items) >= max_items:
            cap = 4 * max_items + 1024
            over = _count(data, pos, stop, cap)
            shown = f"{len(items) + over}" if over <= cap else f"more than {len(items) + cap}"
            raise _Failure(f"has {shown} {label}, over the limit of {max_items}")
        if short and 0x81 < data[pos] < 0xC0:  # a string of 2 bytes or more, read inline;
            start, length = _string_at(data, pos, stop)  # anything unusual takes the long way
            end = start + length
            if length >= 0 and end <= stop and low <= length <= high:
                items.append(data[start:end])
                pos = end
                continue
        try:
            item, pos = _decode(data, pos, stop, shape)
        except _Failure as exc:
            exc.path.append(f"[{len(items)}]")
            raise
        items.append(item)
    return items


def _string_at(data: bytes, pos: int, stop: int) -> tuple[int, int]:
    """(start, length) of the canonical string whose prefix (0x82..0xBF) is at ``pos``, or a
    length of -1 when it is not plainly canonical (the general reader then says why)."""
    first = data[pos]
    if first <= 0xB7:
        return pos + 1, first - 0x80
    start = pos + 1 + first - 0xB7
    if start > stop or data[pos + 1] == 0:
        return start, -1
    length = int.from_bytes(data[pos + 1:start], "big")
    return start, length if length > 55 else -1


def _decode_fields(data: bytes, pos: int, stop: int, shape: Fields) -> list[Any]:
    items: list[Any] = []
    expected = len(shape.fields)
    while pos < stop:
        if len(items) >= expected:
            got = len(items) + _count(data, pos, stop, 1024)
            raise _Failure(f"expected {expected} fields, got {got}")
        name, field_shape = shape.fields[len(items)]
        try:
            item, pos = _decode(data, pos, stop, field_shape)
        except _Failure as exc:
            exc.path.append(f".{name}")
            raise
        items.append(item)
    if len(items) != expected:
        raise _Failure(f"expected {expected} fields, got {len(items)}")
    return items

"""The base of every peer message and the field shapes and readers the message types share.

A message declares its payload as a ``SHAPE`` (checked while the payload is read, before the item
it bounds is built) and converts itself to and from RLP items; the helpers here read lists of
hashes and byte strings within their limits and refuse to build a message over them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from poqw.encoding.rlp import Bytes, Fields, Shape
from poqw.errors import LocalProtocolError
from poqw.p2p.codec import read_bytes, read_fixed, read_list, rlp_encode
from poqw.p2p.messages_limits import HASH_SIZE, SIGNATURE_SIZE, MessageType

__all__ = [
    "HASH_SHAPE",
    "SIGNATURE_SHAPE",
    "Message",
    "check_count",
    "read_blobs",
    "read_hashes",
    "record",
]

HASH_SHAPE = Bytes(HASH_SIZE, HASH_SIZE)
SIGNATURE_SHAPE = Bytes(SIGNATURE_SIZE, SIGNATURE_SIZE)


def record(**fields: Shape) -> Fields:
    """The shape of an RLP list of named fields, in declaration order."""
    return Fields(tuple(fields.items()))


def check_count(what: str, items: tuple[Any, ...] | dict[str, Any], max_items: int) -> None:
    """Refuse to build a message the peer would refuse to read (a bug on our side)."""
    if len(items) > max_items:
        raise LocalProtocolError(f"{what} has {len(items)} items, over the limit of {max_items}")


def read_hashes(items: Any, what: str, max_items: int) -> tuple[bytes, ...]:
    return tuple(
        read_fixed(h, f"{what}[{i}]", HASH_SIZE)
        for i, h in enumerate(read_list(items, what, max_items))
    )


def read_blobs(items: Any, what: str, max_items: int, max_len: int) -> tuple[bytes, ...]:
    return tuple(
        read_bytes(b, f"{what}[{i}]", max_len)
        for i, b in enumerate(read_list(items, what, max_items))
    )


class Message:
    """Base of every message: ``TYPE`` names its wire code; ``to_rlp`` gives the payload items."""

    TYPE: ClassVar[MessageType]
    SHAPE: ClassVar[Fields] = record()  # what the payload must be, checked while reading it

    def to_rlp(self) -> list[Any]:
        return []

    def encode(self) -> bytes:
        return rlp_encode(self.to_rlp())

    @classmethod
    def from_rlp(cls, items: list[Any]) -> Message:
        return cls()

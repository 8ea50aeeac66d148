"""Sized types for consensus values: byte strings of a fixed length and bounded integers.

Each type is a subclass of ``bytes`` or ``int`` whose constructor checks the size, so a header
cannot hold a 19-byte address or a negative height. They behave like the built-in values
everywhere else (hashing, comparison, arithmetic returns plain ``int``).
"""

from __future__ import annotations

from typing import ClassVar, SupportsIndex

from poqw.errors import DecodeError

__all__ = [
    "I64",
    "U64",
    "U256",
    "ZERO_HASH",
    "Address",
    "Amount",
    "Bytes32",
    "Hash32",
    "Height",
]


class _FixedBytes(bytes):
    """Bytes of exactly ``LENGTH`` bytes."""

    LENGTH: ClassVar[int] = 0

    def __new__(cls, value: bytes | bytearray | memoryview = b"") -> _FixedBytes:
        data = bytes(value)
        if len(data) != cls.LENGTH:
            raise DecodeError(f"{cls.__name__} must be {cls.LENGTH} bytes, got {len(data)}")
        return super().__new__(cls, data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(0x{self.hex()})"


class Hash32(_FixedBytes):
    """A 32-byte digest."""

    LENGTH = 32


class Bytes32(_FixedBytes):
    """32 opaque bytes (a salt)."""

    LENGTH = 32


class Address(_FixedBytes):
    """A 20-byte account address (Ethereum style)."""

    LENGTH = 20


class _BoundedInt(int):
    """An integer in ``[MIN, MAX]``."""

    MIN: ClassVar[int] = 0
    MAX: ClassVar[int] = 0

    def __new__(cls, value: SupportsIndex = 0) -> _BoundedInt:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise DecodeError(f"{cls.__name__} must be an integer, got {type(value).__name__}")
        v = value.__index__()
        if not cls.MIN <= v <= cls.MAX:
            raise DecodeError(f"{cls.__name__} must be in [{cls.MIN}, {cls.MAX}], got {v}")
        return super().__new__(cls, v)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"


class U64(_BoundedInt):
    """An unsigned 64-bit integer."""

    MAX = (1 << 64) - 1


class I64(_BoundedInt):
    """A signed 64-bit integer."""

    MIN = -(1 << 63)
    MAX = (1 << 63) - 1


class U256(_BoundedInt):
    """An unsigned 256-bit integer."""

    MAX = (1 << 256) - 1


class Height(U64):
    """A block number."""


class Amount(U256):
    """A token amount in the smallest unit (wei-like)."""


ZERO_HASH = Hash32(bytes(32))

"""Hashing with domain separation.

Every hash in poqw names its purpose: ``hash32(b"poqw/header/v1", data)`` is SHA-256 of the
domain's length (one byte), the domain, then the data, so two purposes can never produce the same
digest for the same bytes. ``shake_stream`` gives a SHAKE-256 byte stream for seeded derivations.
"""

from __future__ import annotations

import hashlib

__all__ = ["Hash32", "hash32", "shake_stream"]

Hash32 = bytes  # exactly 32 bytes


def _prefix(domain: bytes) -> bytes:
    if not 0 < len(domain) < 256:
        raise ValueError(f"a hash domain must be 1..255 bytes, got {len(domain)}")
    return bytes([len(domain)]) + domain


def hash32(domain: bytes, *parts: bytes) -> Hash32:
    """SHA-256 over ``len(domain) || domain || parts...`` (parts simply concatenated)."""
    h = hashlib.sha256(_prefix(domain))
    for p in parts:
        h.update(p)
    return h.digest()


def shake_stream(domain: bytes, seed: bytes, length: int) -> bytes:
    """``length`` bytes of SHAKE-256 over ``len(domain) || domain || seed``."""
    if length < 0:
        raise ValueError("length must be non-negative")
    return hashlib.shake_256(_prefix(domain) + seed).digest(length)

"""Hashing with domain separation, and signatures (ECDSA, WOTS+/XMSS, ML-DSA, hybrid)."""

from poqw.crypto.hashing import Hash32, hash32, shake_stream

__all__ = ["Hash32", "hash32", "shake_stream"]

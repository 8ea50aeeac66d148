"""The default block signature scheme: the hybrid (ECDSA + post-quantum) signer of poqw.crypto.

Consensus only needs two functions, ``verify(public_key, message, signature) -> bool`` and
``address_of(public_key) -> address``; this module adapts :mod:`poqw.crypto.hybrid` to them (both
halves must verify; the address is the ECDSA key's Ethereum address). The import is lazy, so
``poqw.chain`` stays light, and tests may pass other functions to ``validate_block``.
"""

from __future__ import annotations

from collections.abc import Callable

from poqw.errors import DecodeError, InvalidSignature

__all__ = [
    "address_of_public_key",
    "default_scheme",
    "one_time_key_use",
    "verify_block_signature",
]


def verify_block_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid hybrid signature of ``message`` by ``public_key``."""
    from poqw.crypto.hybrid import HybridPublicKey, verify_hybrid

    try:
        verify_hybrid(HybridPublicKey.from_bytes(public_key), message, signature)
    except (InvalidSignature, DecodeError, ValueError):
        return False
    return True


def address_of_public_key(public_key: bytes) -> bytes:
    """The miner address a hybrid public key signs for (``b""`` if it does not decode)."""
    from poqw.crypto.hybrid import HybridPublicKey

    try:
        return HybridPublicKey.from_bytes(public_key).address()
    except (DecodeError, ValueError):
        return b""


def default_scheme() -> tuple[Callable[[bytes, bytes, bytes], bool], Callable[[bytes], bytes]]:
    """``(verify, address_of)`` of the hybrid scheme."""
    return verify_block_signature, address_of_public_key


def one_time_key_use(public_key: bytes, signature: bytes) -> tuple[bytes, int] | None:
    """``(key id, one-time index)`` an ECDSA+XMSS signature consumes; None if stateless.

    A node records these for the blocks of its chain and rejects a block that reuses one
    (``validate_block(..., one_time_key_reused=...)``): a reused WOTS+ key leaks signing power.
    """
    from poqw.crypto.hybrid import HybridPublicKey, HybridSignature

    try:
        pk = HybridPublicKey.from_bytes(public_key)
        index = HybridSignature.from_bytes(signature).one_time_index
    except (DecodeError, ValueError):
        return None
    return None if index is None else (pk.key_id(), index)

"""ML-DSA-44 (FIPS 204), the stateless post-quantum signature, through ``cryptography``.

A key is its 32-byte seed (FIPS 204 ``xi``); the public key is 1312 bytes and a signature 2420.
Every poqw signature passes a FIPS 204 context string naming its purpose, so a signature made
for one use never verifies for another. Signing is randomised (hedged), verification is not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey, MLDSA44PublicKey

from poqw.errors import DecodeError, InvalidSignature

__all__ = [
    "MLDSA44_PUBLIC_KEY_SIZE",
    "MLDSA44_SIGNATURE_SIZE",
    "MlDsaPrivateKey",
    "MlDsaPublicKey",
]

MLDSA44_PUBLIC_KEY_SIZE = 1312
MLDSA44_SIGNATURE_SIZE = 2420
_SEED_SIZE = 32
_MAX_CONTEXT = 255  # FIPS 204: the context string is at most 255 bytes


def _check_context(context: bytes) -> None:
    if len(context) > _MAX_CONTEXT:
        raise ValueError(f"an ML-DSA context is at most {_MAX_CONTEXT} bytes, got {len(context)}")


@dataclass(frozen=True)
class MlDsaPublicKey:
    """An ML-DSA-44 public key (1312 bytes)."""

    data: bytes

    def __post_init__(self) -> None:
        if len(self.data) != MLDSA44_PUBLIC_KEY_SIZE:
            raise DecodeError(
                f"an ML-DSA-44 public key is {MLDSA44_PUBLIC_KEY_SIZE} bytes, got {len(self.data)}"
            )

    def verify(self, message: bytes, signature: bytes, context: bytes = b"") -> None:
        """Raise ``InvalidSignature`` unless valid (``DecodeError`` for a wrong size)."""
        _check_context(context)
        if len(signature) != MLDSA44_SIGNATURE_SIZE:
            raise DecodeError(
                f"an ML-DSA-44 signature is {MLDSA44_SIGNATURE_SIZE} bytes, got {len(signature)}"
            )
        try:
            key = MLDSA44PublicKey.from_public_bytes(self.data)
            key.verify(signature, message, context)
        except (_CryptographyInvalidSignature, ValueError) as exc:
            raise InvalidSignature("ML-DSA-44 signature does not verify") from exc


class MlDsaPrivateKey:
    """An ML-DSA-44 key held as its 32-byte seed. ``repr`` never shows the seed."""

    __slots__ = ("_key", "_seed")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != _SEED_SIZE:
            raise ValueError(f"an ML-DSA-44 seed is {_SEED_SIZE} bytes, got {len(seed)}")
        self._seed = bytes(seed)
        self._key = MLDSA44PrivateKey.from_seed_bytes(self._seed)

    @classmethod
    def generate(cls) -> MlDsaPrivateKey:
        return cls(os.urandom(_SEED_SIZE))

    def seed(self) -> bytes:
        """The 32 secret seed bytes (for the encrypted key store only)."""
        return self._seed

    def public_key(self) -> MlDsaPublicKey:
        return MlDsaPublicKey(self._key.public_key().public_bytes_raw())

    def sign(self, message: bytes, context: bytes = b"") -> bytes:
        _check_context(context)
        return self._key.sign(message, context)

    def __repr__(self) -> str:
        return "MlDsaPrivateKey(ML-DSA-44, <secret>)"

    __str__ = __repr__

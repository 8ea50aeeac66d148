"""secp256k1 ECDSA over 32-byte digests (libsecp256k1 through coincurve), Ethereum-style.

Signatures are recoverable, 65 bytes ``r || s || v`` with ``v`` in {0, 1} and ``s`` in the lower
half of the group order (the other half is rejected, so a signature has one encoding). An
address is the last 20 bytes of the Keccak-256 of the 64-byte uncompressed public key, as in
Ethereum, so a block's miner address can be checked against the key that signed it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey
from eth_hash.auto import keccak

from poqw.errors import DecodeError, InvalidSignature

__all__ = [
    "ECDSA_SIGNATURE_SIZE",
    "SECP256K1_ORDER",
    "EcdsaPrivateKey",
    "EcdsaPublicKey",
    "address_from_public_key",
    "ecdsa_recover",
    "ecdsa_verify",
    "to_checksum_address",
]

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_ORDER = SECP256K1_ORDER // 2
ECDSA_SIGNATURE_SIZE = 65
COMPRESSED_PUBLIC_KEY_SIZE = 33


def _check_digest(digest: bytes) -> None:
    if len(digest) != 32:
        raise ValueError(f"ECDSA signs a 32-byte digest, got {len(digest)} bytes")


def address_from_public_key(uncompressed: bytes) -> bytes:
    """keccak256(X || Y)[12:] for the 64-byte (or 65-byte 0x04-prefixed) public key."""
    if len(uncompressed) == 65 and uncompressed[0] == 4:
        uncompressed = uncompressed[1:]
    if len(uncompressed) != 64:
        raise ValueError(f"an uncompressed public key is 64 bytes, got {len(uncompressed)}")
    return bytes(keccak(uncompressed)[12:])


def to_checksum_address(address: bytes) -> str:
    """EIP-55 mixed-case hex: a letter is upper case where that nibble of keccak(hex) is >= 8."""
    if len(address) != 20:
        raise ValueError(f"an address is 20 bytes, got {len(address)}")
    lower = address.hex()
    digest = keccak(lower.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(lower)
    )


@dataclass(frozen=True)
class EcdsaPublicKey:
    """A secp256k1 point, kept as its 33-byte compressed encoding."""

    compressed: bytes

    def __post_init__(self) -> None:
        if len(self.compressed) != COMPRESSED_PUBLIC_KEY_SIZE:
            raise DecodeError(f"a compressed public key is 33 bytes, got {len(self.compressed)}")
        try:
            PublicKey(self.compressed)
        except Exception as exc:  # coincurve raises ValueError/TypeError variants
            raise DecodeError("bytes are not a secp256k1 public key") from exc

    @classmethod
    def from_bytes(cls, data: bytes) -> EcdsaPublicKey:
        """Accept the compressed (33) or uncompressed (65) SEC1 encoding."""
        if len(data) not in (33, 65):
            raise DecodeError(f"a secp256k1 public key is 33 or 65 bytes, got {len(data)}")
        try:
            return cls(PublicKey(data).format(compressed=True))
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError("bytes are not a secp256k1 public key") from exc

    def uncompressed(self) -> bytes:
        """The 64-byte X || Y."""
        return bytes(PublicKey(self.compressed).format(compressed=False)[1:])

    def address(self) -> bytes:
        return address_from_public_key(self.uncompressed())

    def verify(self, digest: bytes, signature: bytes) -> None:
        ecdsa_verify(self, digest, signature)


class EcdsaPrivateKey:
    """A secp256k1 secret scalar. ``repr`` and ``str`` never show it."""

    __slots__ = ("_key",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise ValueError(f"a secp256k1 secret is 32 bytes, got {len(secret)}")
        if not 0 < int.from_bytes(secret, "big") < SECP256K1_ORDER:
            raise ValueError("a secp256k1 secret must be in 1..n-1")
        self._key = PrivateKey(secret)

    @classmethod
    def generate(cls) -> EcdsaPrivateKey:
        return cls(PrivateKey().secret)

    def secret_bytes(self) -> bytes:
        """The 32 secret bytes (for the encrypted key store only)."""
        return bytes(self._key.secret)

    def public_key(self) -> EcdsaPublicKey:
        return EcdsaPublicKey(self._key.public_key.format(compressed=True))

    def address(self) -> bytes:
        return self.public_key().address()

    def sign(self, digest: bytes) -> bytes:
        """Deterministic (RFC 6979) recoverable signature ``r || s || v`` with low ``s``."""
        _check_digest(digest)
        return bytes(self._key.sign_recoverable(digest, hasher=None))

    def __repr__(self) -> str:
        return f"EcdsaPrivateKey(address=0x{self.address().hex()}, <secret>)"

    __str__ = __repr__


def _check_signature(signature: bytes) -> None:
    if len(signature) != ECDSA_SIGNATURE_SIZE:
        raise DecodeError(f"an ECDSA signature is 65 bytes, got {len(signature)}")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if not 0 < r < SECP256K1_ORDER:
        raise InvalidSignature("ECDSA r out of range")
    if not 0 < s <= _HALF_ORDER:
        raise InvalidSignature("ECDSA s must be in the lower half of the order (no malleability)")
    if signature[64] not in (0, 1):
        raise InvalidSignature(f"ECDSA recovery id must be 0 or 1, got {signature[64]}")


def ecdsa_recover(digest: bytes, signature: bytes) -> EcdsaPublicKey:
    """The public key that made ``signature`` over ``digest``."""
    _check_digest(digest)
    _check_signature(signature)
    try:
        pub = PublicKey.from_signature_and_message(signature, digest, hasher=None)
    except Exception as exc:
        raise InvalidSignature("ECDSA signature does not recover a public key") from exc
    return EcdsaPublicKey(pub.format(compressed=True))


def ecdsa_verify(public_key: EcdsaPublicKey, digest: bytes, signature: bytes) -> None:
    """Raise ``InvalidSignature`` unless ``signature`` is ``public_key``'s over ``digest``."""
    recovered = ecdsa_recover(digest, signature)
    if not hmac.compare_digest(recovered.compressed, public_key.compressed):
        raise InvalidSignature("ECDSA signature was made by a different key")

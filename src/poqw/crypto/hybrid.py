"""Hybrid signatures: secp256k1 ECDSA and a post-quantum signature (XMSS or ML-DSA-44).

Both halves sign one digest that commits to the scheme, the signer's address and the whole
hybrid public key, and a signature is valid only if both verify: it stays sound while either
scheme holds. Public keys and signatures have one canonical byte encoding, checked against the
scheme's exact sizes before anything is parsed. The XMSS half uses each one-time index once,
reserving it on disk through ``IndexCounter`` before the signature exists.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import IntEnum

from poqw.crypto.ecdsa import (
    COMPRESSED_PUBLIC_KEY_SIZE,
    ECDSA_SIGNATURE_SIZE,
    EcdsaPrivateKey,
    EcdsaPublicKey,
    ecdsa_verify,
)
from poqw.crypto.hashing import hash32
from poqw.crypto.keystate import IndexCounter
from poqw.crypto.mldsa import (
    MLDSA44_PUBLIC_KEY_SIZE,
    MLDSA44_SIGNATURE_SIZE,
    MlDsaPrivateKey,
    MlDsaPublicKey,
)
from poqw.crypto.xmss import (
    MAX_HEIGHT,
    XmssPrivateKey,
    XmssPublicKey,
    root_from_sig,
    signature_index,
    xmss_sign,
    xmss_signature_size,
    xmss_verify,
)
from poqw.errors import CryptoError, DecodeError, InvalidSignature

__all__ = [
    "ENCODING_VERSION",
    "MAX_PUBLIC_KEY_BYTES",
    "MAX_SIGNATURE_BYTES",
    "HybridPrivateKey",
    "HybridPublicKey",
    "HybridSignature",
    "HybridSigner",
    "Scheme",
    "signing_digest",
    "verify_hybrid",
]

ENCODING_VERSION = 1
MLDSA_CONTEXT = b"poqw/hybrid/v1"
_HEADER = 2  # version byte, scheme byte


class Scheme(IntEnum):
    """Which post-quantum signature accompanies ECDSA. The value is the encoding byte."""

    ECDSA_XMSS = 1
    ECDSA_MLDSA44 = 2

    @property
    def label(self) -> str:
        return {1: "ecdsa+xmss", 2: "ecdsa+mldsa44"}[self.value]

    @classmethod
    def from_label(cls, label: str) -> Scheme:
        for scheme in cls:
            if scheme.label == label:
                return scheme
        names = ", ".join(s.label for s in cls)
        raise ValueError(f"unknown signature scheme {label!r}; choose one of {names}")


def _pq_public_key_size(scheme: Scheme) -> int:
    return XmssPublicKey.SIZE if scheme is Scheme.ECDSA_XMSS else MLDSA44_PUBLIC_KEY_SIZE


MAX_PUBLIC_KEY_BYTES = _HEADER + COMPRESSED_PUBLIC_KEY_SIZE + MLDSA44_PUBLIC_KEY_SIZE
MAX_SIGNATURE_BYTES = (
    _HEADER + ECDSA_SIGNATURE_SIZE + max(xmss_signature_size(MAX_HEIGHT), MLDSA44_SIGNATURE_SIZE)
)


def _read_header(data: bytes, limit: int, what: str) -> Scheme:
    if len(data) > limit:
        raise DecodeError(f"a hybrid {what} is at most {limit} bytes, got {len(data)}")
    if len(data) < _HEADER:
        raise DecodeError(f"a hybrid {what} needs a 2-byte header, got {len(data)} bytes")
    if data[0] != ENCODING_VERSION:
        raise DecodeError(f"unsupported hybrid {what} encoding version {data[0]}")
    try:
        return Scheme(data[1])
    except ValueError:
        raise DecodeError(f"unknown hybrid signature scheme byte {data[1]}") from None


@dataclass(frozen=True)
class HybridPublicKey:
    """An ECDSA key (which names the address) and a post-quantum public key."""

    scheme: Scheme
    ecdsa: EcdsaPublicKey
    pq: bytes

    def __post_init__(self) -> None:
        size = _pq_public_key_size(self.scheme)
        if len(self.pq) != size:
            raise DecodeError(f"{self.scheme.label} post-quantum key is {size} bytes")
        if self.scheme is Scheme.ECDSA_XMSS:
            XmssPublicKey.from_bytes(self.pq)

    def address(self) -> bytes:
        return self.ecdsa.address()

    def to_bytes(self) -> bytes:
        """version || scheme || compressed ECDSA key (33) || post-quantum key."""
        return bytes([ENCODING_VERSION, self.scheme]) + self.ecdsa.compressed + self.pq

    @classmethod
    def from_bytes(cls, data: bytes) -> HybridPublicKey:
        scheme = _read_header(data, MAX_PUBLIC_KEY_BYTES, "public key")
        size = _HEADER + COMPRESSED_PUBLIC_KEY_SIZE + _pq_public_key_size(scheme)
        if len(data) != size:
            raise DecodeError(f"a {scheme.label} public key is {size} bytes, got {len(data)}")
        ecdsa = EcdsaPublicKey(data[_HEADER : _HEADER + COMPRESSED_PUBLIC_KEY_SIZE])
        return cls(scheme, ecdsa, data[_HEADER + COMPRESSED_PUBLIC_KEY_SIZE :])

    def key_id(self) -> bytes:
        return hash32(b"poqw/hybrid-key-id/v1", self.to_bytes())

    def xmss(self) -> XmssPublicKey:
        if self.scheme is not Scheme.ECDSA_XMSS:
            raise ValueError(f"a {self.scheme.label} key has no XMSS half")
        return XmssPublicKey.from_bytes(self.pq)

    def signature_size(self) -> int:
        if self.scheme is Scheme.ECDSA_XMSS:
            pq = xmss_signature_size(self.xmss().height)
        else:
            pq = MLDSA44_SIGNATURE_SIZE
        return _HEADER + ECDSA_SIGNATURE_SIZE + pq


@dataclass(frozen=True)
class HybridSignature:
    """A recoverable ECDSA signature and a post-quantum signature over the same digest."""

    scheme: Scheme
    ecdsa: bytes
    pq: bytes

    def to_bytes(self) -> bytes:
        """version || scheme || ECDSA r||s||v (65) || post-quantum signature (rest)."""
        return bytes([ENCODING_VERSION, self.scheme]) + self.ecdsa + self.pq

    @classmethod
    def from_bytes(cls, data: bytes) -> HybridSignature:
        scheme = _read_header(data, MAX_SIGNATURE_BYTES, "signature")
        pq = data[_HEADER + ECDSA_SIGNATURE_SIZE :]
        if scheme is Scheme.ECDSA_MLDSA44:
            valid = len(pq) == MLDSA44_SIGNATURE_SIZE
        else:
            valid = any(len(pq) == xmss_signature_size(h) for h in range(1, MAX_HEIGHT + 1))
        if not valid:
            raise DecodeError(f"{scheme.label} signature has the wrong length {len(data)}")
        return cls(scheme, data[_HEADER : _HEADER + ECDSA_SIGNATURE_SIZE], pq)

    @property
    def one_time_index(self) -> int | None:
        """The XMSS one-time index used, or ``None`` for a stateless scheme."""
        return signature_index(self.pq) if self.scheme is Scheme.ECDSA_XMSS else None


def signing_digest(public_key: HybridPublicKey, message: bytes) -> bytes:
    """What both halves sign: scheme, address, key id and the message, domain-separated."""
    return hash32(
        b"poqw/hybrid-signature/v1",
        bytes([public_key.scheme]),
        public_key.address(),
        public_key.key_id(),
        len(message).to_bytes(8, "big"),
        message,
    )


def verify_hybrid(
    public_key: HybridPublicKey,
    message: bytes,
    signature: HybridSignature | bytes,
    *,
    address: bytes | None = None,
) -> None:
    """Raise ``InvalidSignature`` unless both halves verify (and the address matches)."""
    sig = (
        signature
        if isinstance(signature, HybridSignature)
        else HybridSignature.from_bytes(signature)
    )
    if sig.scheme is not public_key.scheme:
        raise InvalidSignature(
            f"signature scheme {sig.scheme.label} does not match "
            f"key scheme {public_key.scheme.label}"
        )
    if address is not None and not hmac.compare_digest(address, public_key.address()):
        raise InvalidSignature(
            f"key address 0x{public_key.address().hex()} is not the claimed 0x{address.hex()}"
        )
    digest = signing_digest(public_key, message)
    try:
        ecdsa_verify(public_key.ecdsa, digest, sig.ecdsa)
    except (InvalidSignature, DecodeError) as exc:
        raise InvalidSignature(f"ECDSA half of the hybrid signature fails: {exc}") from exc
    try:
        if public_key.scheme is Scheme.ECDSA_XMSS:
            xmss_verify(public_key.xmss(), digest, sig.pq)
        else:
            MlDsaPublicKey(public_key.pq).verify(digest, sig.pq, MLDSA_CONTEXT)
    except (InvalidSignature, DecodeError) as exc:
        raise InvalidSignature(f"post-quantum half of the hybrid signature fails: {exc}") from exc


class HybridPrivateKey:
    """ECDSA secret plus the post-quantum secret. ``repr`` shows only public facts."""

    __slots__ = ("ecdsa", "pq", "public_key", "scheme")

    def __init__(self, ecdsa: EcdsaPrivateKey, pq: XmssPrivateKey | MlDsaPrivateKey) -> None:
        self.ecdsa = ecdsa
        self.pq = pq
        if isinstance(pq, XmssPrivateKey):
            self.scheme = Scheme.ECDSA_XMSS
            pq_public = pq.public_key().to_bytes()
        else:
            self.scheme = Scheme.ECDSA_MLDSA44
            pq_public = pq.public_key().data
        self.public_key = HybridPublicKey(self.scheme, ecdsa.public_key(), pq_public)

    @classmethod
    def generate(cls, scheme: Scheme, *, height: int = 10, fast: bool = True) -> HybridPrivateKey:
        import os

        pq: XmssPrivateKey | MlDsaPrivateKey
        if scheme is Scheme.ECDSA_XMSS:
            pq = XmssPrivateKey.from_seed(os.urandom(96), height, fast=fast)
        else:
            pq = MlDsaPrivateKey.generate()
        return cls(EcdsaPrivateKey.generate(), pq)

    def pq_secret(self) -> bytes:
        return self.pq.seed if isinstance(self.pq, XmssPrivateKey) else self.pq.seed()

    def __repr__(self) -> str:
        return (
            f"HybridPrivateKey({self.scheme.label}, address=0x{self.public_key.address().hex()}, "
            "<secret>)"
        )

    __str__ = __repr__


class HybridSigner:
    """Signs with a hybrid key; for XMSS, reserves each one-time index on disk first."""

    def __init__(self, key: HybridPrivateKey, counter: IndexCounter | None = None) -> None:
        if key.scheme is Scheme.ECDSA_XMSS and counter is None:
            raise ValueError("an XMSS hybrid key needs an IndexCounter (its one-time state)")
        self.key = key
        self.counter = counter

    @property
    def public_key(self) -> HybridPublicKey:
        return self.key.public_key

    def address(self) -> bytes:
        return self.key.public_key.address()

    def remaining(self) -> int | None:
        """One-time signatures left, or ``None`` for a stateless key."""
        return None if self.counter is None else self.counter.remaining()

    def sign(self, message: bytes) -> HybridSignature:
        digest = signing_digest(self.key.public_key, message)
        if isinstance(self.key.pq, XmssPrivateKey):
            assert self.counter is not None
            index = self.counter.reserve()  # durable before any signature exists
            pq = xmss_sign(self.key.pq, index, digest)
            # a corrupt cached node would give an invalid path: never hand one out
            if root_from_sig(self.key.pq.public_key(), digest, pq) != self.key.pq.public_key().root:
                raise CryptoError(
                    f"XMSS signature with index {index} does not verify: the key's cached tree "
                    "is corrupt (the index stays used); reload the key"
                )
        else:
            pq = self.key.pq.sign(digest, MLDSA_CONTEXT)
        return HybridSignature(self.key.scheme, self.key.ecdsa.sign(digest), pq)

    def __repr__(self) -> str:
        return f"HybridSigner({self.key!r})"

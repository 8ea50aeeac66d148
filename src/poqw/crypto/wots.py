"""WOTS+ one-time signatures, written from RFC 8391 section 3 (SHA-256, n = 32, w = 16).

A WOTS+ key is ``len = 67`` hash chains of length ``w - 1 = 15``; a signature reveals, for each
base-16 digit of the message digest and its checksum, the chain value at that digit, and the
verifier walks the rest of each chain to the public key. Every hash is keyed and masked through
``PRF(SEED, ADRS)`` with the 32-byte address structure ADRS (RFC 8391 section 2.5), and secret
chain starts are derived as ``PRF_keygen(SK_SEED, SEED || ADRS)`` as in NIST SP 800-208 and the
XMSS reference code. This is the readable reference; ``xmss_fast`` is the batched fast path.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

__all__ = [
    "LEN",
    "LEN_1",
    "LEN_2",
    "Adrs",
    "N",
    "W",
    "base_w",
    "chain",
    "f_hash",
    "h_hash",
    "h_msg",
    "message_digits",
    "prf",
    "prf_keygen",
    "rand_hash",
    "wots_pk_from_sig",
    "wots_pkgen",
    "wots_sign",
    "wots_sk",
]

N = 32  # bytes per hash value
W = 16  # Winternitz parameter
LOG_W = 4
LEN_1 = 64  # ceil(8n / lg w)
LEN_2 = 3  # floor(lg(len_1 (w - 1)) / lg w) + 1
LEN = LEN_1 + LEN_2

# RFC 8391 section 5.1: the hash functions differ by a 32-byte big-endian padding prefix.
_PAD_F = (0).to_bytes(N, "big")
_PAD_H = (1).to_bytes(N, "big")
_PAD_HMSG = (2).to_bytes(N, "big")
_PAD_PRF = (3).to_bytes(N, "big")
_PAD_PRF_KEYGEN = (4).to_bytes(N, "big")  # NIST SP 800-208, XMSS reference code

ADRS_OTS = 0
ADRS_LTREE = 1
ADRS_TREE = 2


@dataclass
class Adrs:
    """The 32-byte hash address (RFC 8391 section 2.5): eight big-endian 32-bit words.

    Words: 0 layer, 1-2 tree (64 bits), 3 type, 4 OTS / L-tree address (0 for hash-tree
    addresses), 5 chain / tree height, 6 hash / tree index, 7 keyAndMask.
    """

    words: list[int] = field(default_factory=lambda: [0] * 8)

    @classmethod
    def of(cls, type_: int, *, layer: int = 0, tree: int = 0) -> Adrs:
        return cls([layer, tree >> 32, tree & 0xFFFFFFFF, type_, 0, 0, 0, 0])

    def copy(self) -> Adrs:
        return Adrs(list(self.words))

    def set(self, word: int, value: int) -> Adrs:
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"address word {word} must fit in 32 bits, got {value}")
        self.words[word] = value
        return self

    def to_bytes(self) -> bytes:
        return struct.pack(">8I", *self.words)


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def prf(key: bytes, m: bytes) -> bytes:
    """PRF(KEY, M) = SHA-256(toByte(3, 32) || KEY || M), M a 32-byte address or index."""
    return hashlib.sha256(_PAD_PRF + key + m).digest()


def prf_keygen(sk_seed: bytes, pub_seed: bytes, adrs: Adrs) -> bytes:
    """Secret chain start: SHA-256(toByte(4, 32) || SK_SEED || SEED || ADRS)."""
    return hashlib.sha256(_PAD_PRF_KEYGEN + sk_seed + pub_seed + adrs.to_bytes()).digest()


def f_hash(key: bytes, m: bytes) -> bytes:
    """F(KEY, M) = SHA-256(toByte(0, 32) || KEY || M)."""
    return hashlib.sha256(_PAD_F + key + m).digest()


def h_hash(key: bytes, m: bytes) -> bytes:
    """H(KEY, M) = SHA-256(toByte(1, 32) || KEY || M), M 64 bytes."""
    return hashlib.sha256(_PAD_H + key + m).digest()


def h_msg(r: bytes, root: bytes, index: int, message: bytes) -> bytes:
    """H_msg(r || root || toByte(idx, 32), M) (RFC 8391 section 4.1.9)."""
    return hashlib.sha256(_PAD_HMSG + r + root + index.to_bytes(N, "big") + message).digest()


def base_w(x: bytes, out_len: int) -> list[int]:
    """Algorithm 1: the first ``out_len`` base-16 digits of ``x``, most significant first."""
    digits: list[int] = []
    for byte in x:
        digits.append(byte >> 4)
        digits.append(byte & 0x0F)
    if out_len > len(digits):
        raise ValueError(f"base_w: {len(x)} bytes give {len(digits)} digits, asked {out_len}")
    return digits[:out_len]


def message_digits(digest: bytes) -> list[int]:
    """The 67 chain positions a signature reveals: base_w(M) then base_w of the checksum."""
    if len(digest) != N:
        raise ValueError(f"WOTS+ signs a {N}-byte digest, got {len(digest)} bytes")
    msg = base_w(digest, LEN_1)
    csum = sum(W - 1 - d for d in msg)
    csum <<= 8 - ((LEN_2 * LOG_W) % 8)  # left-align the checksum in its bytes
    csum_bytes = csum.to_bytes((LEN_2 * LOG_W + 7) // 8, "big")
    return msg + base_w(csum_bytes, LEN_2)


def chain(x: bytes, start: int, steps: int, pub_seed: bytes, adrs: Adrs) -> bytes:
    """Algorithm 2: apply ``steps`` masked F calls from position ``start`` (ADRS words 6, 7)."""
    if start + steps > W - 1:
        raise ValueError(f"chain: start {start} + steps {steps} exceeds w - 1 = {W - 1}")
    tmp = x
    for i in range(start, start + steps):
        adrs.set(6, i)
        key = prf(pub_seed, adrs.set(7, 0).to_bytes())
        mask = prf(pub_seed, adrs.set(7, 1).to_bytes())
        tmp = f_hash(key, _xor(tmp, mask))
    return tmp


def wots_sk(sk_seed: bytes, pub_seed: bytes, adrs: Adrs) -> list[bytes]:
    """The 67 secret chain starts of the OTS key at ``adrs`` (type 0, OTS address set)."""
    a = adrs.copy().set(6, 0).set(7, 0)
    return [prf_keygen(sk_seed, pub_seed, a.set(5, i)) for i in range(LEN)]


def wots_pkgen(sk_seed: bytes, pub_seed: bytes, adrs: Adrs) -> list[bytes]:
    """Algorithm 4: the 67 chain ends."""
    a = adrs.copy()
    return [
        chain(sk, 0, W - 1, pub_seed, a.set(5, i))
        for i, sk in enumerate(wots_sk(sk_seed, pub_seed, adrs))
    ]


def wots_sign(digest: bytes, sk_seed: bytes, pub_seed: bytes, adrs: Adrs) -> list[bytes]:
    """Algorithm 5: reveal chain ``i`` at position ``digits[i]``."""
    a = adrs.copy()
    digits = message_digits(digest)
    return [
        chain(sk, 0, digits[i], pub_seed, a.set(5, i))
        for i, sk in enumerate(wots_sk(sk_seed, pub_seed, adrs))
    ]


def wots_pk_from_sig(sig: list[bytes], digest: bytes, pub_seed: bytes, adrs: Adrs) -> list[bytes]:
    """Algorithm 6: finish every chain; equals the public key iff the signature is valid."""
    if len(sig) != LEN or any(len(s) != N for s in sig):
        raise ValueError(f"a WOTS+ signature is {LEN} values of {N} bytes")
    a = adrs.copy()
    digits = message_digits(digest)
    return [
        chain(s, d, W - 1 - d, pub_seed, a.set(5, i))
        for i, (s, d) in enumerate(zip(sig, digits, strict=True))
    ]


def rand_hash(left: bytes, right: bytes, pub_seed: bytes, adrs: Adrs) -> bytes:
    """Algorithm 7: H keyed and masked by three PRF outputs (keyAndMask 0, 1, 2)."""
    key = prf(pub_seed, adrs.set(7, 0).to_bytes())
    bm0 = prf(pub_seed, adrs.set(7, 1).to_bytes())
    bm1 = prf(pub_seed, adrs.set(7, 2).to_bytes())
    return h_hash(key, _xor(left, bm0) + _xor(right, bm1))

"""XMSS: a Merkle tree of WOTS+ one-time keys (RFC 8391 section 4.1, SHA-256, n = 32, w = 16).

Leaf ``i`` is the L-tree compression of the i-th WOTS+ public key; the public key is the tree
root and the public seed, so one public key signs ``2**height`` messages, each with a fresh
one-time key and the authentication path from its leaf to the root. The signing functions here
are stateless (the caller passes the index); ``keystate`` makes sure no index is used twice.
The private key caches every tree node, built by the fast path (``xmss_fast``) or the readable
reference below; both are tested against the XMSS reference code's known answers.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from poqw.crypto import wots
from poqw.crypto.wots import ADRS_LTREE, ADRS_OTS, ADRS_TREE, LEN, Adrs, N
from poqw.errors import DecodeError, InvalidSignature, KeyExhausted

__all__ = [
    "MAX_HEIGHT",
    "MIN_HEIGHT",
    "XmssPrivateKey",
    "XmssPublicKey",
    "build_tree_reference",
    "ltree",
    "root_from_sig",
    "signature_index",
    "xmss_sign",
    "xmss_signature_size",
    "xmss_verify",
]

MIN_HEIGHT = 1
MAX_HEIGHT = 20
_INDEX_BYTES = 4


def _check_height(height: int) -> None:
    if not MIN_HEIGHT <= height <= MAX_HEIGHT:
        raise ValueError(f"XMSS height must be {MIN_HEIGHT}..{MAX_HEIGHT}, got {height}")


def xmss_signature_size(height: int) -> int:
    """idx (4) || r (32) || WOTS+ signature (67 * 32) || authentication path (height * 32)."""
    return _INDEX_BYTES + N + (LEN + height) * N


def ltree(pk: list[bytes], pub_seed: bytes, adrs: Adrs) -> bytes:
    """Algorithm 8: compress the 67 chain ends into one node (ADRS type 1)."""
    nodes = list(pk)
    adrs.set(5, 0)
    while len(nodes) > 1:
        half = len(nodes) // 2
        merged = []
        for i in range(half):
            adrs.set(6, i)
            merged.append(wots.rand_hash(nodes[2 * i], nodes[2 * i + 1], pub_seed, adrs))
        if len(nodes) % 2 == 1:
            merged.append(nodes[-1])
        nodes = merged
        adrs.set(5, adrs.words[5] + 1)
    return nodes[0]


def _leaf(sk_seed: bytes, pub_seed: bytes, index: int) -> bytes:
    pk = wots.wots_pkgen(sk_seed, pub_seed, Adrs.of(ADRS_OTS).set(4, index))
    return ltree(pk, pub_seed, Adrs.of(ADRS_LTREE).set(4, index))


def _parent(left: bytes, right: bytes, pub_seed: bytes, height: int, index: int) -> bytes:
    """Node ``index`` at ``height + 1`` from its children at ``height`` (ADRS type 2)."""
    adrs = Adrs.of(ADRS_TREE).set(5, height).set(6, index)
    return wots.rand_hash(left, right, pub_seed, adrs)


def build_tree_reference(sk_seed: bytes, pub_seed: bytes, height: int) -> list[bytes]:
    """Every tree level as concatenated nodes: ``levels[k]`` holds ``2**(height-k)`` nodes."""
    _check_height(height)
    level = [_leaf(sk_seed, pub_seed, i) for i in range(1 << height)]
    levels = [b"".join(level)]
    for k in range(height):
        level = [
            _parent(level[2 * j], level[2 * j + 1], pub_seed, k, j) for j in range(len(level) // 2)
        ]
        levels.append(b"".join(level))
    return levels


@dataclass(frozen=True)
class XmssPublicKey:
    """Root and public seed of an XMSS tree of ``2**height`` one-time keys."""

    height: int
    root: bytes
    pub_seed: bytes

    SIZE = 1 + 2 * N

    def __post_init__(self) -> None:
        _check_height(self.height)
        if len(self.root) != N or len(self.pub_seed) != N:
            raise ValueError(f"XMSS root and public seed are {N} bytes each")

    def to_bytes(self) -> bytes:
        """height (1 byte) || root || pub_seed."""
        return bytes([self.height]) + self.root + self.pub_seed

    @classmethod
    def from_bytes(cls, data: bytes) -> XmssPublicKey:
        if len(data) != cls.SIZE:
            raise DecodeError(f"an XMSS public key is {cls.SIZE} bytes, got {len(data)}")
        if not MIN_HEIGHT <= data[0] <= MAX_HEIGHT:
            raise DecodeError(f"XMSS public key height {data[0]} out of range")
        return cls(data[0], data[1 : 1 + N], data[1 + N :])


@dataclass(frozen=True, repr=False)
class XmssPrivateKey:
    """The three seeds (SK_SEED || SK_PRF || PUB_SEED) and the cached tree nodes."""

    height: int
    sk_seed: bytes
    sk_prf: bytes
    pub_seed: bytes
    levels: tuple[bytes, ...] = field(compare=False)

    @classmethod
    def from_seed(cls, seed: bytes, height: int, *, fast: bool = True) -> XmssPrivateKey:
        """Build the key from 96 seed bytes; ``fast`` picks the batched numba tree builder."""
        _check_height(height)
        if len(seed) != 3 * N:
            raise ValueError(f"an XMSS seed is {3 * N} bytes, got {len(seed)}")
        sk_seed, sk_prf, pub_seed = seed[:N], seed[N : 2 * N], seed[2 * N :]
        if fast:
            from poqw.crypto.xmss_fast import build_tree_fast

            levels = build_tree_fast(sk_seed, pub_seed, height)
        else:
            levels = build_tree_reference(sk_seed, pub_seed, height)
        return cls(height, sk_seed, sk_prf, pub_seed, tuple(levels))

    @classmethod
    def from_seed_and_leaves(cls, seed: bytes, height: int, leaves: bytes) -> XmssPrivateKey:
        """Rebuild the key from its seed and its cached leaves (public values, the costly part
        of the tree): only the levels above the leaves are hashed. A wrong leaf changes the
        root, so callers compare :meth:`public_key` with the key they expect."""
        _check_height(height)
        if len(seed) != 3 * N:
            raise ValueError(f"an XMSS seed is {3 * N} bytes, got {len(seed)}")
        from poqw.crypto.xmss_fast import tree_from_leaves_fast

        levels = tree_from_leaves_fast(leaves, seed[2 * N :], height)
        return cls(height, seed[:N], seed[N : 2 * N], seed[2 * N :], tuple(levels))

    @property
    def seed(self) -> bytes:
        return self.sk_seed + self.sk_prf + self.pub_seed

    @property
    def capacity(self) -> int:
        return 1 << self.height

    def public_key(self) -> XmssPublicKey:
        return XmssPublicKey(self.height, self.levels[self.height], self.pub_seed)

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][index * N : (index + 1) * N]

    def auth_path(self, index: int) -> list[bytes]:
        return [self.node(k, (index >> k) ^ 1) for k in range(self.height)]

    def __repr__(self) -> str:
        return (
            f"XmssPrivateKey(height={self.height}, root={self.levels[self.height].hex()}, <secret>)"
        )


def xmss_sign(key: XmssPrivateKey, index: int, message: bytes) -> bytes:
    """Algorithm 12 without the state update: sign ``message`` with one-time key ``index``.

    Never call this twice with the same index; use ``keystate.StatefulSigner``.
    """
    if not 0 <= index < key.capacity:
        raise KeyExhausted(f"one-time index {index} is outside 0..{key.capacity - 1}")
    idx_bytes = index.to_bytes(N, "big")
    r = wots.prf(key.sk_prf, idx_bytes)
    digest = wots.h_msg(r, key.public_key().root, index, message)
    adrs = Adrs.of(ADRS_OTS).set(4, index)
    sig = wots.wots_sign(digest, key.sk_seed, key.pub_seed, adrs)
    return index.to_bytes(_INDEX_BYTES, "big") + r + b"".join(sig) + b"".join(key.auth_path(index))


def _split_signature(signature: bytes, height: int) -> tuple[int, bytes, list[bytes], list[bytes]]:
    size = xmss_signature_size(height)
    if len(signature) != size:
        raise DecodeError(
            f"an XMSS height-{height} signature is {size} bytes, got {len(signature)}"
        )
    index = int.from_bytes(signature[:_INDEX_BYTES], "big")
    r = signature[_INDEX_BYTES : _INDEX_BYTES + N]
    body = signature[_INDEX_BYTES + N :]
    values = [body[i * N : (i + 1) * N] for i in range(LEN + height)]
    return index, r, values[:LEN], values[LEN:]


def root_from_sig(pub: XmssPublicKey, message: bytes, signature: bytes) -> bytes:
    """Algorithm 13/14: the root that this signature, message and index lead to."""
    index, r, ots_sig, auth = _split_signature(signature, pub.height)
    if index >= 1 << pub.height:
        raise InvalidSignature(f"XMSS index {index} is outside a height-{pub.height} tree")
    digest = wots.h_msg(r, pub.root, index, message)
    pk = wots.wots_pk_from_sig(ots_sig, digest, pub.pub_seed, Adrs.of(ADRS_OTS).set(4, index))
    node = ltree(pk, pub.pub_seed, Adrs.of(ADRS_LTREE).set(4, index))
    for k, sibling in enumerate(auth):
        parent = index >> (k + 1)
        if (index >> k) & 1 == 0:
            node = _parent(node, sibling, pub.pub_seed, k, parent)
        else:
            node = _parent(sibling, node, pub.pub_seed, k, parent)
    return node


def xmss_verify(pub: XmssPublicKey, message: bytes, signature: bytes) -> None:
    """Raise ``InvalidSignature`` (or ``DecodeError`` for a wrong size) unless valid."""
    if not hmac.compare_digest(root_from_sig(pub, message, signature), pub.root):
        raise InvalidSignature("XMSS signature does not verify against the public key")


def signature_index(signature: bytes) -> int:
    """The one-time index a signature claims (for bookkeeping; not a validity check)."""
    if len(signature) < _INDEX_BYTES:
        raise DecodeError("XMSS signature too short to hold an index")
    return int.from_bytes(signature[:_INDEX_BYTES], "big")

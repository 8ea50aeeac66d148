"""Fast XMSS tree building: SHA-256 compressions compiled with numba, many lanes at a time.

Building a height-10 tree costs about five million SHA-256 compressions (1024 leaves, 67 chains
of 15 masked steps, the L-trees and the tree), which the readable reference in ``wots``/``xmss``
does one ``hashlib`` call at a time. Here every hash of RFC 8391 is written as compressions over
big-endian 32-bit words, and independent hashes (all chains of all leaves, all nodes of one
level) run side by side in ``_LANES`` lanes, an inner loop the compiler turns into SIMD code.
Tests check the result node for node against ``xmss.build_tree_reference``.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

from poqw.crypto.wots import LEN, N, W

__all__ = ["build_tree_fast", "sha256_words", "tree_from_leaves_fast"]

U32 = NDArray[np.uint32]
_M32 = 0xFFFFFFFF
_LANES = 64

# FIPS 180-4 sections 4.2.2 and 5.3.3.
_K = np.array(
    [
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4,
        0xAB1C5ED5, 0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE,
        0x9BDC06A7, 0xC19BF174, 0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F,
        0x4A7484AA, 0x5CB0A9DC, 0x76F988DA, 0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7,
        0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967, 0x27B70A85, 0x2E1B2138, 0x4D2C6DFC,
        0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85, 0xA2BFE8A1, 0xA81A664B,
        0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070, 0x19A4C116,
        0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7,
        0xC67178F2,
    ],
    dtype=np.uint32,
)  # fmt: skip
_IV = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB,
     0x5BE0CD19],
    dtype=np.uint32,
)  # fmt: skip


@numba.njit(cache=True, inline="always")
def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & _M32


@numba.njit(cache=True)
def _compress(state: U32, block: U32, out: U32, w: U32, n: int) -> None:
    """SHA-256 compression in lanes ``0..n-1``: state (8, L) and block (16, L) -> out (8, L).

    ``w`` is (72, L) scratch: the message schedule, then the working variables. ``out`` may
    be ``state``.
    """
    for t in range(16):
        for lane in range(n):
            w[t, lane] = block[t, lane]
    for t in range(16, 64):
        for lane in range(n):
            x = w[t - 15, lane]
            y = w[t - 2, lane]
            s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> 3)
            s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> 10)
            w[t, lane] = (w[t - 16, lane] + s0 + w[t - 7, lane] + s1) & _M32
    v = w[64:72]
    for i in range(8):
        for lane in range(n):
            v[i, lane] = state[i, lane]
    for t in range(64):
        k = _K[t]
        for lane in range(n):
            a, b, c, d = v[0, lane], v[1, lane], v[2, lane], v[3, lane]
            e, f, g, h = v[4, lane], v[5, lane], v[6, lane], v[7, lane]
            ch = (e & f) ^ (~e & g)
            t1 = (h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ch + k + w[t, lane]) & _M32
            maj = (a & b) ^ (a & c) ^ (b & c)
            t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + maj) & _M32
            v[7, lane], v[6, lane], v[5, lane], v[4, lane] = g, f, e, (d + t1) & _M32
            v[3, lane], v[2, lane], v[1, lane], v[0, lane] = c, b, a, (t1 + t2) & _M32
    for i in range(8):
        for lane in range(n):
            out[i, lane] = (state[i, lane] + v[i, lane]) & _M32


@numba.njit(cache=True)
def _put(block: U32, row: int, src: U32, n: int) -> None:
    """block[row : row + 8] = src (8, L)."""
    for i in range(8):
        for lane in range(n):
            block[row + i, lane] = src[i, lane]


@numba.njit(cache=True)
def _put_const(block: U32, row: int, words: U32, n: int) -> None:
    """block[row + i] = words[i] in every lane."""
    for i in range(words.shape[0]):
        for lane in range(n):
            block[row + i, lane] = words[i]


@numba.njit(cache=True)
def _put_xor(block: U32, row: int, x: U32, y: U32, n: int) -> None:
    for i in range(8):
        for lane in range(n):
            block[row + i, lane] = x[i, lane] ^ y[i, lane]


def _padding(pad: int) -> U32:
    """The 8 words of ``toByte(pad, 32)``."""
    return np.array([0, 0, 0, 0, 0, 0, 0, pad], dtype=np.uint32)


_TAIL_96 = np.array([0x80000000, 0, 0, 0, 0, 0, 0, 768], dtype=np.uint32)  # 96-byte message
_BLOCK_128 = np.array([0x80000000] + [0] * 14 + [1024], dtype=np.uint32)  # 128-byte message
_PAD_F, _PAD_H, _PAD_PRF, _PAD_KEYGEN = _padding(0), _padding(1), _padding(3), _padding(4)


@numba.njit(cache=True)
def _midstate(pad: U32, key: U32, out: U32, w: U32) -> None:
    """Every lane of ``out`` := compression of the block ``toByte(pad, 32) || key``."""
    block = np.empty((16, _LANES), dtype=np.uint32)
    _put_const(block, 0, pad, _LANES)
    _put_const(block, 8, key, _LANES)
    iv = np.empty((8, _LANES), dtype=np.uint32)
    _put_const(iv, 0, _IV, _LANES)
    _compress(iv, block, out, w, _LANES)


@numba.njit(cache=True)
def _chain_ends(sk_seed: U32, pub_seed: U32, num_leaves: int) -> U32:
    """The WOTS+ public keys of all leaves: row ``leaf * 67 + chain``, 8 words each."""
    total = num_leaves * LEN
    out = np.empty((total, 8), dtype=np.uint32)
    w = np.empty((72, _LANES), dtype=np.uint32)
    block = np.empty((16, _LANES), dtype=np.uint32)
    iv = np.empty((8, _LANES), dtype=np.uint32)
    _put_const(iv, 0, _IV, _LANES)
    prf_mid = np.empty((8, _LANES), dtype=np.uint32)
    keygen_mid = np.empty((8, _LANES), dtype=np.uint32)
    _midstate(_PAD_PRF, pub_seed, prf_mid, w)
    _midstate(_PAD_KEYGEN, sk_seed, keygen_mid, w)
    adrs = np.zeros((8, _LANES), dtype=np.uint32)  # type 0 (OTS)
    key = np.empty((8, _LANES), dtype=np.uint32)
    mask = np.empty((8, _LANES), dtype=np.uint32)
    mid = np.empty((8, _LANES), dtype=np.uint32)
    tmp = np.empty((8, _LANES), dtype=np.uint32)
    for start in range(0, total, _LANES):
        n = min(_LANES, total - start)
        for lane in range(n):
            adrs[4, lane] = (start + lane) // LEN  # OTS address = leaf
            adrs[5, lane] = (start + lane) % LEN  # chain
            adrs[6, lane] = 0
            adrs[7, lane] = 0
        # secret start: SHA-256(toByte(4) || SK_SEED || SEED || ADRS), 128 bytes
        _put_const(block, 0, pub_seed, n)
        _put(block, 8, adrs, n)
        _compress(keygen_mid, block, mid, w, n)
        _put_const(block, 0, _BLOCK_128, n)
        _compress(mid, block, tmp, w, n)
        for j in range(W - 1):
            for lane in range(n):
                adrs[6, lane] = j
                adrs[7, lane] = 0
            _put(block, 0, adrs, n)
            _put_const(block, 8, _TAIL_96, n)
            _compress(prf_mid, block, key, w, n)  # KEY = PRF(SEED, ADRS)
            for lane in range(n):
                adrs[7, lane] = 1
            _put(block, 0, adrs, n)
            _compress(prf_mid, block, mask, w, n)  # BM = PRF(SEED, ADRS)
            _put_const(block, 0, _PAD_F, n)
            _put(block, 8, key, n)
            _compress(iv, block, mid, w, n)  # F(KEY, tmp ^ BM)
            _put_xor(block, 0, tmp, mask, n)
            _put_const(block, 8, _TAIL_96, n)
            _compress(mid, block, tmp, w, n)
        for lane in range(n):
            for i in range(8):
                out[start + lane, i] = tmp[i, lane]
    return out


@numba.njit(cache=True)
def _rand_hash_rows(left: U32, right: U32, adrs_rows: U32, pub_seed: U32, out: U32) -> None:
    """RAND_HASH (RFC 8391 algorithm 7) of every row: (m, 8) inputs and addresses -> out."""
    total = left.shape[0]
    w = np.empty((72, _LANES), dtype=np.uint32)
    block = np.empty((16, _LANES), dtype=np.uint32)
    iv = np.empty((8, _LANES), dtype=np.uint32)
    _put_const(iv, 0, _IV, _LANES)
    prf_mid = np.empty((8, _LANES), dtype=np.uint32)
    _midstate(_PAD_PRF, pub_seed, prf_mid, w)
    adrs = np.empty((8, _LANES), dtype=np.uint32)
    key = np.empty((8, _LANES), dtype=np.uint32)
    bm0 = np.empty((8, _LANES), dtype=np.uint32)
    bm1 = np.empty((8, _LANES), dtype=np.uint32)
    x = np.empty((8, _LANES), dtype=np.uint32)
    y = np.empty((8, _LANES), dtype=np.uint32)
    mid = np.empty((8, _LANES), dtype=np.uint32)
    for start in range(0, total, _LANES):
        n = min(_LANES, total - start)
        for lane in range(n):
            for i in range(8):
                adrs[i, lane] = adrs_rows[start + lane, i]
                x[i, lane] = left[start + lane, i]
                y[i, lane] = right[start + lane, i]
        _put_const(block, 8, _TAIL_96, n)
        for key_and_mask, dest in ((0, key), (1, bm0), (2, bm1)):
            for lane in range(n):
                adrs[7, lane] = key_and_mask
            _put(block, 0, adrs, n)
            _compress(prf_mid, block, dest, w, n)
        _put_const(block, 0, _PAD_H, n)
        _put(block, 8, key, n)
        _compress(iv, block, mid, w, n)
        _put_xor(block, 0, x, bm0, n)
        _put_xor(block, 8, y, bm1, n)
        _compress(mid, block, mid, w, n)
        _put_const(block, 0, _BLOCK_128, n)
        _compress(mid, block, x, w, n)
        for lane in range(n):
            for i in range(8):
                out[start + lane, i] = x[i, lane]


@numba.njit(cache=True)
def _build(sk_seed: U32, pub_seed: U32, height: int) -> U32:
    """All ``2**(height+1) - 1`` nodes, level by level (leaves first), as words."""
    return _tree(_leaves(sk_seed, pub_seed, height), pub_seed, height)


@numba.njit(cache=True)
def _leaves(sk_seed: U32, pub_seed: U32, height: int) -> U32:
    """The ``2**height`` leaves (L-tree roots of the WOTS+ public keys), as words."""
    num_leaves = 1 << height
    pk = _chain_ends(sk_seed, pub_seed, num_leaves).reshape((num_leaves, LEN, 8))
    count, level = LEN, 0
    while count > 1:  # L-trees of all leaves, one level at a time (type 1)
        half = count // 2
        m = num_leaves * half
        left = np.empty((m, 8), dtype=np.uint32)
        right = np.empty((m, 8), dtype=np.uint32)
        adrs = np.zeros((m, 8), dtype=np.uint32)
        for leaf in range(num_leaves):
            for i in range(half):
                row = leaf * half + i
                left[row] = pk[leaf, 2 * i]
                right[row] = pk[leaf, 2 * i + 1]
                adrs[row, 3], adrs[row, 4], adrs[row, 5], adrs[row, 6] = 1, leaf, level, i
        merged = np.empty((m, 8), dtype=np.uint32)
        _rand_hash_rows(left, right, adrs, pub_seed, merged)
        for leaf in range(num_leaves):
            if count % 2 == 1:
                pk[leaf, half] = pk[leaf, count - 1]
            for i in range(half):
                pk[leaf, i] = merged[leaf * half + i]
        count, level = (count + 1) // 2, level + 1
    leaves = np.empty((num_leaves, 8), dtype=np.uint32)
    for leaf in range(num_leaves):
        leaves[leaf] = pk[leaf, 0]
    return leaves


@numba.njit(cache=True)
def _tree(leaves: U32, pub_seed: U32, height: int) -> U32:
    """Every node above ``leaves`` (type-2 hashes), leaves first, as words."""
    num_leaves = 1 << height
    nodes = np.empty((2 * num_leaves - 1, 8), dtype=np.uint32)
    nodes[:num_leaves] = leaves
    child, start = 0, num_leaves
    for k in range(height):  # the tree (type 2): node j at height k + 1
        m = 1 << (height - k - 1)
        adrs = np.zeros((m, 8), dtype=np.uint32)
        for j in range(m):
            adrs[j, 3], adrs[j, 5], adrs[j, 6] = 2, k, j
        left = nodes[child : child + 2 * m : 2].copy()
        right = nodes[child + 1 : child + 2 * m : 2].copy()
        _rand_hash_rows(left, right, adrs, pub_seed, nodes[start : start + m])
        child, start = start, start + m
    return nodes


def _words(data: bytes) -> U32:
    return np.frombuffer(data, dtype=">u4").astype(np.uint32)


def build_tree_fast(sk_seed: bytes, pub_seed: bytes, height: int) -> list[bytes]:
    """Same output as ``xmss.build_tree_reference``: ``levels[k]`` is 2**(height-k) nodes."""
    if len(sk_seed) != N or len(pub_seed) != N:
        raise ValueError(f"seeds must be {N} bytes")
    if not 1 <= height <= 20:
        raise ValueError(f"XMSS height must be 1..20, got {height}")
    return _levels(_build(_words(sk_seed), _words(pub_seed), height), height)


def tree_from_leaves_fast(leaves: bytes, pub_seed: bytes, height: int) -> list[bytes]:
    """The levels above known ``leaves`` (2**height nodes of N bytes): the cheap part of the
    tree, for a key whose leaves were cached."""
    if len(pub_seed) != N or len(leaves) != N << height:
        raise ValueError(f"expected a {N}-byte seed and {1 << height} leaves of {N} bytes")
    words = _words(leaves).reshape((1 << height, 8))
    return _levels(_tree(words, _words(pub_seed), height), height)


def _levels(nodes: U32, height: int) -> list[bytes]:
    raw = nodes.astype(">u4").tobytes()
    levels = []
    start = 0
    for k in range(height + 1):
        count = 1 << (height - k)
        levels.append(raw[start * N : (start + count) * N])
        start += count
    return levels


def sha256_words(message: bytes) -> bytes:
    """Plain SHA-256 through the compiled compression, one lane (to test it against hashlib)."""
    length = len(message)
    padded = message + b"\x80" + b"\x00" * ((55 - length) % 64) + (8 * length).to_bytes(8, "big")
    state = np.zeros((8, _LANES), dtype=np.uint32)
    state[:, 0] = _IV
    block = np.zeros((16, _LANES), dtype=np.uint32)
    w = np.empty((72, _LANES), dtype=np.uint32)
    for off in range(0, len(padded), 64):
        block[:, 0] = _words(padded[off : off + 64])
        _compress(state, block, state, w, 1)
    return bytes(state[:, 0].astype(">u4").tobytes())

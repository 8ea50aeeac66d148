"""WOTS+ and XMSS: reference-code known answers, an independent re-derivation, fast vs reference."""

from __future__ import annotations

import hashlib
import json
import random
import struct
from pathlib import Path

import pytest

from poqw.crypto import wots
from poqw.crypto.wots import Adrs
from poqw.crypto.xmss import (
    XmssPrivateKey,
    XmssPublicKey,
    build_tree_reference,
    ltree,
    xmss_sign,
    xmss_signature_size,
    xmss_verify,
)
from poqw.crypto.xmss_fast import build_tree_fast, sha256_words
from poqw.errors import DecodeError, InvalidSignature, KeyExhausted

KAT = json.loads(
    (Path(__file__).parent / "vectors" / "crypto" / "xmss_reference_kat.json").read_text()
)


def shake10(data: bytes) -> str:
    return hashlib.shake_128(data).hexdigest(10)


# --- an independent, straight-from-the-RFC re-derivation (no poqw code) ---------------------


def rfc_adrs(layer: int, tree: int, type_: int, ots: int, chain: int, hash_: int, km: int) -> bytes:
    return struct.pack(">IQIIIII", layer, tree, type_, ots, chain, hash_, km)


def rfc_sha(pad: int, key: bytes, m: bytes) -> bytes:
    return hashlib.sha256(pad.to_bytes(32, "big") + key + m).digest()


def rfc_chain(x: bytes, start: int, steps: int, seed: bytes, ots: int, chain_i: int) -> bytes:
    for k in range(start, start + steps):
        key = rfc_sha(3, seed, rfc_adrs(0, 0, 0, ots, chain_i, k, 0))
        mask = rfc_sha(3, seed, rfc_adrs(0, 0, 0, ots, chain_i, k, 1))
        x = rfc_sha(0, key, bytes(a ^ b for a, b in zip(x, mask, strict=True)))
    return x


def rfc_digits(digest: bytes) -> list[int]:
    msg = [int(c, 16) for c in digest.hex()]  # base 16, most significant nibble first
    csum = sum(15 - d for d in msg) << 4  # len_2 * lg(w) = 12 bits, left-shifted by 8 - 12 % 8
    return msg + [int(c, 16) for c in f"{csum:04x}"[:3]]


def test_parameters_follow_rfc_8391() -> None:
    assert (wots.N, wots.W, wots.LEN_1, wots.LEN_2, wots.LEN) == (32, 16, 64, 3, 67)
    assert xmss_signature_size(10) == 2500  # XMSS-SHA2_10_256, RFC 8391 section 5.3


def test_wots_known_answer_from_reference_code() -> None:
    v = KAT["wots"]
    addr = Adrs([500000000 * i for i in range(8)])
    addr2 = Adrs([400000000 * i for i in range(8)])
    sk_seed = bytes(range(32))
    pub_seed = bytes(2 * i for i in range(32))
    m = bytes(3 * i for i in range(32))
    pk = wots.wots_pkgen(sk_seed, pub_seed, addr)
    sig = wots.wots_sign(m, sk_seed, pub_seed, addr)
    assert shake10(b"".join(pk)) == v["pk_shake128_10"]
    assert shake10(b"".join(sig)) == v["sig_shake128_10"]
    leaf = ltree(wots.wots_pkgen(sk_seed, pub_seed, addr2), pub_seed, addr.copy())
    assert shake10(leaf) == v["leaf_shake128_10"]
    assert wots.wots_pk_from_sig(sig, m, pub_seed, addr) == pk


def test_wots_matches_independent_rederivation() -> None:
    rng = random.Random(8391)
    sk_seed, pub_seed, digest = (rng.randbytes(32) for _ in range(3))
    ots = 5
    adrs = Adrs.of(wots.ADRS_OTS).set(4, ots)
    sks = [rfc_sha(4, sk_seed, pub_seed + rfc_adrs(0, 0, 0, ots, i, 0, 0)) for i in range(67)]
    assert wots.wots_sk(sk_seed, pub_seed, adrs) == sks
    pk = [rfc_chain(sk, 0, 15, pub_seed, ots, i) for i, sk in enumerate(sks)]
    assert wots.wots_pkgen(sk_seed, pub_seed, adrs) == pk
    digits = rfc_digits(digest)
    assert wots.message_digits(digest) == digits
    sig = [
        rfc_chain(sk, 0, d, pub_seed, ots, i)
        for i, (sk, d) in enumerate(zip(sks, digits, strict=True))
    ]
    assert wots.wots_sign(digest, sk_seed, pub_seed, adrs) == sig
    # one step of a chain, written out with no helper at all
    key = hashlib.sha256(bytes(31) + b"\x03" + pub_seed + rfc_adrs(0, 0, 0, ots, 2, 7, 0)).digest()
    mask = hashlib.sha256(bytes(31) + b"\x03" + pub_seed + rfc_adrs(0, 0, 0, ots, 2, 7, 1)).digest()
    x = rng.randbytes(32)
    step = hashlib.sha256(
        bytes(32) + key + bytes(a ^ b for a, b in zip(x, mask, strict=True))
    ).digest()
    assert wots.chain(x, 7, 1, pub_seed, Adrs.of(0).set(4, ots).set(5, 2)) == step


def test_checksum_extremes() -> None:
    assert wots.message_digits(bytes(32))[64:] == [3, 12, 0]  # 64 * 15 = 960 = 0x3c0
    assert wots.message_digits(b"\xff" * 32)[64:] == [0, 0, 0]


def test_xmss_known_answer_from_reference_code() -> None:
    v = KAT["xmss"]
    key = XmssPrivateKey.from_seed(bytes(range(96)), v["height"])  # fast path
    pub = key.public_key()
    assert shake10(pub.root + pub.pub_seed) == v["pk_shake128_10"]
    sig = xmss_sign(key, v["index"], bytes.fromhex(v["message"]))
    assert len(sig) == 2500
    assert shake10(sig) == v["sig_shake128_10"]
    xmss_verify(pub, bytes.fromhex(v["message"]), sig)


@pytest.mark.parametrize("height", [1, 2, 3])
def test_fast_tree_equals_reference_node_for_node(height: int) -> None:
    rng = random.Random(height)
    sk_seed, pub_seed = rng.randbytes(32), rng.randbytes(32)
    assert build_tree_fast(sk_seed, pub_seed, height) == build_tree_reference(
        sk_seed, pub_seed, height
    )


def test_compiled_sha256_matches_hashlib() -> None:
    rng = random.Random(1)
    for length in [0, 1, 55, 56, 63, 64, 65, 119, 128, 300]:
        data = rng.randbytes(length)
        assert sha256_words(data) == hashlib.sha256(data).digest()


@pytest.fixture(scope="module")
def small_key() -> XmssPrivateKey:
    return XmssPrivateKey.from_seed(random.Random(3).randbytes(96), 3, fast=False)


def test_every_index_signs_and_verifies(small_key: XmssPrivateKey) -> None:
    pub = small_key.public_key()
    for index in range(small_key.capacity):
        message = b"block %d" % index
        sig = xmss_sign(small_key, index, message)
        xmss_verify(pub, message, sig)
        with pytest.raises(InvalidSignature):
            xmss_verify(pub, message + b"!", sig)


def test_bit_flips_anywhere_fail(small_key: XmssPrivateKey) -> None:
    pub = small_key.public_key()
    sig = xmss_sign(small_key, 5, b"m")
    rng = random.Random(5)
    # one random bit in every 32-byte value (index, r, 67 chain values, 3 auth nodes) ...
    positions = [rng.randrange(4 * 8)] + [4 * 8 + 256 * v + rng.randrange(256) for v in range(71)]
    # ... and 60 more anywhere
    positions += [rng.randrange(len(sig) * 8) for _ in range(60)]
    for bit in positions:
        bad = bytearray(sig)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises((InvalidSignature, DecodeError)):
            xmss_verify(pub, b"m", bytes(bad))
    other = XmssPublicKey(pub.height, pub.root, bytes(32))
    with pytest.raises(InvalidSignature):
        xmss_verify(other, b"m", sig)


def test_index_bounds_and_sizes(small_key: XmssPrivateKey) -> None:
    pub = small_key.public_key()
    with pytest.raises(KeyExhausted, match="outside 0..7"):
        xmss_sign(small_key, 8, b"m")
    sig = xmss_sign(small_key, 7, b"m")
    with pytest.raises(InvalidSignature, match="outside"):
        xmss_verify(pub, b"m", (9).to_bytes(4, "big") + sig[4:])
    with pytest.raises(DecodeError):
        xmss_verify(pub, b"m", sig[:-1])
    with pytest.raises(DecodeError):
        XmssPublicKey.from_bytes(pub.to_bytes() + b"\x00")
    with pytest.raises(DecodeError):
        XmssPublicKey.from_bytes(b"\x00" + pub.to_bytes()[1:])
    assert XmssPublicKey.from_bytes(pub.to_bytes()) == pub


def test_repr_hides_seeds(small_key: XmssPrivateKey) -> None:
    text = repr(small_key)
    for secret in (small_key.sk_seed, small_key.sk_prf):
        assert secret.hex() not in text

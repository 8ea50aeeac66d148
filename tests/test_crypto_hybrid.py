"""Hybrid ECDSA + post-quantum signatures, ML-DSA-44, and their canonical encodings."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hybrid import (
    MAX_PUBLIC_KEY_BYTES,
    MAX_SIGNATURE_BYTES,
    MLDSA_CONTEXT,
    HybridPrivateKey,
    HybridPublicKey,
    HybridSignature,
    HybridSigner,
    Scheme,
    signing_digest,
    verify_hybrid,
)
from poqw.crypto.keystate import IndexCounter
from poqw.crypto.mldsa import MlDsaPrivateKey, MlDsaPublicKey
from poqw.crypto.xmss import XmssPrivateKey, xmss_sign
from poqw.errors import CryptoError, DecodeError, InvalidSignature, KeyExhausted

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "crypto" / "hybrid_xmss.json").read_text()
)


def xmss_key(height: int = 2, seed: int = 0) -> HybridPrivateKey:
    rng = random.Random(seed)
    return HybridPrivateKey(
        EcdsaPrivateKey(rng.randbytes(32)),
        XmssPrivateKey.from_seed(rng.randbytes(96), height, fast=False),
    )


@pytest.fixture
def xmss_signer(tmp_path: Path) -> HybridSigner:
    key = xmss_key()
    counter = IndexCounter.create(tmp_path / "k.state", key.public_key.key_id(), 4)
    return HybridSigner(key, counter)


@pytest.fixture(scope="module")
def mldsa_signer() -> HybridSigner:
    return HybridSigner(HybridPrivateKey(EcdsaPrivateKey.generate(), MlDsaPrivateKey.generate()))


# --- ML-DSA-44 on its own --------------------------------------------------------------------


def test_mldsa_sign_verify_and_context_separation() -> None:
    key = MlDsaPrivateKey.generate()
    pub = key.public_key()
    sig = key.sign(b"message", b"ctx")
    pub.verify(b"message", sig, b"ctx")
    # the library's own verifier accepts it: our wrapper adds nothing to the signature
    MLDSA44PublicKey.from_public_bytes(pub.data).verify(sig, b"message", b"ctx")
    with pytest.raises(InvalidSignature):
        pub.verify(b"message", sig, b"other")
    with pytest.raises(InvalidSignature):
        pub.verify(b"messagE", sig, b"ctx")
    with pytest.raises(DecodeError):
        pub.verify(b"message", sig[:-1], b"ctx")
    assert MlDsaPrivateKey(key.seed()).public_key() == pub  # the seed is the whole secret
    assert key.seed().hex() not in repr(key)


# --- hybrid ----------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"h{v['height']}")
def test_hybrid_xmss_vectors(vector: dict[str, object]) -> None:
    def b(name: str) -> bytes:
        return bytes.fromhex(str(vector[name]))

    key = HybridPrivateKey(
        EcdsaPrivateKey(b("ecdsa_secret")),
        XmssPrivateKey.from_seed(b("xmss_seed"), int(str(vector["height"])), fast=False),
    )
    assert key.public_key.to_bytes() == b("public_key")
    assert HybridPublicKey.from_bytes(b("public_key")) == key.public_key
    assert signing_digest(key.public_key, b("message")) == b("signing_digest")
    sig = HybridSignature.from_bytes(b("signature"))
    assert sig.to_bytes() == b("signature")
    assert sig.one_time_index == vector["index"]
    verify_hybrid(key.public_key, b("message"), sig, address=key.public_key.address())


@pytest.mark.parametrize("which", ["xmss", "mldsa"])
def test_sign_verify_round_trip(
    which: str, xmss_signer: HybridSigner, mldsa_signer: HybridSigner
) -> None:
    signer = xmss_signer if which == "xmss" else mldsa_signer
    sig = signer.sign(b"header hash")
    encoded = sig.to_bytes()
    assert len(encoded) == signer.public_key.signature_size() <= MAX_SIGNATURE_BYTES
    pub = HybridPublicKey.from_bytes(signer.public_key.to_bytes())
    verify_hybrid(pub, b"header hash", encoded, address=signer.address())
    with pytest.raises(InvalidSignature):
        verify_hybrid(pub, b"header hasH", encoded)
    with pytest.raises(InvalidSignature, match="not the claimed"):
        verify_hybrid(pub, b"header hash", encoded, address=bytes(20))


@pytest.mark.parametrize("which", ["xmss", "mldsa"])
def test_one_bad_half_fails(
    which: str, xmss_signer: HybridSigner, mldsa_signer: HybridSigner
) -> None:
    signer = xmss_signer if which == "xmss" else mldsa_signer
    pub = signer.public_key
    good = signer.sign(b"m")
    other = signer.sign(b"other message")
    digest = signing_digest(pub, b"m")
    # a valid ECDSA half for the message with a PQ half for another message
    with pytest.raises(InvalidSignature, match="post-quantum half"):
        verify_hybrid(pub, b"m", HybridSignature(good.scheme, good.ecdsa, other.pq))
    # a valid PQ half with an ECDSA signature by another key over the right digest
    intruder = EcdsaPrivateKey.generate().sign(digest)
    with pytest.raises(InvalidSignature, match="ECDSA half"):
        verify_hybrid(pub, b"m", HybridSignature(good.scheme, intruder, good.pq))
    # halves that verify alone but sign the bare message, not the committed digest
    with pytest.raises(InvalidSignature):
        verify_hybrid(
            pub, b"m", HybridSignature(good.scheme, signer.key.ecdsa.sign(bytes(32)), good.pq)
        )


def test_signature_commits_to_scheme_and_key(
    xmss_signer: HybridSigner, mldsa_signer: HybridSigner
) -> None:
    sig = mldsa_signer.sign(b"m")
    with pytest.raises(InvalidSignature, match="does not match key scheme"):
        verify_hybrid(xmss_signer.public_key, b"m", sig)
    # same ECDSA key, another ML-DSA key: the digest differs, so the ECDSA half fails too
    twin = HybridPrivateKey(mldsa_signer.key.ecdsa, MlDsaPrivateKey.generate())
    with pytest.raises(InvalidSignature, match="ECDSA half"):
        verify_hybrid(twin.public_key, b"m", sig)
    raw = MlDsaPrivateKey.generate()
    assert MLDSA_CONTEXT and raw.public_key() != MlDsaPublicKey(mldsa_signer.public_key.pq)


def test_decoders_enforce_sizes(xmss_signer: HybridSigner, mldsa_signer: HybridSigner) -> None:
    pk = xmss_signer.public_key.to_bytes()
    for bad in (b"", pk[:1], pk[:-1], pk + b"\x00", b"\x02" + pk[1:], pk[:1] + b"\x09" + pk[2:]):
        with pytest.raises(DecodeError):
            HybridPublicKey.from_bytes(bad)
    with pytest.raises(DecodeError, match="at most"):
        HybridPublicKey.from_bytes(b"\x01\x02" + bytes(MAX_PUBLIC_KEY_BYTES))
    sig = mldsa_signer.sign(b"m").to_bytes()
    for bad in (
        b"",
        sig[:2],
        sig[:-1],
        sig + b"\x00",
        b"\x07" + sig[1:],
        sig[:1] + b"\x00" + sig[2:],
    ):
        with pytest.raises(DecodeError):
            HybridSignature.from_bytes(bad)
    with pytest.raises(DecodeError, match="at most"):
        HybridSignature.from_bytes(b"\x01\x01" + bytes(MAX_SIGNATURE_BYTES))
    # an XMSS signature of another height decodes, but does not verify for this key
    tall = xmss_key(height=3, seed=9)
    assert isinstance(tall.pq, XmssPrivateKey)
    digest = signing_digest(xmss_signer.public_key, b"m")
    foreign = HybridSignature(
        Scheme.ECDSA_XMSS, xmss_signer.key.ecdsa.sign(digest), xmss_sign(tall.pq, 0, digest)
    )
    with pytest.raises(InvalidSignature, match="post-quantum half"):
        verify_hybrid(xmss_signer.public_key, b"m", foreign.to_bytes())


def test_xmss_signer_uses_each_index_once_then_refuses(xmss_signer: HybridSigner) -> None:
    indices = [xmss_signer.sign(b"m%d" % i).one_time_index for i in range(4)]
    assert indices == [0, 1, 2, 3]
    assert xmss_signer.remaining() == 0
    with pytest.raises(
        KeyExhausted, match=r"all 4 one-time keys have been used \(4 used, 0 left\)"
    ):
        xmss_signer.sign(b"one too many")


def test_xmss_signer_needs_a_counter() -> None:
    with pytest.raises(ValueError, match="IndexCounter"):
        HybridSigner(xmss_key())


def test_reprs_hide_secrets(xmss_signer: HybridSigner, mldsa_signer: HybridSigner) -> None:
    for signer in (xmss_signer, mldsa_signer):
        texts = [repr(signer), str(signer), repr(signer.key), str(signer.key)]
        secrets = [signer.key.ecdsa.secret_bytes().hex(), signer.key.pq_secret().hex()]
        secrets += [s[:16] for s in secrets]
        for text in texts:
            assert signer.address().hex() in text
            for secret in secrets:
                assert secret not in text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2600), st.sampled_from([b"", b"\x01\x01", b"\x01\x02"]))
def test_decoders_raise_only_decode_error(data: bytes, prefix: bytes) -> None:
    """Arbitrary bytes either decode to an object that re-encodes to them, or DecodeError."""
    encoded = prefix + data
    with contextlib.suppress(DecodeError):
        assert HybridSignature.from_bytes(encoded).to_bytes() == encoded
    with contextlib.suppress(DecodeError):
        assert HybridPublicKey.from_bytes(encoded).to_bytes() == encoded


@pytest.mark.parametrize("which", ["xmss", "mldsa"])
def test_truncated_or_extended_encodings(
    which: str, xmss_signer: HybridSigner, mldsa_signer: HybridSigner
) -> None:
    signer = xmss_signer if which == "xmss" else mldsa_signer
    sig = signer.sign(b"m").to_bytes()
    pk = signer.public_key.to_bytes()
    for cut in range(0, len(pk), 7):
        with pytest.raises(DecodeError):
            HybridPublicKey.from_bytes(pk[:cut])
    for cut in range(0, len(sig), 97):
        with pytest.raises((DecodeError, InvalidSignature)):
            verify_hybrid(signer.public_key, b"m", sig[:cut])


def test_corrupt_tree_cache_never_yields_a_signature(tmp_path: Path) -> None:
    key = xmss_key(height=2, seed=4)
    assert isinstance(key.pq, XmssPrivateKey)
    leaves = bytearray(key.pq.levels[0])
    leaves[32] ^= 1  # leaf 1: the authentication path of index 0
    broken = dataclasses.replace(key.pq, levels=(bytes(leaves), *key.pq.levels[1:]))
    counter = IndexCounter.create(tmp_path / "s", key.public_key.key_id(), 4)
    signer = HybridSigner(HybridPrivateKey(key.ecdsa, broken), counter)
    with pytest.raises(CryptoError, match="cached tree is corrupt"):
        signer.sign(b"m")
    assert counter.next_index() == 1  # the index stays burnt
    assert signer.sign(b"m").one_time_index == 1  # index 1's path does not use leaf 1

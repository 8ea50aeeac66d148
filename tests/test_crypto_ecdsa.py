"""secp256k1 ECDSA and Ethereum addresses, checked against eth-keys and eth-account."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from eth_account import Account
from eth_keys.backends.native.main import NativeECCBackend
from eth_keys.main import KeyAPI
from eth_utils.address import to_checksum_address as eth_checksum

from poqw.crypto.ecdsa import (
    SECP256K1_ORDER,
    EcdsaPrivateKey,
    EcdsaPublicKey,
    ecdsa_recover,
    ecdsa_verify,
    to_checksum_address,
)
from poqw.errors import DecodeError, InvalidSignature

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "crypto" / "ecdsa_secp256k1.json").read_text()
)
NATIVE = KeyAPI(backend=NativeECCBackend)  # pure Python: independent of libsecp256k1


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["address"][:10])
def test_vectors_from_pure_python_eth_keys(vector: dict[str, str]) -> None:
    key = EcdsaPrivateKey(bytes.fromhex(vector["secret"]))
    digest = bytes.fromhex(vector["digest"])
    assert key.public_key().compressed.hex() == vector["public_key_compressed"]
    assert key.public_key().uncompressed().hex() == vector["public_key_uncompressed"]
    assert to_checksum_address(key.address()) == vector["address"]
    assert key.sign(digest).hex() == vector["signature"]
    ecdsa_verify(key.public_key(), digest, bytes.fromhex(vector["signature"]))


def test_random_keys_agree_with_eth_keys_and_eth_account() -> None:
    rng_seed = os.urandom(8).hex()
    print("seed material", rng_seed)
    for i in range(10):
        secret = os.urandom(32)
        digest = os.urandom(32)
        key = EcdsaPrivateKey(secret)
        theirs = NATIVE.PrivateKey(secret)
        sig = key.sign(digest)
        assert sig == NATIVE.ecdsa_sign(digest, theirs).to_bytes(), i
        assert key.address() == theirs.public_key.to_canonical_address()
        assert to_checksum_address(key.address()) == Account.from_key(secret).address
        # eth-keys recovers the same signer from our signature
        recovered = NATIVE.ecdsa_recover(digest, NATIVE.Signature(sig))
        assert recovered.to_canonical_address() == key.address()
        assert ecdsa_recover(digest, sig) == key.public_key()


def test_checksum_address_matches_eth_utils() -> None:
    for _ in range(20):
        address = os.urandom(20)
        assert to_checksum_address(address) == eth_checksum(address)


def test_wrong_digest_or_key_fails() -> None:
    key, other = EcdsaPrivateKey.generate(), EcdsaPrivateKey.generate()
    digest = os.urandom(32)
    sig = key.sign(digest)
    with pytest.raises(InvalidSignature):
        ecdsa_verify(other.public_key(), digest, sig)
    with pytest.raises(InvalidSignature):
        ecdsa_verify(key.public_key(), bytes(32), sig)


def test_every_bit_flip_of_a_signature_fails() -> None:
    key = EcdsaPrivateKey.generate()
    digest = os.urandom(32)
    sig = key.sign(digest)
    for bit in range(len(sig) * 8):
        bad = bytearray(sig)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(InvalidSignature):
            ecdsa_verify(key.public_key(), digest, bytes(bad))


def test_high_s_twin_is_rejected() -> None:
    key = EcdsaPrivateKey.generate()
    digest = os.urandom(32)
    sig = key.sign(digest)
    s = int.from_bytes(sig[32:64], "big")
    twin = sig[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big") + bytes([sig[64] ^ 1])
    # the twin is mathematically valid (eth-keys accepts it) but not canonical
    assert NATIVE.ecdsa_recover(digest, NATIVE.Signature(twin)).to_canonical_address() == (
        key.address()
    )
    with pytest.raises(InvalidSignature, match="lower half"):
        ecdsa_verify(key.public_key(), digest, twin)


def test_bad_sizes_and_values() -> None:
    key = EcdsaPrivateKey.generate()
    with pytest.raises(DecodeError):
        ecdsa_verify(key.public_key(), bytes(32), bytes(64))
    with pytest.raises(ValueError, match="32-byte digest"):
        key.sign(b"short")
    with pytest.raises(ValueError, match="1..n-1"):
        EcdsaPrivateKey(bytes(32))
    with pytest.raises(DecodeError):
        EcdsaPublicKey(b"\x02" + bytes(31))
    with pytest.raises(DecodeError):
        EcdsaPublicKey.from_bytes(b"\x05" * 33)


def test_repr_hides_the_secret() -> None:
    secret = os.urandom(32)
    key = EcdsaPrivateKey(secret)
    for text in (repr(key), str(key), f"{key}"):
        assert secret.hex() not in text
        assert key.address().hex() in text

"""Regenerate the crypto test vectors in this folder.

``ecdsa_secp256k1.json`` comes from eth-keys' pure-Python backend (an implementation independent
of coincurve/libsecp256k1). ``xmss_reference_kat.json`` is transcribed from the output of
``test/vectors.c`` of the XMSS reference implementation (github.com/XMSS/xmss-reference), not
computed here. ``hybrid_xmss.json`` is produced by poqw itself (a regression vector for the
canonical hybrid encoding). Run: ``.venv/bin/python tests/vectors/crypto/make_vectors.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from eth_keys.backends.native.main import NativeECCBackend
from eth_keys.main import KeyAPI

HERE = Path(__file__).parent


def ecdsa_vectors() -> list[dict[str, str]]:
    api = KeyAPI(backend=NativeECCBackend)
    out = []
    for i in range(8):
        secret = hashlib.sha256(b"poqw ecdsa vector secret %d" % i).digest()
        digest = hashlib.sha256(b"poqw ecdsa vector message %d" % i).digest()
        key = api.PrivateKey(secret)
        sig = api.ecdsa_sign(digest, key)
        out.append(
            {
                "secret": secret.hex(),
                "digest": digest.hex(),
                "public_key_uncompressed": key.public_key.to_bytes().hex(),
                "public_key_compressed": key.public_key.to_compressed_bytes().hex(),
                "address": key.public_key.to_checksum_address(),
                "signature": sig.to_bytes().hex(),
            }
        )
    return out


def hybrid_vectors() -> list[dict[str, object]]:
    from poqw.crypto.ecdsa import EcdsaPrivateKey
    from poqw.crypto.hybrid import HybridPrivateKey, signing_digest
    from poqw.crypto.xmss import XmssPrivateKey, xmss_sign

    out: list[dict[str, object]] = []
    for height, index in ((2, 0), (4, 11)):
        ecdsa_secret = hashlib.sha256(b"poqw hybrid vector ecdsa %d" % height).digest()
        xmss_seed = hashlib.shake_256(b"poqw hybrid vector xmss %d" % height).digest(96)
        key = HybridPrivateKey(
            EcdsaPrivateKey(ecdsa_secret), XmssPrivateKey.from_seed(xmss_seed, height, fast=False)
        )
        message = b"poqw hybrid vector message %d" % height
        digest = signing_digest(key.public_key, message)
        assert isinstance(key.pq, XmssPrivateKey)
        signature = bytes([1, 1]) + key.ecdsa.sign(digest) + xmss_sign(key.pq, index, digest)
        out.append(
            {
                "ecdsa_secret": ecdsa_secret.hex(),
                "xmss_seed": xmss_seed.hex(),
                "height": height,
                "index": index,
                "message": message.hex(),
                "public_key": key.public_key.to_bytes().hex(),
                "signing_digest": digest.hex(),
                "signature": signature.hex(),
            }
        )
    return out


def main() -> None:
    (HERE / "ecdsa_secp256k1.json").write_text(json.dumps(ecdsa_vectors(), indent=1) + "\n")
    (HERE / "hybrid_xmss.json").write_text(json.dumps(hybrid_vectors(), indent=1) + "\n")


if __name__ == "__main__":
    main()

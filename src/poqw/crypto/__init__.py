"""Hashing with domain separation, and signatures (ECDSA, WOTS+/XMSS, ML-DSA, hybrid).

The public surface: ``hash32``/``shake_stream``; secp256k1 keys and Ethereum addresses
(``EcdsaPrivateKey``, ``to_checksum_address``); stateless XMSS (``XmssPrivateKey``,
``xmss_sign``, ``xmss_verify``) and ML-DSA-44; the hybrid signer (``HybridSigner``,
``verify_hybrid``) and encrypted key files (``new_key``, ``load_key``, ``export_public``).
"""

from poqw.crypto.ecdsa import (
    EcdsaPrivateKey,
    EcdsaPublicKey,
    address_from_public_key,
    ecdsa_recover,
    ecdsa_verify,
    to_checksum_address,
)
from poqw.crypto.hashing import Hash32, hash32, shake_stream
from poqw.crypto.hybrid import (
    HybridPrivateKey,
    HybridPublicKey,
    HybridSignature,
    HybridSigner,
    Scheme,
    signing_digest,
    verify_hybrid,
)
from poqw.crypto.keystate import IndexCounter
from poqw.crypto.keystore import export_public, load_key, new_key, read_public_key, show_key
from poqw.crypto.mldsa import MlDsaPrivateKey, MlDsaPublicKey
from poqw.crypto.xmss import XmssPrivateKey, XmssPublicKey, xmss_sign, xmss_verify

__all__ = [
    "EcdsaPrivateKey",
    "EcdsaPublicKey",
    "Hash32",
    "HybridPrivateKey",
    "HybridPublicKey",
    "HybridSignature",
    "HybridSigner",
    "IndexCounter",
    "MlDsaPrivateKey",
    "MlDsaPublicKey",
    "Scheme",
    "XmssPrivateKey",
    "XmssPublicKey",
    "address_from_public_key",
    "ecdsa_recover",
    "ecdsa_verify",
    "export_public",
    "hash32",
    "load_key",
    "new_key",
    "read_public_key",
    "shake_stream",
    "show_key",
    "signing_digest",
    "to_checksum_address",
    "verify_hybrid",
    "xmss_sign",
    "xmss_verify",
]

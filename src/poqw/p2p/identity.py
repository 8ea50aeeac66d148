"""Binding a node's key to the TLS certificate it actually used.

During the join each side signs, with its secp256k1 node key, a digest of its role, its own TLS
certificate fingerprint, the other side's fresh nonce, the chain id and the genesis hash. The
verifier recomputes the digest with the fingerprint it saw in TLS, so a relayed or replayed
handshake fails: a node is its key, not its address.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
from pathlib import Path

from poqw.crypto.ecdsa import EcdsaPrivateKey, EcdsaPublicKey, ecdsa_verify
from poqw.crypto.hashing import hash32
from poqw.errors import ConfigError, CryptoError, DecodeError, UntrustedPeer

__all__ = [
    "Role",
    "certificate_fingerprint",
    "handshake_digest",
    "load_key_file",
    "sign_handshake",
    "verify_handshake",
]

_DOMAIN = b"poqw/p2p/handshake/v1"


class Role(enum.IntEnum):
    """Which end of the connection signs; part of the digest so a signature cannot be reflected."""

    INITIATOR = 1
    RESPONDER = 2


def certificate_fingerprint(der: bytes) -> bytes:
    """SHA-256 of the DER certificate (what ``openssl x509 -fingerprint -sha256`` shows)."""
    return hashlib.sha256(der).digest()


def handshake_digest(role: Role, node_id: bytes, fingerprint: bytes, peer_nonce: bytes,
                     chain_id: int, genesis_hash: bytes) -> bytes:
    if len(fingerprint) != 32 or len(peer_nonce) != 32 or len(genesis_hash) != 32:
        raise ValueError("fingerprint, nonce and genesis hash are 32 bytes each")
    return hash32(_DOMAIN, bytes([role]), node_id, fingerprint, peer_nonce,
                  chain_id.to_bytes(8, "big"), genesis_hash)


def sign_handshake(key: EcdsaPrivateKey, role: Role, fingerprint: bytes, peer_nonce: bytes,
                   chain_id: int, genesis_hash: bytes) -> bytes:
    node_id = key.public_key().compressed
    return key.sign(handshake_digest(role, node_id, fingerprint, peer_nonce, chain_id,
                                     genesis_hash))


def verify_handshake(node_id: bytes, signature: bytes, role: Role, fingerprint: bytes,
                     peer_nonce: bytes, chain_id: int, genesis_hash: bytes) -> None:
    """Raise ``UntrustedPeer`` unless ``node_id``'s key signed this exact handshake."""
    try:
        public_key = EcdsaPublicKey(node_id)
        ecdsa_verify(public_key, handshake_digest(role, node_id, fingerprint, peer_nonce,
                                                  chain_id, genesis_hash), signature)
    except (CryptoError, DecodeError) as exc:
        raise UntrustedPeer(
            f"peer {node_id.hex()} did not sign the handshake for the TLS certificate "
            f"{fingerprint.hex()[:16]}... it presented ({exc})") from exc


def load_key_file(path: Path) -> EcdsaPrivateKey:
    """The secp256k1 key in ``path`` (hex secret), made owner-only on first use: a chain node's
    ``p2p.key`` and a compute coordinator's or solver's key alike."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            secret = os.urandom(32)
            with contextlib.suppress(ValueError):
                EcdsaPrivateKey(secret)
                break
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret.hex() + "\n")
    try:
        return EcdsaPrivateKey(bytes.fromhex(path.read_text().strip()))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the node key {path}: {exc}") from exc

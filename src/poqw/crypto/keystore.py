"""Key files: hybrid keys at rest, encrypted with a passphrase (scrypt + AES-256-GCM).

A key file is a versioned JSON document whose public fields (scheme, address, public key, KDF
and cipher parameters) are authenticated as AES-GCM associated data and whose only secret is the
ciphertext. A stateful (XMSS) key has a second file, ``<key>.state``, holding the next one-time
index (see ``keystate``), and ``<key>.leaves``, a cache of its tree's leaves (public values)
so that loading the key hashes only the levels above them. These functions are what
``poqw keys new|show|export-public`` call.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from poqw.crypto.ecdsa import EcdsaPrivateKey, to_checksum_address
from poqw.crypto.hybrid import HybridPrivateKey, HybridPublicKey, HybridSigner, Scheme
from poqw.crypto.keystate import IndexCounter, write_file_durably
from poqw.crypto.mldsa import MlDsaPrivateKey
from poqw.crypto.wots import N
from poqw.crypto.xmss import XmssPrivateKey, XmssPublicKey
from poqw.errors import DecodeError, KeyStoreError

__all__ = [
    "DEFAULT_SCRYPT_LOG2_N",
    "MAX_KEY_FILE_BYTES",
    "export_public",
    "leaves_path",
    "load_key",
    "new_key",
    "read_public_key",
    "show_key",
    "state_path",
]

MAX_KEY_FILE_BYTES = 64 * 1024
DEFAULT_SCRYPT_LOG2_N = 17  # 128 MiB, about a third of a second: the usual interactive choice
_MIN_LOG2_N, _MAX_LOG2_N = 10, 20
_FORMAT = "poqw-key"
_VERSION = 1
_PUBLIC_FIELDS = ("format", "version", "scheme", "address", "public_key", "kdf", "cipher")


def state_path(path: Path | str) -> Path:
    """Where the one-time index state of the key file ``path`` lives."""
    p = Path(path)
    return p.with_name(p.name + ".state")


def _derive(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(passphrase.encode())


def _associated_data(doc: dict[str, Any]) -> bytes:
    public = {k: doc[k] for k in _PUBLIC_FIELDS}
    return json.dumps(public, sort_keys=True, separators=(",", ":")).encode()


def new_key(
    path: Path | str,
    passphrase: str,
    scheme: str = "ecdsa+xmss",
    *,
    height: int = 10,
    scrypt_log2_n: int = DEFAULT_SCRYPT_LOG2_N,
    fast: bool = True,
) -> HybridPublicKey:
    """Generate a hybrid key, write it encrypted to ``path`` (never overwriting), return it.

    ``height`` sets an XMSS key's capacity (``2**height`` signatures); ``fast`` picks the
    compiled tree builder (the reference is fine for small heights).
    """
    path = Path(path)
    kind = Scheme.from_label(scheme)
    if not _MIN_LOG2_N <= scrypt_log2_n <= _MAX_LOG2_N:
        raise ValueError(f"scrypt_log2_n must be {_MIN_LOG2_N}..{_MAX_LOG2_N}")
    if not passphrase:
        raise ValueError("an empty passphrase would leave the key unprotected")
    if path.exists() or state_path(path).exists():
        raise KeyStoreError(f"{path} (or its state file) already exists; not overwriting a key")
    key = HybridPrivateKey.generate(kind, height=height, fast=fast)
    salt, nonce = os.urandom(16), os.urandom(12)
    doc: dict[str, Any] = {
        "format": _FORMAT,
        "version": _VERSION,
        "scheme": kind.label,
        "address": to_checksum_address(key.public_key.address()),
        "public_key": key.public_key.to_bytes().hex(),
        "kdf": {"name": "scrypt", "salt": salt.hex(), "log2_n": scrypt_log2_n, "r": 8, "p": 1},
        "cipher": {"name": "aes-256-gcm", "nonce": nonce.hex()},
    }
    secret = key.ecdsa.secret_bytes() + key.pq_secret()
    aead_key = _derive(passphrase, salt, scrypt_log2_n, 8, 1)
    doc["ciphertext"] = AESGCM(aead_key).encrypt(nonce, secret, _associated_data(doc)).hex()
    if kind is Scheme.ECDSA_XMSS:
        capacity = key.pq.capacity if isinstance(key.pq, XmssPrivateKey) else 0
        IndexCounter.create(state_path(path), key.public_key.key_id(), capacity)
    write_file_durably(path, json.dumps(doc, indent=2).encode() + b"\n")
    if isinstance(key.pq, XmssPrivateKey):
        _write_leaves(path, key.pq)
    return key.public_key


def leaves_path(path: Path | str) -> Path:
    """Where the XMSS leaves of the key file ``path`` are cached (public values: every leaf
    appears in some signature's authentication path)."""
    p = Path(path)
    return p.with_name(p.name + ".leaves")


def _write_leaves(path: Path, pq: XmssPrivateKey) -> None:
    with contextlib.suppress(OSError):  # only a cache: the next load rebuilds the tree
        write_file_durably(leaves_path(path), pq.levels[0])


def _xmss_key(path: Path, seed: bytes, public: XmssPublicKey, fast: bool) -> XmssPrivateKey:
    """The XMSS key from its seed: from the cached leaves when they rebuild the expected root
    (a quick hash of the upper levels), else from scratch (and the cache is rewritten)."""
    cache = leaves_path(path)
    try:
        leaves = cache.read_bytes() if cache.stat().st_size == N << public.height else b""
    except OSError:
        leaves = b""
    if leaves:
        pq = XmssPrivateKey.from_seed_and_leaves(seed, public.height, leaves)
        if pq.public_key() == public:
            return pq
    pq = XmssPrivateKey.from_seed(seed, public.height, fast=fast)
    if pq.public_key() == public:
        _write_leaves(path, pq)
    return pq


def _read_document(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KeyStoreError(f"key file {path} does not exist") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot read key file {path}: {exc}") from exc
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise KeyStoreError(f"key file {path} exceeds {MAX_KEY_FILE_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyStoreError(f"key file {path} is not valid JSON") from exc
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        raise KeyStoreError(f"{path} is not a poqw key file")
    if doc.get("version") != _VERSION:
        raise KeyStoreError(f"key file {path} has unsupported version {doc.get('version')!r}")
    missing = [k for k in (*_PUBLIC_FIELDS, "ciphertext") if k not in doc]
    if missing:
        raise KeyStoreError(f"key file {path} lacks {', '.join(missing)}")
    return doc


def _public_key_of(doc: dict[str, Any], path: Path) -> HybridPublicKey:
    try:
        public = HybridPublicKey.from_bytes(bytes.fromhex(doc["public_key"]))
        scheme = Scheme.from_label(doc["scheme"])
    except (DecodeError, ValueError, TypeError) as exc:
        raise KeyStoreError(f"key file {path} has a malformed public key: {exc}") from exc
    if public.scheme is not scheme:
        raise KeyStoreError(f"key file {path}: scheme field does not match the public key")
    if doc["address"] != to_checksum_address(public.address()):
        raise KeyStoreError(f"key file {path}: address field does not match the public key")
    return public


def read_public_key(path: Path | str) -> HybridPublicKey:
    """The public key of a key file, without the passphrase."""
    path = Path(path)
    return _public_key_of(_read_document(path), path)


def export_public(path: Path | str) -> dict[str, str]:
    """What may be shared: scheme, checksummed address and the hybrid public key (hex)."""
    public = read_public_key(path)
    return {
        "scheme": public.scheme.label,
        "address": to_checksum_address(public.address()),
        "public_key": public.to_bytes().hex(),
    }


def show_key(path: Path | str) -> dict[str, Any]:
    """Public facts plus, for a stateful key, used and remaining one-time signatures."""
    info: dict[str, Any] = dict(export_public(path))
    public = read_public_key(path)
    if public.scheme is Scheme.ECDSA_XMSS:
        height = public.xmss().height
        counter = IndexCounter(state_path(path), public.key_id(), 1 << height)
        used = counter.next_index()
        info.update(height=height, capacity=1 << height, used=used, remaining=(1 << height) - used)
    return info


def _decrypt(doc: dict[str, Any], passphrase: str, path: Path) -> bytes:
    kdf, cipher = doc["kdf"], doc["cipher"]
    try:
        if kdf["name"] != "scrypt" or cipher["name"] != "aes-256-gcm":
            raise KeyStoreError(f"key file {path}: unsupported KDF or cipher")
        log2_n, r, p = int(kdf["log2_n"]), int(kdf["r"]), int(kdf["p"])
        salt, nonce = bytes.fromhex(kdf["salt"]), bytes.fromhex(cipher["nonce"])
        ciphertext = bytes.fromhex(doc["ciphertext"])
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyStoreError(f"key file {path} has malformed parameters: {exc}") from exc
    if not (_MIN_LOG2_N <= log2_n <= _MAX_LOG2_N and 1 <= r <= 32 and 1 <= p <= 16):
        raise KeyStoreError(f"key file {path}: scrypt parameters out of the accepted range")
    if len(salt) < 16 or len(nonce) != 12:
        raise KeyStoreError(f"key file {path}: salt or nonce has the wrong size")
    try:
        aead_key = _derive(passphrase, salt, log2_n, r, p)
        return AESGCM(aead_key).decrypt(nonce, ciphertext, _associated_data(doc))
    except InvalidTag:
        raise KeyStoreError(f"{path}: wrong passphrase or corrupt key file") from None


def load_key(path: Path | str, passphrase: str, *, fast: bool = True) -> HybridSigner:
    """Decrypt a key file and return a signer (with its one-time state for XMSS keys)."""
    path = Path(path)
    doc = _read_document(path)
    public = _public_key_of(doc, path)
    secret = _decrypt(doc, passphrase, path)
    pq: XmssPrivateKey | MlDsaPrivateKey
    expected = 32 + (96 if public.scheme is Scheme.ECDSA_XMSS else 32)
    if len(secret) != expected:
        raise KeyStoreError(f"key file {path}: decrypted secret has the wrong size")
    if public.scheme is Scheme.ECDSA_XMSS:
        pq = _xmss_key(path, secret[32:], public.xmss(), fast)
    else:
        pq = MlDsaPrivateKey(secret[32:])
    key = HybridPrivateKey(EcdsaPrivateKey(secret[:32]), pq)
    if key.public_key != public:
        raise KeyStoreError(f"key file {path}: secret does not match the stored public key")
    counter = None
    if public.scheme is Scheme.ECDSA_XMSS:
        counter = IndexCounter(state_path(path), public.key_id(), 1 << public.xmss().height)
        counter.next_index()  # fail now, not at the first signature, if the state is missing
    return HybridSigner(key, counter)

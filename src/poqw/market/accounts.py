"""The account a market command signs with: a poqw key file or an Ethereum keystore file.

A poqw key file (``poqw keys new``) holds a hybrid key whose ECDSA half is an Ethereum account;
an Ethereum keystore (geth, ``cast wallet``, web3 ``Account.encrypt``) is recognised by its
``crypto`` section. Either is decrypted with the passphrase and never written anywhere. A node
key file (a bare hex secret, as ``poqw solver --key`` makes) is the account of that node: the
compute network's stakes and payments go to it; it has no passphrase.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from poqw.errors import KeyStoreError

__all__ = ["load_account"]

_MAX_KEY_FILE_BYTES = 64 * 1024
_NODE_KEY = re.compile(rb"[0-9a-fA-F]{64}")


def load_account(path: Path, passphrase: str | Callable[[], str]) -> LocalAccount:
    """The account in key file ``path``, or a :class:`KeyStoreError` saying why not;
    ``passphrase`` may be a function, asked only for an encrypted file."""
    try:
        raw = path.read_bytes()[:_MAX_KEY_FILE_BYTES + 1]
    except FileNotFoundError:
        raise KeyStoreError(f"no key file {path}") from None
    if len(raw) > _MAX_KEY_FILE_BYTES:
        raise KeyStoreError(f"key file {path} is larger than {_MAX_KEY_FILE_BYTES} bytes")
    if _NODE_KEY.fullmatch(raw.strip()):
        try:
            node: LocalAccount = Account.from_key(bytes.fromhex(raw.strip().decode()))
        except (ValueError, TypeError):
            raise KeyStoreError(f"node key file {path} holds no valid secp256k1 secret") from None
        return node
    try:
        doc = json.loads(raw)
    except ValueError:
        raise KeyStoreError(f"key file {path} is not JSON") from None
    if callable(passphrase):
        passphrase = passphrase()
    if isinstance(doc, dict) and ("crypto" in doc or "Crypto" in doc):
        try:
            secret = Account.decrypt(doc, passphrase)
        except ValueError as exc:
            raise KeyStoreError(f"Ethereum keystore {path}: {exc} (wrong passphrase?)") from None
        account: LocalAccount = Account.from_key(secret)
        return account
    from poqw.crypto.keystore import load_key

    signer = load_key(path, passphrase)
    ecdsa_account: LocalAccount = Account.from_key(signer.key.ecdsa.secret_bytes())
    return ecdsa_account

"""The account a market command signs with: a poqw key file or an Ethereum keystore file.

A poqw key file (``poqw keys new``) holds a hybrid key whose ECDSA half is an Ethereum account;
an Ethereum keystore (geth, ``cast wallet``, web3 ``Account.encrypt``) is recognised by its
``crypto`` section. Either is decrypted with the passphrase and never written anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from poqw.errors import KeyStoreError

__all__ = ["load_account"]

_MAX_KEY_FILE_BYTES = 64 * 1024


def load_account(path: Path, passphrase: str) -> LocalAccount:
    """The account in key file ``path``, or a :class:`KeyStoreError` saying why not."""
    try:
        raw = path.read_bytes()[:_MAX_KEY_FILE_BYTES + 1]
    except FileNotFoundError:
        raise KeyStoreError(f"no key file {path}") from None
    if len(raw) > _MAX_KEY_FILE_BYTES:
        raise KeyStoreError(f"key file {path} is larger than {_MAX_KEY_FILE_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except ValueError:
        raise KeyStoreError(f"key file {path} is not JSON") from None
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

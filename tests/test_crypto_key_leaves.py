"""Loading an XMSS key from its cached leaves: the upper levels rebuilt from the leaves equal the
reference tree, a valid cache spares the costly leaf computation, and a corrupt or missing cache
is detected by the root and rebuilt, so the key always signs correctly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from poqw.crypto.hybrid import verify_hybrid
from poqw.crypto.keystore import leaves_path, load_key, new_key
from poqw.crypto.xmss import XmssPrivateKey, build_tree_reference
from poqw.crypto.xmss_fast import tree_from_leaves_fast

PASSPHRASE = "leaves test passphrase"


def test_tree_from_leaves_matches_the_reference() -> None:
    seed = os.urandom(96)
    reference = build_tree_reference(seed[:32], seed[64:], 4)
    assert tree_from_leaves_fast(reference[0], seed[64:], 4) == reference
    key = XmssPrivateKey.from_seed_and_leaves(seed, 4, reference[0])
    assert key.levels == XmssPrivateKey.from_seed(seed, 4, fast=False).levels
    with pytest.raises(ValueError, match="leaves"):
        tree_from_leaves_fast(reference[0][:-1], seed[64:], 4)


def test_a_valid_cache_spares_the_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "k.key"
    public = new_key(path, PASSPHRASE, height=5, scrypt_log2_n=10)
    assert leaves_path(path).stat().st_size == 32 << 5

    def no_full_build(*_: object, **__: object) -> XmssPrivateKey:
        raise AssertionError("the whole tree was rebuilt despite a valid cache")

    monkeypatch.setattr(XmssPrivateKey, "from_seed", no_full_build)
    signer = load_key(path, PASSPHRASE)
    verify_hybrid(public, b"m", signer.sign(b"m"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_a_bad_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "k.key"
    public = new_key(path, PASSPHRASE, height=5, scrypt_log2_n=10)
    good = leaves_path(path).read_bytes()
    if damage == "flip":
        leaves_path(path).write_bytes(good[:40] + bytes([good[40] ^ 1]) + good[41:])
    elif damage == "truncate":
        leaves_path(path).write_bytes(good[:-32])
    else:
        leaves_path(path).unlink()
    signer = load_key(path, PASSPHRASE)
    verify_hybrid(public, b"m", signer.sign(b"m"))
    assert leaves_path(path).read_bytes() == good

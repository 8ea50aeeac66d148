"""Encrypted key files: round trip, wrong passphrase, corruption, limits, one-time state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poqw.crypto.hybrid import HybridPublicKey, verify_hybrid
from poqw.crypto.keystate import MAX_STATE_FILE_BYTES, IndexCounter
from poqw.crypto.keystore import (
    MAX_KEY_FILE_BYTES,
    export_public,
    load_key,
    new_key,
    read_public_key,
    show_key,
    state_path,
)
from poqw.errors import KeyExhausted, KeyStoreError

FAST_KDF = 10  # scrypt N = 2**10 keeps tests quick; the default is 2**17


@pytest.fixture
def xmss_file(tmp_path: Path) -> Path:
    path = tmp_path / "miner.key"
    new_key(path, "correct horse", "ecdsa+xmss", height=2, scrypt_log2_n=FAST_KDF, fast=False)
    return path


@pytest.fixture
def mldsa_file(tmp_path: Path) -> Path:
    path = tmp_path / "pq.key"
    new_key(path, "correct horse", "ecdsa+mldsa44", scrypt_log2_n=FAST_KDF, fast=False)
    return path


@pytest.mark.parametrize("scheme", ["ecdsa+xmss", "ecdsa+mldsa44"])
def test_round_trip(tmp_path: Path, scheme: str) -> None:
    path = tmp_path / "k.key"
    public = new_key(path, "pw", scheme, height=2, scrypt_log2_n=FAST_KDF, fast=False)
    signer = load_key(path, "pw", fast=False)
    assert signer.public_key == public == read_public_key(path)
    sig = signer.sign(b"block")
    verify_hybrid(public, b"block", sig, address=public.address())
    exported = export_public(path)
    assert exported["scheme"] == scheme
    assert HybridPublicKey.from_bytes(bytes.fromhex(exported["public_key"])) == public
    assert exported["address"].lower() == "0x" + public.address().hex()


def test_file_holds_no_secret_in_clear(xmss_file: Path) -> None:
    signer = load_key(xmss_file, "correct horse", fast=False)
    text = xmss_file.read_text() + state_path(xmss_file).read_text()
    # SK_SEED || SK_PRF are secret; the XMSS public seed (last 32 bytes) is in the public key
    for secret in (signer.key.ecdsa.secret_bytes(), signer.key.pq_secret()[:64]):
        for chunk in (secret[:16], secret[-16:]):
            assert chunk.hex() not in text
    assert "correct horse" not in text


def test_wrong_passphrase(xmss_file: Path, mldsa_file: Path) -> None:
    for path in (xmss_file, mldsa_file):
        with pytest.raises(KeyStoreError, match="wrong passphrase or corrupt key file"):
            load_key(path, "Correct horse")


@pytest.mark.parametrize(
    "field",
    ["ciphertext", "nonce", "salt", "address_case", "scheme", "public_key", "log2_n"],
)
def test_tampered_file_is_refused(mldsa_file: Path, field: str) -> None:
    doc = json.loads(mldsa_file.read_text())
    if field == "ciphertext":
        doc["ciphertext"] = ("0" if doc["ciphertext"][0] != "0" else "1") + doc["ciphertext"][1:]
    elif field == "nonce":
        doc["cipher"]["nonce"] = "00" * 12
    elif field == "salt":
        doc["kdf"]["salt"] = "11" * 16
    elif field == "address_case":
        doc["address"] = doc["address"].lower()
    elif field == "scheme":
        doc["scheme"] = "ecdsa+xmss"
    elif field == "public_key":
        other = mldsa_file.with_name("other.key")
        new_key(other, "correct horse", "ecdsa+mldsa44", scrypt_log2_n=FAST_KDF, fast=False)
        other_doc = json.loads(other.read_text())
        doc["public_key"], doc["address"] = other_doc["public_key"], other_doc["address"]
    elif field == "log2_n":
        doc["kdf"]["log2_n"] = 30  # would make the reader spend 256 GiB
    mldsa_file.write_text(json.dumps(doc))
    with pytest.raises(KeyStoreError):
        load_key(mldsa_file, "correct horse")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"[]",
        b'{"format": "poqw-key", "version": 2}',
        b'{"format": "other"}',
        b"\xff\xfe",
    ],
)
def test_malformed_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    with pytest.raises(KeyStoreError):
        load_key(path, "pw")
    with pytest.raises(KeyStoreError):
        export_public(path)


def test_size_limits(tmp_path: Path, xmss_file: Path) -> None:
    big = tmp_path / "big.key"
    big.write_bytes(b" " * (MAX_KEY_FILE_BYTES + 1))
    with pytest.raises(KeyStoreError, match="exceeds"):
        load_key(big, "pw")
    state_path(xmss_file).write_bytes(b" " * (MAX_STATE_FILE_BYTES + 1))
    with pytest.raises(KeyStoreError, match="exceeds"):
        load_key(xmss_file, "correct horse", fast=False)


def test_missing_file_and_no_overwrite(tmp_path: Path, xmss_file: Path) -> None:
    with pytest.raises(KeyStoreError, match="does not exist"):
        load_key(tmp_path / "nope.key", "pw")
    before = xmss_file.read_bytes()
    with pytest.raises(KeyStoreError, match="already exists"):
        new_key(xmss_file, "pw", scrypt_log2_n=FAST_KDF, fast=False)
    assert xmss_file.read_bytes() == before
    with pytest.raises(ValueError, match="unknown signature scheme"):
        new_key(tmp_path / "x.key", "pw", "rsa")
    with pytest.raises(ValueError, match="empty passphrase"):
        new_key(tmp_path / "y.key", "")


def test_missing_or_foreign_state_refuses_to_sign(tmp_path: Path, xmss_file: Path) -> None:
    other = tmp_path / "other.key"
    new_key(other, "pw", height=2, scrypt_log2_n=FAST_KDF, fast=False)
    state = state_path(xmss_file)
    saved = state.read_bytes()
    state.unlink()
    with pytest.raises(KeyStoreError, match="missing: refusing to sign"):
        load_key(xmss_file, "correct horse", fast=False)
    state.write_bytes(state_path(other).read_bytes())
    with pytest.raises(KeyStoreError, match="different key"):
        load_key(xmss_file, "correct horse", fast=False)
    state.write_bytes(saved)
    load_key(xmss_file, "correct horse", fast=False)


def test_state_survives_reload_and_exhausts(xmss_file: Path) -> None:
    seen = []
    for _ in range(2):  # two "processes": the second continues where the first stopped
        signer = load_key(xmss_file, "correct horse", fast=False)
        seen += [signer.sign(b"m").one_time_index for _ in range(2)]
    assert seen == [0, 1, 2, 3]
    info = show_key(xmss_file)
    assert (info["capacity"], info["used"], info["remaining"]) == (4, 4, 0)
    with pytest.raises(
        KeyExhausted, match=r"all 4 one-time keys have been used \(4 used, 0 left\)"
    ):
        load_key(xmss_file, "correct horse", fast=False).sign(b"m")


def test_counter_rejects_corrupt_index(tmp_path: Path) -> None:
    counter = IndexCounter.create(tmp_path / "s", b"\x01" * 32, 8)
    doc = json.loads((tmp_path / "s").read_text())
    for bad in (9, -1, "3", True):
        doc["next_index"] = bad
        (tmp_path / "s").write_text(json.dumps(doc))
        with pytest.raises(KeyStoreError):
            counter.reserve()


def test_reprs_hide_secrets(mldsa_file: Path) -> None:
    signer = load_key(mldsa_file, "correct horse")
    secret = signer.key.ecdsa.secret_bytes().hex() + signer.key.pq_secret().hex()
    for text in (repr(signer), str(signer.key), repr(signer.key.ecdsa), repr(signer.key.pq)):
        assert secret[:16] not in text and secret[64:80] not in text


def test_no_signature_when_the_index_cannot_be_persisted(
    xmss_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = load_key(xmss_file, "correct horse", fast=False)

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("poqw.crypto.keystate.write_file_durably", disk_full)
    with pytest.raises(OSError, match="No space"):
        signer.sign(b"m")
    monkeypatch.undo()
    assert signer.sign(b"m").one_time_index == 0  # the failed attempt consumed nothing

"""Sized types, canonical RLP encodings and decoder limits."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from poqw.chain import (
    I64,
    U64,
    Address,
    Block,
    Hash32,
    Header,
    Height,
    builtin_genesis,
    decode_block,
    decode_header,
    encoded_proof,
    transactions_root,
)
from poqw.crypto.hashing import hash32
from poqw.errors import DecodeError

ENCODING = json.loads((Path(__file__).parent / "vectors" / "chain" / "encoding.json").read_text())
GENESIS = builtin_genesis("devnet")
LIMITS = GENESIS.block_limits()


def _b(x: str) -> bytes:
    return bytes.fromhex(x[2:])


def test_sized_types_check_on_construction():
    assert Address(bytes(20)) == bytes(20)
    for bad in (bytes(19), bytes(21)):
        with pytest.raises(DecodeError, match="Address must be 20 bytes"):
            Address(bad)
    with pytest.raises(DecodeError, match="Hash32 must be 32 bytes"):
        Hash32(b"short")
    with pytest.raises(DecodeError, match="Height must be in"):
        Height(-1)
    with pytest.raises(DecodeError, match="U64 must be in"):
        U64(1 << 64)
    assert I64(-(1 << 63)) == -(1 << 63)
    with pytest.raises(DecodeError, match="must be an integer"):
        U64(True)


def test_header_fields_are_coerced_and_checked():
    h = Header.from_rlp(rlp.decode(_b(ENCODING["header"])))
    assert type(h.number) is Height and type(h.miner) is Address
    with pytest.raises(DecodeError, match="Address must be 20 bytes"):
        replace(h, miner=bytes(21))
    with pytest.raises(DecodeError, match="I64"):
        replace(h, energy_bound=1 << 63)


def test_encoding_vector_roundtrips():
    header = decode_header(_b(ENCODING["header"]))
    assert "0x" + header.hash().hex() == ENCODING["header_hash"]
    assert header.hash() == hash32(b"poqw/header/v1", header.encode())
    f = ENCODING["fields"]
    assert (int(header.number), int(header.timestamp), int(header.energy_bound)) == (
        f["number"], f["timestamp"], f["energy_bound"])
    assert int(header.ticket_target) == int(f["ticket_target"], 16)
    assert "0x" + header.miner.hex() == f["miner"] and "0x" + header.salt.hex() == f["salt"]
    block = decode_block(_b(ENCODING["block"]), LIMITS)
    assert block.encode() == _b(ENCODING["block"]) and block.header == header
    assert "0x" + block.proof.hash().hex() == ENCODING["proof_hash"]
    assert block.proof.hash() == header.proof_hash


def test_encoded_proof_cuts_the_proof_out_of_a_block():
    data = _b(ENCODING["block"])
    block = decode_block(data, LIMITS)
    assert encoded_proof(data, LIMITS) == block.proof.encode()
    with pytest.raises(DecodeError, match="5 items"):
        encoded_proof(rlp.encode([block.header.to_rlp()]), LIMITS)


def test_energy_bound_is_signed_eight_bytes():
    header = decode_header(_b(ENCODING["header"]))
    raw = header.to_rlp()
    assert raw[9] == int(header.energy_bound).to_bytes(8, "big", signed=True)
    for bound in (-(1 << 63), -1, 0, 5, (1 << 63) - 1):
        h2 = replace(header, energy_bound=bound)
        assert decode_header(h2.encode()).energy_bound == bound


def test_non_canonical_encodings_are_refused():
    header = decode_header(_b(ENCODING["header"]))
    raw = header.to_rlp()
    padded = list(raw)
    padded[1] = b"\x00" + raw[1]  # number with a leading zero
    with pytest.raises(DecodeError, match="leading zero"):
        decode_header(rlp.encode(padded))
    short = list(raw)
    short[9] = raw[9][1:]
    with pytest.raises(DecodeError, match="energy_bound must be 8 bytes"):
        decode_header(rlp.encode(short))
    with pytest.raises(DecodeError, match="13 byte strings"):
        decode_header(rlp.encode(raw[:-1]))
    big = list(raw)
    big[12] = b"\x01" + bytes(32)  # a ticket target of 2**256: 33 bytes
    with pytest.raises(DecodeError, match=r"header\[12\] is 33 bytes"):
        decode_header(rlp.encode(big))
    zero_padded = list(raw)
    zero_padded[12] = b"\x00" + raw[12][1:]
    with pytest.raises(DecodeError, match="ticket_target has a leading zero"):
        decode_header(rlp.encode(zero_padded))
    with pytest.raises(DecodeError, match="not canonical RLP"):
        decode_header(header.encode() + b"\x00")
    with pytest.raises(DecodeError, match="over the limit"):
        decode_header(bytes(2000))


def test_block_decoder_limits():
    block = decode_block(_b(ENCODING["block"]), LIMITS)
    tight = replace(LIMITS, max_transactions=0)
    many = replace(block, transactions=(b"a",))
    with pytest.raises(DecodeError, match="1 transactions, limit 0"):
        decode_block(many.encode(), tight)
    with pytest.raises(DecodeError, match="transaction 0 is not a byte string"):
        decode_block(replace(block, transactions=(bytes(LIMITS.max_transaction_bytes + 1),))
                     .encode(), LIMITS)
    with pytest.raises(DecodeError, match="signature must be at most"):
        decode_block(replace(block, signature=bytes(10000)).encode(), LIMITS)
    with pytest.raises(DecodeError, match="5 items"):
        decode_block(rlp.encode([block.header.to_rlp()]), LIMITS)
    with pytest.raises(DecodeError, match="exactly"):
        decode_block(rlp.encode([block.header.to_rlp(), [], [], b"", b""]), LIMITS)


def test_transactions_root_is_a_merkle_root():
    leaf = lambda t: hash32(b"poqw/tx-leaf/v1", t)  # noqa: E731
    node = lambda a, b: hash32(b"poqw/tx-node/v1", a, b)  # noqa: E731
    a, b, c = b"a", b"b", b"c"
    assert transactions_root(()) == hash32(b"poqw/tx-empty/v1")
    assert transactions_root((a,)) == leaf(a)
    assert transactions_root((a, b)) == node(leaf(a), leaf(b))
    assert transactions_root((a, b, c)) == node(node(leaf(a), leaf(b)), leaf(c))
    assert transactions_root((b, a)) != transactions_root((a, b))


def test_block_hash_is_the_header_hash():
    block = decode_block(_b(ENCODING["block"]), LIMITS)
    assert isinstance(block, Block) and block.hash() == block.header.hash()


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_decoder_fails_only_with_decode_error(data):
    raw = bytearray(_b(ENCODING["block"]))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut])):
        try:
            block = decode_block(candidate, LIMITS)
        except DecodeError:
            continue
        assert block.encode() == candidate


@given(st.binary(max_size=300))
def test_header_decoder_on_arbitrary_bytes(raw):
    try:
        header = decode_header(raw)
    except DecodeError:
        return
    assert header.encode() == raw

"""Decoders of untrusted bytes: bounded before anything is built, linear in the input, and
raising only poqw errors (issue 10).

Each bomb of the issue is decoded here with its memory traced: the old decoders built the whole
tree first (millions of objects, minutes of CPU); these refuse at the first item over a limit.
Linear time is checked by counting item prefixes read, never by the clock.
"""

from __future__ import annotations

import contextlib
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from poqw.chain import builtin_genesis, decode_block
from poqw.encoding import rlp as bounded
from poqw.encoding.fuzz import decoder_targets, fuzz
from poqw.errors import DecodeError, MalformedMessage, PoqwError
from poqw.execution import decode_transaction
from poqw.p2p.framing import FrameDecoder
from poqw.p2p.messages import MAX_PAYLOAD, MessageType, decode_message

CHAIN_ID = 77
LIMITS = builtin_genesis("devnet").block_limits()
VECTORS = Path(__file__).parent / "vectors" / "chain"
BLOCK = bytes.fromhex(json.loads((VECTORS / "encoding.json").read_text())["block"][2:])


def rlp_list(body: bytes) -> bytes:
    return bytes(rlp.codec.length_prefix(len(body), 0xC0)) + body


def block_of_empty_items(n: int) -> bytes:
    return rlp_list(rlp_list(b"\x80" * 12) + rlp_list(b"\xc0" * n) + b"\xc0\x80\x80")


def access_list_bomb(n: int) -> bytes:
    head = b"".join(rlp.encode(x) for x in (CHAIN_ID, 0, 1, 2, 21000, b"\x11" * 20, 0, b""))
    return b"\x02" + rlp_list(head + rlp_list(b"\xc0" * n) + b"\x80\x01\x01")


def peak_bytes(call: Callable[[], Any]) -> int:
    tracemalloc.start()
    with contextlib.suppress(PoqwError):
        call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


@pytest.mark.parametrize(("what", "data", "decode"), [
    ("block of 160k empty items", block_of_empty_items(160_000),
     lambda d: decode_block(d, LIMITS)),
    ("transaction whose access list is 100k empty lists", access_list_bomb(100_000),
     lambda d: decode_transaction(d, CHAIN_ID)),
    ("BLOCK_SUBMIT of 1M empty lists", rlp_list(rlp_list(b"\xc0" * 1_000_000)),
     lambda d: decode_message(MessageType.BLOCK_SUBMIT, d)),
])
def test_bombs_are_refused_before_they_are_built(what: str, data: bytes,
                                                 decode: Callable[[bytes], Any]) -> None:
    with pytest.raises((DecodeError, MalformedMessage)):
        decode(data)
    # a copy of the input or two, not one Python object per item
    assert peak_bytes(lambda: decode(data)) < 3 * len(data) + 1_000_000, what


def test_a_list_where_an_integer_belongs_is_a_decode_error_in_every_field() -> None:
    fields: list[Any] = [CHAIN_ID, 1, 1, 2, 21000, b"\x11" * 20, 0, b"", [], 0, 1, 1]
    for i in range(len(fields)):
        tampered = list(fields)
        tampered[i] = [b"\x01"]  # the access list gets a byte string as its entry
        with pytest.raises(DecodeError, match="malformed type-2 transaction"):
            decode_transaction(b"\x02" + rlp.encode(tampered), CHAIN_ID)


def count_prefix_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    reads = [0]
    real = bounded._header

    def counting(data: bytes, pos: int, end: int) -> tuple[bool, int, int]:
        reads[0] += 1
        return real(data, pos, end)

    monkeypatch.setattr(bounded, "_header", counting)
    return reads


def test_work_is_bounded_by_the_shape_not_by_the_input(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = count_prefix_reads(monkeypatch)
    counts = []
    for n in (10_000, 100_000, 1_000_000):
        reads[0] = 0
        with pytest.raises(DecodeError):
            decode_block(block_of_empty_items(n), LIMITS)
        counts.append(reads[0])
    assert counts[0] == counts[1] == counts[2] < 10_000  # a cap, whatever the bomb's size


def test_unshaped_reading_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = count_prefix_reads(monkeypatch)
    counts = []
    for n in (500, 5_000, 50_000):
        reads[0] = 0
        bounded.decode(rlp_list(rlp_list(b"\xc0" * n) * 4), bounded.Item(4), "x")
        counts.append(reads[0])
    assert counts[1] / counts[0] == pytest.approx(10, rel=0.01)
    assert counts[2] / counts[1] == pytest.approx(10, rel=0.01)


def test_shape_errors_name_the_position() -> None:
    shape = bounded.Fields((("hashes", bounded.ListOf(bounded.Bytes(32, 32), 2, "hashes")),))
    with pytest.raises(DecodeError, match=r"m\.hashes\[1\] must be 32 bytes, got 3"):
        bounded.decode(rlp.encode([[b"\x01" * 32, b"abc"]]), shape, "m")
    with pytest.raises(DecodeError, match="m.hashes has 5 hashes, over the limit of 2"):
        bounded.decode(rlp.encode([[b"\x01" * 32] * 5]), shape, "m")
    with pytest.raises(DecodeError, match="m: expected 1 fields, got 2"):
        bounded.decode(rlp.encode([[], []]), shape, "m")


def test_count_of_a_huge_list_is_capped() -> None:
    assert bounded.count_items(rlp_list(b"\xc0" * 10_000), 100) == 101
    assert bounded.count_items(rlp_list(b"\xc0" * 7), 100) == 7


def test_pre_join_decoder_refuses_big_types_at_the_header() -> None:
    decoder = FrameDecoder(joined=False)
    limit = MAX_PAYLOAD[MessageType.BLOCK_SUBMIT]
    decoder.feed(b"PoQW\x01" + bytes([MessageType.BLOCK_SUBMIT]) + bytes(4)
                 + limit.to_bytes(4, "big"))
    with pytest.raises(PoqwError, match="before the handshake finished"):
        decoder.next_frame()


@pytest.mark.slow
@pytest.mark.parametrize("index", range(5))
def test_fuzzed_inputs_raise_only_poqw_errors(index: int) -> None:
    target = decoder_targets(BLOCK, CHAIN_ID)[index]
    report = fuzz(target, 3000, seed=index)
    assert report.accepted > 0, target.name  # the mutations reach past the first check
    assert not report.foreign, (target.name, report.foreign[:3])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20), st.data())
def test_shaped_lists_of_strings_read_exactly_what_pyrlp_reads(items: list[bytes],
                                                               data: st.DataObject) -> None:
    raw = bytearray(rlp.encode(items))
    if raw and data.draw(st.booleans()):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    shape = bounded.ListOf(bounded.Bytes(100_000), 100_000)  # limits out of the way
    try:
        got = bounded.decode(bytes(raw), shape, "x")
    except DecodeError:
        with contextlib.suppress(rlp.exceptions.RLPException):
            ref = rlp.decode(bytes(raw), strict=True)
            assert not isinstance(ref, list) or any(isinstance(x, list) for x in ref) \
                or rlp.encode(ref) != bytes(raw)
        return
    assert got == rlp.decode(bytes(raw), strict=True) and rlp.encode(got) == bytes(raw)

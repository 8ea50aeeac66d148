"""Framing and message encodings: round trips, arbitrary chunking and hostile input."""

from __future__ import annotations

import struct

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from poqw.errors import LocalProtocolError, MalformedMessage, RemoteProtocolError
from poqw.p2p.codec import rlp_decode, rlp_encode
from poqw.p2p.framing import HEADER_SIZE, MAGIC, FrameDecoder, encode_frame
from poqw.p2p.messages import (
    MAX_PAYLOAD,
    BlockRequest,
    BlockSubmit,
    CapabilityRecord,
    Disconnect,
    DisconnectReason,
    Error,
    GetHeaders,
    Gossip,
    Headers,
    Heartbeat,
    Hello,
    JoinConfirm,
    JoinRequest,
    JoinResponse,
    Message,
    MessageType,
    PeerAddress,
    Peers,
    PeersRequest,
    StatsRequest,
    StatsResponse,
    StatusRequest,
    StatusResponse,
    Transactions,
    TxRequest,
)

H1, H2 = b"\x11" * 32, b"\x22" * 32
NODE = b"\x02" + b"\x33" * 32
HELLO = Hello(NODE, 7, H1, 123, H2, 10**30, "127.0.0.1", 20049, b"\x44" * 32, "poqw/test")

SAMPLES: list[Message] = [
    JoinRequest(HELLO),
    JoinResponse(HELLO, b"\x55" * 65),
    JoinConfirm(b"\x66" * 65),
    Heartbeat(5, H1, 0),
    Gossip((H1, H2), (H2,)),
    Gossip(),
    BlockRequest(hashes=(H1,)),
    BlockRequest(start=0, count=8),
    BlockSubmit((b"block one", b"")),
    GetHeaders((H1, H2), 2000),
    Headers((b"\x00" * 1024, b"h"), (b"\x01" * 1024, b"p")),
    StatusRequest(),
    StatusResponse(2**64 - 1, H2, 2**256 - 1, 3),
    StatsRequest(),
    StatsResponse({"strikes": 5, "sampler": "qaoa", "zero": 0, "ünïcode": "✓"}),
    PeersRequest(),
    Peers((PeerAddress(NODE, "::1", 1), PeerAddress(NODE, "node.example", 65535))),
    Error(3, "no such block"),
    Disconnect(DisconnectReason.SHUTDOWN, "bye"),
    TxRequest((H1, H2)),
    Transactions((b"\x02" + b"\xf8" * 200, b"raw tx")),
    CapabilityRecord(b"\xf8" * 300),
]


def decode_all(data: bytes, chunk: int) -> list[tuple[int, Message]]:
    decoder = FrameDecoder()
    out = []
    for i in range(0, len(data), chunk):
        decoder.feed(data[i:i + chunk])
        while (frame := decoder.next_frame()) is not None:
            out.append((frame.request_id, frame.message))
    return out


def test_every_message_type_has_a_sample() -> None:
    assert {m.TYPE for m in SAMPLES} == set(MessageType)


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: m.TYPE.name)
def test_round_trip_byte_at_a_time(message: Message) -> None:
    data = encode_frame(message, request_id=9)
    assert decode_all(data, 1) == [(9, message)]


def test_header_layout_matches_the_spec() -> None:
    # Built by hand: magic, version 1, type 4 (HEARTBEAT), request id, length, then RLP.
    payload = rlp.encode([b"\x05", H1, b""])
    expected = b"PoQW" + bytes([1, 4]) + struct.pack(">II", 0xDEADBEEF, len(payload)) + payload
    assert encode_frame(Heartbeat(5, H1, 0), 0xDEADBEEF) == expected
    assert HEADER_SIZE == 14


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(range(len(SAMPLES))), min_size=1, max_size=8),
       st.lists(st.integers(1, 400), min_size=1, max_size=30))
def test_any_chunking_gives_the_same_frames(picks: list[int], cuts: list[int]) -> None:
    stream = b"".join(encode_frame(SAMPLES[i], request_id=n) for n, i in enumerate(picks))
    decoder = FrameDecoder()
    got = []
    pos = 0
    for cut in cuts * (len(stream) // max(1, sum(cuts)) + 1):
        decoder.feed(stream[pos:pos + cut])
        pos += cut
        while (frame := decoder.next_frame()) is not None:
            got.append((frame.request_id, frame.message))
        if pos >= len(stream):
            break
    assert got == [(n, SAMPLES[i]) for n, i in enumerate(picks)]
    assert decoder.buffered == 0


def header(type_code: int = 4, length: int = 0, magic: bytes = MAGIC, version: int = 1) -> bytes:
    return magic + bytes([version, type_code]) + struct.pack(">II", 1, length)


@pytest.mark.parametrize(("data", "match"), [
    (header(magic=b"PoQX"), "bad magic"),
    (b"X", "bad magic"),  # refused on the first wrong byte, not after 14
    (header(version=2), "unsupported protocol version 2"),
    (header(type_code=0), "unknown message type 0"),
    (header(type_code=200), "unknown message type 200"),
    (header(type_code=4, length=129), "HEARTBEAT payload length 129 is over the limit of 128"),
])
def test_bad_headers_are_refused_naming_the_field(data: bytes, match: str) -> None:
    decoder = FrameDecoder()
    decoder.feed(data)
    with pytest.raises(RemoteProtocolError, match=match):
        decoder.next_frame()
    with pytest.raises(RemoteProtocolError, match=match):  # the stream stays broken
        decoder.feed(encode_frame(StatusRequest()))


def test_oversize_is_refused_before_the_payload_arrives() -> None:
    limit = MAX_PAYLOAD[MessageType.BLOCK_SUBMIT]
    decoder = FrameDecoder()
    decoder.feed(header(type_code=MessageType.BLOCK_SUBMIT, length=limit + 1))
    with pytest.raises(RemoteProtocolError, match="BLOCK_SUBMIT payload length"):
        decoder.next_frame()  # the header alone is enough: no payload byte was waited for


def test_truncated_frame_waits_and_never_yields() -> None:
    data = encode_frame(Gossip((H1,), ()))
    decoder = FrameDecoder()
    decoder.feed(data[:-1])
    assert decoder.next_frame() is None
    decoder.feed(data[-1:])
    assert decoder.next_frame() is not None


@pytest.mark.parametrize(("message_type", "payload", "match"), [
    (MessageType.HEARTBEAT, b"\xc0", "expected 3 fields"),
    (MessageType.HEARTBEAT, rlp.encode([b"\x00\x05", H1, b""]), "leading zero"),
    (MessageType.HEARTBEAT, rlp.encode([b"\x05", H1[:31], b""]), "must be 32 bytes"),
    (MessageType.HEARTBEAT, b"\x05", "must be an RLP list"),
    (MessageType.HEARTBEAT, rlp.encode([b"\x05", H1, b""]) + b"\x00", "1 bytes after"),
    (MessageType.GOSSIP, rlp.encode([[H1, [H2]], []]), r"GOSSIP.blocks\[1\] must be a byte"),
    (MessageType.GOSSIP, rlp.encode([[H1] * 257, []]), "over the limit of 256"),
    (MessageType.BLOCK_REQUEST, rlp.encode([[H1], b"", b"\x02"]), "not both"),
    (MessageType.GET_HEADERS, rlp.encode([[H1], b""]), "max_count 0"),
    (MessageType.STATS_RESPONSE, rlp.encode([[[b"k", b"i", b"\x01"], [b"k", b"s", b"x"]]]),
     "repeated"),
    (MessageType.PEERS, rlp.encode([[[NODE, b"\xff\xfe", b"\x01"]]]), "not UTF-8"),
    (MessageType.JOIN_CONFIRM, rlp.encode([b"\x01" * 64]), "must be 65 bytes"),
])
def test_malformed_payloads_name_the_field(message_type: MessageType, payload: bytes,
                                           match: str) -> None:
    frame = (MAGIC + bytes([1, message_type]) + struct.pack(">II", 0, len(payload)) + payload)
    decoder = FrameDecoder()
    decoder.feed(frame + encode_frame(StatusRequest(), 5))
    with pytest.raises(MalformedMessage, match=match):
        decoder.next_frame()
    after = decoder.next_frame()  # a bad payload in a whole frame leaves the stream usable
    assert after is not None and after.request_id == 5


def test_non_canonical_rlp_is_refused() -> None:
    # 0x05 encoded with a string prefix (0x81 0x05) is valid-looking but not canonical RLP.
    payload = bytes([0xE3, 0x81, 0x05]) + bytes([0xA0]) + H1 + bytes([0x80])
    frame = MAGIC + bytes([1, MessageType.HEARTBEAT]) + struct.pack(">II", 0, len(payload))
    decoder = FrameDecoder()
    decoder.feed(frame + payload)
    with pytest.raises(MalformedMessage):
        decoder.next_frame()


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_garbage_never_crashes_the_decoder(data: bytes) -> None:
    decoder = FrameDecoder()
    try:
        decoder.feed(data)
        while decoder.next_frame() is not None:
            pass
    except RemoteProtocolError:
        pass  # the only acceptable failure


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(MessageType)), st.binary(min_size=0, max_size=200))
def test_garbage_payloads_in_valid_frames_fail_cleanly(message_type: MessageType,
                                                       payload: bytes) -> None:
    frame = MAGIC + bytes([1, message_type]) + struct.pack(">II", 0, len(payload)) + payload
    decoder = FrameDecoder()
    decoder.feed(frame)
    try:
        frame_out = decoder.next_frame()
    except MalformedMessage:
        return
    except RemoteProtocolError as exc:
        assert len(payload) > MAX_PAYLOAD[message_type], exc
        return
    assert frame_out is not None
    assert encode_frame(frame_out.message) == frame  # whatever decodes re-encodes identically


def test_encoder_refuses_what_the_peer_would_refuse() -> None:
    with pytest.raises(LocalProtocolError, match="over the limit of 256"):
        Gossip((H1,) * 257)
    with pytest.raises(LocalProtocolError, match="over the limit"):
        encode_frame(Headers((b"\x00" * 2048,) * 2000, (b"\x00" * 1024,) * 2000))
    with pytest.raises(LocalProtocolError, match="request id"):
        encode_frame(StatusRequest(), request_id=2**32)


# ---------------------------------------------------------------- our RLP against pyrlp

rlp_items = st.recursive(st.binary(max_size=70), lambda inner: st.lists(inner, max_size=5),
                         max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(rlp_items)
def test_rlp_encoding_matches_the_reference_library(item: bytes | list[object]) -> None:
    encoded = rlp_encode(item)
    assert encoded == rlp.encode(item)
    assert rlp_decode(encoded) == item


def _reference_accepts(data: bytes) -> bool:
    try:
        item = rlp.decode(data, strict=True)
    except rlp.exceptions.RLPException:
        return False
    return bool(rlp.encode(item) == data)  # canonical: one encoding per item


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=80),
                 rlp_items.map(lambda x: bytearray(rlp.encode(x))).flatmap(
                     lambda b: st.tuples(st.just(b), st.integers(0, max(0, len(b) - 1)),
                                         st.integers(0, 255)))
                 .map(lambda t: bytes(t[0][: t[1]] + bytes([t[2]]) + t[0][t[1] + 1:]))))
def test_rlp_decoder_accepts_exactly_the_canonical_encodings(data: bytes) -> None:
    try:
        item = rlp_decode(data)
    except MalformedMessage:
        assert not _reference_accepts(data) or _depth(rlp.decode(data)) > 8
        return
    assert _reference_accepts(data)
    assert rlp_encode(item) == data


def _depth(item: object) -> int:
    return 1 + max((_depth(x) for x in item), default=0) if isinstance(item, list) else 0


@pytest.mark.parametrize(("data", "match"), [
    (b"\x81\x05", "single byte"),
    (b"\xb8\x05hello", "long form"),
    (b"\xb9\x00\x40" + b"x" * 64, "leading zero"),
    (b"\x85abc", "past the end"),
    (b"\xc3\x01\x02", "past the end"),
    (bytes(range(0xCA, 0xC0, -1)) + b"\x80", "nesting"),  # ten lists, one inside the other
    (b"", "truncated"),
])
def test_rlp_decoder_names_the_problem(data: bytes, match: str) -> None:
    with pytest.raises(MalformedMessage, match=match):
        rlp_decode(data)

"""Heavy payloads (blocks, headers, transactions) are decoded off the event loop.

The sans-I/O connection hands such a frame out as ``DecodeRequested`` and reads nothing more from
that peer until ``decoded`` gives the result back, so messages keep their order; the QUIC
transport decodes on its own thread. Before this, a 16 MB BLOCK_SUBMIT or 4,000-entry HEADERS
was decoded inside ``receive_data`` on the loop (a few to 20 ms each).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from poqw.crypto.hashing import hash32
from poqw.errors import LocalProtocolError, MalformedMessage
from poqw.p2p import (
    BlocksReceived,
    ConnectionClosed,
    PeerMisbehaved,
    StatusRequested,
    encode_frame,
    framing,
)
from poqw.p2p import events as ev
from poqw.p2p.framing import HEADER_SIZE, MAGIC, PROTOCOL_VERSION, RawFrame, decode_raw
from poqw.p2p.messages import MAX_PAYLOAD, BlockSubmit, MessageType, StatusRequest
from poqw.p2p.peer import HEAVY_TYPES
from poqw.p2p.quic import QuicTransport, ensure_tls_identity
from test_p2p_peer import joined, of_type
from test_p2p_quic import TIP, node, wait_for_event


def _offloading_receiver():  # type: ignore[no-untyped-def]
    link = joined()
    link.a.offload = HEAVY_TYPES
    return link


def test_heavy_frame_waits_for_its_decode_and_order_is_kept() -> None:
    link = _offloading_receiver()
    link.b.push_block(b"a block", hash32(b"blk", b"1"))
    link.b.request_status(1.0)
    data = link.b.data_to_send()
    events = link.a.receive_data(data, 1.0)
    (request,) = of_type(events, ev.DecodeRequested)
    assert request.frame.message_type is MessageType.BLOCK_SUBMIT
    assert not of_type(events, StatusRequested)  # queued behind the block, not overtaking it
    after = link.a.decoded(request.frame, decode_raw(request.frame).message, 1.0)
    assert of_type(after, BlocksReceived) == [BlocksReceived(0, (b"a block",))]
    assert len(of_type(after, StatusRequested)) == 1
    assert after.index(of_type(after, BlocksReceived)[0]) < \
        after.index(of_type(after, StatusRequested)[0])


def test_malformed_heavy_payload_is_penalised_after_decoding() -> None:
    link = _offloading_receiver()
    junk = b"\xc1\x80"  # not a list of block byte strings
    frame = framing._HEADER.pack(MAGIC, PROTOCOL_VERSION, MessageType.BLOCK_SUBMIT, 0,
                                 len(junk)) + junk
    (request,) = of_type(link.a.receive_data(frame, 1.0), ev.DecodeRequested)
    with pytest.raises(MalformedMessage) as caught:
        decode_raw(request.frame)
    after = link.a.decoded(request.frame, caught.value, 1.0)
    assert of_type(after, PeerMisbehaved)


def test_decoded_refuses_a_frame_it_did_not_hand_out() -> None:
    link = _offloading_receiver()
    stranger = RawFrame(MessageType.BLOCK_SUBMIT, 0, BlockSubmit(blocks=()).encode())
    with pytest.raises(LocalProtocolError):
        link.a.decoded(stranger, BlockSubmit(blocks=()), 1.0)


def test_flooding_while_a_decode_is_pending_closes_the_connection() -> None:
    link = _offloading_receiver()
    link.b.push_block(b"x", hash32(b"blk", b"x"))
    (request,) = of_type(link.a.receive_data(link.b.data_to_send(), 1.0), ev.DecodeRequested)
    assert request.frame.size > HEADER_SIZE
    small = encode_frame(StatusRequest())
    big = small * (max(MAX_PAYLOAD.values()) // len(small) + 2)  # over one largest frame
    events: list[ev.Event] = []
    for i in range(0, len(big), 1 << 20):
        events += link.a.receive_data(big[i:i + (1 << 20)], 1.0)
    closed = of_type(events, ConnectionClosed)
    assert closed and "still being read" in closed[0].reason


def test_quic_transport_decodes_blocks_off_the_loop_thread(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    threads: list[tuple[MessageType, str]] = []
    real = framing.decode_raw

    def recording(raw: RawFrame) -> framing.Frame:
        threads.append((raw.message_type, threading.current_thread().name))
        return real(raw)

    monkeypatch.setattr("poqw.p2p.quic.decode_raw", recording)

    async def scenario() -> None:
        server = QuicTransport(node("server"), TIP, ensure_tls_identity(tmp_path / "a"))
        client = QuicTransport(node("client"), TIP, ensure_tls_identity(tmp_path / "b"))
        try:
            port = await server.start_server("127.0.0.1", 0)
            out = await client.connect("127.0.0.1", port, timeout=10)
            inc = await server.accept(timeout=10)
            inc.protocol.push_block(b"B" * 300_000, hash32(b"blk", b"big"))
            inc.protocol.request_status(asyncio.get_running_loop().time())
            inc.flush()
            got = await wait_for_event(out, BlocksReceived, timeout=10)
            assert got.blocks == (b"B" * 300_000,)
            await wait_for_event(out, StatusRequested, timeout=10)  # read after the block
        finally:
            await client.close()
            await server.close()
        loop_thread = threading.current_thread().name
        blocks = [name for kind, name in threads if kind is MessageType.BLOCK_SUBMIT]
        assert blocks, threads
        assert all(name != loop_thread and name.startswith("poqw-decode") for name in blocks)

    asyncio.run(asyncio.wait_for(scenario(), 30))

"""The layer-2 wire protocol, sans-I/O: two ``ComputeConnection`` objects talking in memory."""

from __future__ import annotations

import os
import struct

import pytest

from poqw.compute.wire import (
    COMPUTE_FRAMES,
    LIMITS,
    Closed,
    ComputeConnection,
    Ready,
    Received,
    WireType,
)
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import LocalProtocolError
from poqw.p2p.framing import CHAIN_FRAMES, encode_payload
from poqw.p2p.identity import Role

FP_SOLVER, FP_COORD = b"s" * 32, b"c" * 32


def pair(seen_by_coordinator: bytes = FP_SOLVER
         ) -> tuple[ComputeConnection, ComputeConnection, list[object], list[object]]:
    solver = ComputeConnection(EcdsaPrivateKey.generate(), Role.INITIATOR, nonce=os.urandom(32),
                               local_fingerprint=FP_SOLVER, now=0.0)
    coord = ComputeConnection(EcdsaPrivateKey.generate(), Role.RESPONDER, nonce=os.urandom(32),
                              local_fingerprint=FP_COORD, now=0.0)
    solver.connection_made(FP_COORD, 0.0)
    coord.connection_made(seen_by_coordinator, 0.0)
    at_solver: list[object] = []
    at_coord: list[object] = []
    shuttle(solver, coord, at_solver, at_coord)
    return solver, coord, at_solver, at_coord


def shuttle(solver: ComputeConnection, coord: ComputeConnection, at_solver: list[object],
            at_coord: list[object]) -> None:
    for _ in range(4):
        at_coord += coord.receive_data(solver.data_to_send(), 1.0)
        at_solver += solver.receive_data(coord.data_to_send(), 1.0)


def test_both_ends_prove_their_node_keys() -> None:
    solver, coord, at_solver, at_coord = pair()
    assert at_coord == [Ready(solver.key.public_key().compressed)]
    assert at_solver == [Ready(coord.key.public_key().compressed)]
    assert coord.node_id == solver.key.public_key().compressed


def test_a_handshake_relayed_from_another_certificate_is_refused() -> None:
    _, coord, _, at_coord = pair(seen_by_coordinator=b"x" * 32)
    assert len(at_coord) == 1 and isinstance(at_coord[0], Closed)
    assert "did not sign the handshake" in at_coord[0].reason
    assert coord.closed and coord.node_id is None


def test_jobs_results_challenges_and_answers_travel() -> None:
    solver, coord, at_solver, at_coord = pair()
    coord.send_job(b"j" * 100)
    coord.send_challenge((b"a" * 32, b"b" * 32))
    solver.send_result(b"\x01" + b"i" * 32 + b"\x00" * 4)
    solver.send_failure(b"i" * 32, "no such model")
    solver.send_answer(b"z" * 166)
    shuttle(solver, coord, at_solver, at_coord)
    assert at_solver[1:] == [Received(WireType.JOB, b"j" * 100),
                             Received(WireType.CHALLENGE, job_ids=(b"a" * 32, b"b" * 32))]
    assert at_coord[1:] == [Received(WireType.RESULT, b"\x01" + b"i" * 32 + b"\x00" * 4,
                                     job_id=b"i" * 32),
                            Received(WireType.FAILURE, job_id=b"i" * 32, reason="no such model"),
                            Received(WireType.ANSWER, b"z" * 166)]


def test_a_ban_is_said_and_heard() -> None:
    solver, coord, at_solver, at_coord = pair()
    coord.close("caught faking strikes", banned=True)
    shuttle(solver, coord, at_solver, at_coord)
    assert at_solver[-1] == Closed("caught faking strikes", by_peer=True, banned=True)


def test_nothing_but_the_handshake_before_it() -> None:
    solver = ComputeConnection(EcdsaPrivateKey.generate(), Role.INITIATOR, nonce=os.urandom(32),
                               local_fingerprint=FP_SOLVER, now=0.0)
    coord = ComputeConnection(EcdsaPrivateKey.generate(), Role.RESPONDER, nonce=os.urandom(32),
                              local_fingerprint=FP_COORD, now=0.0)
    coord.connection_made(FP_SOLVER, 0.0)
    with pytest.raises(LocalProtocolError, match="cannot send JOB"):
        coord.send_job(b"j")
    events = coord.receive_data(encode_payload(WireType.RESULT, b"r" * 40, 0, COMPUTE_FRAMES),
                                0.0)
    assert isinstance(events[0], Closed) and "before the handshake" in events[0].reason
    del solver


def test_a_solver_may_not_send_jobs_and_a_coordinator_may_not_send_results() -> None:
    solver, coord, at_solver, at_coord = pair()
    solver._send(WireType.JOB, b"j" * 10)
    shuttle(solver, coord, at_solver, at_coord)
    assert isinstance(at_coord[-1], Closed)
    assert "JOB is not a message the solver sends" in at_coord[-1].reason


def test_an_oversized_frame_is_refused_from_its_header() -> None:
    _, coord, _, _ = pair()
    too_big = LIMITS[WireType.RESULT] + 1
    header = struct.pack(">4sBBII", COMPUTE_FRAMES.magic, 1, WireType.RESULT, 0, too_big)
    events = coord.receive_data(header, 2.0)
    assert events == [Closed(f"RESULT payload length {too_big} is over the limit of "
                             f"{too_big - 1}", by_peer=False)]


def test_the_chain_protocol_is_not_spoken_here() -> None:
    _, coord, _, _ = pair()
    frame = encode_payload(CHAIN_FRAMES.types(1), b"", 0)  # a chain frame, magic "PoQW"
    events = coord.receive_data(frame, 2.0)
    assert isinstance(events[0], Closed) and "bad magic" in events[0].reason


def test_a_silent_peer_is_dropped_after_the_handshake_timeout() -> None:
    coord = ComputeConnection(EcdsaPrivateKey.generate(), Role.RESPONDER, nonce=os.urandom(32),
                              local_fingerprint=FP_COORD, now=0.0)
    coord.connection_made(FP_SOLVER, 0.0)
    due = coord.next_timer()
    assert due is not None
    assert coord.handle_timer(due - 1) == []
    events = coord.handle_timer(due)
    assert isinstance(events[0], Closed) and "did not prove its node key" in events[0].reason


def test_the_transport_going_away_is_reported_once_with_our_reason() -> None:
    solver, coord, at_solver, at_coord = pair()
    coord.close("the solve is finished")
    assert coord.connection_lost(3.0, "idle") == [Closed("the solve is finished", by_peer=False)]
    assert coord.connection_lost(3.0, "idle") == []
    assert solver.connection_lost(3.0, "idle") == [Closed("idle", by_peer=True)]
    del at_solver, at_coord

"""Hostile solvers against a real coordinator process, over QUIC.

The attacker is this test's own protocol object (the real wire code, driven by hand): it runs
its jobs honestly, but also sends a result for a job never issued (refused by name, noted), then
answers the challenge with a commitment whose Merkle root is not over the results it sent (it
is banned by key, told so, and refused when it comes back). A second attacker sends a RESULT
frame over the protocol's limit and is cut off with that reason before a payload byte is read;
a third floods results for jobs it was never given and is banned by its misbehaviour score.
The honest solver's answer is the honest single-process one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from compute_framework import Cluster, honest_answer
from framework import log

from poqw.compute.commitment import StrikeLeaf, batch_id, commit_leaves
from poqw.compute.jobs import JobResult, SolverNode
from poqw.compute.network import WINDOW
from poqw.compute.wire import (
    ALPN,
    COMPUTE_FRAMES,
    LIMITS,
    Closed,
    ComputeConnection,
    Ready,
    Received,
    WireType,
)
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.p2p.identity import Role
from poqw.p2p.quic import StreamSession, connect_stream, ensure_tls_identity
from poqw.problems.io import ising_from_json


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(tmp_path)
    yield made
    made.stop_all()


async def _connect(cluster: Cluster, key: EcdsaPrivateKey, name: str
                   ) -> tuple[StreamSession, ComputeConnection, contextlib.AsyncExitStack]:
    identity = ensure_tls_identity(cluster.root / f"{name}-tls")
    loop = asyncio.get_running_loop()
    session, stack = await connect_stream(
        identity, "127.0.0.1", cluster.port, ALPN,
        lambda: ComputeConnection(key, Role.INITIATOR, nonce=os.urandom(32),
                                  local_fingerprint=identity.fingerprint, now=loop.time()),
        window=WINDOW)
    connection = session.connection
    assert isinstance(connection, ComputeConnection)
    return session, connection, stack


async def _next(session: StreamSession) -> object:
    return await asyncio.wait_for(session.events.get(), 60)


async def liar(cluster: Cluster, key: EcdsaPrivateKey) -> list[str]:
    """Work honestly, send a result for a job never issued, then commit to the wrong root."""
    session, connection, stack = await _connect(cluster, key, "liar")
    seen: list[str] = []
    node: SolverNode | None = None
    forged = False
    try:
        while True:
            event = await _next(session)
            if isinstance(event, Ready):
                seen.append("ready")
            elif isinstance(event, Closed):
                seen.append(f"closed: {event.reason} (banned={event.banned})")
                return seen
            elif isinstance(event, Received) and event.kind is WireType.MODEL:
                node = SolverNode(key, [ising_from_json(json.loads(event.data))])
            elif isinstance(event, Received) and event.kind is WireType.JOB:
                assert node is not None
                connection.send_result(node.handle_job(event.data))
                if not forged:
                    forged = True
                    fake = JobResult(b"\x42" * 32, np.zeros(32, np.int64),
                                     np.zeros(32, np.float64))
                    connection.send_result(fake.to_bytes())
                    seen.append("sent a result for a job never issued")
            elif isinstance(event, Received) and event.kind is WireType.CHALLENGE:
                assert node is not None
                leaves = [node.leaves.pop(j) for j in event.job_ids]
                wrong = [*leaves[1:], leaves[0]] if len(leaves) > 1 else [
                    StrikeLeaf(leaves[0].spec, leaves[0].indices[::-1].copy(),
                               leaves[0].energies[::-1].copy())]
                signed, _ = commit_leaves(key, batch_id([x.spec for x in leaves]), wrong)
                connection.send_answer(signed.to_bytes())
                seen.append("committed to the wrong Merkle root")
            session.flush()
    finally:
        await stack.aclose()


async def comes_back(cluster: Cluster, key: EcdsaPrivateKey) -> str:
    session, _, stack = await _connect(cluster, key, "liar-again")
    try:
        while True:
            event = await _next(session)
            if isinstance(event, Closed):
                return f"{event.reason} (banned={event.banned})"
    finally:
        await stack.aclose()


async def oversized(cluster: Cluster) -> str:
    session, connection, stack = await _connect(cluster, EcdsaPrivateKey.generate(), "big")
    try:
        while True:
            event = await _next(session)
            if isinstance(event, Received) and event.kind is WireType.MODEL:
                too_big = LIMITS[WireType.RESULT] + 1
                header = struct.pack(">4sBBII", COMPUTE_FRAMES.magic, 1, WireType.RESULT, 0,
                                     too_big)
                connection._outgoing += header  # a frame no honest end sends
                session.flush()
            elif isinstance(event, Closed):
                return event.reason
    finally:
        await stack.aclose()


async def flooder(cluster: Cluster) -> tuple[str, bool]:
    session, connection, stack = await _connect(cluster, EcdsaPrivateKey.generate(), "flood")
    try:
        while True:
            event = await _next(session)
            if isinstance(event, Received) and event.kind is WireType.MODEL:
                for k in range(12):
                    fake = JobResult(bytes([k]) * 32, np.zeros(1, np.int64), np.zeros(1))
                    connection.send_result(fake.to_bytes())
                session.flush()
            elif isinstance(event, Closed):
                return event.reason, event.banned
    finally:
        await stack.aclose()


def test_forged_results_wrong_commitments_and_oversized_frames(cluster: Cluster) -> None:
    expected = honest_answer(rounds=10)  # long enough for all three attackers to take part
    cluster.start_coordinator(solvers=2, rounds=10)
    cluster.start_solver("honest")
    key = EcdsaPrivateKey.generate()
    seen = asyncio.run(liar(cluster, key))
    log(f"liar saw {seen}")
    assert "sent a result for a job never issued" in seen
    assert "committed to the wrong Merkle root" in seen
    assert seen[-1].startswith("closed: banned") and seen[-1].endswith("(banned=True)")
    # The honest solver alone could finish the solve before the next attackers connect (it
    # did on a loaded machine): freeze it, so the coordinator waits on its jobs meanwhile.
    cluster.signal("honest", signal.SIGSTOP)
    back = asyncio.run(comes_back(cluster, key))
    log(f"liar coming back: {back}")
    assert "is banned" in back and back.endswith("(banned=True)")
    cut = asyncio.run(oversized(cluster))
    log(f"oversized result: {cut}")
    assert f"RESULT payload length {LIMITS[WireType.RESULT] + 1} is over the limit" in cut
    flood = asyncio.run(flooder(cluster))
    log(f"flooder: {flood}")
    assert flood == ("banned: RESULT messages for work it was not given", True)
    cluster.signal("honest", signal.SIGCONT)
    doc = cluster.answer()
    liar_id = key.public_key().compressed.hex()
    log(f"notes {doc['notes']}")
    assert any(n.startswith(f"rejected: result from {liar_id} for job 4242424242424242... "
                            "which was never issued") for n in doc["notes"])
    assert any(n.startswith(f"{liar_id} did not commit to its results") and
               "commitment is not over the results it sent" in n for n in doc["notes"])
    assert doc["banned"] == [liar_id]
    assert doc["energy"] == expected["energy"]
    assert doc["solution"] == expected["solution"]

"""Scenario (issue 10): two liars claim enormous work to a node that joins late; one answers
every header request with nothing, the other with an invented header chain (proofs that do not
meet the puzzle). The late joiner still syncs the honest chain, penalises the unbacked claim
and the invented headers, backs off from the liars, and is not banned by the honest peer."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from framework import Network, TestNode, log

from poqw.chain import Header, WorkProof
from poqw.chain.types import I64, U64, Address, Bytes32, Hash32, Height
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.errors import ProtocolError
from poqw.node.testing import funded_genesis
from poqw.p2p import ChainTip, ConnectionClosed, LocalNode
from poqw.p2p import events as ev
from poqw.p2p.quic import PeerSession, QuicTransport, ensure_tls_identity

BLOCKS = 60


def invented_chain(parent: bytes, count: int) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """Headers that link from ``parent`` with made-up proofs: free to produce, worth nothing."""
    genesis = funded_genesis()
    row = (genesis.topology.num_nodes + 7) // 8
    headers, proofs = [], []
    for number in range(1, count + 1):
        proof = WorkProof(tuple(sorted(os.urandom(row) for _ in range(genesis.k))))
        header = Header(Hash32(parent), Height(number), U64(genesis.timestamp + 10 * number),
                        Address(os.urandom(20)), Hash32(bytes(32)), Hash32(bytes(32)),
                        Hash32(bytes(32)), U64(genesis.gas_limit), U64(0),
                        I64(genesis.difficulty.initial_bound), Bytes32(os.urandom(32)),
                        proof.hash())
        headers.append(header.encode())
        proofs.append(proof.encode())
        parent = bytes(header.hash())
    return tuple(headers), tuple(proofs)


class Liar:
    """A peer claiming a chain of 10^6 blocks and 2^200 work that it cannot show."""

    def __init__(self, name: str, target: TestNode, tmp: Path, invent: bool) -> None:
        self.name, self.target, self.tmp, self.invent = name, target, tmp, invent
        self.header_requests = 0
        self.closed: str | None = None

    async def run(self) -> None:
        status = self.target.status()
        genesis_hash = bytes.fromhex(status["genesis_hash"])
        local = LocalNode(EcdsaPrivateKey(hash32(b"liar", self.name.encode())),
                          status["chain_id"], genesis_hash)
        claim = ChainTip(10**6, hash32(b"liar-tip", self.name.encode()), 2**200)
        transport = QuicTransport(local, claim, ensure_tls_identity(self.tmp / self.name))
        try:
            session = await transport.connect("127.0.0.1", self.target.port)
            log(f"{self.name} joined {self.target.name} claiming work 2^200")
            await self.answer(session, genesis_hash)
        except ProtocolError as exc:
            self.closed = str(exc)
        finally:
            await transport.close()

    async def answer(self, session: PeerSession, genesis_hash: bytes) -> None:
        peer = session.protocol
        while True:
            try:
                event = await session.next_event(30)
            except TimeoutError:
                continue
            if isinstance(event, ConnectionClosed):
                self.closed = event.reason
                log(f"{self.name} closed: {event.reason}")
                return
            if isinstance(event, ev.HeadersRequested):
                self.header_requests += 1
                if self.invent and "proofs" in inspect.signature(peer.respond_headers).parameters:
                    headers, proofs = invented_chain(genesis_hash, 50)
                    peer.respond_headers(event.request_id, headers, proofs)
                elif self.invent:  # the protocol before headers carried proofs
                    call: Any = peer.respond_headers
                    call(event.request_id, invented_chain(genesis_hash, 50)[0])
                else:
                    peer.respond_headers(event.request_id, ())
            elif isinstance(event, ev.BlocksRequested):
                peer.respond_blocks(event.request_id, ())
            elif isinstance(event, ev.StatusRequested):
                peer.respond_status(event.request_id, 1)
            elif isinstance(event, ev.PeersRequested):
                peer.respond_peers(event.request_id, ())
            session.flush()


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(predicate):
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.3)


async def scenario(net: Network, tmp: Path) -> None:
    honest, joiner = net[0], net[1]
    await asyncio.to_thread(honest.start, stop_mining_at=BLOCKS)
    await until(lambda: honest.height() >= BLOCKS, 120, f"{BLOCKS} honest blocks")
    await asyncio.to_thread(honest.stop)
    tip = honest.tip()
    # the joiner knows the honest node, which is down while the liars get in first
    await asyncio.to_thread(joiner.start, [honest], mine=False)
    liars = [Liar("empty-liar", joiner, tmp, invent=False),
             Liar("inventing-liar", joiner, tmp, invent=True)]
    tasks = [asyncio.create_task(liar.run()) for liar in liars]
    await until(lambda: any(liar.header_requests for liar in liars), 30,
                "the joiner to ask a liar for headers")
    await asyncio.to_thread(honest.start, mine=False)
    await until(lambda: joiner.tip() == tip, 60, "the joiner to sync the honest chain")
    log(f"joiner synced the honest chain to {joiner.height()} with both liars connected; "
        f"header requests to the liars: {[liar.header_requests for liar in liars]}")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    text = joiner.log_text()
    assert "claimed work its headers do not show" in text
    assert "invalid header" in text
    assert all(liar.header_requests <= 4 for liar in liars), "no back-off from the liars"
    assert "banned" not in honest.log_text()


def test_liars_do_not_keep_a_late_joiner_from_the_honest_chain(
        network: Callable[[int], Network], tmp_path: Path) -> None:
    net = network(2)
    asyncio.run(scenario(net, tmp_path))

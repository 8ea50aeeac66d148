"""Orphans that never connect cost whoever sent them: a node in this process, with a small orphan
pool, takes orphans with real proofs (on a parent only the test has) from two peers over real
QUIC; the second peer's push evicts the first peer's orphans, and the first is penalised for
each, while an orphan whose parent then arrives connects and costs its sender nothing."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from poqw.chain import Block, parse_genesis
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.node import Node, load_config
from poqw.node.network import NetworkService
from poqw.node.testing import build_block_on, genesis_document, make_chain, mldsa_signer
from poqw.p2p import ChainTip, LocalNode
from poqw.p2p.quic import PeerSession, QuicTransport, ensure_tls_identity

SIGNER = mldsa_signer("network-orphans")


def private_blocks(tmp_path: Path, genesis_file: Path) -> tuple[Block, list[Block]]:
    """A block 1 only this test has, and five children of it (orphans to anyone else)."""
    genesis = parse_genesis(json.loads(genesis_file.read_text()))
    source, _ = make_chain(tmp_path / "private", genesis)
    first = build_block_on(source, source.tip_header(), SIGNER, int(time.time()))
    source.import_block(first, int(time.time()))
    return first, [build_block_on(source, first.header, SIGNER, int(time.time()) + 1,
                                  label=f"kid{i}") for i in range(5)]


async def wait_until(predicate: object, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def pusher(tmp_path: Path, node: Node, port: int, name: str
                 ) -> tuple[QuicTransport, PeerSession]:
    local = LocalNode(EcdsaPrivateKey(hash32(b"orphan-pusher", name.encode())),
                      node.genesis.chain_id, node.genesis_hash())
    transport = QuicTransport(local, ChainTip(0, local.genesis_hash, 0),
                              ensure_tls_identity(tmp_path / name))
    return transport, await transport.connect("127.0.0.1", port)


def push(session: PeerSession, blocks: list[Block]) -> None:
    for block in blocks:
        session.protocol.push_block(block.encode(), bytes(block.hash()))
    session.flush()


def test_senders_of_orphans_that_never_connect_are_penalised(tmp_path: Path) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document(max_future_drift=10**6)))
    parent, kids = private_blocks(tmp_path, genesis)
    config = load_config(None, {"global.datadir": str(tmp_path / "node"),
                                "global.genesis": str(genesis), "global.key_height": 6})
    with Node(config) as node:
        node.chain.orphans.max_blocks = 2

        async def scenario() -> None:
            net = NetworkService(node, port=0)
            port = await net.start()
            first, a = await pusher(tmp_path, node, port, "first")
            second, b = await pusher(tmp_path, node, port, "second")
            try:
                await wait_until(lambda: len(net.peers) == 2)
                a_id, b_id = a.protocol.local.node_id, b.protocol.local.node_id
                push(a, kids[:2])
                await wait_until(lambda: len(node.chain.orphans) == 2)
                now = asyncio.get_running_loop().time()
                assert net.peers[a_id].protocol.score(now) == 0
                push(b, kids[2:4])  # pushes both of the first peer's orphans out
                await wait_until(lambda: all(k.hash() in node.chain.orphans for k in kids[2:4]))
                now = asyncio.get_running_loop().time()
                assert net.peers[a_id].protocol.score(now) >= 19  # 2 x 10, barely decayed
                assert net.peers[b_id].protocol.score(now) == 0
                push(b, [parent])  # the parent arrives: the second peer's orphans connect
                await wait_until(lambda: node.tip().number == 2)
                assert len(node.chain.orphans) == 0
                now = asyncio.get_running_loop().time()
                assert net.peers[b_id].protocol.score(now) == 0
            finally:
                await first.close()
                await second.close()
                await net.close()

        asyncio.run(asyncio.wait_for(scenario(), 60))

"""Scenario: orphan floods. A peer pushing blocks with an unknown parent used to have every one
kept unchecked (256 of up to 2 MB each), with no penalty. Now an orphan that does not prove its
own work is refused and its sender banned; orphans with real proofs whose parent never comes
fill at most the sender's share of a pool bounded in bytes, and each one pushed out past that
share costs the sender until it is banned."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from framework import Network, TestNode, log

from poqw.chain import Block, Bytes32, parse_genesis, seal_message, transactions_root
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.node.testing import build_block_on, make_chain, mldsa_signer
from poqw.p2p import ChainTip, ConnectionClosed, LocalNode
from poqw.p2p.quic import QuicTransport, ensure_tls_identity

SIGNER = mldsa_signer("orphan-flooder")
PEER_SHARE = (16 << 20) // 4  # one peer's share of the node's default pool


def private_orphans(net: Network, count: int, tx_bytes: int) -> list[Block]:
    """Children of a block only this test has, each with its own real proof's reuse and
    ``tx_bytes`` of junk transactions (roots and seal made to match)."""
    genesis = parse_genesis(json.loads(net.genesis.read_text()))
    source, _ = make_chain(net.root / "flooder-chain", genesis)
    first = build_block_on(source, source.tip_header(), SIGNER, int(time.time()))
    source.import_block(first, int(time.time()))
    child = build_block_on(source, first.header, SIGNER, int(time.time()) + 1)
    out = []
    for i in range(count):
        txs = tuple(os.urandom(min(100_000, tx_bytes - j)) for j in range(0, tx_bytes, 100_000))
        header = dataclasses.replace(child.header, tx_root=transactions_root(txs),
                                     timestamp=child.header.timestamp + i)
        out.append(dataclasses.replace(child, header=header, transactions=txs,
                                       signature=SIGNER.sign(seal_message(header)).to_bytes()))
    return out


async def push(node: TestNode, tmp: Path, name: str, blocks: list[Block]) -> tuple[int, str]:
    """Push ``blocks`` one by one (under the push rate limit); returns how many were sent
    before the node closed the connection, and why it did (``""``: it never did)."""
    status = node.status()
    local = LocalNode(EcdsaPrivateKey(hash32(b"orphan-flooder", name.encode())),
                      status["chain_id"], bytes.fromhex(status["genesis_hash"]))
    transport = QuicTransport(local, ChainTip(0, local.genesis_hash, 0),
                              ensure_tls_identity(tmp / name))
    try:
        session = await transport.connect("127.0.0.1", node.port)
        sent = 0
        for block in blocks:
            if session.closed.is_set():
                break
            session.protocol.push_block(block.encode(), bytes(block.hash()))
            session.flush()
            sent += 1
            await asyncio.sleep(0.25)
        try:
            while True:
                event = await session.next_event(20)
                if isinstance(event, ConnectionClosed):
                    return sent, event.reason
        except TimeoutError:
            return sent, ""
    finally:
        await transport.close()


def rss_mb(node: TestNode) -> float:
    assert node.process is not None
    for line in Path(f"/proc/{node.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_orphan_floods_are_checked_bounded_and_penalised(network: Callable[[int], Network],
                                                          tmp_path: Path) -> None:
    net = network(1)
    target = net[0]
    target.start(mine=False)
    blocks = private_orphans(net, 40, 900_000)
    before = rss_mb(target)
    forged = [dataclasses.replace(b, header=dataclasses.replace(
        b.header, salt=Bytes32(os.urandom(32)))) for b in blocks[:8]]
    forged = [dataclasses.replace(b, signature=SIGNER.sign(seal_message(b.header)).to_bytes())
              for b in forged]  # well signed, but the proof does not solve the new instance
    sent, reason = asyncio.run(push(target, tmp_path, "junk", forged))
    log(f"junk orphans: {sent} sent, closed: {reason!r}; node holds "
        f"{target.status().get('orphans')} orphans")
    junk_reason, junk_orphans = reason, target.status().get("orphans")
    sent, reason = asyncio.run(push(target, tmp_path, "proven", blocks))
    held = target.status().get("orphan_bytes", -1)
    log(f"proven orphans: {sent} sent ({sent * 0.9:.0f} MB), closed: {reason!r}; pool "
        f"{held / 2**20:.1f} MiB; node RSS {before:.0f} -> {rss_mb(target):.0f} MB")
    assert "banned for misbehaviour: invalid block" in junk_reason and junk_orphans == 0
    assert "banned for misbehaviour: too many orphans waiting" in reason, reason
    assert 0 < held <= PEER_SHARE
    assert target.log_text().count("too many orphans waiting for their parent") >= 10

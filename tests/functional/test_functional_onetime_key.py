"""Scenario: a peer sends a real node a block signed with an XMSS one-time index that the block's
own parent already used. The block is otherwise valid (proof, ECDSA and XMSS signatures, roots);
the node must refuse it, keep the parent as its tip and penalise the sender, over real QUIC.
(Today one invalid block costs a peer penalty points, not yet a ban: the ban threshold is the
policing module's business.)

The reuse is made as it happens in the field: the signer's state file is restored from a copy
taken before the parent was signed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from framework import Network, TestNode, log, wait_until

from poqw.chain import Block, load_genesis
from poqw.chain.signing import one_time_key_use
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.node.testing import build_block_on, make_chain, xmss_signer
from poqw.p2p import ChainTip, LocalNode
from poqw.p2p.quic import QuicTransport, ensure_tls_identity


def crafted_blocks(net: Network, tmp: Path) -> tuple[Block, Block]:
    """A valid block and a child of it that reuses its XMSS index."""
    genesis = load_genesis(net.genesis.read_bytes())
    chain, _ = make_chain(tmp / "crafter", genesis)
    (tmp / "keys").mkdir()
    signer = xmss_signer("reuser", tmp / "keys", height=4)
    state = tmp / "keys" / "reuser.state"
    backup = state.read_bytes()
    # far ahead of the schedule (within the network's drift): the easiest bound, a quick solve
    t0 = genesis.timestamp + 10**5
    g = chain.header(chain.canonical_hash(0) or b"")
    assert g is not None
    first = build_block_on(chain, g, signer, t0 + 1, label="first")
    chain.import_block(first, t0 + 10)
    state.write_bytes(backup)
    second = build_block_on(chain, first.header, signer, t0 + 2, label="second")
    assert one_time_key_use(first.public_key, first.signature) == \
        one_time_key_use(second.public_key, second.signature)
    chain.store.close()
    chain.engine.close()
    return first, second


async def push(node: TestNode, tmp: Path, blocks: tuple[Block, ...]) -> None:
    """Send ``blocks`` as a peer, then stay connected until the node has judged the last."""
    status = node.status()
    local = LocalNode(EcdsaPrivateKey(hash32(b"reuser", b"peer")), status["chain_id"],
                      bytes.fromhex(status["genesis_hash"]))
    transport = QuicTransport(local, ChainTip(0, local.genesis_hash, 0),
                              ensure_tls_identity(tmp / "peer"))
    try:
        session = await transport.connect("127.0.0.1", node.port)
        for block in blocks:
            session.protocol.push_block(block.encode(), bytes(block.hash()))
            session.flush()
            await asyncio.sleep(0.5)
        while "sent bad data" not in node.log_text():
            await asyncio.sleep(0.2)
    finally:
        await transport.close()


def test_block_reusing_its_parents_one_time_key_is_refused_over_the_network(
        network: Callable[[int], Network], tmp_path: Path) -> None:
    net = network(1)
    node = net[0]
    first, second = crafted_blocks(net, tmp_path)
    log(f"crafted block 1 0x{first.hash().hex()[:16]} and its child 0x"
        f"{second.hash().hex()[:16]}, both with XMSS index 0 of one key")
    node.start(mine=False)
    asyncio.run(asyncio.wait_for(push(node, tmp_path, (first, second)), 60))
    wait_until(lambda: node.height() == 1, 30, "the honest block to be imported")
    assert node.tip() == "0x" + first.hash().hex()
    text = node.log_text()
    assert "sent bad data: invalid block: bad signature: its one-time key was already used " \
        "on this chain" in text
    log("the node refused the child and penalised its sender; its tip is the honest block")

"""Two nodes in one process joined by the network glue over real QUIC on loopback: the late one
syncs headers-first, a freshly mined block reaches it by gossip, and both report their peers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address

from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.errors import ConfigError
from poqw.node import Node, NodeConfig, load_config
from poqw.node.network import STATUS_FILE, NetworkService, load_node_key, parse_peer
from poqw.node.testing import account_key, genesis_document
from poqw.p2p import (
    BlocksReceived,
    ChainTip,
    HeadersReceived,
    LocalNode,
    PeersReceived,
    StatsReceived,
)
from poqw.p2p.quic import QuicTransport, ensure_tls_identity

KEY = account_key("network")
PAYER = bytes.fromhex(Account.from_key(KEY).address[2:])


def node_config(tmp_path: Path, name: str, genesis: Path, mine: bool) -> NodeConfig:
    return load_config(None, {"global.datadir": str(tmp_path / name), "global.auto_mine": mine,
                              "global.genesis": str(genesis), "global.key_height": 6,
                              "global.node_name": name})


async def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def test_parse_peer_and_node_key(tmp_path: Path) -> None:
    assert parse_peer("127.0.0.1:20049") == ("127.0.0.1", 20049)
    assert parse_peer("[::1]:7") == ("::1", 7)
    for bad in ("localhost", "host:", ":80", "h:99999", "h:x"):
        with pytest.raises(ConfigError, match="HOST:PORT"):
            parse_peer(bad)
    key = load_node_key(tmp_path)
    assert load_node_key(tmp_path).public_key().compressed == key.public_key().compressed
    assert (tmp_path / "p2p.key").stat().st_mode & 0o777 == 0o600


async def ask_as_a_client(tmp_path: Path, a: Node, net_a: NetworkService,
                          net_b: NetworkService) -> None:
    """A bare protocol client asks A for stats, peers, headers and blocks."""
    client = QuicTransport(LocalNode(EcdsaPrivateKey(hash32(b"client", b"1")), a.genesis.chain_id,
                                     a.genesis_hash()),
                           ChainTip(0, a.genesis_hash(), 0), ensure_tls_identity(tmp_path / "c"))
    try:
        session = await client.connect("127.0.0.1", net_a.port)
        peer, now = session.protocol, asyncio.get_running_loop().time()
        peer.request_stats(now)
        peer.request_peers(now)
        peer.request_headers((a.genesis_hash(),), 100, now)
        peer.request_blocks(now, start=1, count=2)
        session.flush()
        seen: dict[type, object] = {}
        while len(seen) < 4:
            event = await session.next_event(10)
            if isinstance(event, StatsReceived | PeersReceived | HeadersReceived
                          | BlocksReceived):
                seen[type(event)] = event
        stats = seen[StatsReceived]
        assert isinstance(stats, StatsReceived)
        assert stats.stats["height"] == a.tip().number and stats.stats["peers"] == 2
        peers = seen[PeersReceived]
        assert isinstance(peers, PeersReceived)
        assert [(p.node_id, p.port) for p in peers.peers] == [(net_b.local.node_id, net_b.port)]
        headers = seen[HeadersReceived]
        assert isinstance(headers, HeadersReceived)
        assert list(headers.headers) == a.headers(1, 100)
        blocks = seen[BlocksReceived]
        assert isinstance(blocks, BlocksReceived)
        assert list(blocks.blocks) == [a.block_bytes(a.canonical_hash(n) or b"") for n in (1, 2)]
    finally:
        await client.close()


def test_late_node_syncs_then_follows_gossip(tmp_path: Path) -> None:
    genesis = tmp_path / "genesis.json"
    # a far future drift lets the test mine blocks faster than one per second
    genesis.write_text(json.dumps(genesis_document({PAYER: 10**21}, max_future_drift=10**6)))
    with Node(node_config(tmp_path, "a", genesis, True)) as a, \
            Node(node_config(tmp_path, "b", genesis, False)) as b:
        a.run(max_blocks=12)  # more than one block request batch (8)
        assert a.tip().number == 12 and b.tip().number == 0

        async def scenario() -> None:
            net_a = NetworkService(a, port=0)
            port_a = await net_a.start()
            net_b = NetworkService(b, port=0, peers=[f"127.0.0.1:{port_a}"])
            await net_b.start()
            try:
                await wait_until(lambda: b.tip() == a.tip())
                assert [b.canonical_hash(n) for n in range(13)] == \
                    [a.canonical_hash(n) for n in range(13)]
                assert len(net_a.peers) == len(net_b.peers) == 1
                # a new block mined by A reaches B by gossip
                miner = a.make_miner()
                loop = asyncio.get_running_loop()
                block = await loop.run_in_executor(None, miner.mine_block)
                assert block is not None
                await wait_until(lambda: b.tip().block_hash == block.hash())
                # network.json and the counters follow the chain on the event loop: the file at
                # the first tick after the import's head callback, the counter when the import's
                # await returns. Both may still be behind a tip that the import thread has
                # already committed (a 'not dirty' flag read then comes from the previous
                # write), so wait for what they say, then check all of it.
                status_file = tmp_path / "b" / STATUS_FILE
                await wait_until(lambda: json.loads(status_file.read_text())["height"] == 13)
                await wait_until(lambda: net_b.stats["blocks_imported"] >= 13)
                status = json.loads(status_file.read_text())
                assert status["peer_count"] == 1 and status["height"] == 13
                assert status["tip"] == "0x" + block.hash().hex()
                assert status["peers"][0]["node_id"] == net_a.local.node_id.hex()
                assert net_b.stats["blocks_imported"] == 13
                # a transaction submitted to B is gossiped, fetched and admitted by A
                raw = bytes(Account.from_key(KEY).sign_transaction({
                    "type": 2, "chainId": a.genesis.chain_id, "nonce": 0, "gas": 21000,
                    "maxFeePerGas": 5 * 10**9, "maxPriorityFeePerGas": 10**9,
                    "to": to_checksum_address(b"\x02" * 20), "value": 7, "data": b"",
                }).raw_transaction)
                tx_hash = b.submit_transaction(raw).tx_hash
                await wait_until(lambda: tx_hash in a.mempool)
                await ask_as_a_client(tmp_path, a, net_a, net_b)
            finally:
                await net_b.close()
                await net_a.close()
            assert json.loads((tmp_path / "a" / STATUS_FILE).read_text())["running"] is False

        asyncio.run(asyncio.wait_for(scenario(), 60))


def test_nodes_that_dial_each_other_keep_one_connection(tmp_path: Path) -> None:
    from poqw.cli.devnet import free_port

    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    ports = [free_port(), free_port()]
    with Node(node_config(tmp_path, "a", genesis, False)) as a, \
            Node(node_config(tmp_path, "b", genesis, False)) as b:

        async def scenario() -> None:
            net_a = NetworkService(a, port=ports[0], peers=[f"127.0.0.1:{ports[1]}"])
            net_b = NetworkService(b, port=ports[1], peers=[f"127.0.0.1:{ports[0]}"])
            await net_a.start()
            await net_b.start()
            lower = min(net_a.local.node_id, net_b.local.node_id)

            def settled() -> bool:
                """Each end holds one connection, the one the lower node id initiated (until
                both joins are handled, an end may still hold the other one, about to go)."""
                if len(net_a.peers) != 1 or len(net_b.peers) != 1:
                    return False
                ends = {net_a.local.node_id: net_a.peers[net_b.local.node_id],
                        net_b.local.node_id: net_b.peers[net_a.local.node_id]}
                return all(s.protocol.role.name == ("INITIATOR" if k == lower else "RESPONDER")
                           for k, s in ends.items())

            try:
                await wait_until(settled)
                kept = (net_a.peers[net_b.local.node_id], net_b.peers[net_a.local.node_id])
                await asyncio.sleep(2.0)  # several redial ticks: nothing flaps
                assert (net_a.peers[net_b.local.node_id],
                        net_b.peers[net_a.local.node_id]) == kept
                assert not any(s.closed.is_set() for s in kept)
            finally:
                await net_b.close()
                await net_a.close()

        asyncio.run(asyncio.wait_for(scenario(), 60))

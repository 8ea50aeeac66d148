"""A node follows a peer that mines faster than the node may ask it for blocks (two nodes in one
process over real QUIC on loopback): the sync gets the request budget, and the honest peer is
never backed off nor penalised for the node's own limit."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from poqw.node import Node
from poqw.node.network import NetworkService
from poqw.node.testing import genesis_document
from poqw.p2p.config import PeerConfig
from poqw.p2p.policing import TrafficClass
from test_network_sync import node_config, wait_until

BLOCKS = 32
# what B may ask of A: 3.2 requests a second, a burst of 6 (80 % of this limit); A mines
# faster than that on any machine, and every announced block costs a fetch, often an orphan's
# parent fetch and a status request too
SMALL_BUDGET = {**PeerConfig().rate_limits, TrafficClass.REQUEST: (4.0, 8.0)}


@pytest.mark.slow
def test_a_node_follows_a_peer_mining_faster_than_its_request_budget(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document(max_future_drift=10**6)))
    with Node(node_config(tmp_path, "a", genesis, True)) as a, \
            Node(node_config(tmp_path, "b", genesis, False)) as b:

        async def scenario() -> None:
            net_a = NetworkService(a, port=0)
            port_a = await net_a.start()
            net_b = NetworkService(b, port=0, peers=[f"127.0.0.1:{port_a}"],
                                   peer_config=PeerConfig(rate_limits=SMALL_BUDGET))
            await net_b.start()
            backed_off: set[object] = set()
            penalties: list[float] = []

            def watch() -> None:
                now = asyncio.get_running_loop().time()
                backed_off.update(net_b.sync.backed_off(now))
                penalties.extend(s.protocol.score(now) for s in net_b.peers.values())

            try:
                await wait_until(lambda: len(net_b.peers) == 1)
                miner = a.make_miner()
                loop = asyncio.get_running_loop()
                for _ in range(BLOCKS):
                    assert await loop.run_in_executor(None, miner.mine_block) is not None
                    watch()
                await wait_until(lambda: (watch(), b.tip() == a.tip())[1], 120)
                assert b.tip().number == BLOCKS
            finally:
                await net_b.close()
                await net_a.close()
            assert not backed_off, "B backed off the honest peer for its own request budget"
            assert max(penalties, default=0.0) == 0.0, "B penalised the honest peer"

        with caplog.at_level(logging.INFO, logger="poqw.node.network"):
            asyncio.run(asyncio.wait_for(scenario(), 240))
    assert "faster than its request limit" not in caplog.text

"""Scenario: capability gossip. Two nodes, each with a signed capability record in its data
directory, see each other's record after the join (network.json and ``poqw_peers``), see a new
record when one changes it, and a hostile peer that sends forged records (its own record with a
broken signature) has them refused, is penalised and ends banned, while the honest link stays."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attackers import Attacker
from framework import Network, TestNode, log, wait_until

from poqw.chain import load_genesis
from poqw.node.capabilities import CAPABILITY_FILE
from poqw.node.capability import Capability, GpuInfo, sign_capability
from poqw.node.network import load_node_key
from poqw.p2p import ConnectionClosed


def write_record(node: TestNode, chain_id: int, cores: int) -> str:
    """A record signed with the node's own key, where ``poqw node capability`` saves it;
    returns the node id."""
    node.datadir.mkdir(parents=True, exist_ok=True)
    key = load_node_key(node.datadir)
    capability = Capability(chain_id, 1_800_000_000, cores, 8 << 30,
                            (GpuInfo(f"test GPU of {node.name}", 24 << 30),), "mock",
                            3_000_000, 4_000_000)
    tmp = node.datadir / "capability.tmp"
    tmp.write_bytes(sign_capability(capability, key).encode())
    tmp.replace(node.datadir / CAPABILITY_FILE)
    return key.public_key().compressed.hex()


def capability_of(node: TestNode, peer_id: str) -> dict[str, Any] | None:
    for peer in node.status().get("peers", []):
        if peer["node_id"] == peer_id:
            found: dict[str, Any] | None = peer.get("capability")
            return found
    return None


def rpc(node: TestNode, method: str) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    request = urllib.request.Request(node.status()["rpc"], body,
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["result"]


async def send_forged(target: TestNode, tmp: Path, chain_id: int) -> ConnectionClosed:
    attacker = Attacker("forger", target.status(), tmp)
    session = await attacker.join(target.port)
    capability = Capability(chain_id, 1_800_000_000, 4096, 1 << 50, (), "d-wave", 1, 10**12)
    forged = bytearray(sign_capability(capability, attacker.local.key).encode())
    forged[-5] ^= 0x01  # the signature no longer matches
    try:
        for _ in range(10):
            if session.protocol.is_open:
                session.protocol.send_capability(bytes(forged))
                session.flush()
            await asyncio.sleep(0.05)
        event = await attacker.wait_for(lambda e: isinstance(e, ConnectionClosed), 30)
        assert isinstance(event, ConnectionClosed)
        return event
    finally:
        await attacker.close()


def test_capability_records_gossip_and_forged_ones_are_refused(
        network: Callable[[int], Network], tmp_path: Path) -> None:
    net = network(2)
    chain_id = load_genesis(net.genesis).chain_id
    id0 = write_record(net[0], chain_id, cores=3)
    id1 = write_record(net[1], chain_id, cores=5)
    net[0].start(mine=False)
    net[1].start([net[0]], mine=False)
    wait_until(lambda: (capability_of(net[0], id1) or {}).get("cores") == 5
               and (capability_of(net[1], id0) or {}).get("cores") == 3, 60,
               "both nodes to hold each other's capability record")
    seen = capability_of(net[0], id1)
    assert seen is not None and seen["gpus"] == [{"name": "test GPU of node1",
                                                  "memory_bytes": 24 << 30}]
    log(f"node0 sees node1's record: {seen}")
    peers = rpc(net[0], "poqw_peers")
    assert [p["capability"]["cores"] for p in peers if p["nodeId"] == "0x" + id1] == [5]

    write_record(net[1], chain_id, cores=7)  # node1 measured again: its peers hear of it
    wait_until(lambda: (capability_of(net[0], id1) or {}).get("cores") == 7, 60,
               "node0 to see node1's new record")
    log("node0 sees node1's changed record")

    closed = asyncio.run(send_forged(net[0], tmp_path, chain_id))
    log(f"the forger was disconnected: {closed.reason}")
    assert closed.banned or "banned" in closed.reason, closed
    wait_until(lambda: net[0].status().get("capabilities_refused", 0) >= 1, 30,
               "node0 to count the refused record")
    assert "capability record refused" in net[0].log_text()
    assert (capability_of(net[0], id1) or {}).get("cores") == 7  # the honest record stays
    assert net[0].peer_count() == 1

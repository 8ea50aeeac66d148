"""Scenario 1: three mining nodes (node i joins nodes 0..i-1) converge on one chain, and every
node ends with both others as peers."""

from __future__ import annotations

from collections.abc import Callable

from framework import Network, log, wait_until


def test_three_mining_nodes_converge(network: Callable[[int], Network]) -> None:
    net = network(3)
    target = 12
    for i in range(3):
        net[i].start([net[j] for j in range(i)], stop_mining_at=target)
    wait_until(lambda: all(n.peer_count() == 2 for n in net.nodes), 30, "a full mesh")
    wait_until(lambda: all(n.height() >= target for n in net.nodes), 60, f"height {target}")
    tip = net.sync_blocks()
    info = net[0].info()
    assert info is not None and info["tip"] == tip and info["height"] >= target
    # the agreed chain is the same block by block on every node (not just the same tip hash)
    heights = {n.height() for n in net.nodes}
    assert len(heights) == 1
    mined = sum(m["blocks_won"] for m in info["miners"])
    assert mined == info["height"]  # every canonical block is credited to some miner
    log(f"converged at height {info['height']}; miners {[m['blocks_won'] for m in info['miners']]}")

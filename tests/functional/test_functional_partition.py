"""Scenario 3: a partition where both sides mine, then the heal: every node reorganises to the
side whose chain has more cumulative work."""

from __future__ import annotations

from collections.abc import Callable

from framework import Network, log, wait_until


def test_partition_then_heal_reorgs_to_most_work(network: Callable[[int], Network]) -> None:
    net = network(3)
    net[0].start(stop_mining_at=4)
    net[1].start([net[0]], mine=False)
    net[2].start([net[0], net[1]], mine=False)
    wait_until(lambda: net[0].height() >= 4, 60, "a common chain of 4 blocks")
    common = net.sync_blocks()
    # partition: {0, 1} and {2}; the bigger side mines more blocks
    big_target, small_target = 4 + 8 + net.rng.randrange(3), 4 + 3
    log(f"partition: {{node0, node1}} mine to {big_target}, {{node2}} to {small_target}")
    net.restart(2, peers=[], stop_mining_at=small_target)
    net.restart(0, peers=[], stop_mining_at=big_target)
    net.restart(1, peers=[0], mine=False)
    wait_until(lambda: net[0].height() >= big_target and net[2].height() >= small_target, 90,
               "both sides to mine")
    side_a = net.sync_blocks([net[0], net[1]])
    side_b = net[2].tip()
    assert side_a != side_b and common not in (side_a, side_b)
    info_a, info_b = net[0].info(), net[2].info()
    assert info_a is not None and info_b is not None
    winner = side_a if info_a["total_work"] > info_b["total_work"] else side_b
    log(f"work: side A {info_a['total_work']} at {info_a['height']}, side B "
        f"{info_b['total_work']} at {info_b['height']}")
    # heal: node2 rejoins node0 (no more mining), everyone converges on the most work
    net.restart(2, peers=[0], mine=False)
    healed = net.sync_blocks(timeout=60)
    assert healed == winner
    loser = net[2] if winner == side_a else net[0]
    assert "reorg:" in loser.log_text()

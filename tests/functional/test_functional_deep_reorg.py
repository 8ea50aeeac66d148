"""Scenario: two nodes mine apart from genesis, each more than the 64-block warning depth, then
meet: both end on the chain with the most work, and the one that switched says DEEP REORG
(issue 10: the depth limit pinned a fresh node to a chain with 5.6x less work)."""

from __future__ import annotations

from collections.abc import Callable

from framework import Network, log, wait_until


def test_a_fork_deeper_than_the_limit_heals_to_the_most_work(
        network: Callable[[int], Network]) -> None:
    net = network(2)
    depth = 64 + 2 + net.rng.randrange(4)
    net[0].start(stop_mining_at=depth + 10)
    net[1].start(stop_mining_at=depth)
    wait_until(lambda: net[0].height() >= depth + 10 and net[1].height() >= depth, 150,
               "both nodes to mine their own chains")
    info = [net[0].info(), net[1].info()]
    assert info[0] is not None and info[1] is not None
    log(f"apart: node0 work {info[0]['total_work']} at {info[0]['height']}, node1 work "
        f"{info[1]['total_work']} at {info[1]['height']}")
    assert info[0]["total_work"] != info[1]["total_work"]
    winner = 0 if info[0]["total_work"] > info[1]["total_work"] else 1
    loser = 1 - winner
    winning_tip = net[winner].tip()
    net.restart(loser, peers=[winner], mine=False)
    wait_until(lambda: net[loser].tip() == winning_tip, 90,
               f"{net[loser].name} to switch to the chain with more work")
    assert "DEEP REORG" in net[loser].log_text()
    log(f"{net[loser].name} switched {info[loser]['height']} blocks deep to the most work")

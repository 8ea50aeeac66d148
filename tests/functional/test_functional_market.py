"""The problem market end to end on a real PoQW network: two ``poqw node cpu`` processes (node 0
mines, node 1 relays), the market deployed through node 0's JSON-RPC with the wrapped coin as
payment token, a customer posting a MaxCut problem through node 1, two honest solver daemons
(simulated annealing and match-strike) and a cheater who claims an energy it never reveals.

Chain time is block time: the genesis allows blocks at most a few seconds ahead of the clock, so
a block comes about every second and the commit and reveal windows (seconds) pass in real time.
At the end the earliest best solver is paid, the cheater is slashed and the honest solver who
reported it earns the reporter's share, and the unsolvable problem is refunded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from framework import Network, log, wait_until

from poqw.market import (
    MarketClient,
    MarketSettings,
    connect,
    deploy_market,
    encode_problem,
    new_salt,
    pack_spins,
)
from poqw.market.solver import SolverDaemon
from poqw.problems import maxcut_to_ising, random_regular_graph, solve_exact

TOKEN = 10**18
ROLES = ("deployer", "customer", "annealer", "striker", "cheater")
COMMIT_WINDOW = 24  # seconds of chain time: two posts, the cheater's and the daemons' commits
REVEAL_WINDOW = 8


def account(role: str) -> LocalAccount:
    key: LocalAccount = Account.from_key(keccak(f"poqw/test-market/{role}".encode()))
    return key


def prepare(net: Network) -> None:
    """Fund every role in genesis; stateless miner keys (nothing to generate at start)."""
    doc = json.loads(net.genesis.read_text())
    doc["alloc"] = {account(r).address.lower(): str(10_000 * TOKEN) for r in ROLES}
    doc["max_future_drift"] = 3
    net.genesis.write_text(json.dumps(doc))
    config = net.genesis.with_name("node.toml")
    config.write_text('[global]\nkey_scheme = "ecdsa+mldsa44"\n')


def in_parallel(*actions: Callable[[], object]) -> None:
    """Run ``actions`` each in a thread (different senders: their transactions share blocks)."""
    errors: list[BaseException] = []

    def guarded(action: Callable[[], object]) -> None:
        try:
            action()
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_market_on_a_poqw_network(network: Callable[[int], Network], tmp_path: Path) -> None:
    net = network(2)
    prepare(net)
    net[0].start(mine=True)
    net[1].start([net[0]], mine=False)
    wait_until(lambda: net[1].peer_count() >= 1, 60, "node1 to connect")
    url0, url1 = net[0].status()["rpc"], net[1].status()["rpc"]
    w3, w3_relay = connect(url0), connect(url1)
    log(f"node0 JSON-RPC {url0}, node1 {url1}")

    settings = MarketSettings(token_kind="WrappedPoQW", min_stake=100 * TOKEN,
                              slash_amount=100 * TOKEN, reporter_share_bps=5000, fee_bps=250,
                              unbonding_delay=60)
    deployment = deploy_market(w3, account("deployer"), settings)
    log(f"market deployed: {deployment}")
    assert deployment.chain_id == net[0].info()["chain_id"]  # type: ignore[index]
    customer = MarketClient(w3_relay, deployment, account("customer"))
    annealer, striker, cheater = (MarketClient(w3, deployment, account(r))
                                  for r in ("annealer", "striker", "cheater"))
    treasury = MarketClient(w3, deployment, account("deployer"))

    def fund_solver(solver: MarketClient) -> None:
        solver.wrap(300 * TOKEN)
        solver.stake(200 * TOKEN)

    in_parallel(lambda: customer.wrap(100 * TOKEN),
                *(lambda s=s: fund_solver(s) for s in (annealer, striker, cheater)))
    log("customer wrapped 100 coins; three solvers staked 200 each")

    model = maxcut_to_ising(random_regular_graph(3, 12, seed=net.seed % 1000))
    problem = encode_problem(model)
    target = problem.to_chain_target(solve_exact(model).energy)
    customer.approve(deployment.market, 80 * TOKEN)  # one approval for both bounties
    now = customer.chain_time()
    pid = customer.post(problem, 50 * TOKEN, target, now + COMMIT_WINDOW, REVEAL_WINDOW)
    hopeless = customer.post(problem, 30 * TOKEN, target - 1, now + COMMIT_WINDOW,
                             REVEAL_WINDOW)
    log(f"customer posted problem {pid} (MaxCut n=12, bounty 50, target {target}) through "
        f"node1, and problem {hopeless} whose target is below the optimum")
    deadline = customer.problem(pid).commit_deadline

    cheater.commit(pid, pack_spins(np.ones(12)), new_salt(), target)
    log("the cheater committed the optimum's energy with spins it will never reveal")
    daemons = [SolverDaemon(annealer, tmp_path / "annealer.json", num_reads=16),
               SolverDaemon(striker, tmp_path / "striker.json", sampler="qaoa", num_reads=8,
                            max_solve_seconds=3)]
    lines = [line for d in daemons for line in d.poll()]
    log(f"first polls: {lines}")
    assert sum(f"problem {pid}: committed energy {target}" in line for line in lines) == 2
    assert customer.problem(pid).num_commits == 3
    assert customer.problem(hopeless).num_commits == 0

    before = {c.address: c.balances() for c in (customer, annealer, striker, cheater)}
    wait_until(lambda: customer.chain_time() >= deadline, 3 * COMMIT_WINDOW,
               "the commit deadline in chain time")
    for d in daemons:  # the reveal window is open now
        lines += d.poll()
    assert sum("revealed energy" in line for line in lines) == 2
    wait_until(lambda: customer.chain_time() >= deadline + REVEAL_WINDOW, 3 * REVEAL_WINDOW,
               "the end of the reveal window in chain time")
    closing_by = {d.client.address: d.poll() for d in daemons}
    closing = [line for lines_of in closing_by.values() for line in lines_of]
    log(f"closing polls: {closing}")
    assert any(f"reported {cheater.address}, slashed {100 * TOKEN}" in x for x in closing)
    assert f"problem {pid}: settled, paid" in closing
    assert f"problem {hopeless}: settled, refunded" in closing

    after = {c.address: c.balances() for c in (customer, annealer, striker, cheater)}
    info = customer.problem(pid)
    reward = 50 * TOKEN * (10_000 - 250) // 10_000
    # the cheater committed first but never revealed; of the two optimal reveals the
    # earliest commit (the annealer polled first) wins
    assert info.status == "Settled" and info.best_solver == annealer.address
    # the daemons withdraw what the market credits them: the bounty, and the reporter's share
    reported_by = annealer if any("reported" in x for x in closing_by[annealer.address]) \
        else striker
    gains = {c.address: after[c.address]["token"] - before[c.address]["token"]
             for c in (annealer, striker)}
    share = 100 * TOKEN * 5000 // 10_000
    expected = {annealer.address: reward, striker.address: 0}
    expected[reported_by.address] += share
    log(f"token gains {gains}, reporter {reported_by.address}")
    assert gains == expected
    assert after[annealer.address]["wins"] == 1
    assert after[cheater.address]["stake"] == 100 * TOKEN
    assert after[cheater.address]["slashes"] == 1
    assert customer.balances()["claimable"] == 30 * TOKEN
    assert treasury.balances()["claimable"] == 50 * TOKEN * 250 // 10_000
    refunded = customer.withdraw()
    assert refunded == 30 * TOKEN
    assert customer.balances()["token"] == before[customer.address]["token"] + refunded
    net.sync_blocks()

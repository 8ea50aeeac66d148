"""The market SDK against anvil: deploy, post, two solvers, a cheater slashed, a refund.

Narrated with log lines; the chain's clock is moved with anvil's ``evm_increaseTime`` so every
phase (commit, reveal, settle) is reached without waiting.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from market_anvil import Anvil, run_anvil
from poqw.errors import ContractReverted
from poqw.market import (
    MarketClient,
    MarketSettings,
    deploy_market,
    encode_problem,
    new_salt,
    pack_spins,
)
from poqw.market.solver import SolverDaemon
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph, solve_exact

log = logging.getLogger("test_market_anvil")
TOKEN = 10**18


def _settings(treasury: str) -> MarketSettings:
    return MarketSettings(min_stake=100 * TOKEN, slash_amount=100 * TOKEN,
                          reporter_share_bps=5000, fee_bps=250, unbonding_delay=86400,
                          treasury=treasury)


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    with run_anvil() as node:
        yield node


def _market(anvil: Anvil) -> list[MarketClient]:
    """A fresh deployment; clients for the deployer (customer), four funded accounts and the
    treasury (the last account)."""
    deployer = anvil.accounts[0]
    deployment = deploy_market(anvil.w3, deployer, _settings(anvil.accounts[-1].address))
    clients = [MarketClient(anvil.w3, deployment, a) for a in anvil.accounts]
    for c in clients[1:]:
        clients[0].transfer(c.address, 1000 * TOKEN)
    return clients


def test_two_solvers_win_and_a_cheater_is_slashed(anvil: Anvil, tmp_path: Path) -> None:
    customer, alice, bob, cheater, _, treasury = _market(anvil)
    for solver in (alice, bob, cheater):
        solver.stake(200 * TOKEN)
    model = maxcut_to_ising(random_regular_graph(3, 12, seed=1))
    problem = encode_problem(model)
    optimum = solve_exact(model).energy
    target = problem.to_chain_target(optimum)
    now = customer.chain_time()
    log.info("customer posts MaxCut n=12 with bounty 50, target %d (cut %g)", target, -optimum)
    pid = customer.post(problem, 50 * TOKEN, target, now + 600, 600)
    log.info("and an unsolvable one (target below the optimum)")
    hopeless = customer.post(problem, 30 * TOKEN, target - 1, now + 600, 600)

    annealer = SolverDaemon(alice, tmp_path / "alice.json", sampler="simulated-annealing",
                            num_reads=16)
    striker = SolverDaemon(bob, tmp_path / "bob.json", sampler="qaoa", num_reads=8)
    first = annealer.poll() + striker.poll()
    assert f"problem {pid}: committed energy {target} (target {target})" in first
    assert sum("committed" in line for line in first) == 2
    log.info("the cheater claims the optimum with spins it will never reveal")
    cheater.commit(pid, pack_spins(np.ones(12)), new_salt(), target)
    assert customer.problem(pid).num_commits == 3

    anvil.advance(601)
    reveals = annealer.poll() + striker.poll()
    assert sum("revealed energy" in line for line in reveals) == 2
    anvil.advance(600)
    before = {c.address: c.balances() for c in (customer, alice, bob, cheater)}
    closing = annealer.poll() + striker.poll()
    log.info("closing polls: %s", closing)
    assert any(f"reported {cheater.address}, slashed {100 * TOKEN}" in line for line in closing)
    assert f"problem {pid}: settled, paid" in closing
    assert f"problem {hopeless}: settled, refunded" in closing

    after = {c.address: c.balances() for c in (customer, alice, bob, cheater)}
    reward = 50 * TOKEN * (10_000 - 250) // 10_000
    info = customer.problem(pid)
    assert info.status == "Settled" and info.best_solver == alice.address  # earliest commit
    assert after[alice.address]["token"] - before[alice.address]["token"] == reward + 50 * TOKEN
    assert after[alice.address]["wins"] == 1
    assert after[bob.address]["token"] == before[bob.address]["token"]
    assert after[cheater.address]["stake"] == 100 * TOKEN
    assert after[cheater.address]["slashes"] == 1
    assert customer.balances()["claimable"] == 30 * TOKEN
    assert treasury.balances()["claimable"] == 50 * TOKEN * 250 // 10_000  # the fee
    refunded = customer.withdraw()
    assert customer.balances()["token"] == before[customer.address]["token"] + refunded
    with pytest.raises(ContractReverted) as caught:
        customer.settle(pid)
    assert caught.value.error == "AlreadySettled"


def test_refusals_come_back_as_named_errors(anvil: Anvil) -> None:
    customer, solver, *_ = _market(anvil)
    problem = encode_problem(maxcut_to_ising(random_regular_graph(3, 8, seed=2)))
    now = customer.chain_time()
    cases = {
        "ZeroBounty": lambda: customer.post(problem, 0, 0, now + 100, 100),
        "DeadlineInPast": lambda: customer.post(problem, TOKEN, 0, now - 1, 100),
        "RevealWindowOutOfRange": lambda: customer.post(problem, TOKEN, 0, now + 100, 0),
    }
    for name, action in cases.items():
        with pytest.raises(ContractReverted) as caught:
            action()
        assert caught.value.error == name and caught.value.contract == "ProblemMarket"
        assert "Traceback" not in str(caught.value)
    pid = customer.post(problem, TOKEN, 0, now + 100, 100)
    with pytest.raises(ContractReverted) as caught:
        solver.commit(pid, pack_spins(np.ones(8)), new_salt(), 0)
    assert caught.value.error == "StakeTooLow"
    assert caught.value.args_by_name["minStake"] == 100 * TOKEN
    solver.stake(100 * TOKEN)
    solver.request_unbond(100 * TOKEN)
    with pytest.raises(ContractReverted) as caught:
        solver.withdraw_stake()
    assert caught.value.error == "UnbondingNotFinished"


def test_sdk_energy_matches_the_contracts(anvil: Anvil) -> None:
    rng = np.random.default_rng(4)
    n = 37  # not a multiple of 8: the last spin byte is padded
    pairs = {(int(i), int(j)) for i, j in rng.integers(0, n, size=(120, 2)) if i < j}
    model = IsingModel.from_dicts(rng.integers(-127, 128, size=n).tolist(),
                                  {p: float(rng.integers(-7, 8)) for p in sorted(pairs)},
                                  num_variables=n)
    problem = encode_problem(model)
    customer = _market(anvil)[0]
    for _ in range(5):
        spins = rng.choice([-1, 1], size=n)
        on_chain = customer.market.functions.energyOf(
            n, pack_spins(spins), problem.fields, problem.couplings).call()
        assert on_chain == problem.chain_energy(spins) == round(model.energy(spins))


def test_on_the_poqw_chain_the_token_is_the_wrapped_coin(anvil: Anvil) -> None:
    customer = anvil.accounts[0]
    settings = dataclasses.replace(_settings(anvil.accounts[-1].address),
                                   token_kind="WrappedPoQW")
    client = MarketClient(anvil.w3, deploy_market(anvil.w3, customer, settings), customer)
    coins = anvil.w3.eth.get_balance(customer.address)
    client.wrap(3 * TOKEN)
    assert client.balances()["token"] == 3 * TOKEN
    assert anvil.w3.eth.get_balance(customer.address) < coins - 3 * TOKEN + TOKEN // 100
    problem = encode_problem(maxcut_to_ising(random_regular_graph(3, 8, seed=5)))
    pid = client.post(problem, 2 * TOKEN, 0, client.chain_time() + 60, 60)
    assert client.problem(pid).bounty == 2 * TOKEN
    assert client.balances()["token"] == TOKEN


def test_a_restarted_solver_reveals_from_its_state_file(anvil: Anvil, tmp_path: Path) -> None:
    customer, solver, *_ = _market(anvil)
    solver.stake(100 * TOKEN)
    model = maxcut_to_ising(random_regular_graph(3, 10, seed=6))
    problem = encode_problem(model)
    target = problem.to_chain_target(solve_exact(model).energy)
    pid = customer.post(problem, 5 * TOKEN, target, customer.chain_time() + 300, 300)
    state = tmp_path / "state.json"
    assert any("committed" in line for line in SolverDaemon(solver, state).poll())
    log.info("the first daemon is gone; a new one starts from the state file")
    anvil.advance(301)
    restarted = SolverDaemon(solver, state)
    assert f"problem {pid}: revealed energy {target}" in restarted.poll()
    assert customer.commitments(pid)[0].state == "Revealed"

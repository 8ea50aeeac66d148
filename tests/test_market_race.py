"""What a PoQW chain does that an instantly mining anvil hides, reproduced on anvil: two settles
of one problem in the same block (automine off) - the loser's transaction reverts on chain and
the SDK names the contract's error instead of guessing "out of gas"; and blocks seconds apart -
a solver does not commit when the next block would come after the commit deadline."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from web3 import Web3

from market_anvil import run_anvil
from poqw.errors import ContractReverted, MarketError
from poqw.market import MarketClient, MarketSettings, deploy_market, encode_problem
from poqw.market.solver import SolverDaemon
from poqw.problems import maxcut_to_ising, random_regular_graph

TOKEN = 10**18


def test_a_settle_that_lost_the_race_names_the_contract_error() -> None:
    with run_anvil(accounts=3) as anvil:
        deployment = deploy_market(anvil.w3, anvil.accounts[0], MarketSettings())
        customer, first, second = (MarketClient(anvil.w3, deployment, a, receipt_timeout=30)
                                   for a in anvil.accounts)
        problem = encode_problem(maxcut_to_ising(random_regular_graph(3, 8, seed=3)))
        pid = customer.post(problem, TOKEN, 0, customer.chain_time() + 10, 10)
        anvil.advance(30)
        anvil.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
        with ThreadPoolExecutor(2) as pool:
            settles = [pool.submit(c.settle, pid) for c in (first, second)]
            while len(anvil.w3.eth.get_block("pending")["transactions"]) < 2:
                time.sleep(0.05)
            anvil.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            outcomes: list[object] = []
            for job in settles:
                try:
                    outcomes.append(job.result())
                except MarketError as exc:
                    outcomes.append(exc)
    errors = [o for o in outcomes if isinstance(o, MarketError)]
    assert len(errors) == 1, outcomes
    assert isinstance(errors[0], ContractReverted), errors[0]
    assert errors[0].error == "AlreadySettled"
    assert any(isinstance(o, dict) and o["outcome"] == "refunded" for o in outcomes)


def test_a_solver_does_not_commit_when_the_next_block_comes_after_the_deadline(
        tmp_path: Path) -> None:
    with run_anvil(accounts=2) as anvil:
        deployment = deploy_market(anvil.w3, anvil.accounts[0], MarketSettings())
        customer, solver = (MarketClient(anvil.w3, deployment, a) for a in anvil.accounts)
        customer.transfer(solver.address, 100 * TOKEN)
        solver.stake(100 * TOKEN)
        customer.approve(deployment.market, 2 * TOKEN)
        # blocks 10 s apart, as on the devnet: a transaction sent now lands 10 s later
        anvil.w3.provider.make_request("anvil_setBlockTimestampInterval",  # type: ignore[arg-type]
                                       [10])
        for _ in range(8):  # the daemon averages the last 8 intervals
            anvil.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        problem = encode_problem(maxcut_to_ising(random_regular_graph(3, 8, seed=4)))
        now = customer.chain_time()
        tight = customer.post(problem, TOKEN, 0, now + 25, 60)  # mined at now + 10
        roomy = customer.post(problem, TOKEN, 0, now + 60, 60)  # mined at now + 20
        daemon = SolverDaemon(solver, tmp_path / "state.json", num_reads=4)
        sender = Web3.to_checksum_address(solver.address)
        nonce = anvil.w3.eth.get_transaction_count(sender)
        lines = daemon.poll()
        assert f"problem {tight}: too late to commit (5 s left, a block every 10.0 s)" in lines
        assert any(line.startswith(f"problem {roomy}: committed") for line in lines), lines
        assert anvil.w3.eth.get_transaction_count(sender) == nonce + 1  # only the roomy commit

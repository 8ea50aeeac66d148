"""Two settles of one problem in the same block (PoQW blocks batch transactions; anvil is made to
do the same with automine off): the loser's transaction reverts on chain, and the SDK names the
contract's error instead of guessing "out of gas"."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from market_anvil import run_anvil
from poqw.errors import ContractReverted, MarketError
from poqw.market import MarketClient, MarketSettings, deploy_market, encode_problem
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

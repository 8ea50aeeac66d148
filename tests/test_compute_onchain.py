"""Paying verified batches on chain (``poqw.compute.onchain``) against a real EVM node (anvil):
one transfer per payee per epoch, exactly the ledger's amounts, and never twice.

A coordinator that dies between recording a signed transfer and sending it re-sends that very
transaction when it resumes; one that dies after the transfer was mined learns so and sends
nothing; a payer that cannot pay (no coins) leaves the transfer recorded and pays it, once,
when it can. The crashes are injected at those exact points by raising out of the hook (the
process would die there); everything else is the real coordinator, ledger, state file and node.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from market_anvil import Anvil, run_anvil
from poqw.compute.coordinator import Coordinator, SolveSettings
from poqw.compute.jobs import SolverNode
from poqw.compute.ledger import Ledger, Transfer
from poqw.compute.onchain import ChainSettlement, deploy_judge, payee_address
from poqw.compute.transport import InProcessTransport, run_solve
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import ConfigError
from poqw.market import MarketSettings, deploy_market
from poqw.problems import maxcut_to_ising, random_regular_graph

MODEL = maxcut_to_ising(random_regular_graph(3, 8, seed=5))
SETTINGS = SolveSettings(p=1, shots=64, rounds=4, seed=1, job_shots=32, verify_every=2,
                         checks=4)
PRICE = 10**9


class Crash(BaseException):
    """The coordinator process dying at this point."""


@pytest.fixture(scope="module")
def chain() -> Iterator[dict[str, Any]]:
    with run_anvil(accounts=4) as anvil:
        deployer = anvil.accounts[0]
        deployment = deploy_market(anvil.w3, deployer, MarketSettings())
        judge = deploy_judge(anvil.w3, deployer, deployment.registry)
        yield {"anvil": anvil, "judge": judge, "reporter": deployer,
               "payer": anvil.accounts[1]}


def coins(anvil: Anvil, address: str) -> int:
    return int(anvil.w3.eth.get_balance(address))  # type: ignore[arg-type]


def solvers() -> dict[str, SolverNode]:
    keys = [EcdsaPrivateKey.generate() for _ in range(2)]
    return {k.public_key().compressed.hex(): SolverNode(k, [MODEL]) for k in keys}


def coordinator(nodes: dict[str, SolverNode], state: Path, chain: dict[str, Any],
                settlement: ChainSettlement) -> Coordinator:
    coord = Coordinator(MODEL, SETTINGS, list(nodes), state_path=state,
                        ledger=Ledger(10**18, PRICE, PRICE),
                        verifier_name=chain["reporter"].address)
    coord.on_epoch = settlement
    return coord


def settlement(chain: dict[str, Any], payer: LocalAccount | None = None,
               cls: type[ChainSettlement] = ChainSettlement,
               receipt_timeout: float = 30.0) -> ChainSettlement:
    return cls(chain["anvil"].url, chain["judge"], chain["reporter"], payer or chain["payer"],
               receipt_timeout=receipt_timeout)


def check_paid_once(chain: dict[str, Any], ledger: Ledger, before: dict[str, int]) -> None:
    """Every credit in exactly one mined transfer, and each solver's coins up by its credits."""
    assert all(t.state == "paid" for t in ledger.transfers)
    assert ledger.unsent() == {}
    covered = sorted(k for t in ledger.transfers for k in t.credits)
    assert covered == [k for k, p in enumerate(ledger.payments) if p.amount > 0]
    for name, start in before.items():
        address = payee_address(name)
        assert address is not None
        assert coins(chain["anvil"], address) - start == ledger.balances()[name]


def test_each_solver_is_paid_its_verified_batches_once_per_epoch(
        chain: dict[str, Any], tmp_path: Path) -> None:
    nodes = solvers()
    anvil, payer = chain["anvil"], chain["payer"].address
    nonce = anvil.w3.eth.get_transaction_count(payer)
    before = {name: coins(anvil, payee_address(name) or "") for name in nodes}
    coord = coordinator(nodes, tmp_path / "solve.json", chain, settlement(chain))
    run_solve(coord, InProcessTransport(nodes))
    ledger = coord.ledger
    check_paid_once(chain, ledger, before)
    epochs = SETTINGS.rounds // SETTINGS.verify_every
    payees = len(nodes) + 1  # and the verifier's fees, to the reporter
    assert len(ledger.transfers) == epochs * payees
    assert anvil.w3.eth.get_transaction_count(payer) - nonce == epochs * payees
    assert sum(1 for n in coord.notes if n.startswith("paid ")) == epochs * payees
    saved = Ledger.from_dict(coord._checkpoint["ledger"])
    assert saved.transfers == ledger.transfers  # the state file knows what was paid


class CrashBeforeSending(ChainSettlement):
    def _broadcast(self, transfer: Transfer) -> None:
        raise Crash


class CrashAfterMined(ChainSettlement):
    def _finish(self, coordinator: Coordinator, ledger: Ledger, transfer: Transfer,
                receipt: Any) -> None:
        raise Crash


@pytest.mark.parametrize("crash", [CrashBeforeSending, CrashAfterMined])
def test_a_restarted_coordinator_never_pays_a_credit_twice(
        chain: dict[str, Any], tmp_path: Path, crash: type[ChainSettlement]) -> None:
    nodes = solvers()
    anvil, payer = chain["anvil"], chain["payer"].address
    before = {name: coins(anvil, payee_address(name) or "") for name in nodes}
    first = coordinator(nodes, tmp_path / "solve.json", chain, settlement(chain, cls=crash))
    with pytest.raises(Crash):
        run_solve(first, InProcessTransport(nodes))
    in_flight = [t for t in first.ledger.transfers if t.state == "sent"]
    assert in_flight  # recorded (and saved) before the crash
    nonce = anvil.w3.eth.get_transaction_count(payer)

    second = coordinator(nodes, tmp_path / "solve.json", chain, settlement(chain))
    assert [t.tx for t in second.ledger.transfers] == [t.tx for t in in_flight]
    second.on_epoch.pay(second)  # type: ignore[union-attr]  # as `poqw coordinator` does
    assert all(t.state == "paid" for t in second.ledger.transfers)
    sent_again = anvil.w3.eth.get_transaction_count(payer) - nonce
    assert sent_again == (len(in_flight) if crash is CrashBeforeSending else 0)
    run_solve(second, InProcessTransport(nodes))
    check_paid_once(chain, second.ledger, before)


def test_a_payer_without_coins_pays_later_once(chain: dict[str, Any], tmp_path: Path) -> None:
    anvil = chain["anvil"]
    broke: LocalAccount = Account.create()
    nodes = solvers()
    before = {name: coins(anvil, payee_address(name) or "") for name in nodes}
    coord = coordinator(nodes, tmp_path / "solve.json", chain,
                        settlement(chain, broke, receipt_timeout=1.0))
    result = run_solve(coord, InProcessTransport(nodes))
    assert result["energy"] is not None  # the solve went on
    assert any(n.startswith("payments not completed") and "refused transfer" in n
               for n in coord.notes)
    assert coord.ledger.paid_on_chain() == {}
    waiting = [t for t in coord.ledger.transfers if t.state == "sent"]
    assert waiting and coins(anvil, broke.address) == 0
    anvil.w3.eth.wait_for_transaction_receipt(anvil.w3.eth.send_raw_transaction(
        chain["reporter"].sign_transaction({
            "to": broke.address, "value": 10**18, "gas": 21_000, "chainId": 31337,
            "nonce": anvil.w3.eth.get_transaction_count(chain["reporter"].address),
            "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9}).raw_transaction))
    coord.on_epoch.pay(coord)  # type: ignore[union-attr]
    check_paid_once(chain, coord.ledger, before)
    assert [t.tx for t in coord.ledger.transfers[:len(waiting)]] == [t.tx for t in waiting]


def test_settlement_refuses_a_judge_that_is_not_there(chain: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="no contract at"):
        ChainSettlement(chain["anvil"].url, "0x" + "12" * 20, chain["reporter"])
    with pytest.raises(ConfigError, match="is not an address"):
        ChainSettlement(chain["anvil"].url, "0x1234", chain["reporter"])
    assert payee_address("coordinator") is None


def test_a_fraud_the_chain_cannot_settle_is_said_so_and_the_cheater_stays_banned(
        chain: dict[str, Any], tmp_path: Path) -> None:
    """anvil has no strike precompile: the judge refuses (PrecompileFailed), as on any other
    EVM chain; the coordinator says so, keeps the ban and pays the cheater nothing."""
    nodes = solvers()
    cheat_key = EcdsaPrivateKey.generate()
    cheater = cheat_key.public_key().compressed.hex()
    nodes[cheater] = SolverNode(cheat_key, [MODEL], fake_fraction=1.0)
    onchain = settlement(chain)
    coord = coordinator(nodes, tmp_path / "solve.json", chain, onchain)
    result = run_solve(coord, InProcessTransport(nodes))
    assert result["banned"] == [cheater]
    assert len(onchain.settlements) == result["fraud_evidence"] >= 1
    outcome = onchain.settlements[0]
    assert outcome.tx is None and outcome.slashed == 0 and "PrecompileFailed" in outcome.reason
    assert outcome.solver == payee_address(cheater)
    assert any(n.startswith(f"fraud of {outcome.solver} not settled on chain") for n in
               coord.notes)
    assert cheater not in coord.ledger.balances()
    assert coins(chain["anvil"], outcome.solver) == 0

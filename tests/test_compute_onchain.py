"""Paying verified batches on chain (``poqw.compute.onchain``) against a real EVM node (anvil):
one transfer per payee per epoch, exactly the ledger's amounts, and never twice.

A coordinator that dies between recording a signed transfer and sending it re-sends that very
transaction when it resumes; one that dies after the transfer was mined learns so and sends
nothing; a payer that cannot pay (no coins) leaves the transfer recorded and pays it, once,
when it can. The crashes are injected at those exact points by raising out of the hook (the
process would die there); everything else is the real coordinator, ledger, state file and node.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner

from market_anvil import Anvil, run_anvil
from poqw.compute.coordinator import Coordinator, SolveSettings
from poqw.compute.jobs import SolverNode
from poqw.compute.ledger import Ledger, Transfer
from poqw.compute.onchain import ChainSettlement, deploy_judge, payee_address
from poqw.compute.transport import InProcessTransport, run_solve
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import ConfigError
from poqw.market import Deployment, MarketClient, MarketSettings, deploy_market, load_account
from poqw.market.client import SLASHER_ROLE
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


def test_a_payer_that_is_also_the_reporter_sends_itself_nothing(
        chain: dict[str, Any], tmp_path: Path) -> None:
    nodes = solvers()
    anvil, me = chain["anvil"], chain["reporter"].address
    before = {name: coins(anvil, payee_address(name) or "") for name in nodes}
    nonce = anvil.w3.eth.get_transaction_count(me)
    coord = coordinator(nodes, tmp_path / "solve.json", chain,
                        settlement(chain, payer=chain["reporter"]))
    run_solve(coord, InProcessTransport(nodes))
    check_paid_once(chain, coord.ledger, {})
    for name, start in before.items():
        assert coins(anvil, payee_address(name) or "") - start == coord.ledger.balances()[name]
    own = [t for t in coord.ledger.transfers if t.payee == me]
    assert own and all(t.tx == "" for t in own)
    epochs = SETTINGS.rounds // SETTINGS.verify_every
    assert anvil.w3.eth.get_transaction_count(me) - nonce == epochs * len(nodes)


def test_a_solver_is_funded_and_staked_by_its_node_key_from_the_command_line(
        tmp_path: Path) -> None:
    """`poqw market deploy-judge`, `transfer --coin` to a node key file, and `stake --key` with
    that file (no passphrase asked): what the README's compute-on-chain example does."""
    from poqw.cli.main import app

    with run_anvil(accounts=2) as anvil:
        admin = anvil.accounts[0]
        deployment = deploy_market(anvil.w3, admin, MarketSettings(token_kind="WrappedPoQW",
                                                                   min_stake=10**19))
        dep = tmp_path / "market.json"
        deployment.save(dep)
        pw = tmp_path / "pw"
        pw.write_text("secret\n")
        admin_key = tmp_path / "admin.json"
        admin_key.write_text(json.dumps(
            Account.encrypt(admin.key, "secret", kdf="pbkdf2", iterations=1 << 10)))
        node_key = tmp_path / "solver.key"
        solver = EcdsaPrivateKey.generate()
        node_key.write_text(solver.secret_bytes().hex() + "\n")
        address = load_account(node_key, lambda: pytest.fail("asked a passphrase")).address
        assert address == payee_address(solver.public_key().compressed.hex())
        chain_flags = ["--rpc", anvil.url, "--deployment", str(dep)]
        as_admin = [*chain_flags, "--key", str(admin_key), "--passphrase-file", str(pw)]
        runner = CliRunner()

        def market(*args: str) -> str:
            result = runner.invoke(app, ["market", *args])
            assert result.exit_code == 0, result.output
            return result.output

        assert "StrikeFraudJudge 0x" in market("deploy-judge", *as_admin)
        judge = json.loads(dep.read_text())["judge"]
        assert Deployment.load(dep) == deployment  # the file still reads as a deployment
        assert f"sent 20 coins to {address}" in market("transfer", str(node_key), "20",
                                                       "--coin", *as_admin)
        market("wrap", "10", *chain_flags, "--key", str(node_key))
        assert "stake now 10" in market("stake", "10", *chain_flags, "--key", str(node_key))
        registry = MarketClient(anvil.w3, deployment).registry
        assert registry.functions.isEligible(address).call()
        assert registry.functions.hasRole(
            SLASHER_ROLE, judge).call()


def test_the_coordinator_chain_flags_say_what_is_missing(tmp_path: Path) -> None:
    from poqw.cli.compute_chain import ChainOptions, resolve_chain
    from poqw.compute.stake import AllowAll

    stake, onchain = resolve_chain(ChainOptions())
    assert isinstance(stake, AllowAll) and onchain is None
    key = tmp_path / "k"
    key.write_text("11" * 32)
    cases = [(ChainOptions(payer_key=key), "need the fraud judge"),
             (ChainOptions(judge="0x" + "12" * 20), "needs the chain's JSON-RPC"),
             (ChainOptions(rpc="http://127.0.0.1:1", judge="0x" + "12" * 20),
              "give --reporter-key"),
             (ChainOptions(rpc="http://127.0.0.1:1"), "--rpc needs --registry")]
    bad = tmp_path / "market.json"
    bad.write_text('{"chain_id": 1}')
    cases.append((ChainOptions(rpc="http://127.0.0.1:1", deployment=bad), "is malformed"))
    for options, message in cases:
        with pytest.raises(ConfigError, match=message):
            resolve_chain(options)


def test_a_settlement_the_node_missed_is_tried_again_and_then_reported(
        chain: dict[str, Any], tmp_path: Path) -> None:
    """A node that went away is not the judge's verdict: the fraud is tried again after the
    next epoch and once more at the end, then reported unsettled with the node's error."""
    cheat_key = EcdsaPrivateKey.generate()
    nodes = {**solvers(), cheat_key.public_key().compressed.hex():
             SolverNode(cheat_key, [MODEL], fake_fraction=1.0)}
    coord = coordinator(nodes, tmp_path / "solve.json", chain, settlement(chain))
    run_solve(coord, InProcessTransport(nodes))
    assert coord.evidence
    with run_anvil(accounts=1) as gone:
        deployment = deploy_market(gone.w3, gone.accounts[0], MarketSettings())
        judge = deploy_judge(gone.w3, gone.accounts[0], deployment.registry)
        away = ChainSettlement(gone.url, judge, gone.accounts[0])
    notes = coord.notes
    away(coord, coord.evidence[:1])
    assert away.settlements == [] and len(away._retry) == 1
    assert notes[-1].startswith("settling the fraud of") and "retried after the next epoch" \
        in notes[-1]
    away(coord, [])  # the next epoch: tried again, still away
    assert away.settlements == [] and len(away._retry) == 1
    away.finish(coord)
    assert len(away.settlements) == 1 and away._retry == []
    outcome = away.settlements[0]
    assert outcome.tx is None and outcome.transient
    assert outcome.reason.startswith("the settle transaction failed")
    assert notes[-1].startswith(f"fraud of {outcome.solver} not settled on chain")

"""The compute network settled on the PoQW chain: a cheater slashed, verified batches paid.

A ``poqw node cpu`` process serves JSON-RPC on a genesis that funds the test's accounts; the
market (wrapped coin, registry) and ``StrikeFraudJudge`` are deployed through it, and three
solver node keys are staked in the registry. A ``poqw coordinator`` process with ``--deployment``,
``--reporter-key`` and ``--payer-key`` (keystores and a passphrase file: no secret on a command
line) runs the solve of test_functional_compute_cheater: two honest solvers and one faking 20%
of its strikes. The cheater is caught, the judge re-runs its faked strike through the strike
precompile and the registry slashes it below the minimum stake (no longer eligible), the
reporter earns its share, honest stakes are untouched, each solver's coin balance rose by exactly
what the ledger paid it (the cheater, caught in its first epoch, nothing), and the answer is the
honest single-process one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from compute_framework import SETTINGS, Cluster, honest_answer
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from framework import Network, log

from poqw.compute.onchain import deploy_judge, payee_address
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.market import MarketClient, MarketSettings, connect, deploy_market

TOKEN = 10**18
MIN_STAKE, SLASH, STAKE = 10 * TOKEN, 15 * TOKEN, 20 * TOKEN
REPORTER_SHARE_BPS = 5000
PRICE_PER_SHOT = 10**12  # wei
SOLVERS = ("honest1", "honest2", "cheater")
PASSPHRASE = "functional-test"


def account(role: str) -> LocalAccount:
    key: LocalAccount = Account.from_key(keccak(f"poqw/test-compute-onchain/{role}".encode()))
    return key


def write_keystore(path: Path, who: LocalAccount) -> Path:
    doc = Account.encrypt(who.key, PASSPHRASE, kdf="pbkdf2", iterations=1 << 10)
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    root = tmp_path / "compute"
    root.mkdir()
    made = Cluster(root)
    yield made
    made.stop_all()


def test_cheater_slashed_on_chain_and_batches_paid(
        network: Callable[[int], Network], cluster: Cluster, tmp_path: Path) -> None:
    expected = honest_answer()
    solver_keys = {name: EcdsaPrivateKey(keccak(f"poqw/test-compute-onchain/{name}".encode()))
                   for name in SOLVERS}
    for name, key in solver_keys.items():  # the Cluster's solvers use these key files
        (cluster.root / f"{name}.key").write_text(key.secret_bytes().hex() + "\n")
    solvers = {name: Account.from_key(key.secret_bytes()) for name, key in solver_keys.items()}
    deployer, reporter, payer = account("deployer"), account("reporter"), account("payer")

    net = network(1)
    doc = json.loads(net.genesis.read_text())
    doc["alloc"] = {a.address.lower(): str(1000 * TOKEN)
                    for a in (deployer, reporter, payer, *solvers.values())}
    doc["max_future_drift"] = 3  # about a block a second: transactions are mined at once
    net.genesis.write_text(json.dumps(doc))
    net.genesis.with_name("node.toml").write_text('[global]\nkey_scheme = "ecdsa+mldsa44"\n')
    net[0].start(mine=True)
    rpc = net[0].status()["rpc"]
    w3 = connect(rpc)

    settings = MarketSettings(token_kind="WrappedPoQW", min_stake=MIN_STAKE,
                              slash_amount=SLASH, reporter_share_bps=REPORTER_SHARE_BPS,
                              unbonding_delay=60)
    deployment = deploy_market(w3, deployer, settings)
    judge = deploy_judge(w3, deployer, deployment.registry)
    deployment_file = tmp_path / "market.json"
    deployment.save(deployment_file)
    market = json.loads(deployment_file.read_text())
    deployment_file.write_text(json.dumps({**market, "judge": judge}))
    log(f"market and judge {judge} deployed through {rpc}")

    clients = {name: MarketClient(w3, deployment, a) for name, a in solvers.items()}

    def stake(client: MarketClient) -> None:
        client.wrap(STAKE)
        client.stake(STAKE)

    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(stake, clients.values()))
    viewer = MarketClient(w3, deployment)
    assert all(viewer.balances(a.address)["stake"] == STAKE for a in solvers.values())
    log("three solver node keys staked 20 each")

    def coins(address: str) -> int:
        return int(w3.eth.get_balance(address))  # type: ignore[arg-type]

    before = {name: coins(a.address) for name, a in solvers.items()}
    reporter_tokens = viewer.balances(reporter.address)["token"]
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    cluster.start_coordinator(solvers=3, extra=[
        "--rpc", rpc, "--deployment", str(deployment_file),
        "--reporter-key", str(write_keystore(tmp_path / "reporter.json", reporter)),
        "--payer-key", str(write_keystore(tmp_path / "payer.json", payer)),
        "--passphrase-file", str(passphrase_file),
        "--price-per-shot", str(PRICE_PER_SHOT), "--budget", str(100 * TOKEN)])
    cluster.start_solver("honest1")
    cluster.start_solver("honest2")
    cluster.start_solver("cheater", "--cheat-fraction", "0.2", "--cheat-seed", "0")
    answer = cluster.answer(timeout=240)
    ids = {name: cluster.node_id(name) for name in SOLVERS}
    log(f"banned {answer['banned']}, chain {answer['chain']['settlements']}")

    # The cheater: caught, banned, slashed on chain below the minimum stake.
    assert answer["banned"] == [ids["cheater"]]
    settled = answer["chain"]["settlements"]
    assert len(settled) == 1 and settled[0]["tx"] and settled[0]["solver"] == \
        solvers["cheater"].address
    assert settled[0]["slashed"] == SLASH
    assert settled[0]["reward"] == SLASH * REPORTER_SHARE_BPS // 10_000
    assert any(f"slashed {SLASH} on chain" in note for note in answer["notes"])
    cheater = viewer.balances(solvers["cheater"].address)
    assert cheater["stake"] == STAKE - SLASH and cheater["slashes"] == 1
    assert not viewer.registry.functions.isEligible(solvers["cheater"].address).call()
    assert viewer.balances(reporter.address)["token"] == \
        reporter_tokens + SLASH * REPORTER_SHARE_BPS // 10_000
    for name in ("honest1", "honest2"):
        assert viewer.balances(solvers[name].address)["stake"] == STAKE

    # The answer is the honest one.
    assert answer["energy"] == expected["energy"]
    assert answer["solution"] == expected["solution"]

    # Payments: every credit paid once, on chain, exactly.
    state = json.loads((cluster.root / "coord" / "solve.json").read_text())["ledger"]
    transfers = answer["chain"]["transfers"]
    assert transfers and all(t["state"] == "paid" for t in transfers)
    assert answer["chain"]["paid_on_chain"] == answer["payments"]
    assert len({t["tx"] for t in transfers}) == len(transfers)
    caught = [re.search(r"caught faking a strike in rounds (\d+)\.\.(\d+)", n)
              for n in answer["notes"] if n.startswith(ids["cheater"])]
    assert caught and caught[0] is not None
    faked_epoch = int(caught[0].group(2)) // SETTINGS["verify_every"]
    cheater_batches = [p for p in state["payments"] if p[0] == ids["cheater"]]
    assert len(cheater_batches) == faked_epoch  # paid for the epochs before, none since
    for name in SOLVERS:
        owed = answer["payments"].get(ids[name], 0)
        gained = coins(solvers[name].address) - before[name]
        log(f"{name}: ledger {owed}, coin balance +{gained}")
        assert gained == owed
        assert payee_address(ids[name]) == solvers[name].address
    assert answer["payments"][ids["honest1"]] > 0 and answer["payments"][ids["honest2"]] > 0
    assert answer["payments"].get(reporter.address, 0) > 0  # the verifier's fees

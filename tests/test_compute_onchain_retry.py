"""A fraud settlement whose receipt came late, on a PoQW node with the strike precompile.

The coordinator's settle transaction can outlast its receipt timeout (a slow block). The retry
after the next epoch must wait for that transaction, not send a second one: once the first is
mined the judge refuses the same evidence (EvidenceAlreadyUsed), and the coordinator would
report a slash that happened as "not settled". A coordinator killed meanwhile finds the open
fraud and its transaction beside its solve state when it resumes. The node here mines only when
the test lets it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from poqw.api.config import RpcConfig
from poqw.api.testing import rpc_in_thread
from poqw.compute.coordinator import Coordinator, SolveSettings
from poqw.compute.jobs import SolverNode
from poqw.compute.onchain import ChainSettlement, deploy_judge
from poqw.compute.settlement_state import OpenFrauds, load_open_frauds, save_open_frauds
from poqw.compute.transport import InProcessTransport, run_solve
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import ConfigError
from poqw.market import MarketClient, MarketSettings, deploy_market
from poqw.market.devnet import DEV_KEY
from poqw.node import Node
from poqw.node.testing import dev_node_config
from poqw.problems import maxcut_to_ising, random_regular_graph

TOKEN = 10**18
MODEL = maxcut_to_ising(random_regular_graph(3, 8, seed=5))
SETTINGS = SolveSettings(p=1, shots=64, rounds=2, seed=1, job_shots=32, verify_every=2,
                         checks=4)


class GatedMiner:
    """Mines one block at a time in a thread while ``open``; holding ``lock`` means idle."""

    def __init__(self, node: Node) -> None:
        self.node, self.open, self.lock = node, threading.Event(), threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-gated-miner", daemon=True)
        self.open.set()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.open.wait(0.05):
                continue
            with self.lock:
                if self.open.is_set():
                    self.node.run(max_blocks=1)

    def pause(self) -> None:
        self.open.clear()
        with self.lock:  # the block being mined, if any, is done
            pass

    def stop(self) -> None:
        self._stop.set()
        self.open.set()
        self._thread.join(60)


@pytest.fixture()
def chain(tmp_path: Path) -> Iterator[dict[str, Any]]:
    config = dev_node_config(tmp_path, overrides={"global.auto_mine": True})
    with Node(config) as node, rpc_in_thread(node, RpcConfig()) as server:
        miner = GatedMiner(node)
        try:
            w3 = Web3(Web3.HTTPProvider(server.url, request_kwargs={"timeout": 60}))
            yield {"w3": w3, "url": server.url, "miner": miner}
        finally:
            miner.stop()


@pytest.mark.slow  # deploys the market and mines a dozen blocks
def test_a_settlement_mined_after_its_timeout_is_found_not_sent_twice(
        chain: dict[str, Any], tmp_path: Path) -> None:
    w3, miner = chain["w3"], chain["miner"]
    dev = Account.from_key(DEV_KEY)
    settings = MarketSettings(token_kind="WrappedPoQW", min_stake=10 * TOKEN,
                              slash_amount=15 * TOKEN, unbonding_delay=60)
    deployment = deploy_market(w3, dev, settings)
    judge = deploy_judge(w3, dev, deployment.registry)

    cheat_key = EcdsaPrivateKey.generate()
    cheater = Account.from_key(cheat_key.secret_bytes())
    MarketClient(w3, deployment, dev, receipt_timeout=60).send_coin(cheater.address, 50 * TOKEN)
    staker = MarketClient(w3, deployment, cheater, receipt_timeout=60)
    staker.wrap(20 * TOKEN)
    staker.stake(20 * TOKEN)

    honest = EcdsaPrivateKey.generate()
    nodes = {"honest": SolverNode(honest, [MODEL]),
             cheat_key.public_key().compressed.hex(): SolverNode(cheat_key, [MODEL],
                                                                 fake_fraction=1.0)}
    state = tmp_path / "coordinator" / "solve.json"
    state.parent.mkdir()
    coord = Coordinator(MODEL, SETTINGS, list(nodes), state_path=state)
    run_solve(coord, InProcessTransport(nodes))
    assert coord.evidence

    settlement = ChainSettlement(chain["url"], judge, dev, receipt_timeout=1.0)
    miner.pause()  # the settle transaction waits in the mempool past its receipt timeout
    nonce = int(w3.eth.get_transaction_count(dev.address))
    settlement(coord, coord.evidence[:1])
    assert settlement.settlements == [] and len(settlement._retry) == 1
    assert "retried after the next epoch" in coord.notes[-1]
    assert int(w3.eth.get_transaction_count(dev.address, "pending")) == nonce + 1

    settlement(coord, [])  # the next epoch, still no block: waits again, sends nothing new
    assert settlement.settlements == [] and len(settlement._retry) == 1
    assert int(w3.eth.get_transaction_count(dev.address, "pending")) == nonce + 1
    assert len(json.loads((state.parent / "settlements.json").read_text())["open"]) == 1

    # The coordinator dies; started again on its folder, it finds the fraud and its
    # transaction, and the block comes.
    miner.open.set()
    coord = Coordinator(MODEL, SETTINGS, list(nodes), state_path=state)
    settlement = ChainSettlement(chain["url"], judge, dev, receipt_timeout=60.0)
    settlement.resume(coord)
    assert any("not settled yet: settling now" in n for n in coord.notes)
    assert len(settlement.settlements) == 1 and settlement._retry == []
    outcome = settlement.settlements[0]
    assert outcome.tx is not None and outcome.slashed == 15 * TOKEN, outcome
    assert outcome.solver == cheater.address
    assert int(w3.eth.get_transaction_count(dev.address)) == nonce + 1  # one settle, not two
    assert MarketClient(w3, deployment).balances(cheater.address)["stake"] == 5 * TOKEN
    assert json.loads((state.parent / "settlements.json").read_text())["open"] == []


def test_a_broken_or_foreign_settlement_file_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "settlements.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read the unsettled frauds"):
        load_open_frauds(path, MODEL.content_hash())
    save_open_frauds(path, b"\x01" * 32, OpenFrauds([], {}))
    with pytest.raises(ConfigError, match="for another model"):
        load_open_frauds(path, MODEL.content_hash())
    save_open_frauds(path, MODEL.content_hash(), OpenFrauds([], {}))
    assert load_open_frauds(path, MODEL.content_hash()) == OpenFrauds([], {})
    assert load_open_frauds(tmp_path / "none.json", MODEL.content_hash()) == OpenFrauds([], {})

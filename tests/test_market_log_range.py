"""The market SDK against a PoQW node that refuses wide ``eth_getLogs`` ranges (-32005, as the
node does past 10,000 blocks; here the limit is lowered to 4): reading a problem's terms and
commitments narrows its queries until the node answers, instead of failing once the chain has
grown past the limit since the deployment."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from eth_account import Account
from web3 import Web3

from poqw.api.config import RpcConfig
from poqw.api.testing import rpc_in_thread
from poqw.market import (
    ChainProblem,
    MarketClient,
    MarketSettings,
    deploy_market,
    encode_problem,
)
from poqw.market.devnet import DEV_KEY
from poqw.node import Node, load_config
from poqw.node.testing import genesis_document
from poqw.problems import maxcut_to_ising, random_regular_graph

TOKEN = 10**18


def test_problem_terms_are_found_past_the_nodes_log_range(tmp_path: Path) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    config = load_config(None, {"global.datadir": str(tmp_path / "node"), "global.auto_mine": True,
                                "global.genesis": str(genesis), "global.key_height": 6})
    with Node(config) as node, rpc_in_thread(node, RpcConfig(logs_max_blocks=4)) as server:
        miner = threading.Thread(target=node.run, name="test-miner", daemon=True)
        miner.start()
        try:
            w3 = Web3(Web3.HTTPProvider(server.url, request_kwargs={"timeout": 30}))
            dev = Account.from_key(DEV_KEY)
            deployment = deploy_market(w3, dev, MarketSettings(token_kind="WrappedPoQW"))
            client = MarketClient(w3, deployment, dev, receipt_timeout=60)
            client.wrap(5 * TOKEN)
            problem = encode_problem(maxcut_to_ising(random_regular_graph(3, 8, seed=1)))
            pid = client.post(problem, TOKEN, 0, client.chain_time() + 3600, 600)
            assert w3.eth.block_number - deployment.block > 4  # wider than the node serves
            fresh = MarketClient(w3, deployment)  # a reader with no cache, default log range
            assert fresh.terms(pid) == ChainProblem(problem.num_variables, problem.fields,
                                                    problem.couplings)
            assert fresh.commitments(pid) == []
            assert fresh.log_range <= 4
        finally:
            node.stop()
            miner.join(30)

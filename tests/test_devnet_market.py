"""``poqw devnet`` deploys the problem market on first start: through node 0's JSON-RPC, with
the dev key the devnet genesis funds, its addresses in ``RUN_DIR/market.json`` and announced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from web3 import Web3

from poqw.market import Deployment, MarketClient, connect, load_account
from poqw.market.devnet import DEPLOYMENT_FILE, DEV_KEY_FILE, dev_account
from poqw.node.testing import genesis_document


def test_devnet_deploys_the_market_on_first_start(tmp_path: Path) -> None:
    genesis = tmp_path / "cheap.json"  # the devnet genesis (dev key funded), cheap blocks
    genesis.write_text(json.dumps(genesis_document()))
    run_dir = tmp_path / "run"
    err = tmp_path / "devnet.err"
    with open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from poqw.cli.main import main; main()", "devnet",
             "--nodes", "1", "--run-dir", str(run_dir), "--genesis", str(genesis),
             "--drift", "3", "--json"], stdout=subprocess.DEVNULL, stderr=stderr,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (run_dir / DEPLOYMENT_FILE).exists():
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "no market.json after 300 s"
            time.sleep(0.5)
        time.sleep(0.5)  # the announcement follows the file within one watch round
        deployment = Deployment.load(run_dir / DEPLOYMENT_FILE)
        rpc = json.loads((run_dir / "node0-cpu" / "network.json").read_text())["rpc"]
        w3 = connect(rpc)
        assert deployment.chain_id == w3.eth.chain_id
        assert deployment.token_kind == "WrappedPoQW"
        for address in (deployment.token, deployment.registry, deployment.market):
            assert w3.eth.get_code(Web3.to_checksum_address(address)), address
        client = MarketClient(w3, deployment, dev_account())
        assert client.problem_count() == 0
        assert client.registry.functions.minStake().call() == 10 * 10**18
        # the dev key, as a keystore `poqw market --key` reads, with its passphrase beside it
        passphrase = (run_dir / "dev-key.pass").read_text().strip()
        assert load_account(run_dir / DEV_KEY_FILE, passphrase).address == \
            dev_account().address
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    news = " ".join(err.read_text().split())
    assert f"market deployed through {rpc}" in news
    assert f"the explorer shows it at {rpc}/#/market/{deployment.market}" in news

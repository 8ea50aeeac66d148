"""Scrape a real node's ``/metrics``: two node processes on loopback, one mining three blocks and
stopping there, the other following; both expositions parsed with prometheus_client's parser.
Then a transfer sent to the follower shows in its mempool gauges, and a peer that sends garbage
to the miner is banned and counted.

Oracles: the chain itself (``chain_info`` of each data directory: height and tip), the peer
count each node writes to ``network.json``, the JSON-RPC calls this test made and the size of
the raw transaction it signed.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from attackers import Attacker
from eth_account import Account
from framework import Network, TestNode, log, wait_until
from prometheus_client.parser import text_string_to_metric_families

from poqw.node.testing import account_key, genesis_document

HEIGHT = 3
ALICE = Account.from_key(account_key("metrics-alice"))


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def call(url: str, method: str, params: list[object]) -> dict[str, object]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, object] = json.loads(response.read())
        return answer


async def send_garbage(node: TestNode, tmp: Path) -> None:
    """Join ``node`` as a peer, send bytes that are no frame, and wait to be thrown out."""
    attacker = Attacker("metrics-garbage", node.status(), tmp)
    try:
        session = await attacker.join(node.port)
        session.protocol._outgoing += b"\x00garbage, not a frame" * 8  # past the encoder
        session.flush()
        await session.closed.wait()
    finally:
        await attacker.close()


def test_metrics_scraped_from_two_nodes_match_their_chains(
        network: Callable[[int], Network], tmp_path: Path) -> None:
    net = network(2)
    net.genesis.write_text(json.dumps(genesis_document(
        {bytes.fromhex(ALICE.address[2:]): 10**24}, max_future_drift=10**6,
        timestamp=int(time.time()))))
    miner, follower = net[0], net[1]
    miner.start(stop_mining_at=HEIGHT)
    follower.start([miner], mine=False)
    wait_until(lambda: miner.height() == HEIGHT == follower.height(), 90,
               f"both nodes at height {HEIGHT}")
    wait_until(lambda: miner.peer_count() == 1 == follower.peer_count(), 30, "one peer each")
    miner_url, follower_url = miner.status()["rpc"], follower.status()["rpc"]
    log(f"scraping {miner_url}/metrics and {follower_url}/metrics")

    for _ in range(3):
        call(miner_url, "eth_blockNumber", [])
    call(miner_url, "eth_getBalance", ["0x1234", "latest"])  # invalid params: an error

    got = scrape(miner_url)
    assert got[("poqw_chain_height", ())] == HEIGHT
    assert got[("poqw_peers", ())] == 1
    assert got[("poqw_mempool_transactions", ())] == 0
    # the miner imported each of its blocks once, each moving the tip
    assert got[("poqw_block_import_seconds_count", (("status", "new-tip"),))] == HEIGHT
    assert got[("poqw_proof_verification_seconds_count", ())] == HEIGHT
    kind = (("kind", "simulated-annealing"),)
    assert got[("poqw_mining_proofs_found_total", kind)] >= HEIGHT
    assert got[("poqw_mining_attempts_total", kind)] >= \
        got[("poqw_mining_proofs_found_total", kind)]
    assert got[("poqw_rpc_requests_total", (("method", "eth_blockNumber"),
                                            ("outcome", "ok")))] == 3
    assert got[("poqw_rpc_requests_total", (("method", "eth_getBalance"),
                                            ("outcome", "error")))] == 1
    assert got[("poqw_rpc_request_seconds_count", (("method", "eth_blockNumber"),))] == 3
    assert got[("poqw_peers_banned_total", ())] == 0

    followed = scrape(follower_url)
    assert followed[("poqw_chain_height", ())] == HEIGHT
    assert followed[("poqw_peers", ())] == 1
    # the follower stored every block it received: each import that moved its tip counts
    # once, and together they connected all HEIGHT blocks
    imports = {labels: v for (name, labels), v in followed.items()
               if name == "poqw_block_import_seconds_count"}
    assert 1 <= imports[(("status", "new-tip"),)] <= HEIGHT
    assert followed[("poqw_proof_verification_seconds_count", ())] == HEIGHT
    assert not any(name == "poqw_mining_attempts_total" for name, _ in followed)
    assert miner.tip() == follower.tip()

    # a transfer sent to the follower waits in its mempool (nobody mines any more)
    chain_id = int(str(call(follower_url, "eth_chainId", [])["result"]), 16)
    signed = ALICE.sign_transaction({
        "type": 2, "chainId": chain_id, "nonce": 0, "to": "0x" + "00" * 19 + "01", "value": 1,
        "gas": 21000, "maxFeePerGas": 10**12, "maxPriorityFeePerGas": 1})
    sent = call(follower_url, "eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()])
    assert "result" in sent, sent
    wait_until(lambda: scrape(follower_url)[("poqw_mempool_transactions", ())] == 1, 30,
               "the transfer in the follower's mempool")
    assert scrape(follower_url)[("poqw_mempool_bytes", ())] == len(signed.raw_transaction)

    # a peer sending garbage is banned, and the ban is counted
    asyncio.run(asyncio.wait_for(send_garbage(miner, tmp_path), 60))
    wait_until(lambda: scrape(miner_url)[("poqw_peers_banned_total", ())] == 1, 30,
               "the ban to be counted")
    assert "banned" in miner.log_text()

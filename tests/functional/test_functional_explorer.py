"""The explorer in a real browser: Debian's chromium, driven by Playwright, against a real node.

A node process mines a few blocks on a genesis that funds a test account; the test sends a
transfer through JSON-RPC (``eth_sendRawTransaction``, signed here with eth-account), opens the
explorer, clicks block -> transaction -> address and checks each page against the chain's own
JSON-RPC answers; then deploys a contract and calls it, and checks its event log is shown as data
and its address page as a contract; hostile route parameters show an error and run nothing.
Screenshots of each page are saved in the test's temporary folder. Chromium is Debian's
(``/usr/bin/chromium``, or ``POQW_CHROMIUM``); Playwright never downloads a browser here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from framework import Network, log, wait_until

from poqw.node.testing import account_key, genesis_document

CHROMIUM = os.environ.get("POQW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ALICE = Account.from_key(account_key("explorer-alice"))
BOB_CHECKSUM = Account.from_key(account_key("explorer-bob")).address
BOB = BOB_CHECKSUM.lower()
TRANSFER_WEI = 1_500_000_000_000_000_000  # 1.5 POQW
VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def contract_address(sender: str, nonce: int) -> bytes:
    """The address a contract created by ``sender`` with ``nonce`` gets (CREATE)."""
    return keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:]


def rpc(url: str, method: str, *params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(url, body.encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert "error" not in answer, f"{method}: {answer['error']}"
    return answer["result"]


@pytest.fixture()
def chromium() -> Iterator[Any]:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        pytest.fail(f"the explorer test needs Debian's chromium at {CHROMIUM} (found: {found}); "
                    "install it with `apt-get install chromium` (make test does this when run "
                    "as root) or point POQW_CHROMIUM at a Chromium binary", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_explorer_block_transaction_address(network: Callable[[int], Network], chromium: Any,
                                            tmp_path: Path) -> None:
    net = network(1)
    net.genesis.write_text(json.dumps(genesis_document(
        {bytes.fromhex(ALICE.address[2:]): 10**24}, max_future_drift=10**6,
        timestamp=int(time.time()))))
    node = net[0]
    node.start()
    url = node.status()["rpc"]
    wait_until(lambda: node.height() >= 2, 90, "two blocks")

    chain_id = int(rpc(url, "eth_chainId"), 16)
    gas_price = int(rpc(url, "eth_gasPrice"), 16)
    signed = ALICE.sign_transaction({
        "type": 2, "chainId": chain_id, "nonce": 0, "to": BOB_CHECKSUM, "value": TRANSFER_WEI,
        "gas": 21000, "maxFeePerGas": 4 * gas_price, "maxPriorityFeePerGas": 1})
    tx_hash = rpc(url, "eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
    assert tx_hash == "0x" + signed.hash.hex()
    wait_until(lambda: rpc(url, "eth_getTransactionReceipt", tx_hash) is not None, 90,
               "the transfer to be mined")
    receipt = rpc(url, "eth_getTransactionReceipt", tx_hash)
    tx_block = int(receipt["blockNumber"], 16)
    block = rpc(url, "eth_getBlockByNumber", receipt["blockNumber"], False)
    proof = rpc(url, "poqw_getProof", {"blockHash": block["hash"]})
    log(f"transfer {tx_hash[:18]} mined in block {tx_block}")

    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))

    log("opening the explorer in chromium")
    page.goto(url + "/")
    # The test genesis mines many blocks a second, so by the time the page shows, the transfer's
    # block may have scrolled out of the latest 20: check the rows against the chain, click a
    # shown block, then reach the transfer's block by its address as a user would.
    row = page.locator("#latest-blocks tbody tr").first
    row.wait_for(timeout=30_000)
    cells = row.locator("td").all_inner_texts()
    shown = int(cells[0])
    shown_block = rpc(url, "eth_getBlockByNumber", hex(shown), False)
    shown_proof = rpc(url, "poqw_getProof", {"blockHash": shown_block["hash"]})
    assert cells[3] == str(shown_proof["energyBound"])
    assert cells[4] == str(shown_proof["energyBound"] - min(shown_proof["energies"]))
    assert cells[5] == str(len(shown_block["transactions"]))
    page.locator("#chart canvas").first.wait_for(timeout=30_000)
    assert "No peers connected" in page.locator("#peers").inner_text()  # a node on its own
    page.screenshot(path=str(tmp_path / "1-home.png"), full_page=True)

    log(f"home page checked; clicking block {shown}")
    row.locator(f'a[href="#/block/{shown}"]').click()
    page.locator("#solutions").wait_for(timeout=30_000)
    assert page.locator("h1").inner_text() == f"Block {shown}"
    assert page.locator("#proof-seed").inner_text() == shown_proof["seed"]

    log(f"opening the transfer's block {tx_block}")
    page.goto(url + f"/#/block/{tx_block}")
    page.locator("h1", has_text=f"Block {tx_block}").wait_for(timeout=30_000)
    page.locator("#solutions").wait_for(timeout=30_000)
    assert page.locator("#proof-seed").inner_text() == proof["seed"]
    bits = page.locator("#solutions pre.bits").all_inner_texts()
    assert len(bits) == len(proof["solutions"]) >= 2
    assert all(re.fullmatch(r"[01]+", b) for b in bits)
    distances = page.locator("#distances tbody tr").count()
    assert distances == len(proof["solutions"])
    page.screenshot(path=str(tmp_path / "2-block.png"), full_page=True)

    page.locator(f'#transactions a[href="#/tx/{tx_hash}"]').click()
    page.get_by_text("success").wait_for(timeout=30_000)
    text = page.locator("main").inner_text()
    assert tx_hash in text and "1.5 POQW" in text
    assert ALICE.address.lower() in text.lower() and BOB in text.lower()
    page.screenshot(path=str(tmp_path / "3-transaction.png"), full_page=True)

    page.locator(f'main a[href="#/address/{BOB}"]').first.click()
    page.locator("#recent-transactions").wait_for(timeout=30_000)
    assert page.locator("#balance").inner_text() == "1.5 POQW"
    assert page.locator("#nonce").inner_text() == "0"
    assert page.locator("#code-size").inner_text().startswith("0")
    assert page.locator(f'#recent-transactions a[href="#/tx/{tx_hash}"]').count() == 1
    assert int(rpc(url, "eth_getBalance", BOB, "latest"), 16) == TRANSFER_WEI
    page.screenshot(path=str(tmp_path / "4-address.png"), full_page=True)

    # a contract's event data is shown as data: Counter.store(42) emits Stored(who, 42)
    counter = json.loads((VECTORS / "api_counter.json").read_text())
    deploy, store = (ALICE.sign_transaction({
        "type": 2, "chainId": chain_id, "nonce": nonce, "value": 0, "gas": gas, "data": data,
        "maxFeePerGas": 4 * gas_price, "maxPriorityFeePerGas": 1, **extra})
        for nonce, gas, data, extra in (
            (1, 600_000, counter["bytecode"], {}),
            (2, 100_000, "0x" + (keccak(text="store(uint256)")[:4]
                                 + (42).to_bytes(32, "big")).hex(),
             {"to": to_checksum_address(contract_address(ALICE.address, 1))})))
    for signed_tx in (deploy, store):
        rpc(url, "eth_sendRawTransaction", "0x" + signed_tx.raw_transaction.hex())
    store_hash = "0x" + store.hash.hex()
    wait_until(lambda: rpc(url, "eth_getTransactionReceipt", store_hash) is not None, 90,
               "the contract call to be mined")
    stored = rpc(url, "eth_getTransactionReceipt", store_hash)
    assert stored["status"] == "0x1" and len(stored["logs"]) == 1
    page.goto(url + f"/#/tx/{store_hash}")
    page.locator("#logs").wait_for(timeout=30_000)
    logs = page.locator("#logs").inner_text()
    assert stored["logs"][0]["topics"][0] in logs
    assert "0x" + keccak(text="Stored(address,uint256)").hex() in logs
    assert stored["logs"][0]["data"] in logs
    page.screenshot(path=str(tmp_path / "5-contract-call.png"), full_page=True)
    contract = stored["logs"][0]["address"].lower()
    page.locator(f'#logs a[href="#/address/{contract}"]').click()
    page.locator("#code-size").wait_for(timeout=30_000)
    code = rpc(url, "eth_getCode", contract, "latest")
    assert page.locator("#code-size").inner_text() == \
        f"{(len(code) - 2) // 2} bytes (a contract)"
    assert page.locator(f'#recent-transactions a[href="#/tx/{store_hash}"]').count() == 1

    # the home page follows the chain by itself: the node keeps mining and the height moves on
    page.goto(url + "/#/")
    page.locator("#latest-blocks").wait_for(timeout=30_000)
    shown = int(page.locator("#stat-height .value").inner_text().replace(",", ""))
    page.wait_for_function(
        f"() => Number(document.querySelector('#stat-height .value').textContent"
        f".replace(/,/g, '')) > {shown}", timeout=60_000)

    # hostile route parameters are shown as text in an error, never run
    for hostile in ('<img src=x onerror=alert(1)>', '"><script>alert(2)</script>'):
        page.goto(url + "/#/block/" + urllib.request.quote(hostile))
        page.locator(".error").wait_for(timeout=10_000)
        assert hostile in page.locator(".error").inner_text()  # shown as text
        assert page.locator("main img, main script").count() == 0
    page.screenshot(path=str(tmp_path / "6-hostile.png"), full_page=True)
    assert not problems, problems
    log(f"screenshots in {tmp_path}")

"""The explorer's Market page and peers' capabilities in a real browser (Debian's chromium through
Playwright) against real nodes: node 0 mines, node 1 (with a signed capability record, started
with ``--market-address``) relays.

A short market round runs through node 0's JSON-RPC with the SDK: deploy, a customer posts a
MaxCut problem, an honest solver and a cheater commit, the solver reveals the optimum, reports
the cheater who never revealed, and settles. The page lists the problem as settled with its
winner and payout, and per problem its commits, reveal, slash and payout, each checked against
the contract's own answers; the home page's Peers card shows node 1's capability, and a
hostile market address is shown as text in an error; node 1's explorer opens the market it was
configured with. Screenshots are saved in the test's
temporary folder.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from framework import Network, log, wait_until
from test_functional_capability import write_record
from test_functional_explorer import chromium  # noqa: F401  (the browser fixture)
from test_functional_market import TOKEN, account, in_parallel, prepare

from poqw.chain import load_genesis
from poqw.market import (
    MarketClient,
    MarketSettings,
    connect,
    deploy_market,
    encode_problem,
    new_salt,
    pack_spins,
)
from poqw.problems import maxcut_to_ising, random_regular_graph, solve_exact


def iso(t: int) -> str:
    """A unix time as the page writes it."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


COMMIT_WINDOW = 10  # seconds of chain time (about a block a second)
REVEAL_WINDOW = 5


def test_the_explorer_shows_the_market_and_peer_capabilities(
        network: Callable[[int], Network], chromium: Any, tmp_path: Path) -> None:  # noqa: F811
    net = network(2)
    prepare(net)
    id1 = write_record(net[1], load_genesis(net.genesis).chain_id, cores=5)
    net[0].start(mine=True)
    url = net[0].status()["rpc"]
    w3 = connect(url)
    settings = MarketSettings(token_kind="WrappedPoQW", min_stake=100 * TOKEN,
                              slash_amount=100 * TOKEN, reporter_share_bps=5000, fee_bps=250,
                              unbonding_delay=60)
    deployment = deploy_market(w3, account("deployer"), settings)
    market = deployment.market.lower()
    # node 1 is told the market's address: its explorer opens the market by itself
    net[1].start([net[0]], mine=False, extra=["--market-address", deployment.market])
    customer, solver, cheater = (MarketClient(w3, deployment, account(r))
                                 for r in ("customer", "annealer", "cheater"))

    def fund(client: MarketClient) -> None:
        client.wrap(200 * TOKEN)
        client.stake(150 * TOKEN)

    in_parallel(lambda: customer.wrap(100 * TOKEN), lambda: fund(solver), lambda: fund(cheater))
    model = maxcut_to_ising(random_regular_graph(3, 10, seed=net.seed % 1000))
    problem = encode_problem(model)
    exact = solve_exact(model)
    target = problem.to_chain_target(exact.energy)
    customer.approve(deployment.market, 40 * TOKEN)
    pid = customer.post(problem, 40 * TOKEN, target, customer.chain_time() + COMMIT_WINDOW,
                        REVEAL_WINDOW)
    spins, salt = pack_spins(exact.states[0]), new_salt()
    in_parallel(lambda: solver.commit(pid, spins, salt, target),
                lambda: cheater.commit(pid, pack_spins(np.ones(10)), new_salt(), target))
    deadline = customer.problem(pid).commit_deadline
    wait_until(lambda: solver.chain_time() >= deadline, 6 * COMMIT_WINDOW, "the commit deadline")
    assert solver.reveal(pid, spins, salt, problem) == target
    wait_until(lambda: solver.chain_time() >= deadline + REVEAL_WINDOW, 6 * REVEAL_WINDOW,
               "the end of the reveal window")
    slashed = solver.report(pid, cheater.address)
    paid = solver.settle(pid)
    assert paid["outcome"] == "paid" and paid["winner"] == solver.address
    reward = 40 * TOKEN * (10_000 - 250) // 10_000
    assert paid["reward"] == reward and slashed == 100 * TOKEN
    log(f"problem {pid} settled on market {market}: {paid}")

    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    # the Market link asks for the address; the form leads to the market's page
    page.goto(url + "/")
    page.locator("header a.nav").click()
    page.locator("#market-address").fill(deployment.market)
    page.locator("#market-form button").click()
    row = page.locator("#market-problems tbody tr").first
    row.wait_for(timeout=30_000)
    cells = row.locator("td").all_inner_texts()
    assert page.locator("#market-problems tbody tr").count() == 1
    assert cells[0] == str(pid)
    assert cells[1].lower() == customer.address.lower()[:10] + "…" + customer.address.lower()[-6:]
    assert cells[2] == "40" and cells[3] == str(target)
    assert cells[5:] == ["settled", "2", "1", cells[8], "39"]
    assert "39" == f"{reward / TOKEN:g}"
    winner = page.locator("#market-problems tbody tr td").nth(8).locator("a")
    assert winner.get_attribute("href") == f"#/address/{solver.address.lower()}"
    page.screenshot(path=str(tmp_path / "1-market.png"), full_page=True)

    info = customer.problem(pid)
    detail = page.locator(f"#problem-{pid}")
    commits = detail.locator("table.commits tbody tr")
    assert commits.count() == 2
    committed_by = {commits.nth(i).locator("a").first.get_attribute("href") for i in range(2)}
    assert committed_by == {f"#/address/{a.lower()}" for a in (solver.address, cheater.address)}
    reveal = detail.locator("table.reveals tbody tr").locator("td").all_inner_texts()
    assert reveal[1:4] == [str(target), str(target), "valid"]
    slash = detail.locator("table.slashes tbody tr").locator("td")
    assert slash.nth(0).locator("a").get_attribute("href") == \
        f"#/address/{cheater.address.lower()}"
    assert slash.nth(3).inner_text() == "100"
    assert slash.nth(2).inner_text() == "never revealed"
    fields = detail.locator("dl.fields").inner_text()
    assert f"Reveal deadline\n{iso(info.reveal_deadline)}" in fields
    payout = detail.locator("table.payouts tbody tr").inner_text()
    assert "Settled" in payout and "gets 39" in payout and "fee 1" in payout
    assert info.status == "Settled" and info.best_solver == solver.address

    # node 0 knows no market: its Market page offers the address it was last given
    page.goto(url + "/#/")
    page.locator("#latest-blocks").wait_for(timeout=30_000)
    page.locator("header a.nav").click()
    page.locator("#market-form").wait_for(timeout=30_000)
    assert page.locator("#market-problems").count() == 0
    assert page.locator("#market-address").input_value() == deployment.market

    # node 1 (started with --market-address, synced past the settlement) opens the market itself
    net.sync_blocks()
    url1 = net[1].status()["rpc"]
    page.goto(url1 + "/#/")
    page.locator("header a.nav").click()
    page.locator(f"#problem-{pid} table.payouts").wait_for(timeout=30_000)
    assert page.url.endswith(f"#/market/{deployment.market}")
    assert page.locator("#market-problems tbody tr td").nth(5).inner_text() == "settled"
    page.screenshot(path=str(tmp_path / "2-market-node1.png"), full_page=True)

    # the home page's Peers card shows node 1's signed capability
    page.goto(url + "/#/")
    peers = page.locator("#peers")
    peers.get_by_text("5 cores").wait_for(timeout=60_000)
    text = peers.inner_text()
    assert "8.0 GiB memory" in text and "test GPU of" in text and "QPU mock" in text
    assert "CPU anneal 4.0 M flips/s" in text
    assert "0x" + id1[:8] in text  # the node id, shortened
    page.screenshot(path=str(tmp_path / "3-peers.png"), full_page=True)

    # an address with no contract, and a hostile one, are named in an error as text
    nobody = "0x" + "00" * 19 + "01"
    page.goto(url + f"/#/market/{nobody}")
    page.locator(".error").wait_for(timeout=30_000)
    assert page.locator(".error").inner_text() == f"No contract at {nobody} on this node."
    hostile = "<img src=x onerror=alert(1)>"
    page.goto(url + "/#/market/" + urllib.parse.quote(hostile))
    page.locator(".error").wait_for(timeout=30_000)
    assert hostile in page.locator(".error").inner_text()
    assert page.locator("main img, main script").count() == 0
    assert not problems, problems
    log(f"screenshots in {tmp_path}")

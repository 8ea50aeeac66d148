"""The demo's market act: one mining node on a fast devnet genesis, the market deployed through its
JSON-RPC, a customer posting a MaxCut problem with a bounty, two solver daemons (annealing and
match-strike) committing and revealing, and the contract paying the best, balances before and
after.

The genesis is the built-in devnet's with its cheapest difficulty and blocks at most two seconds
ahead of the clock (about one block a second), so the act's commit and reveal windows pass in
seconds; the customer is the devnet's funded dev key, the solvers are funded in the genesis.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from rich.table import Table
from web3 import Web3

from poqw.cli.common import console
from poqw.errors import MarketError

if TYPE_CHECKING:
    from poqw.market import MarketClient

__all__ = ["market_act"]

TOKEN = 10**18
COMMIT_WINDOW = 10  # seconds of chain time
REVEAL_WINDOW = 8


def _solver_account(role: str) -> LocalAccount:
    account: LocalAccount = Account.from_key(keccak(f"poqw/demo/{role}".encode()))
    return account


def _fast_genesis(folder: Path, funded: list[str]) -> Path:
    from poqw.cli.devnet import write_genesis

    path = write_genesis(folder, drift=2)
    doc = json.loads(path.read_text())
    difficulty = doc["difficulty"]
    difficulty["initial_work"] = difficulty["calibration"]["work"][-1]  # the easiest bound
    for address in funded:
        doc["alloc"][address.lower()] = str(1000 * TOKEN)
    path.write_text(json.dumps(doc, indent=1))
    return path


def _wait_for_rpc(status_file: Path, proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 180
    while True:
        try:
            url = json.loads(status_file.read_text()).get("rpc")
            if url:
                return str(url)
        except (OSError, ValueError):
            pass
        if proc.poll() is not None:
            raise MarketError(f"the market node exited early; see {log}")
        if time.monotonic() > deadline:
            raise MarketError(f"the market node served no JSON-RPC within 180 s; see {log}")
        time.sleep(0.3)


def _balances(clients: Mapping[str, MarketClient], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("account", "address", "coins", "wrapped (token)", "stake", "market credit"):
        table.add_column(col, justify="left" if col in ("account", "address") else "right")
    for role, client in clients.items():
        b = client.balances()
        coins = client.w3.eth.get_balance(Web3.to_checksum_address(client.address))
        table.add_row(role, client.address[:10] + "…",
                      *(f"{v / TOKEN:,.4f}" for v in (coins, b["token"], b["stake"],
                                                      b["claimable"])))
    return table


def market_act(seed: int) -> None:
    """Run the act (see the module docstring); raises a MarketError when a step fails."""
    from poqw.cli.devnet import _running, plan_network
    from poqw.market import MarketClient, encode_problem
    from poqw.market.devnet import dev_account, ensure_market_retrying
    from poqw.market.solver import SolverDaemon
    from poqw.problems import maxcut_to_ising, random_regular_graph, solve_exact

    console.rule("[bold]the problem market on a PoQW chain: post, solve, settle[/]")
    folder = Path(tempfile.mkdtemp(prefix="poqw-market-demo-"))
    solvers = {"annealer": _solver_account("annealer"), "striker": _solver_account("striker")}
    genesis = _fast_genesis(folder, [a.address for a in solvers.values()])
    config = folder / "node.toml"  # a stateless post-quantum key: nothing to generate at start
    config.write_text('[global]\nkey_scheme = "ecdsa+mldsa44"\n')
    plan = plan_network(["cpu"], folder, genesis, None, ("--config", str(config)))[0]
    console.print(f"one mining node (run directory {folder}); about one block a second",
                  highlight=False)
    with _running([plan]) as procs:
        rpc = _wait_for_rpc(plan.datadir / "network.json", procs[0],
                            folder / f"{plan.name}.out")
        deployment = ensure_market_retrying(rpc, folder)
        console.print(f"market deployed through {rpc} by the dev key: ProblemMarket "
                      f"{deployment.market} ({deployment.token_kind} {deployment.token})",
                      highlight=False)
        from poqw.market import connect

        w3 = connect(rpc)
        customer = MarketClient(w3, deployment, dev_account())
        clients = {"customer": customer, **{role: MarketClient(w3, deployment, account)
                                            for role, account in solvers.items()}}

        def join(client: MarketClient) -> None:
            client.wrap(20 * TOKEN)
            client.stake(10 * TOKEN)

        with ThreadPoolExecutor(3) as pool:  # different senders: their transactions share blocks
            jobs = [pool.submit(customer.wrap, 30 * TOKEN),
                    *(pool.submit(join, clients[role]) for role in solvers)]
            for job in jobs:
                job.result()
        console.print("the customer wrapped 30 coins; each solver wrapped 20 and staked 10")
        console.print(_balances(clients, "balances before"))

        model = maxcut_to_ising(random_regular_graph(3, 12, seed=seed))
        problem = encode_problem(model)
        optimum = solve_exact(model).energy
        target = problem.to_chain_target(optimum)
        pid = customer.post(problem, 10 * TOKEN, target, customer.chain_time() + COMMIT_WINDOW,
                            REVEAL_WINDOW)
        console.print(f"the customer posts problem {pid}: MaxCut on 12 nodes, bounty 10, target "
                      f"the optimum cut {-optimum:g} (chain energy {target}: integer terms, no "
                      f"offset), {COMMIT_WINDOW} s to commit, {REVEAL_WINDOW} s to reveal",
                      highlight=False)
        daemons = {"annealer": SolverDaemon(clients["annealer"], folder / "annealer.json",
                                            num_reads=16, seed=seed),
                   "striker": SolverDaemon(clients["striker"], folder / "striker.json",
                                           sampler="qaoa", num_reads=8, seed=seed,
                                           max_solve_seconds=2)}
        deadline = time.monotonic() + 180
        while customer.problem(pid).status == "Open":
            for role, daemon in daemons.items():
                for line in daemon.poll():
                    console.print(f"  {role}: {line}", highlight=False)
            if time.monotonic() > deadline:
                raise MarketError(f"problem {pid} was not settled within 180 s")
            time.sleep(0.5)
        info = customer.problem(pid)
        winner = next((r for r, c in clients.items() if c.address == info.best_solver), "nobody")
        cut = "-" if info.best_energy is None else \
            f"{-problem.to_model_energy(info.best_energy):g}"
        console.print(f"settled: {winner} wins with chain energy {info.best_energy}, cut {cut} "
                      "(the contract recomputed it from the revealed spins; ties go to the "
                      "earliest commit); the bounty minus the 2.5% fee is paid out, the fee is "
                      "credited to the treasury (the deployer)", highlight=False)
        console.print(_balances(clients, "balances after"))

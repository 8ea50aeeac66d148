"""``poqw market`` in-process against anvil: deploy, post, solve, settle, withdraw, and the
errors a user sees (the contract's error name and meaning, never a traceback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from market_anvil import Anvil, run_anvil
from poqw.problems import maxcut_to_ising, random_regular_graph, solve_exact, write_gset

runner = CliRunner()


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    with run_anvil(accounts=3) as node:
        yield node


def market(*args: str) -> tuple[int, str]:
    from poqw.cli.main import app

    result = runner.invoke(app, ["market", *args])
    return result.exit_code, result.output


def test_the_whole_flow_from_the_command_line(anvil: Anvil, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    keys = []
    for i, account in enumerate(anvil.accounts[:2]):
        path = tmp_path / f"key{i}.json"
        path.write_text(json.dumps(Account.encrypt(account.key, "secret", kdf="scrypt",
                                                   iterations=2**10)))
        keys.append(path)
    dep = tmp_path / "market.json"
    common = ["--rpc", anvil.url, "--passphrase-file", str(pw)]
    as_customer = [*common, "--deployment", str(dep), "--key", str(keys[0])]
    as_solver = [*common, "--deployment", str(dep), "--key", str(keys[1])]

    code, out = market("deploy", *common, "--key", str(keys[0]), "--out", str(dep),
                       "--min-stake", "100", "--unbonding", "1d")
    assert code == 0, out
    solver = anvil.accounts[1].address
    assert market("transfer", solver, "500", *as_customer)[0] == 0
    code, out = market("stake", "200", *as_solver)
    assert code == 0 and "stake now 200" in out, out

    graph = random_regular_graph(3, 10, seed=4)
    gset = tmp_path / "g10.txt"
    write_gset(graph, gset)
    optimum = solve_exact(maxcut_to_ising(graph)).energy
    code, out = market("post", str(gset), "--bounty", "20", "--target", f"{optimum:g}",
                       "--deadline", "10m", "--reveal-window", "10m", "--json", *as_customer)
    assert code == 0, out
    pid = json.loads(out)["id"]
    code, out = market("list", "--json", "--rpc", anvil.url, "--deployment", str(dep))
    assert code == 0 and json.loads(out)[0]["bounty_tokens"] == "20", out

    state = tmp_path / "solver-state.json"
    solve = ["solve", "--polls", "1", "--interval", "0", "--state", str(state), *as_solver]
    code, out = market(*solve)
    assert code == 0, out
    assert json.loads(state.read_text())[str(pid)]["revealed"] is False
    anvil.advance(601)
    assert market(*solve)[0] == 0
    assert json.loads(state.read_text())[str(pid)]["revealed"] is True
    code, out = market("show", str(pid), "--json", "--rpc", anvil.url, "--deployment", str(dep))
    assert json.loads(out)["commitments"][0]["state"] == "Revealed", out

    code, out = market("settle", str(pid), "--json", *as_customer)
    assert code == 0 and json.loads(out)["winner"] == solver, out
    code, out = market("withdraw", *as_solver)
    assert code == 0 and "withdrew 19.5 tokens" in out, out

    code, out = market("settle", str(pid), *as_customer)
    assert code == 2 and "AlreadySettled" in out and "already settled" in out, out
    code, out = market("post", str(gset), "--bounty", "0", "--target", "0", "--deadline",
                       "10m", *as_customer)
    assert code == 2 and "ZeroBounty" in out and "A problem posted without a bounty" in out
    assert "Traceback" not in out
    assert market("unbond", "200", *as_solver)[0] == 0
    code, out = market("withdraw", "--stake", *as_solver)
    assert code == 2 and "UnbondingNotFinished" in out and "unbonding delay" in out, out


def test_bad_input_is_named(tmp_path: Path) -> None:
    dep = tmp_path / "market.json"
    dep.write_text(json.dumps({"chain_id": 1, "token": "0x" + "11" * 20,
                               "registry": "0x" + "22" * 20, "market": "0x" + "33" * 20,
                               "token_kind": "PoQWToken", "block": 0}))
    code, out = market("list", "--rpc", "http://127.0.0.1:9", "--deployment", str(dep))
    assert code == 2 and "no Ethereum JSON-RPC node answers at http://127.0.0.1:9" in out
    code, out = market("list", "--deployment", str(tmp_path / "none.json"))
    assert code == 2 and "run `poqw market deploy` first" in out
    gset = tmp_path / "g.txt"
    write_gset(random_regular_graph(3, 6, seed=1), gset)
    code, out = market("post", str(gset), "--bounty", "ten", "--target", "0", "--deadline",
                       "1m", "--deployment", str(dep), "--rpc", "http://127.0.0.1:9")
    assert code == 2 and "--bounty must be a number of tokens, got 'ten'" in out

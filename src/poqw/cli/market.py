"""``poqw market``: deploy the problem market, post problems, stake, solve, settle, withdraw.

Every command talks JSON-RPC to ``--rpc`` (a PoQW node or any EVM node such as anvil), finds the
contracts in the ``--deployment`` file that ``deploy`` wrote, and signs with ``--key`` (a poqw
key file or an Ethereum keystore; passphrase from ``--passphrase-file`` or POQW_PASSPHRASE).
Amounts are in whole tokens (decimals allowed); a contract's refusal prints its error's name and
meaning.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from poqw.cli.common import command, console, load_problem, print_json, with_flags
from poqw.cli.keys import PassphraseFile, read_passphrase
from poqw.errors import ConfigError

__all__ = ["app", "parse_amount", "parse_duration"]

app = typer.Typer(help="The problem market: post problems with bounties, solve them for pay.",
                  no_args_is_help=True)

UNIT = 10**18
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

RpcOption = Annotated[str, typer.Option("--rpc", help="JSON-RPC URL of a PoQW node or any EVM "
                                        "node.", envvar="POQW_RPC")]
DeploymentOption = Annotated[Path, typer.Option(
    "--deployment", help="The deployment file `deploy` wrote.", envvar="POQW_MARKET")]
KeyOption = Annotated[Path | None, typer.Option(
    "--key", help="A poqw key file or an Ethereum keystore JSON.", dir_okay=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
DEFAULT_RPC = "http://127.0.0.1:8545"
DEFAULT_DEPLOYMENT = Path("poqw-market.json")


def parse_amount(text: str, option: str = "amount") -> int:
    """Whole tokens (``"12.5"``) in base units, or a :class:`ConfigError`."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{option} must be a number of tokens, got {text!r}") from None
    units = value * UNIT
    if not value.is_finite() or value < 0 or units != units.to_integral_value():
        raise ConfigError(f"{option} must be a non-negative amount with at most 18 decimals, "
                          f"got {text!r}")
    return int(units)


def parse_duration(text: str, option: str) -> int:
    """Seconds in ``"90"``, ``"90s"``, ``"10m"``, ``"2h"`` or ``"7d"``."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"{option} must be a duration like 90s, 10m, 2h or 7d, got {text!r}")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def _tokens(units: int) -> str:
    return f"{Decimal(units) / UNIT:f}"


def _client(rpc: str, deployment: Path, key: Path | None, passphrase_file: Path | None,
            ) -> Any:
    from poqw.market import Deployment, MarketClient, connect, load_account

    dep = Deployment.load(deployment)
    account = None
    if key is not None:
        account = load_account(key, lambda: read_passphrase(passphrase_file, confirm=False))
    w3 = connect(rpc)
    if int(w3.eth.chain_id) != dep.chain_id:
        raise ConfigError(f"{deployment} is for chain {dep.chain_id} but {rpc} is chain "
                          f"{w3.eth.chain_id}")
    return MarketClient(w3, dep, account)


ClientMaker = Callable[[], Any]  # connects: a command checks its own arguments first
_CONNECTION = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                 annotation=flag) for name, default, flag in (
    ("rpc", DEFAULT_RPC, RpcOption), ("deployment", DEFAULT_DEPLOYMENT, DeploymentOption),
    ("key", None, KeyOption), ("passphrase_file", None, PassphraseFile))]


def _market_command(name: str | None = None, signs: bool = True) -> Callable[..., Any]:
    """Register ``fn(client, ...)`` as ``poqw market NAME`` with the connection flags declared
    once above after its own (``--key``, ``--passphrase-file`` only when it ``signs``);
    ``client()`` returns the :class:`~poqw.market.MarketClient` they name."""

    def maker(flags: dict[str, Any]) -> ClientMaker:
        return lambda: _client(flags["rpc"], flags["deployment"], flags.get("key"),
                               flags.get("passphrase_file"))

    def register(fn: Callable[..., None]) -> Any:
        return app.command(name)(command(with_flags(fn, _CONNECTION[:4 if signs else 2], maker)))

    return register


@app.command()
@command
def deploy(
    rpc: RpcOption = DEFAULT_RPC,
    key: KeyOption = None,
    passphrase_file: PassphraseFile = None,
    out: Annotated[Path, typer.Option("--out", help="Where to write the deployment file.")
                   ] = DEFAULT_DEPLOYMENT,
    token: Annotated[str, typer.Option(help="PoQWToken (a new ERC-20, supply to you) or "
                                       "WrappedPoQW (the native coin, wrapped).")
                     ] = "PoQWToken",
    min_stake: Annotated[str, typer.Option(help="Stake needed to commit (tokens).")] = "100",
    slash: Annotated[str, typer.Option(help="Amount slashed per offence (tokens).")] = "100",
    unbonding: Annotated[str, typer.Option(help="Unbonding delay (e.g. 7d).")] = "7d",
    fee_bps: Annotated[int, typer.Option(help="Protocol fee in basis points.")] = 250,
    reporter_share_bps: Annotated[int, typer.Option(
        help="The reporter's share of a slash, basis points.")] = 5000,
) -> None:
    """Deploy token, solver registry and market; write the deployment file."""
    from poqw.market import MarketSettings, connect, deploy_market, load_account

    if key is None:
        raise ConfigError("deploy signs transactions: give --key")
    if out.exists():
        raise ConfigError(f"{out} exists: it names a deployment; choose another --out")
    account = load_account(key, read_passphrase(passphrase_file, confirm=False))
    settings = MarketSettings(token_kind=token, min_stake=parse_amount(min_stake, "--min-stake"),
                              slash_amount=parse_amount(slash, "--slash"),
                              unbonding_delay=parse_duration(unbonding, "--unbonding"),
                              fee_bps=fee_bps, reporter_share_bps=reporter_share_bps)
    deployment = deploy_market(connect(rpc), account, settings)
    deployment.save(out)
    console.print(f"market {deployment.market} (registry {deployment.registry}, token "
                  f"{deployment.token}) on chain {deployment.chain_id}; wrote {out}")


@app.command("deploy-judge")
@command
def deploy_judge(
    rpc: RpcOption = DEFAULT_RPC, deployment: DeploymentOption = DEFAULT_DEPLOYMENT,
    key: KeyOption = None, passphrase_file: PassphraseFile = None,
) -> None:
    """Deploy StrikeFraudJudge (PoQW chain only): it slashes faked compute through the registry.

    --key must be the registry's admin (it grants the judge the slasher role); the judge's
    address is added to the deployment file as "judge" for `poqw coordinator --deployment`.
    """
    import json

    from poqw.compute.onchain import deploy_judge as deploy

    client = _client(rpc, deployment, key, passphrase_file)
    if client.account is None:
        raise ConfigError("deploy-judge signs transactions: give --key")
    judge = deploy(client.w3, client.account, client.deployment.registry)
    doc = json.loads(deployment.read_text(encoding="utf-8"))
    doc["judge"] = judge
    deployment.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    console.print(f"StrikeFraudJudge {judge} slashes through registry "
                  f"{client.deployment.registry}; wrote {deployment}")


@_market_command()
def post(
    client: ClientMaker,
    problem_file: Annotated[Path, typer.Argument(help="A Gset MaxCut file or poqw-ising JSON.",
                                                 exists=True, dir_okay=False)],
    bounty: Annotated[str, typer.Option(help="Bounty in tokens (escrowed now).")],
    target: Annotated[float, typer.Option(help="Energy a solution must reach (<=), in the "
                                          "file's units (MaxCut: minus the cut).")],
    deadline: Annotated[str, typer.Option(help="Commit phase length, e.g. 10m.")],
    reveal_window: Annotated[str, typer.Option(help="Reveal phase length.")] = "10m",
    as_json: JsonOption = False,
) -> None:
    """Post a problem with a bounty, a target energy and a deadline."""
    from poqw.market import encode_problem

    units = parse_amount(bounty, "--bounty")
    commit_period = parse_duration(deadline, "--deadline")
    window = parse_duration(reveal_window, "--reveal-window")
    problem = encode_problem(load_problem(problem_file, None, 0).model)
    chain_target = problem.to_chain_target(target)
    market = client()
    pid = market.post(problem, units, chain_target, market.chain_time() + commit_period, window)
    if as_json:
        print_json({"id": pid, "chain_target": chain_target, "scale": problem.scale})
        return
    console.print(f"posted problem {pid}: {problem.num_variables} variables, bounty {bounty}, "
                  f"chain target {chain_target} (scale x{problem.scale})")


def _problem_doc(info: Any) -> dict[str, Any]:
    doc = asdict(info)
    doc["bounty_tokens"] = _tokens(info.bounty)
    return doc


@_market_command("list", signs=False)
def list_problems(client: ClientMaker, as_json: JsonOption = False) -> None:
    """Every problem posted, with its state."""
    problems = client().problems()
    if as_json:
        print_json([_problem_doc(p) for p in problems])
        return
    for p in problems:
        console.print(f"{p.id:>4}  {p.status:<9} n={p.num_variables:<5} bounty "
                      f"{_tokens(p.bounty)}  target {p.target}  commits {p.num_commits}  "
                      f"best {p.best_energy}")


@_market_command(signs=False)
def show(client: ClientMaker, problem_id: Annotated[int, typer.Argument(help="Problem id.")],
         as_json: JsonOption = False) -> None:
    """One problem and its commitments."""
    market = client()
    doc = _problem_doc(market.problem(problem_id))
    doc["commitments"] = [asdict(c) for c in market.commitments(problem_id)]
    if as_json:
        print_json(doc)
        return
    for k, v in doc.items():
        if k != "commitments":
            console.print(f"{k}: {v}")
    for c in doc["commitments"]:
        console.print(f"  {c['solver']} claimed {c['claimed_energy']} -> {c['state']}")


@_market_command()
def stake(client: ClientMaker,
          amount: Annotated[str, typer.Argument(help="Tokens to add to your stake.")]) -> None:
    """Stake tokens in the solver registry (needed to commit)."""
    market = client()
    market.stake(parse_amount(amount))
    console.print(f"staked; stake now {_tokens(market.balances()['stake'])}")


@_market_command()
def unbond(client: ClientMaker,
           amount: Annotated[str, typer.Argument(help="Tokens of stake to unbond.")]) -> None:
    """Start unbonding stake; `withdraw --stake` takes it after the delay."""
    client().request_unbond(parse_amount(amount))
    console.print("unbonding started")


@_market_command()
def settle(client: ClientMaker, problem_id: Annotated[int, typer.Argument(help="Problem id.")],
           as_json: JsonOption = False) -> None:
    """Close a problem after its reveal window: pay the winner or refund the customer."""
    outcome = client().settle(problem_id)
    if as_json:
        print_json(outcome)
        return
    console.print(", ".join(f"{k} {v}" for k, v in outcome.items()))


@_market_command()
def withdraw(client: ClientMaker,
             stake_: Annotated[bool, typer.Option("--stake", help="Withdraw unbonded stake "
                                                  "instead of market credit.")] = False) -> None:
    """Withdraw rewards and refunds the market credited you (or unbonded stake)."""
    market = client()
    if stake_:
        market.withdraw_stake()
        console.print("stake withdrawn")
        return
    console.print(f"withdrew {_tokens(market.withdraw())} tokens")


@_market_command()
def balance(client: ClientMaker,
            address: Annotated[str | None, typer.Argument(help="Default: the --key's.")] = None,
            as_json: JsonOption = False) -> None:
    """Token balance, market credit, stake and reputation of an account."""
    doc = client().balances(address)
    if as_json:
        print_json(doc)
        return
    console.print("  ".join(f"{k} {_tokens(v) if k != 'wins' and k != 'slashes' else v}"
                            for k, v in doc.items()))


@_market_command()
def wrap(client: ClientMaker,
         amount: Annotated[str, typer.Argument(help="Coins to wrap into payment tokens.")]
         ) -> None:
    """Wrap native coin into the market's token (WrappedPoQW deployments, the PoQW chain)."""
    market = client()
    market.wrap(parse_amount(amount))
    console.print(f"wrapped {amount}; token balance {_tokens(market.balances()['token'])}")


@_market_command()
def transfer(client: ClientMaker, to: Annotated[str, typer.Argument(
                 help="Recipient address, or a node key file (a solver's --key).")],
             amount: Annotated[str, typer.Argument(help="Tokens (or coins) to send.")],
             coin: Annotated[bool, typer.Option(
                 "--coin", help="Send the chain's native coin instead of tokens.")] = False,
             ) -> None:
    """Send payment tokens or native coin (to fund a solver or a customer)."""
    from web3 import Web3

    from poqw.market import load_account

    recipient = to
    if not Web3.is_address(to):
        if not Path(to).is_file():
            raise ConfigError(f"{to!r} is neither an address nor a key file")
        recipient = load_account(Path(to), "").address
    market = client()
    if coin:
        market.send_coin(recipient, parse_amount(amount))
    else:
        market.transfer(recipient, parse_amount(amount))
    console.print(f"sent {amount} {'coins' if coin else 'tokens'} to {recipient}")


@_market_command()
def solve(
    client: ClientMaker,
    sampler: Annotated[str, typer.Option(help="A poqw sampler: simulated-annealing, qaoa "
                                         "(match-strike), steepest-descent, ...")
                       ] = "simulated-annealing",
    num_reads: Annotated[int, typer.Option(help="Reads per problem.")] = 32,
    state: Annotated[Path, typer.Option(help="File keeping the salts of unrevealed "
                                        "commitments.")] = Path("poqw-solver-state.json"),
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 2.0,
    polls: Annotated[int | None, typer.Option(help="Stop after this many polls.")] = None,
    min_bounty: Annotated[str, typer.Option(help="Ignore smaller bounties (tokens).")] = "0",
    seed: Annotated[int, typer.Option(help="Sampler seed.")] = 0,
    max_solve_seconds: Annotated[float | None, typer.Option(
        help="Cap on a time-limited sampler's time per problem (default: half the time left "
             "before the commit deadline).")] = None,
) -> None:
    """Solver daemon: solve new problems, commit, reveal, settle, report cheats, collect."""
    from poqw.market.solver import SolverDaemon

    market = client()
    market.address  # noqa: B018 - fail now without a key, not at the first commit
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    daemon = SolverDaemon(market, state, sampler=sampler, num_reads=num_reads, seed=seed,
                          min_bounty=parse_amount(min_bounty, "--min-bounty"),
                          max_solve_seconds=max_solve_seconds)
    stopped = threading.Event()
    count = 0

    def stop() -> bool:
        return stopped.is_set() or (polls is not None and count >= polls)

    def wait(seconds: float) -> None:
        nonlocal count
        count += 1
        if not stop():
            stopped.wait(seconds)

    console.print(f"solving as {market.address} with {sampler}; Ctrl-C stops")
    daemon.run(stop, wait, interval)

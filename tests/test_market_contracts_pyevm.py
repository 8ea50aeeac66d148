"""The shipped market contracts run on poqw's own execution layer (py-evm, Prague rules).

Deploys the artifacts from poqw.market/artifacts with real signed transactions through
ExecutionEngine, checks the on-chain energy against IsingModel.energy for a 3-regular +-J
spin glass with fields (18 spins, so the odd tail of the spin loop runs too), then plays one
market round: an honest solver posts the exact ground state and is paid, a cheater who claimed
an energy below the one it reveals is slashed and the reporter rewarded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3

from poqw.chain.proof import pack_spins
from poqw.execution import BlockEnv, ExecutionEngine, GenesisAccount, Receipt
from poqw.problems import IsingModel
from poqw.problems.exact import solve_exact
from poqw.problems.generators import pm_j_spin_glass, random_regular_graph

ARTIFACTS = Path(__file__).resolve().parents[1] / "src" / "poqw" / "market" / "artifacts"
CHAIN_ID = 4242
ETHER = 10**18
NAMES = ["customer", "solver", "cheater", "reporter"]
KEYS = {name: bytes([i + 1]) * 32 for i, name in enumerate(NAMES)}
ACCOUNTS = {name: Account.from_key(key) for name, key in KEYS.items()}
ADDR = {name: bytes.fromhex(acct.address[2:]) for name, acct in ACCOUNTS.items()}
TREASURY = b"\x7e" * 20
START = 1_700_000_000


def artifact(name: str) -> Any:
    data = json.loads((ARTIFACTS / f"{name}.json").read_text())
    return Web3().eth.contract(abi=data["abi"], bytecode=data["bytecode"])


def encode_terms(model: IsingModel) -> tuple[bytes, bytes]:
    """IsingTerms' encoding: int8 fields, then 3 bytes (i << 14 | j << 4 | J & 15) a coupling."""
    fields = bytes(int(h) & 0xFF for h in model.h)
    couplings = b"".join(
        ((int(i) << 14) | (int(j) << 4) | (int(J) & 0xF)).to_bytes(3, "big")
        for (i, j), J in zip(model.edges, model.J, strict=True)
    )
    return fields, couplings


class Chain:
    """One block per transaction on an in-memory ExecutionEngine, with a clock we move."""

    def __init__(self) -> None:
        alloc = {addr: GenesisAccount(balance=1_000 * ETHER) for addr in ADDR.values()}
        self.engine = ExecutionEngine(":memory:", CHAIN_ID, alloc)
        self.root = self.engine.genesis_state_root
        self.number = 0
        self.time = START
        self.nonces = dict.fromkeys(ADDR, 0)

    def env(self) -> BlockEnv:
        return BlockEnv(
            number=self.number + 1,
            timestamp=self.time,
            coinbase=b"\xcb" * 20,
            gas_limit=30_000_000,
            base_fee_per_gas=1,
        )

    def send(self, who: str, to: bytes | None, data: str | bytes) -> Receipt:
        tx = {
            "type": 2, "chainId": CHAIN_ID, "nonce": self.nonces[who], "maxFeePerGas": 10,
            "maxPriorityFeePerGas": 1, "gas": 12_000_000,
            "to": None if to is None else to_checksum_address(to), "value": 0,
            "data": data if isinstance(data, bytes) else bytes.fromhex(data[2:]),
        }  # fmt: skip
        raw = bytes(ACCOUNTS[who].sign_transaction(tx).raw_transaction)
        result = self.engine.apply_block(self.root, self.env(), [raw], reward=0)
        self.root, self.number = result.state_root, self.number + 1
        self.nonces[who] += 1
        self.time += 1
        receipt = result.receipts[0]
        assert receipt.status, f"transaction from {who} reverted"
        return receipt

    def deploy(self, who: str, name: str, *args: Any) -> bytes:
        receipt = self.send(who, None, artifact(name).constructor(*args).data_in_transaction)
        assert receipt.contract_address is not None
        return receipt.contract_address

    def call(self, to: bytes, data: str, types: list[str]) -> tuple[Any, ...]:
        out = self.engine.call(self.root, to, bytes.fromhex(data[2:]), env=self.env())
        return tuple(abi_decode(types, out))

    def run(self, who: str, to: bytes, name: str, fn: str, *args: Any) -> Receipt:
        return self.send(who, to, artifact(name).encode_abi(fn, args=list(args)))

    def view(self, to: bytes, name: str, fn: str, args: list[Any], types: list[str]) -> Any:
        return self.call(to, artifact(name).encode_abi(fn, args=args), types)[0]


def checksum(address: bytes) -> str:
    return to_checksum_address(address)


def deploy_market(chain: Chain) -> tuple[bytes, bytes, bytes]:
    """PoQWToken (all to the customer), SolverRegistry (min stake 100, slash 60, half to the
    reporter) and ProblemMarket (2.5 % fee), with the market holding both registry roles."""
    customer = ACCOUNTS["customer"].address
    token = chain.deploy("customer", "PoQWToken", customer, 10**6 * ETHER)
    registry = chain.deploy(
        "customer", "SolverRegistry", checksum(token), 100 * ETHER, 3600, 60 * ETHER, 5_000,
        checksum(TREASURY), customer,
    )  # fmt: skip
    market = chain.deploy(
        "customer", "ProblemMarket", checksum(token), checksum(registry), checksum(TREASURY), 250
    )
    for role in (keccak(b"poqw.registry.market"), keccak(b"poqw.registry.slasher")):
        chain.run("customer", registry, "SolverRegistry", "grantRole", role, checksum(market))
    return token, registry, market


@pytest.fixture(scope="module")
def problem() -> IsingModel:
    return pm_j_spin_glass(random_regular_graph(3, 18, seed=5), seed=5, field=True)


def test_on_chain_energy_matches_ising_model(problem: IsingModel) -> None:
    chain = Chain()
    _token, _registry, market = deploy_market(chain)
    fields, couplings = encode_terms(problem)
    rng = np.random.default_rng(11)
    for spins in rng.choice([-1, 1], size=(20, problem.num_variables)):
        args = [problem.num_variables, pack_spins(spins)[0], fields, couplings]
        energy = chain.view(market, "ProblemMarket", "energyOf", args, ["int256"])
        assert energy == problem.energy(spins)


def test_market_round_on_pyevm(problem: IsingModel) -> None:
    chain = Chain()
    token, registry, market = deploy_market(chain)
    for who in ("customer", "solver", "cheater"):
        if who != "customer":
            chain.run("customer", token, "PoQWToken", "transfer", checksum(ADDR[who]), 1000 * ETHER)
        for spender in (market, registry):
            chain.run(who, token, "PoQWToken", "approve", checksum(spender), 2**256 - 1)
        if who != "customer":
            chain.run(who, registry, "SolverRegistry", "stake", 100 * ETHER)

    fields, couplings = encode_terms(problem)
    exact = solve_exact(problem)
    ground = round(exact.energy)
    best = pack_spins(exact.states[0])[0]
    all_down = -np.ones(problem.num_variables, dtype=np.int64)
    assert problem.energy(all_down) > ground
    deadline = chain.time + 50
    n = problem.num_variables
    chain.run("customer", market, "ProblemMarket", "post",
              n, fields, couplings, 400 * ETHER, ground, deadline, 100)  # fmt: skip
    # the cheater claims the ground energy for a solution it cannot back
    commits = {"solver": (best, b"\x01" * 32), "cheater": (pack_spins(all_down)[0], b"\x02" * 32)}
    for who, (spins, salt) in commits.items():
        args = [1, spins, salt, checksum(ADDR[who])]
        digest = chain.view(market, "ProblemMarket", "commitmentOf", args, ["bytes32"])
        chain.run(who, market, "ProblemMarket", "commit", 1, digest, ground)
    chain.time = deadline
    for who, (spins, salt) in commits.items():
        chain.run(who, market, "ProblemMarket", "reveal", 1, spins, salt, fields, couplings)
    chain.run("reporter", market, "ProblemMarket", "reportSolver", 1, checksum(ADDR["cheater"]))
    chain.run("reporter", market, "ProblemMarket", "settle", 1)
    chain.run("solver", market, "ProblemMarket", "withdraw")

    def balance(who: bytes) -> int:
        return int(chain.view(token, "PoQWToken", "balanceOf", [checksum(who)], ["uint256"]))

    assert balance(ADDR["solver"]) == 900 * ETHER + 390 * ETHER  # bounty less the 2.5 % fee
    assert balance(ADDR["reporter"]) == 30 * ETHER  # half of the 60 slashed
    assert balance(TREASURY) == 30 * ETHER
    assert balance(market) == 10 * ETHER  # the fee, credited to the treasury until it withdraws

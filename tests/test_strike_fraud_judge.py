"""Fraud settlement on the PoQW chain's own execution engine: StrikeFraudJudge re-runs a committed
strike through the strike precompile and slashes through SolverRegistry.

The chain is poqw.execution.ExecutionEngine (py-evm with the precompile), one transaction per
block; the solver signs its commitment with poqw.compute.commitment, exactly as a solver node
does. An honest solver's leaves are never slashed (every shot checked); a leaf with one faked
shot is; hashing, Merkle paths and key addresses agree between Python and Solidity.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_abi import decode
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3

from poqw.compute.commitment import SignedCommitment, StrikeLeaf, commit_leaves
from poqw.compute.merkle import MerkleTree
from poqw.compute.settlement import settle_arguments
from poqw.compute.strike_spec import StrikeRunner, StrikeSpec, energies_digest
from poqw.compute.verifier import FraudEvidence, check_fraud_evidence
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import ExecutionError, InvalidCommitment
from poqw.execution import BlockEnv, ExecutionEngine
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph

ARTIFACTS = Path(__file__).resolve().parents[1] / "src" / "poqw" / "market" / "artifacts"
CHAIN_ID = 7357
ETHER = 10**18
STAKE = 1_000 * ETHER
SLASH = 400 * ETHER
W3 = Web3()


def artifact(name: str) -> Any:
    data = json.loads((ARTIFACTS / f"{name}.json").read_text())
    return W3.eth.contract(abi=data["abi"], bytecode=data["bytecode"])


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


class Chain:
    """An in-process PoQW execution layer: one signed transaction per block."""

    def __init__(self, accounts: list[Any]) -> None:
        alloc = {bytes.fromhex(a.address[2:]): 100 * ETHER for a in accounts}
        self.engine = ExecutionEngine(":memory:", CHAIN_ID, alloc)
        self.root = self.engine.genesis_state_root
        self.number = 0

    def env(self) -> BlockEnv:
        return BlockEnv(number=self.number, timestamp=1_800_000_000 + self.number,
                        coinbase=b"\xcb" * 20, gas_limit=30_000_000, base_fee_per_gas=7,
                        prev_randao=keccak(self.number.to_bytes(8, "big")))

    def send(self, account: Any, to: bytes | None, data: bytes, gas: int = 8_000_000) -> Any:
        """Apply one transaction in a new block; return its receipt."""
        sender = bytes.fromhex(account.address[2:])
        tx = {"type": 2, "chainId": CHAIN_ID, "nonce": self.engine.nonce(self.root, sender),
              "maxFeePerGas": 100, "maxPriorityFeePerGas": 1, "gas": gas,
              "to": None if to is None else to_checksum_address(to), "value": 0, "data": data}
        raw = bytes(account.sign_transaction(tx).raw_transaction)
        self.number += 1
        result = self.engine.apply_block(self.root, self.env(), [raw], reward=0)
        self.root = result.state_root
        return result.receipts[0]

    def deploy(self, account: Any, name: str, *args: Any) -> bytes:
        data = bytes.fromhex(artifact(name).constructor(*args).data_in_transaction[2:])
        receipt = self.send(account, None, data)
        assert receipt.status and receipt.contract_address is not None, name
        return bytes(receipt.contract_address)

    def transact(self, account: Any, to: bytes, name: str, fn: str, *args: Any,
                 gas: int = 8_000_000) -> Any:
        return self.send(account, to, bytes.fromhex(
            artifact(name).encode_abi(fn, args=list(args))[2:]), gas=gas)

    def call(self, to: bytes, name: str, fn: str, *args: Any) -> bytes:
        return self.engine.call(self.root, to, bytes.fromhex(
            artifact(name).encode_abi(fn, args=list(args))[2:]), env=self.env())


@pytest.fixture(scope="module")
def market() -> dict[str, Any]:
    """Token, registry (slash 400 of a 1000 stake, reporter 10 %), judge with SLASHER_ROLE, and
    a solver whose node key is staked."""
    admin, reporter = Account.from_key(b"\x01" * 32), Account.from_key(b"\x02" * 32)
    node_key = EcdsaPrivateKey(b"\x05" * 32)
    solver = Account.from_key(node_key.secret_bytes())
    chain = Chain([admin, reporter, solver])
    token = chain.deploy(admin, "PoQWToken", admin.address, 10**6 * ETHER)
    registry = chain.deploy(admin, "SolverRegistry", to_checksum_address(token), 10 * ETHER,
                            3600, SLASH, 1000, to_checksum_address(b"\x77" * 20), admin.address)
    judge = chain.deploy(admin, "StrikeFraudJudge", to_checksum_address(registry))
    role = keccak(b"poqw.registry.slasher")
    assert chain.transact(admin, registry, "SolverRegistry", "grantRole", role,
                          to_checksum_address(judge)).status
    assert chain.transact(admin, token, "PoQWToken", "transfer", solver.address, STAKE).status
    assert chain.transact(solver, token, "PoQWToken", "approve",
                          to_checksum_address(registry), STAKE).status
    assert chain.transact(solver, registry, "SolverRegistry", "stake", STAKE).status
    assert node_key.address() == bytes.fromhex(solver.address[2:])
    return {"chain": chain, "token": token, "registry": registry, "judge": judge,
            "reporter": reporter, "solver": solver, "node_key": node_key}


MODEL = maxcut_to_ising(random_regular_graph(3, 8, seed=11))


def honest_leaves(count: int, seed: int) -> list[StrikeLeaf]:
    rng = np.random.default_rng(seed)
    runner = StrikeRunner(MODEL, "reference")
    leaves = []
    for _ in range(count):
        depth = int(rng.integers(1, 4))
        spec = StrikeSpec.create(MODEL.content_hash(), rng.uniform(-2, 2, depth),
                                 rng.uniform(-2, 2, depth), 64, rng.bytes(32))
        outcome = runner.run(spec)
        leaves.append(StrikeLeaf(spec, outcome.indices, outcome.energies))
    return leaves


def fake(leaf: StrikeLeaf, shot: int) -> StrikeLeaf:
    """The leaf with shot ``shot`` moved to the lowest-energy state, energies made to match."""
    indices = leaf.indices.copy()
    indices[shot] = (indices[shot] + 85) % (1 << MODEL.num_variables)
    spins = 1 - 2 * ((indices[:, None] >> np.arange(MODEL.num_variables)) & 1)
    return StrikeLeaf(leaf.spec, indices, MODEL.energies(spins.astype(np.int8)))


def settle_args(signed: SignedCommitment, tree: MerkleTree, index: int, leaf: StrikeLeaf,
                shots: list[int], model: IsingModel = MODEL) -> list[Any]:
    c = signed.commitment
    proof = tree.proof(index)
    return [(c.solver, c.batch, c.leaf_count, c.root, signed.signature),
            (index, list(proof.siblings)),
            (leaf.spec.to_bytes(), np.asarray(leaf.indices, dtype=">u4").tobytes(),
             energies_digest(leaf.energies)),
            model.canonical_bytes(), shots]


def stake_of(m: dict[str, Any]) -> int:
    out = m["chain"].call(m["registry"], "SolverRegistry", "solverInfo", m["solver"].address)
    return int.from_bytes(out[:32], "big")


def revert_selector(chain: Chain, to: bytes, fn: str, args: list[Any]) -> bytes:
    with pytest.raises(ExecutionError) as info:
        chain.call(to, "StrikeFraudJudge", fn, *args)
    return info.value.output[:4]


def test_an_honest_solver_is_never_slashed(market: dict[str, Any]) -> None:
    chain, judge = market["chain"], market["judge"]
    leaves = honest_leaves(3, seed=1)
    signed, tree = commit_leaves(market["node_key"], b"\x42" * 32, leaves)
    before = stake_of(market)
    for index, leaf in enumerate(leaves):  # every shot of every leaf
        args = settle_args(signed, tree, index, leaf, list(range(64)))
        assert revert_selector(chain, judge, "settle", args) == selector("NoFraud()")
    receipt = chain.transact(market["reporter"], judge, "StrikeFraudJudge", "settle", *args)
    assert not receipt.status
    assert stake_of(market) == before == STAKE


def test_a_faked_strike_is_slashed_once(market: dict[str, Any]) -> None:
    chain, judge = market["chain"], market["judge"]
    leaves = honest_leaves(6, seed=2)
    leaves[3] = fake(leaves[3], shot=17)
    signed, tree = commit_leaves(market["node_key"], b"\x43" * 32, leaves)
    # the honest leaves of a cheating solver's commitment prove nothing
    args = settle_args(signed, tree, 2, leaves[2], list(range(64)))
    assert revert_selector(chain, judge, "settle", args) == selector("NoFraud()")
    evidence = FraudEvidence(signed, tree.proof(3), leaves[3], ())
    assert "not the spec's draws" in check_fraud_evidence(evidence, MODEL, "reference")
    args = settle_arguments(evidence, MODEL)
    assert args[4] == [17]
    before, reporter_before = stake_of(market), market["chain"].call(
        market["token"], "PoQWToken", "balanceOf", market["reporter"].address)
    receipt = chain.transact(market["reporter"], judge, "StrikeFraudJudge", "settle", *args)
    assert receipt.status
    assert stake_of(market) == before - SLASH
    reporter_after = chain.call(market["token"], "PoQWToken", "balanceOf",
                                market["reporter"].address)
    assert int.from_bytes(reporter_after, "big") - int.from_bytes(reporter_before, "big") \
        == SLASH // 10
    settled = keccak(b"FraudSettled(address,address,bytes32,uint32,uint32,uint32,uint32,uint256)")
    log = next(entry for entry in receipt.logs if entry.topics[0] == settled)
    shot, claimed, canonical, amount = decode(["uint32", "uint32", "uint32", "uint256"],
                                              log.data[32:])
    assert (shot, claimed, amount) == (17, int(leaves[3].indices[17]), SLASH)
    assert canonical == int(honest_leaves(6, seed=2)[3].indices[17])
    assert log.topics[3] == signed.commitment.digest()
    # the same commitment cannot be slashed twice
    again = chain.transact(market["reporter"], judge, "StrikeFraudJudge", "settle", *args)
    assert not again.status and stake_of(market) == before - SLASH


def test_an_honest_leaf_gives_no_settlement() -> None:
    leaves = honest_leaves(2, seed=4)
    signed, tree = commit_leaves(EcdsaPrivateKey(b"\x06" * 32), b"\x45" * 32, leaves)
    with pytest.raises(InvalidCommitment, match="no shot of the leaf is provably faked"):
        settle_arguments(FraudEvidence(signed, tree.proof(0), leaves[0], ()), MODEL)


def test_evidence_that_does_not_verify_is_refused(market: dict[str, Any]) -> None:
    chain, judge = market["chain"], market["judge"]
    leaves = honest_leaves(3, seed=3)
    leaves[1] = fake(leaves[1], shot=0)
    signed, tree = commit_leaves(market["node_key"], b"\x44" * 32, leaves)
    good = settle_args(signed, tree, 1, leaves[1], [0])
    wrong_path = settle_args(signed, tree, 1, leaves[1], [0])
    wrong_path[1] = (0, wrong_path[1][1])
    assert revert_selector(chain, judge, "settle", wrong_path) \
        == selector("BadMerklePath(uint32,uint32)")
    other, _ = commit_leaves(EcdsaPrivateKey(b"\x09" * 32), b"\x44" * 32, leaves)
    forged = list(good)
    forged[0] = (signed.commitment.solver, *forged[0][1:4], other.signature)
    assert revert_selector(chain, judge, "settle", forged) == selector("BadSignature()")
    other_model = list(good)
    other_model[3] = IsingModel.from_dicts({}, {(0, 1): 1.0}).canonical_bytes()
    assert revert_selector(chain, judge, "settle", other_model) == selector("PrecompileFailed()")
    too_far = settle_args(signed, tree, 1, leaves[1], [64])
    assert revert_selector(chain, judge, "settle", too_far) == selector("BadShotList(uint256)")
    assert stake_of(market) <= STAKE  # nothing above changed state


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 13])
def test_solidity_hashing_matches_python(market: dict[str, Any], count: int) -> None:
    chain, judge = market["chain"], market["judge"]
    rng = np.random.default_rng(count)
    leaves = [StrikeLeaf(StrikeSpec.create(MODEL.content_hash(), [0.1], [0.2], 4, rng.bytes(32)),
                         rng.integers(0, 256, 4), rng.normal(size=4)) for _ in range(count)]
    key = EcdsaPrivateKey(rng.bytes(32))
    signed, tree = commit_leaves(key, rng.bytes(32), leaves)
    for index, leaf in enumerate(leaves):
        args = settle_args(signed, tree, index, leaf, [0])
        solver, digest = decode(["address", "bytes32"],
                                chain.call(judge, "StrikeFraudJudge", "verifyLeaf", *args[:3]))
        assert bytes.fromhex(solver[2:]) == key.address()
        assert digest == signed.commitment.digest()
        assert chain.call(judge, "StrikeFraudJudge", "leafDigest", args[2]) == leaf.digest()


@pytest.mark.slow
def test_a_20_variable_strike_settles_within_one_block(market: dict[str, Any]) -> None:
    """At the precompile's cap, a faked depth-1 strike of 20 variables is settled by one
    transaction in a 30M-gas block."""
    chain, judge = market["chain"], market["judge"]
    model = maxcut_to_ising(random_regular_graph(3, 20, seed=7))
    spec = StrikeSpec.create(model.content_hash(), [0.5], [0.35], 64, b"\x20" * 32)
    outcome = StrikeRunner(model, "fast").run(spec)
    honest = StrikeLeaf(spec, outcome.indices, outcome.energies)
    indices = honest.indices.copy()
    indices[9] ^= 0b1011
    faked = StrikeLeaf(spec, indices, honest.energies)
    signed, tree = commit_leaves(market["node_key"], b"\x46" * 32, [honest, faked])
    args = settle_args(signed, tree, 1, faked, [9], model)
    before = stake_of(market)
    receipt = chain.transact(market["reporter"], judge, "StrikeFraudJudge", "settle", *args,
                             gas=29_900_000)
    assert receipt.status, receipt
    assert stake_of(market) == before - min(SLASH, before)
    print(f"settled a 20-variable strike with {receipt.gas_used} gas")

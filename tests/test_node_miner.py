"""The miner: blocks from several samplers validate, the clock drift rule is respected, mempool
transactions are executed in, the stop event works, and a node mines in a background thread.

Each mined block goes through the same ``Blockchain.import_block`` (full consensus validation)
as a peer's block, so a wrong proof, root or signature would be rejected there.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address

from poqw.chain import MAX_TICKET_TARGET, next_difficulty, parse_genesis, verify_proof
from poqw.chain.instance import derive_instance, derive_seed
from poqw.errors import UnknownSampler
from poqw.node import Miner, Node, load_config, make_solver
from poqw.node.testing import (
    account_key,
    funded_genesis,
    genesis_document,
    make_chain,
    mldsa_signer,
    salt_stream,
)

KEY = account_key("payer")
PAYER = bytes.fromhex(Account.from_key(KEY).address[2:])
GENESIS = funded_genesis({PAYER: 10**21})
T0 = GENESIS.timestamp + 10**6


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("sampler", ["simulated-annealing", "steepest-descent", "qaoa"])
def test_samplers_mine_valid_blocks(tmp_path: Path, sampler: str) -> None:
    chain, pool = make_chain(tmp_path, GENESIS)
    signer = mldsa_signer("m")
    solver = make_solver(sampler, num_reads=32 if sampler == "qaoa" else 64, k=GENESIS.k)
    miner = Miner(chain, pool, signer, solver, clock=Clock(T0), salt_source=salt_stream(sampler))
    block = miner.mine_block()
    assert block is not None and chain.tip().block_hash == block.hash()
    instance = derive_instance(GENESIS.topology, derive_seed(block.header.parent_hash,
                                                             signer.address(), block.header.salt))
    verify_proof(instance, block.proof, GENESIS.k, GENESIS.d_min, int(block.header.energy_bound),
                 int(block.header.ticket_target))


def test_the_miner_tries_salts_until_proof_and_ticket_both_pass(tmp_path: Path) -> None:
    doc = genesis_document()
    d = doc["difficulty"]
    lottery = d["lottery_bound"] - d["calibration"]["hardest_bound"]
    d["initial_work"] = str(8 * int(d["calibration"]["work"][lottery]))  # odds 1 in 8
    genesis = parse_genesis(doc)
    chain, pool = make_chain(tmp_path, genesis)
    signer = mldsa_signer("m")
    miner = Miner(chain, pool, signer, make_solver(), clock=Clock(genesis.timestamp + 10),
                  salt_source=salt_stream("lottery"))
    required = next_difficulty(genesis, chain.tip_header(), chain)
    assert required.energy_bound == genesis.difficulty.lottery
    assert required.ticket_target < MAX_TICKET_TARGET // 7
    block = miner.mine_block()
    assert block is not None and chain.tip().block_hash == block.hash()
    header = block.header
    assert (int(header.energy_bound), int(header.ticket_target)) == (
        required.energy_bound, required.ticket_target)
    instance = derive_instance(genesis.topology, derive_seed(header.parent_hash,
                                                             signer.address(), header.salt))
    verify_proof(instance, block.proof, genesis.k, genesis.d_min, int(header.energy_bound),
                 int(header.ticket_target))
    # the first salts' proofs (if any) lost the lottery: the miner went on until one won
    assert miner.stats.salts_tried > 1 and miner.stats.attempts_per_second() > 0


def test_unknown_sampler_is_refused() -> None:
    with pytest.raises(UnknownSampler, match="no sampler named 'nope'"):
        make_solver("nope")


def test_miner_waits_when_the_chain_runs_ahead_of_the_clock(tmp_path: Path) -> None:
    chain, pool = make_chain(tmp_path, GENESIS)
    clock = Clock(T0)
    miner = Miner(chain, pool, mldsa_signer("m"), make_solver(), clock=clock)
    for _ in range(GENESIS.max_future_drift + 1):
        block = miner.mine_block()
        assert block is not None
    # timestamps are strictly increasing and never beyond now + drift
    assert int(chain.tip_header().timestamp) == T0 + GENESIS.max_future_drift
    stop = threading.Event()
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(miner.mine_block(stop)))
    worker.start()
    worker.join(0.5)
    assert worker.is_alive()  # must wait: one more block would be too far in the future
    clock.now = T0 + 1
    worker.join(10)
    assert not worker.is_alive() and result[0] is not None
    assert int(chain.tip_header().timestamp) == T0 + GENESIS.max_future_drift + 1


def test_mempool_transactions_are_mined(tmp_path: Path) -> None:
    chain, pool = make_chain(tmp_path, GENESIS)
    head = chain.tip_header()
    env = chain.block_env(head, T0, bytes(20))
    sink = b"\x77" * 20
    for nonce in range(3):
        raw = bytes(Account.from_key(KEY).sign_transaction({
            "type": 2, "chainId": GENESIS.chain_id, "nonce": nonce, "gas": 21000,
            "maxFeePerGas": 5 * 10**9, "maxPriorityFeePerGas": 10**9,
            "to": to_checksum_address(sink), "value": 1000, "data": b"",
        }).raw_transaction)
        pool.add(raw, chain.state_root(head.hash()), env, T0)
    miner = Miner(chain, pool, mldsa_signer("m"), make_solver(), clock=Clock(T0))
    block = miner.mine_block()
    assert block is not None and len(block.transactions) == 3
    root = chain.state_root(block.hash())
    assert chain.engine.balance(root, sink) == 3000
    assert chain.engine.nonce(root, PAYER) == 3
    assert int(block.header.gas_used) == 3 * 21000


def test_node_mines_in_a_background_thread_and_stops(tmp_path: Path) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))  # a cheap anchor: blocks come quickly
    config = load_config(None, {"global.datadir": str(tmp_path / "data"),
                                "global.auto_mine": True, "global.key_height": 6,
                                "global.genesis": str(genesis)})
    with Node(config) as node:
        thread = node.start()
        while node.tip().number < 2:
            assert thread.is_alive()
            thread.join(0.05)
        node.stop()
        assert not thread.is_alive()
        height = node.tip().number
    assert height >= 2

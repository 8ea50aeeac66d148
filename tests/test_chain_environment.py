"""The block environment as consensus rules in ``poqw.chain``: the EIP-1559 base fee chain,
PREVRANDAO, the BLOCKHASH window and the reward, computed over a plain header view (no node, no
EVM), and the node applying exactly these rules.

Oracles: EIP-1559's base fee formula as written in the EIP (with its own names), parent links
walked by hand, and ``block_reward`` times the streak counted by hand.
"""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from poqw.chain import (
    Genesis,
    Header,
    MemoryChainView,
    block_environment,
    block_reward,
    genesis_header,
    parse_genesis,
)
from poqw.chain.environment import BLOCKHASH_WINDOW, INITIAL_BASE_FEE
from poqw.node.testing import (
    build_block_on,
    funded_genesis,
    genesis_document,
    make_chain,
    mldsa_signer,
)

GENESIS = funded_genesis()
ALICE, BOB = mldsa_signer("alice"), mldsa_signer("bob")


def eip1559(parent_base_fee: int, parent_gas_used: int, parent_gas_limit: int) -> int:
    parent_gas_target = parent_gas_limit // 2
    if parent_gas_used == parent_gas_target:
        return parent_base_fee
    if parent_gas_used > parent_gas_target:
        gas_used_delta = parent_gas_used - parent_gas_target
        base_fee_delta = max(parent_base_fee * gas_used_delta // parent_gas_target // 8, 1)
        return parent_base_fee + base_fee_delta
    gas_used_delta = parent_gas_target - parent_gas_used
    return parent_base_fee - parent_base_fee * gas_used_delta // parent_gas_target // 8


def header_chain(genesis: Genesis, length: int, miners: list[bytes]) -> list[Header]:
    """Headers linked by parent hash, with varied gas use (no proofs: the rules here need none)."""
    g = genesis_header(genesis, bytes(32), bytes(32))
    chain = [g]
    limit = int(g.gas_limit)
    for n in range(1, length):
        used = (n * 7919) % (limit + 1) if n % 5 else limit
        chain.append(dataclasses.replace(
            chain[-1], parent_hash=chain[-1].hash(), number=n, timestamp=int(g.timestamp) + n,
            gas_used=used, miner=miners[n % len(miners)]))
    return chain


def test_base_fee_randao_and_blockhash_window_over_a_long_chain() -> None:
    headers = header_chain(GENESIS, 300, [ALICE.address()])
    view = MemoryChainView(headers)
    fee = INITIAL_BASE_FEE
    fees = [fee]
    for parent in headers[:-1]:
        env = block_environment(GENESIS, parent, fee, view, int(parent.timestamp) + 1,
                                b"\x01" * 20)
        expected = eip1559(fee, int(parent.gas_used), int(parent.gas_limit))
        assert env.base_fee_per_gas == expected
        assert env.number == parent.number + 1 and env.prev_randao == parent.hash()
        assert env.gas_limit == parent.gas_limit and env.coinbase == b"\x01" * 20
        fee = expected
        fees.append(fee)
    steps = [b - a for a, b in itertools.pairwise(fees)]
    assert any(s > 0 for s in steps) and any(s < 0 for s in steps)  # both directions exercised
    tip = headers[-1]
    window = block_environment(GENESIS, tip, fee, view, int(tip.timestamp) + 1,
                               bytes(20)).ancestor_hashes
    assert len(window) == BLOCKHASH_WINDOW
    assert list(window) == [h.hash() for h in reversed(headers[-BLOCKHASH_WINDOW:])]
    short = block_environment(GENESIS, headers[2], INITIAL_BASE_FEE, view, 10**10, bytes(20))
    assert list(short.ancestor_hashes) == [headers[2].hash(), headers[1].hash(), headers[0].hash()]


@pytest.mark.parametrize("policy", ["target-time", "inverted"])
def test_reward_of_the_coinbase_with_and_without_streaks(policy: str) -> None:
    genesis = funded_genesis() if policy == "target-time" else _inverted()
    a, b = ALICE.address(), BOB.address()
    headers = header_chain(genesis, 8, [b, a, a, a])  # ... b a a a b a a a
    view = MemoryChainView(headers)
    parent = headers[-1]  # block 7 by a; blocks 5, 6, 7 by a
    base = int(block_reward(genesis.rewards, 8))
    for coinbase, streak in ((a, 4), (b, 1)):
        env = block_environment(genesis, parent, INITIAL_BASE_FEE, view, 10**10, coinbase)
        expected = base * min(streak, genesis.difficulty.streak_cap) if policy == "inverted" \
            else base
        assert env.reward == expected


def _inverted() -> Genesis:
    doc = genesis_document()
    doc["difficulty"] = dict(doc["difficulty"], policy="inverted")
    return parse_genesis(doc)


def test_node_applies_the_chain_rules(tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path, GENESIS)
    parent = chain.header(chain.canonical_hash(0) or b"")
    assert parent is not None
    t0 = GENESIS.timestamp + 10**6
    for i in range(2):
        block = build_block_on(chain, parent, ALICE, t0 + i, label=f"env{i}")
        chain.import_block(block, t0 + 10**3)
        parent = block.header
    stored_fee = chain.store.get(parent.hash())
    assert stored_fee is not None
    rules = block_environment(GENESIS, parent, stored_fee.base_fee, chain, t0 + 5, BOB.address())
    node = chain.block_env(parent, t0 + 5, BOB.address())
    assert (node.number, node.timestamp, node.coinbase, node.gas_limit, node.base_fee_per_gas,
            node.prev_randao, node.ancestor_hashes) == (
        rules.number, rules.timestamp, rules.coinbase, rules.gas_limit, rules.base_fee_per_gas,
        rules.prev_randao, rules.ancestor_hashes)
    assert chain.base_fee_after(parent) == rules.base_fee_per_gas


def test_the_spec_needs_neither_node_nor_execution() -> None:
    code = ("import sys, poqw.chain, poqw.chain.environment; "
            "bad = [m for m in sys.modules if m.startswith(('poqw.node', 'poqw.execution', "
            "'evm'))]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr

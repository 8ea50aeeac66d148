"""A block run again with the same inputs is not executed twice, and never answered wrongly.

A miner builds a block (executing the mempool's transactions, skipping invalid ones) and then
imports it, which executes exactly the included transactions again on the same parent state
and environment. The engine remembers its last runs by (parent state root, environment,
reward, transactions): the import gets the build's result, identical to what executing would
give. Any other input (another coinbase, another transaction list) executes; and a remembered
run whose state was pruned away is executed again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from eth_account import Account
from eth_utils.address import to_checksum_address

from poqw.execution import BlockEnv, ExecutionEngine

CHAIN_ID = 4242
KEY = bytes([7]) * 32
SENDER = bytes.fromhex(Account.from_key(KEY).address[2:])
OTHER = b"\x33" * 20
ENV = BlockEnv(number=1, timestamp=1_700_000_001, coinbase=b"\xcb" * 20,
               gas_limit=30_000_000, base_fee_per_gas=10)


def transfer(nonce: int, value: int) -> bytes:
    tx: dict[str, Any] = {"type": 2, "chainId": CHAIN_ID, "nonce": nonce, "maxFeePerGas": 20,
                          "maxPriorityFeePerGas": 2, "gas": 21000,
                          "to": to_checksum_address(OTHER), "value": value, "data": b""}
    return bytes(Account.from_key(KEY).sign_transaction(tx).raw_transaction)


def test_importing_a_built_block_reuses_its_run_and_nothing_else_does() -> None:
    engine = ExecutionEngine(":memory:", CHAIN_ID, {SENDER: 10**18})
    root = engine.genesis_state_root
    mempool = [transfer(0, 5), transfer(5, 1), transfer(1, 7)]  # nonce 5 is not runnable
    built = engine.apply_block(root, ENV, mempool, 100, skip_invalid=True)
    assert built.transactions == (mempool[0], mempool[2])
    assert [r.index for r in built.rejected] == [1]

    imported = engine.apply_block(root, ENV, built.transactions, 100)
    assert imported == dataclasses.replace(built, rejected=())
    assert engine.apply_block(root, ENV, built.transactions, 100) is imported  # not re-run
    assert engine.balance(imported.state_root, OTHER) == 12

    # other inputs execute: another coinbase gets the tips and the reward
    elsewhere = dataclasses.replace(ENV, coinbase=b"\xcc" * 20)
    moved = engine.apply_block(root, elsewhere, built.transactions, 100)
    assert moved.state_root != imported.state_root
    assert engine.balance(moved.state_root, b"\xcc" * 20) == 100 + 2 * 2 * 21000
    assert engine.apply_block(root, ENV, built.transactions[:1], 100).state_root not in (
        imported.state_root, moved.state_root)

    # a remembered run whose state is gone is executed again, to the same root
    engine.prune([moved.state_root])
    assert not engine.has_state(imported.state_root)
    again = engine.apply_block(root, ENV, built.transactions, 100)
    assert again is not imported and again.state_root == imported.state_root
    assert engine.balance(again.state_root, OTHER) == 12

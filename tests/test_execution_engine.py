"""ExecutionEngine: transfers, fees, rewards, a hand-written contract, receipts and roots.

Oracles: balance arithmetic written out by hand (value + gas x price, tip to the coinbase,
base fee burnt), gas of the hand-written contract summed opcode by opcode from the Yellow Paper
and EIP-2929/2200 tables, an independent Merkle-Patricia root, the bloom rule, and the
CREATE address formula keccak(rlp([sender, nonce]))[12:].
"""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from trie.hexary import HexaryTrie

from poqw.errors import ExecutionError, InvalidTransaction
from poqw.execution import BlockEnv, ExecutionEngine, GenesisAccount, ordered_trie_root

CHAIN_ID = 4242
KEYS = [bytes([i + 1]) * 32 for i in range(3)]
ACCOUNTS = [Account.from_key(k) for k in KEYS]
ADDR = [bytes.fromhex(a.address[2:]) for a in ACCOUNTS]
COINBASE = b"\xcb" * 20
OTHER = b"\x33" * 20
ETHER = 10**18
TOPIC = keccak(b"ValueSet(uint256)")
REVERT_WORD = (0xDEAD).to_bytes(32, "big")


def sign(
    key_index: int,
    nonce: int,
    to: bytes | None,
    value: int = 0,
    data: bytes = b"",
    gas: int = 21000,
    max_fee: int = 20,
    tip: int = 2,
    chain_id: int = CHAIN_ID,
) -> bytes:
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": tip,
        "gas": gas,
        "to": None if to is None else to_checksum_address(to),
        "value": value,
        "data": data,
    }
    return bytes(ACCOUNTS[key_index].sign_transaction(tx).raw_transaction)


def env(number: int = 1, base_fee: int = 10, gas_limit: int = 30_000_000) -> BlockEnv:
    return BlockEnv(
        number=number,
        timestamp=1_700_000_000 + number,
        coinbase=COINBASE,
        gas_limit=gas_limit,
        base_fee_per_gas=base_fee,
        prev_randao=keccak(number.to_bytes(8, "big")),
    )


# --- a tiny assembler and the contract -------------------------------------------------------

OPS = {
    "STOP": 0x00, "ISZERO": 0x15, "CALLDATALOAD": 0x35, "CALLDATASIZE": 0x36, "MSTORE": 0x52,
    "SLOAD": 0x54, "SSTORE": 0x55, "JUMPI": 0x57, "JUMPDEST": 0x5B, "DUP1": 0x80,
    "LOG1": 0xA1, "RETURN": 0xF3, "REVERT": 0xFD, "CODECOPY": 0x39, "BLOCKHASH": 0x40,
    "COINBASE": 0x41, "TIMESTAMP": 0x42, "NUMBER": 0x43, "PREVRANDAO": 0x44, "GASLIMIT": 0x45,
    "CHAINID": 0x46, "SUB": 0x03,
}  # fmt: skip


def assemble(program: list[Any]) -> bytes:
    """Items: opcode names, ("push", bytes), ("label", name), ("push_label", name) as PUSH1."""
    labels: dict[str, int] = {}
    pc = 0
    for item in program:
        if isinstance(item, str):
            pc += 1
        elif item[0] == "label":
            labels[item[1]] = pc
            pc += 1  # the JUMPDEST
        elif item[0] == "push":
            pc += 1 + len(item[1])
        else:
            pc += 2
    out = bytearray()
    for item in program:
        if isinstance(item, str):
            out.append(OPS[item])
        elif item[0] == "label":
            out.append(OPS["JUMPDEST"])
        elif item[0] == "push":
            out += bytes([0x5F + len(item[1])]) + item[1]
        else:
            out += bytes([0x60, labels[item[1]]])
    return bytes(out)


# Calldata empty: return storage slot 0. Calldata word v != 0: store it, emit LOG1(TOPIC, v).
# v == 0: revert with the word 0xdead.
RUNTIME = assemble(
    [
        "CALLDATASIZE", "ISZERO", ("push_label", "get"), "JUMPI",
        ("push", b"\x00"), "CALLDATALOAD", "DUP1", "ISZERO", ("push_label", "bad"), "JUMPI",
        "DUP1", ("push", b"\x00"), "SSTORE",
        ("push", b"\x00"), "MSTORE",
        ("push", TOPIC), ("push", b"\x20"), ("push", b"\x00"), "LOG1", "STOP",
        ("label", "get"), ("push", b"\x00"), "SLOAD", ("push", b"\x00"), "MSTORE",
        ("push", b"\x20"), ("push", b"\x00"), "RETURN",
        ("label", "bad"), ("push", REVERT_WORD), ("push", b"\x00"), "MSTORE",
        ("push", b"\x20"), ("push", b"\x00"), "REVERT",
    ]
)  # fmt: skip
# Init code: CODECOPY the runtime (which starts at byte 12) to memory and RETURN it.
INIT_PREFIX = assemble(
    [("push", bytes([len(RUNTIME)])), ("push", bytes([12])), ("push", b"\x00"), "CODECOPY",
     ("push", bytes([len(RUNTIME)])), ("push", b"\x00"), "RETURN"]
)  # fmt: skip
INIT = INIT_PREFIX + RUNTIME

# Gas of a successful set on a fresh slot (Yellow Paper appendix G, EIP-2929, EIP-2200):
# CALLDATASIZE 2, ISZERO 3, PUSH1 3, JUMPI 10, PUSH1 3, CALLDATALOAD 3, DUP1 3, ISZERO 3,
# PUSH1 3, JUMPI 10, DUP1 3, PUSH1 3, SSTORE 0->v cold 2100 + 20000, PUSH1 3, MSTORE 3 + 3
# (one memory word), PUSH32 3, PUSH1 3, PUSH1 3, LOG1 375 + 375 + 8 x 32, STOP 0.
SET_EXECUTION_GAS = (
    2 + 3 + 3 + 10 + 3 + 3 + 3 + 3 + 3 + 10 + 3 + 3 + 22100 + 3 + 6 + 3 + 3 + 3 + 1006
)


def calldata_gas(data: bytes) -> int:
    return sum(4 if b == 0 else 16 for b in data)


def create_address(sender: bytes, nonce: int) -> bytes:
    return keccak(rlp.encode([sender, nonce]))[12:]


# --- an independent Merkle-Patricia root (Yellow Paper appendix D) ---------------------------


def _nibbles(key: bytes) -> tuple[int, ...]:
    return tuple(n for b in key for n in (b >> 4, b & 15))


def _hex_prefix(nibs: tuple[int, ...], leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    nibs = (flag + 1, *nibs) if len(nibs) % 2 else (flag, 0, *nibs)
    return bytes(nibs[i] * 16 + nibs[i + 1] for i in range(0, len(nibs), 2))


def _ref(node: Any) -> Any:
    encoded = rlp.encode(node)
    return node if len(encoded) < 32 else keccak(encoded)


def _build(items: dict[tuple[int, ...], bytes], depth: int) -> Any:
    if len(items) == 1:
        ((key, value),) = items.items()
        return [_hex_prefix(key[depth:], True), value]
    keys = list(items)
    shared = 0
    while (
        all(len(k) > depth + shared for k in keys) and len({k[depth + shared] for k in keys}) == 1
    ):
        shared += 1
    if shared:
        return [
            _hex_prefix(keys[0][depth : depth + shared], False),
            _ref(_build(items, depth + shared)),
        ]
    branch: list[Any] = [b""] * 17
    for nib in range(16):
        sub = {k: v for k, v in items.items() if len(k) > depth and k[depth] == nib}
        if sub:
            branch[nib] = _ref(_build(sub, depth + 1))
    for k, v in items.items():
        if len(k) == depth:
            branch[16] = v
    return branch


def reference_ordered_root(values: list[bytes]) -> bytes:
    if not values:
        return keccak(rlp.encode(b""))
    items = {_nibbles(rlp.encode(i)): v for i, v in enumerate(values)}
    return keccak(rlp.encode(_build(items, 0)))


def bloom_has(bloom: bytes, item: bytes) -> bool:
    value = int.from_bytes(bloom, "big")
    h = keccak(item)
    return all(value >> (((h[i] << 8) | h[i + 1]) & 2047) & 1 for i in (0, 2, 4))


# --- fixtures ---------------------------------------------------------------------------------

ALLOC = {ADDR[0]: 10 * ETHER, ADDR[1]: 5 * ETHER, ADDR[2]: 1000}


@pytest.fixture
def engine() -> ExecutionEngine:
    return ExecutionEngine(":memory:", CHAIN_ID, ALLOC)


# --- genesis ----------------------------------------------------------------------------------


def test_genesis_is_deterministic_and_holds_the_allocation(engine: ExecutionEngine) -> None:
    reordered = dict(reversed(list(ALLOC.items())))
    other = ExecutionEngine(":memory:", CHAIN_ID, reordered)
    assert other.genesis_state_root == engine.genesis_state_root
    changed = ExecutionEngine(":memory:", CHAIN_ID, {**ALLOC, OTHER: 1})
    assert changed.genesis_state_root != engine.genesis_state_root
    root = engine.genesis_state_root
    for address, balance in ALLOC.items():
        assert engine.balance(root, address) == balance
        assert engine.nonce(root, address) == 0
    assert engine.balance(root, OTHER) == 0


def test_genesis_account_with_code_and_storage(engine: ExecutionEngine) -> None:
    contract = b"\xc0" * 20
    e = ExecutionEngine(
        ":memory:", CHAIN_ID, {contract: GenesisAccount(balance=7, code=RUNTIME, storage={0: 99})}
    )
    root = e.genesis_state_root
    assert e.code(root, contract) == RUNTIME
    assert e.storage(root, contract, 0) == 99
    assert int.from_bytes(e.call(root, contract, b""), "big") == 99


def test_block_environment_reaches_the_evm(engine: ExecutionEngine) -> None:
    # Returns NUMBER, TIMESTAMP, COINBASE, PREVRANDAO, GASLIMIT, CHAINID, BLOCKHASH(NUMBER - 1).
    words = ["NUMBER", "TIMESTAMP", "COINBASE", "PREVRANDAO", "GASLIMIT", "CHAINID"]
    program: list[Any] = []
    for i, op in enumerate(words):
        program += [op, ("push", bytes([32 * i])), "MSTORE"]
    program += [("push", b"\x01"), "NUMBER", "SUB", "BLOCKHASH", ("push", bytes([192])), "MSTORE"]
    program += [("push", bytes([224])), ("push", b"\x00"), "RETURN"]
    probe = b"\xe0" * 20
    e = ExecutionEngine(":memory:", CHAIN_ID, {probe: GenesisAccount(code=assemble(program))})
    parent = keccak(b"parent")
    block = BlockEnv(
        number=12,
        timestamp=1_700_000_123,
        coinbase=COINBASE,
        gas_limit=25_000_000,
        base_fee_per_gas=7,
        prev_randao=keccak(b"randao"),
        ancestor_hashes=(parent, keccak(b"grandparent")),
    )
    out = e.call(e.genesis_state_root, probe, env=block)
    values = [out[i : i + 32] for i in range(0, len(out), 32)]
    assert [int.from_bytes(v, "big") for v in values[:2]] == [12, 1_700_000_123]
    assert values[2][12:] == COINBASE and values[3] == keccak(b"randao")
    assert [int.from_bytes(v, "big") for v in values[4:6]] == [25_000_000, CHAIN_ID]
    assert values[6] == parent


# --- transfers and fees -----------------------------------------------------------------------


def test_transfer_fees_and_reward(engine: ExecutionEngine) -> None:
    g = engine.genesis_state_root
    base_fee, max_fee, tip, value, reward = 10, 20, 2, 12345, 3 * ETHER
    raw = sign(0, 0, OTHER, value=value, max_fee=max_fee, tip=tip)
    result = engine.apply_block(g, env(base_fee=base_fee), [raw], reward)
    price = min(max_fee, base_fee + tip)
    assert result.gas_used == 21000
    (receipt,) = result.receipts
    assert receipt.status and receipt.gas_used == 21000 and receipt.cumulative_gas_used == 21000
    assert receipt.effective_gas_price == price and receipt.sender == ADDR[0]
    assert receipt.tx_hash == keccak(raw)
    root = result.state_root
    assert engine.balance(root, ADDR[0]) == 10 * ETHER - value - 21000 * price
    assert engine.balance(root, OTHER) == value
    assert engine.nonce(root, ADDR[0]) == 1
    assert engine.balance(root, COINBASE) == reward + 21000 * tip
    assert result.priority_fees == 21000 * tip and result.burnt_fees == 21000 * base_fee
    supply_before = sum(ALLOC.values())
    supply_after = sum(engine.balance(root, a) for a in [*ADDR, OTHER, COINBASE])
    assert supply_after == supply_before + reward - 21000 * base_fee
    # the parent state is untouched
    assert engine.balance(g, ADDR[0]) == 10 * ETHER


def test_base_fee_can_go_to_the_coinbase() -> None:
    e = ExecutionEngine(":memory:", CHAIN_ID, ALLOC, base_fee_to_coinbase=True)
    raw = sign(0, 0, OTHER, value=1, max_fee=20, tip=2)
    result = e.apply_block(e.genesis_state_root, env(base_fee=10), [raw], 5)
    assert result.base_fees == 21000 * 10 and result.burnt_fees == 0
    assert e.balance(result.state_root, COINBASE) == 5 + 21000 * (10 + 2)
    supply_after = sum(e.balance(result.state_root, a) for a in [*ADDR, OTHER, COINBASE])
    assert supply_after == sum(ALLOC.values()) + 5


def test_fee_cap_limits_the_price(engine: ExecutionEngine) -> None:
    raw = sign(1, 0, OTHER, value=1, max_fee=11, tip=5)  # base 10: pays 11, tip only 1
    result = engine.apply_block(engine.genesis_state_root, env(base_fee=10), [raw], 0)
    assert result.receipts[0].effective_gas_price == 11
    assert engine.balance(result.state_root, COINBASE) == 21000 * 1
    assert engine.balance(result.state_root, ADDR[1]) == 5 * ETHER - 1 - 21000 * 11


def test_several_transactions_and_nonces_in_one_block(engine: ExecutionEngine) -> None:
    txs = [sign(0, n, OTHER, value=n + 1) for n in range(3)] + [sign(1, 0, OTHER, value=10)]
    result = engine.apply_block(engine.genesis_state_root, env(), txs, 0)
    assert [r.cumulative_gas_used for r in result.receipts] == [21000, 42000, 63000, 84000]
    assert [r.tx_index for r in result.receipts] == [0, 1, 2, 3]
    assert engine.nonce(result.state_root, ADDR[0]) == 3
    assert engine.balance(result.state_root, OTHER) == 1 + 2 + 3 + 10


def test_roots_and_bloom_match_independent_oracles(engine: ExecutionEngine) -> None:
    txs = [sign(0, n, OTHER, value=1) for n in range(3)]
    result = engine.apply_block(engine.genesis_state_root, env(), txs, 0)
    assert result.transactions_root == reference_ordered_root(txs)
    assert result.receipts_root == reference_ordered_root([r.encoded for r in result.receipts])
    assert ordered_trie_root([]) == reference_ordered_root([])
    assert result.logs_bloom == bytes(256)


@pytest.mark.parametrize("count", [1, 2, 17, 128, 129, 300])
def test_ordered_trie_root_against_py_trie_and_reference(count: int) -> None:
    items = [bytes([i % 251]) * (i % 70 + 1) for i in range(count)]
    trie = HexaryTrie({})
    for i, item in enumerate(items):
        trie[rlp.encode(i)] = item
    assert ordered_trie_root(items) == trie.root_hash == reference_ordered_root(items)


def test_same_inputs_same_results() -> None:
    results = []
    for _ in range(2):
        e = ExecutionEngine(":memory:", CHAIN_ID, ALLOC)
        txs = [sign(0, 0, None, data=INIT, gas=200_000), sign(1, 0, OTHER, value=5)]
        results.append(e.apply_block(e.genesis_state_root, env(), txs, 7))
    assert results[0] == results[1]


# --- contracts --------------------------------------------------------------------------------


def test_deploy_call_logs_and_gas(engine: ExecutionEngine) -> None:
    g = engine.genesis_state_root
    deploy = sign(0, 0, None, data=INIT, gas=200_000)
    r1 = engine.apply_block(g, env(1), [deploy], 0)
    (receipt,) = r1.receipts
    contract = create_address(ADDR[0], 0)
    assert receipt.status and receipt.contract_address == contract and receipt.to is None
    assert engine.code(r1.state_root, contract) == RUNTIME
    assert engine.call(r1.state_root, contract) == bytes(32)

    value = 0xC0FFEE
    data = value.to_bytes(32, "big")
    expected_gas = 21000 + calldata_gas(data) + SET_EXECUTION_GAS
    assert engine.estimate_gas(r1.state_root, contract, data, sender=ADDR[0]) == expected_gas
    set_tx = sign(0, 1, contract, data=data, gas=100_000)
    r2 = engine.apply_block(r1.state_root, env(2), [set_tx], 0)
    (receipt,) = r2.receipts
    assert receipt.status and receipt.gas_used == expected_gas
    assert r2.logs == receipt.logs
    (log,) = receipt.logs
    assert log.address == contract and log.topics == (TOPIC,) and log.data == data
    assert bloom_has(receipt.bloom, contract) and bloom_has(r2.logs_bloom, TOPIC)
    assert not bloom_has(r2.logs_bloom, OTHER)
    assert engine.storage(r2.state_root, contract, 0) == value
    assert int.from_bytes(engine.call(r2.state_root, contract), "big") == value
    # the read-only call changed nothing, and the old root still reads the old value
    assert engine.nonce(r2.state_root, ADDR[0]) == 2
    assert engine.call(r1.state_root, contract) == bytes(32)


def test_reverting_transaction_and_call(engine: ExecutionEngine) -> None:
    deploy = sign(0, 0, None, data=INIT, gas=200_000)
    r1 = engine.apply_block(engine.genesis_state_root, env(1), [deploy], 0)
    contract = create_address(ADDR[0], 0)
    with pytest.raises(ExecutionError, match="reverted") as info:
        engine.call(r1.state_root, contract, bytes(32))
    assert info.value.output == REVERT_WORD
    bad = sign(0, 1, contract, data=bytes(32), gas=60_000)
    r2 = engine.apply_block(r1.state_root, env(2), [bad], 0)
    (receipt,) = r2.receipts
    assert not receipt.status and receipt.logs == ()
    # a reverted transaction still pays for its gas and bumps the nonce
    assert engine.nonce(r2.state_root, ADDR[0]) == 2
    paid = engine.balance(r1.state_root, ADDR[0]) - engine.balance(r2.state_root, ADDR[0])
    assert paid == receipt.gas_used * receipt.effective_gas_price
    assert 21000 < receipt.gas_used < 60_000


def test_out_of_gas_create_fails_without_code(engine: ExecutionEngine) -> None:
    create_cost = 21000 + 32000 + calldata_gas(INIT) + 2 * ((len(INIT) + 31) // 32)
    tx = sign(0, 0, None, data=INIT, gas=create_cost + 10)
    result = engine.apply_block(engine.genesis_state_root, env(), [tx], 0)
    (receipt,) = result.receipts
    assert not receipt.status and receipt.contract_address is None
    assert receipt.gas_used == create_cost + 10  # all gas consumed
    assert engine.code(result.state_root, create_address(ADDR[0], 0)) == b""


# --- invalid transactions in blocks -----------------------------------------------------------


def test_invalid_transaction_rejects_the_block(engine: ExecutionEngine) -> None:
    txs = [sign(0, 0, OTHER, value=1), sign(0, 5, OTHER, value=1)]
    with pytest.raises(InvalidTransaction, match=r"transaction 1: nonce too high"):
        engine.apply_block(engine.genesis_state_root, env(), txs, 0)


def test_block_gas_limit(engine: ExecutionEngine) -> None:
    txs = [sign(0, 0, OTHER, value=1), sign(0, 1, OTHER, value=1)]
    with pytest.raises(InvalidTransaction, match=r"transaction 1: gas limit 21000 exceeds the"):
        engine.apply_block(engine.genesis_state_root, env(gas_limit=30_000), txs, 0)


def test_skip_invalid_builds_a_block_from_the_valid_ones(engine: ExecutionEngine) -> None:
    txs = [
        sign(0, 0, OTHER, value=1),
        sign(2, 0, OTHER, value=1),  # 1000 wei cannot pay for gas
        b"\x02\xc0",
        sign(0, 1, OTHER, value=2, chain_id=1),
        sign(0, 1, OTHER, value=3),
    ]
    result = engine.apply_block(engine.genesis_state_root, env(), txs, 0, skip_invalid=True)
    assert result.transactions == (txs[0], txs[4])
    assert [r.index for r in result.rejected] == [1, 2, 3]
    assert "insufficient balance" in result.rejected[0].reason
    assert result.rejected[0].tx_hash == keccak(txs[1])
    assert "wrong chain id" in result.rejected[2].reason
    assert engine.balance(result.state_root, OTHER) == 4
    assert result.transactions_root == reference_ordered_root([txs[0], txs[4]])

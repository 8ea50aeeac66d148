"""Transaction decoding and admission: every rejection with its precise reason; intrinsic gas
against hand-computed values; the EIP-1559 base fee rule against the EIP's own arithmetic."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from poqw.errors import DecodeError, InvalidTransaction, StorageError
from poqw.execution import (
    MAX_TRANSACTION_BYTES,
    BlockEnv,
    ExecutionEngine,
    decode_transaction,
    intrinsic_gas,
    next_base_fee,
)

CHAIN_ID = 77
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
KEY = b"\x07" * 32
SENDER = bytes.fromhex(Account.from_key(KEY).address[2:])
OTHER = b"\x44" * 20


def sign(**fields: Any) -> bytes:
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": 0,
        "maxFeePerGas": 20,
        "maxPriorityFeePerGas": 2,
        "gas": 21000,
        "to": to_checksum_address(OTHER),
        "value": 1,
        "data": b"",
    }
    tx.update(fields)
    return bytes(Account.from_key(KEY).sign_transaction(tx).raw_transaction)


def tamper(raw: bytes, index: int, value: Any) -> bytes:
    """Replace field ``index`` of a type-2 payload and re-encode it canonically."""
    fields = rlp.decode(raw[1:])
    fields[index] = value
    return b"\x02" + bytes(rlp.encode(fields))


@pytest.fixture(scope="module")
def engine() -> ExecutionEngine:
    return ExecutionEngine(":memory:", CHAIN_ID, {SENDER: 10**18})


def test_a_good_transaction_decodes() -> None:
    raw = sign(nonce=3, value=5, data=b"\x01\x00", gas=30_000)
    info, _ = decode_transaction(raw, CHAIN_ID)
    assert info.sender == SENDER and info.nonce == 3 and info.value == 5 and info.to == OTHER
    assert info.tx_hash == keccak(raw) and info.data == b"\x01\x00" and info.raw == raw
    assert info.max_cost == 5 + 30_000 * 20
    assert info.intrinsic_gas == 21000 + 10 * (4 + 1)  # the EIP-7623 floor beats 21000 + 16 + 4


@pytest.mark.parametrize(
    ("raw", "error", "reason"),
    [
        (b"", DecodeError, "empty transaction"),
        (b"\x02" + b"\x00" * MAX_TRANSACTION_BYTES, DecodeError, "exceeds"),
        (rlp.encode([0, 1, 2]), InvalidTransaction, "legacy transaction"),
        (b"\x01" + rlp.encode([]), InvalidTransaction, "type 0x01 not accepted"),
        (b"\x03\xc0", InvalidTransaction, "type 0x03 not accepted"),
        (b"\x02\xc0", DecodeError, "malformed"),
        (b"\x02\xff\xff", DecodeError, "malformed"),
    ],
)
def test_undecodable_bytes(raw: bytes, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason):
        decode_transaction(raw, CHAIN_ID)


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(DecodeError):
        decode_transaction(sign() + b"\x00", CHAIN_ID)


def test_wrong_chain_id() -> None:
    with pytest.raises(InvalidTransaction, match="transaction is for chain 1, this chain is 77"):
        decode_transaction(sign(chainId=1), CHAIN_ID)


@pytest.mark.parametrize(
    ("index", "value"),
    [(11, 0), (10, 0), (11, SECP256K1_N - 1), (9, 2)],  # s = 0, r = 0, high s (EIP-2), parity
)
def test_bad_signature(index: int, value: int) -> None:
    with pytest.raises(InvalidTransaction, match="bad signature"):
        decode_transaction(tamper(sign(), index, value), CHAIN_ID)


def test_altered_payload_changes_the_sender() -> None:
    # A signature over other fields recovers some other key: not our sender, never an error.
    info, _ = decode_transaction(tamper(sign(), 6, 10**6), CHAIN_ID)
    assert info.sender != SENDER


def test_field_rules() -> None:
    with pytest.raises(InvalidTransaction, match="priority fee 30 above max fee 20"):
        decode_transaction(sign(maxPriorityFeePerGas=30), CHAIN_ID)
    with pytest.raises(InvalidTransaction, match="gas limit 20999 below intrinsic gas 21000"):
        decode_transaction(sign(gas=20999), CHAIN_ID)
    with pytest.raises(InvalidTransaction, match="initcode"):
        decode_transaction(sign(to=None, data=b"\x01" * 49153, gas=10**7), CHAIN_ID)
    with pytest.raises(InvalidTransaction, match="[Nn]once"):
        decode_transaction(sign(nonce=2**64 - 1), CHAIN_ID)


def test_intrinsic_gas_by_hand() -> None:
    assert intrinsic_gas(b"", False) == 21000
    # EIP-7623: 10 gas per token (zero byte 1 token, nonzero 4) beats 4/16 per byte
    assert intrinsic_gas(b"\x00\x01", False) == max(21000 + 4 + 16, 21000 + 10 * 5)
    # EIP-7623 floor wins for heavy calldata: 21000 + 10 x 4 tokens per nonzero byte
    assert intrinsic_gas(b"\x01" * 1000, False) == max(21000 + 16000, 21000 + 40000)
    # create: 32000 + 2 per initcode word (EIP-3860)
    assert intrinsic_gas(b"\x01" * 64, True) == 21000 + 32000 + 64 * 16 + 2 * 2
    access_list = [(b"\x01" * 20, [b"\x00" * 32, b"\x01" * 32]), (b"\x02" * 20, [])]
    assert intrinsic_gas(b"", False, access_list) == 21000 + 2 * 2400 + 2 * 1900


def test_mempool_admission(engine: ExecutionEngine) -> None:
    root = engine.genesis_state_root
    block = BlockEnv(number=1, timestamp=1, coinbase=OTHER, gas_limit=100_000, base_fee_per_gas=15)
    info = engine.validate_transaction(root, sign(), block)
    assert info.sender == SENDER
    with pytest.raises(InvalidTransaction, match="nonce too high: account nonce 0, got 2"):
        engine.validate_transaction(root, sign(nonce=2), block)
    assert engine.validate_transaction(root, sign(nonce=2), block, allow_future_nonce=True)
    with pytest.raises(InvalidTransaction, match="max fee per gas 12 below base fee 15"):
        engine.validate_transaction(root, sign(maxFeePerGas=12), block)
    with pytest.raises(InvalidTransaction, match="exceeds the 100000 gas left"):
        engine.validate_transaction(root, sign(gas=200_000), block)
    with pytest.raises(InvalidTransaction, match="insufficient balance: sender has 10"):
        engine.validate_transaction(root, sign(value=10**18), block)
    with pytest.raises(StorageError, match="unknown state root"):
        engine.validate_transaction(b"\x01" * 32, sign(), block)


def test_nonce_too_low_after_a_block(engine: ExecutionEngine) -> None:
    block = BlockEnv(number=1, timestamp=1, coinbase=OTHER, gas_limit=10**6, base_fee_per_gas=1)
    result = engine.apply_block(engine.genesis_state_root, block, [sign()], 0)
    with pytest.raises(InvalidTransaction, match="nonce too low: account nonce 1, got 0"):
        engine.validate_transaction(result.state_root, sign(), block)


def _eip1559_reference(used: int, limit: int, fee: int) -> int:
    # The EIP's pseudocode, verbatim in arithmetic.
    target = limit // 2
    if used == target:
        return fee
    if used > target:
        return fee + max(fee * (used - target) // target // 8, 1)
    return fee - fee * (target - used) // target // 8


@pytest.mark.parametrize(
    ("used", "limit", "fee", "expected"),
    [
        (15_000_000, 30_000_000, 1000, 1000),
        (30_000_000, 30_000_000, 1000, 1125),  # full block: +1/8
        (0, 30_000_000, 1000, 875),  # empty block: -1/8
        (15_000_001, 30_000_000, 7, 8),  # at least +1
        (0, 30_000_000, 7, 7),
    ],
)
def test_next_base_fee(used: int, limit: int, fee: int, expected: int) -> None:
    assert next_base_fee(used, limit, fee) == expected == _eip1559_reference(used, limit, fee)

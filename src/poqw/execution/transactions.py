"""Decoding and checking EVM transactions before they reach py-evm.

Only EIP-1559 (type 2) transactions are accepted. :func:`decode_transaction` checks the bytes
alone (size, type, canonical RLP, chain id, fields, intrinsic gas, signature);
:func:`check_against_state` checks them against an account state and a block (fee cap against
base fee, gas against the block, nonce, balance). Each rule is one check with its own reason.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import rlp
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.forks.prague.transactions import PragueTypedTransaction
from eth_keys.exceptions import BadSignature
from eth_keys.main import lazy_key_api as keys
from eth_utils.exceptions import ValidationError

from poqw.encoding.rlp import Bytes, Fields, ListOf, Uint
from poqw.encoding.rlp import decode as decode_rlp
from poqw.errors import DecodeError, InvalidTransaction

from .types import TransactionInfo

__all__ = [
    "DYNAMIC_FEE_TX_TYPE",
    "MAX_INITCODE_BYTES",
    "MAX_TRANSACTION_BYTES",
    "DecodedTransactions",
    "check_against_state",
    "decode_transaction",
    "intrinsic_gas",
]

DYNAMIC_FEE_TX_TYPE = 2
MAX_TRANSACTION_BYTES = 128 * 1024  # the same bound geth's pool uses
MAX_INITCODE_BYTES = 2 * 24576  # EIP-3860
MAX_NONCE = 2**64 - 1  # EIP-2681: a nonce may not reach this

TX_BASE_GAS = 21000
TX_CREATE_GAS = 32000
TX_DATA_ZERO_GAS = 4
TX_DATA_NONZERO_GAS = 16
INITCODE_WORD_GAS = 2  # EIP-3860
ACCESS_LIST_ADDRESS_GAS = 2400  # EIP-2930
ACCESS_LIST_SLOT_GAS = 1900
FLOOR_GAS_PER_TOKEN = 10  # EIP-7623
DELEGATION_PREFIX = b"\xef\x01\x00"  # EIP-7702: code that marks a delegated EOA
SECP256K1_HALF_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 // 2

# The EIP-1559 payload, declared once: the reader checks every field's kind and size before it
# builds anything, so an access list of empty items is refused at its first item.
_ACCESS_ENTRY = Fields((("address", Bytes(20, 20)),
                        ("storage_keys", ListOf(Bytes(32, 32), MAX_TRANSACTION_BYTES // 33,
                                                "storage keys"))))
_DYNAMIC_FEE_SHAPE = Fields((
    ("chain_id", Uint()), ("nonce", Uint()), ("max_priority_fee_per_gas", Uint()),
    ("max_fee_per_gas", Uint()), ("gas", Uint()), ("to", Bytes(20)), ("value", Uint()),
    ("data", Bytes(MAX_TRANSACTION_BYTES)),
    ("access_list", ListOf(_ACCESS_ENTRY, MAX_TRANSACTION_BYTES // 23, "entries")),
    ("y_parity", Uint()), ("r", Uint()), ("s", Uint()),
))


def intrinsic_gas(data: bytes, is_create: bool, access_list: Any = ()) -> int:
    """The gas a transaction must carry before any EVM step (Prague rules).

    The larger of the standard cost (EIP-2028 data, EIP-3860 initcode, EIP-2930 access list)
    and the EIP-7623 calldata floor.
    """
    zeros = data.count(0)
    nonzeros = len(data) - zeros
    gas = TX_BASE_GAS + TX_DATA_ZERO_GAS * zeros + TX_DATA_NONZERO_GAS * nonzeros
    if is_create:
        gas += TX_CREATE_GAS + INITCODE_WORD_GAS * ((len(data) + 31) // 32)
    for _address, slots in access_list:
        gas += ACCESS_LIST_ADDRESS_GAS + ACCESS_LIST_SLOT_GAS * len(slots)
    floor = TX_BASE_GAS + FLOOR_GAS_PER_TOKEN * (zeros + 4 * nonzeros)
    return max(gas, floor)


def decode_transaction(raw: bytes, chain_id: int) -> tuple[TransactionInfo, Any]:
    """Decode and check a raw signed transaction; return its summary and the py-evm object.

    Raises :class:`DecodeError` for bytes that are not a transaction and
    :class:`InvalidTransaction` for a transaction this chain must refuse.
    """
    if not isinstance(raw, bytes | bytearray):
        raise DecodeError(f"transaction must be bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if not raw:
        raise DecodeError("empty transaction")
    if len(raw) > MAX_TRANSACTION_BYTES:
        raise DecodeError(f"transaction of {len(raw)} bytes exceeds {MAX_TRANSACTION_BYTES}")
    if raw[0] >= 0xC0:
        raise InvalidTransaction("legacy transaction: only EIP-1559 (type 2) is accepted")
    if raw[0] != DYNAMIC_FEE_TX_TYPE:
        raise InvalidTransaction(
            f"transaction type {raw[0]:#04x} not accepted: only EIP-1559 (type 2)"
        )
    tx = _decode_dynamic_fee(raw)
    if tx.encode() != raw:
        raise DecodeError("non-canonical transaction encoding")
    if tx.chain_id != chain_id:
        raise InvalidTransaction(
            f"wrong chain id: transaction is for chain {tx.chain_id}, this chain is {chain_id}"
        )
    try:
        tx.validate()
    except ValidationError as exc:
        raise InvalidTransaction(f"invalid transaction field: {exc}") from exc
    if tx.nonce >= MAX_NONCE:
        raise InvalidTransaction(f"nonce {tx.nonce} is at the 2**64-1 limit")
    if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
        raise InvalidTransaction(
            f"max priority fee {tx.max_priority_fee_per_gas} above max fee {tx.max_fee_per_gas}"
        )
    is_create = tx.to == b""
    if is_create and len(tx.data) > MAX_INITCODE_BYTES:
        raise InvalidTransaction(
            f"initcode of {len(tx.data)} bytes exceeds {MAX_INITCODE_BYTES} (EIP-3860)"
        )
    required = intrinsic_gas(tx.data, is_create, tx.access_list)
    if tx.gas < required:
        raise InvalidTransaction(f"gas limit {tx.gas} below intrinsic gas {required}")
    if tx.y_parity not in (0, 1):
        raise InvalidTransaction(f"bad signature: y parity {tx.y_parity} is not 0 or 1")
    if tx.s > SECP256K1_HALF_N:
        raise InvalidTransaction("bad signature: s above secp256k1n/2 (EIP-2)")
    try:
        sender = _recover_sender(tx)
    except (BadSignature, ValidationError, ValueError) as exc:
        raise InvalidTransaction(f"bad signature: {exc}") from exc
    info = TransactionInfo(
        tx_hash=bytes(tx.hash),
        tx_type=DYNAMIC_FEE_TX_TYPE,
        chain_id=tx.chain_id,
        sender=sender,
        nonce=tx.nonce,
        to=None if is_create else bytes(tx.to),
        value=tx.value,
        data=bytes(tx.data),
        gas=tx.gas,
        max_fee_per_gas=tx.max_fee_per_gas,
        max_priority_fee_per_gas=tx.max_priority_fee_per_gas,
        intrinsic_gas=required,
        raw=raw,
    )
    return info, tx


def _recover_sender(tx: Any) -> bytes:
    """The signer's address: py-evm's ``check_signature_validity`` (recover the key, verify the
    signature with it), keeping the recovered key instead of recovering it again for ``sender``."""
    message = tx.get_message_for_signing()
    try:
        signature = keys.Signature(vrs=(tx.y_parity, tx.r, tx.s))
        public_key = signature.recover_public_key_from_msg(message)
    except BadSignature as exc:
        raise ValidationError(f"Bad Signature: {exc}") from exc
    if not signature.verify_msg(message, public_key):
        raise ValidationError("Invalid Signature")
    return bytes(public_key.to_canonical_address())


def _decode_dynamic_fee(raw: bytes) -> Any:
    """The py-evm object of a type-2 transaction, from fields the shape has already checked."""
    try:
        fields = decode_rlp(raw[1:], _DYNAMIC_FEE_SHAPE, "transaction")
    except DecodeError as exc:
        raise DecodeError(f"malformed type-2 transaction: {exc}") from None
    if len(fields[5]) not in (0, 20):
        raise DecodeError(f"malformed type-2 transaction: 'to' is {len(fields[5])} bytes, "
                          "expected 20 (or empty for a contract creation)")
    try:
        inner = DynamicFeeTransaction.deserialize(fields)
    except (rlp.DeserializationError, rlp.exceptions.RLPException) as exc:
        raise DecodeError(f"malformed type-2 transaction: {exc}") from exc
    return PragueTypedTransaction(DYNAMIC_FEE_TX_TYPE, inner)


def check_against_state(
    info: TransactionInfo,
    state: Any,
    base_fee_per_gas: int,
    gas_available: int,
    *,
    allow_future_nonce: bool = False,
) -> None:
    """Check a decoded transaction against a py-evm state and the block it would enter.

    ``gas_available`` is the block gas limit minus the gas already used in the block.
    ``allow_future_nonce`` accepts a nonce above the account's (a mempool may queue it).
    """
    if info.max_fee_per_gas < base_fee_per_gas:
        raise InvalidTransaction(
            f"max fee per gas {info.max_fee_per_gas} below base fee {base_fee_per_gas}"
        )
    if info.gas > gas_available:
        raise InvalidTransaction(
            f"gas limit {info.gas} exceeds the {gas_available} gas left in the block"
        )
    code = state.get_code(info.sender)
    if code and not code.startswith(DELEGATION_PREFIX):
        raise InvalidTransaction("sender is a contract account (EIP-3607)")
    account_nonce = state.get_nonce(info.sender)
    if info.nonce < account_nonce:
        raise InvalidTransaction(f"nonce too low: account nonce {account_nonce}, got {info.nonce}")
    if info.nonce > account_nonce and not allow_future_nonce:
        raise InvalidTransaction(f"nonce too high: account nonce {account_nonce}, got {info.nonce}")
    balance = state.get_balance(info.sender)
    if balance < info.max_cost:
        raise InvalidTransaction(
            f"insufficient balance: sender has {balance}, needs {info.max_cost} "
            f"(value {info.value} + gas {info.gas} x max fee {info.max_fee_per_gas})"
        )


class DecodedTransactions:
    """:func:`decode_transaction` remembered for the last ``max_bytes`` of raw transactions.

    Decoding is a pure function of the bytes and the chain id, and each transaction is decoded
    at mempool admission, again when a block is built and again when that block is imported;
    the signature recovery in it is most of its cost. Only successes are kept (a refused
    transaction is decoded again, with the same error)."""

    def __init__(self, chain_id: int, max_bytes: int = 16 << 20) -> None:
        self.chain_id = chain_id
        self._decoded: OrderedDict[bytes, tuple[TransactionInfo, Any]] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def decode(self, raw: bytes) -> tuple[TransactionInfo, Any]:
        if not isinstance(raw, bytes | bytearray):
            return decode_transaction(raw, self.chain_id)  # refused, with its own reason
        key = bytes(raw)
        with self._lock:
            found = self._decoded.get(key)
            if found is not None:
                self._decoded.move_to_end(key)
                return found
        decoded = decode_transaction(key, self.chain_id)
        with self._lock:
            if key not in self._decoded:
                self._decoded[key] = decoded
                self._bytes += len(key)
                while self._bytes > self._max_bytes:
                    old, _ = self._decoded.popitem(last=False)
                    self._bytes -= len(old)
        return decoded

"""Values that cross the execution layer's boundary: the block environment a block executes in,
and the receipts, logs and results it produces.

All are frozen dataclasses of plain ints and bytes, so the chain and the node can hold, compare
and serialise them without importing py-evm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from poqw.errors import ConfigError

__all__ = [
    "Address",
    "BlockEnv",
    "BlockExecutionResult",
    "GenesisAccount",
    "Hash32",
    "Log",
    "Receipt",
    "RejectedTransaction",
    "TransactionInfo",
]

Address: TypeAlias = bytes  # 20 bytes
Hash32: TypeAlias = bytes  # 32 bytes

MAX_UINT256 = 2**256 - 1


def _require_bytes(name: str, value: bytes, length: int) -> None:
    if not isinstance(value, bytes) or len(value) != length:
        raise ConfigError(f"{name} must be {length} bytes, got {value!r}")


def _require_uint(name: str, value: int, limit: int = MAX_UINT256) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise ConfigError(f"{name} must be an integer in [0, {limit}], got {value!r}")


@dataclass(frozen=True)
class BlockEnv:
    """The block-level context the EVM sees (NUMBER, TIMESTAMP, COINBASE, BASEFEE, ...).

    ``prev_randao`` is what PREVRANDAO returns; the chain derives it from data fixed before the
    block is built (e.g. the parent hash). ``ancestor_hashes`` serve BLOCKHASH, most recent
    (the parent) first, at most 256.
    """

    number: int
    timestamp: int
    coinbase: Address
    gas_limit: int
    base_fee_per_gas: int
    prev_randao: Hash32 = b"\x00" * 32
    ancestor_hashes: tuple[Hash32, ...] = ()

    def __post_init__(self) -> None:
        _require_uint("number", self.number, 2**63 - 1)
        _require_uint("timestamp", self.timestamp, 2**64 - 1)
        _require_bytes("coinbase", self.coinbase, 20)
        _require_uint("gas_limit", self.gas_limit, 2**63 - 1)
        _require_uint("base_fee_per_gas", self.base_fee_per_gas)
        _require_bytes("prev_randao", self.prev_randao, 32)
        if len(self.ancestor_hashes) > 256:
            raise ConfigError("ancestor_hashes holds at most 256 hashes")
        for h in self.ancestor_hashes:
            _require_bytes("ancestor hash", h, 32)


@dataclass(frozen=True)
class GenesisAccount:
    """An account in the genesis allocation: balance, and optionally code, storage and nonce."""

    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_uint("balance", self.balance)
        _require_uint("nonce", self.nonce, 2**64 - 1)
        for slot, value in self.storage.items():
            _require_uint("storage slot", slot)
            _require_uint("storage value", value)


@dataclass(frozen=True)
class Log:
    """One LOG0..LOG4 entry: emitting contract, up to four 32-byte topics, data."""

    address: Address
    topics: tuple[Hash32, ...]
    data: bytes


@dataclass(frozen=True)
class Receipt:
    """The outcome of one transaction in a block.

    ``encoded`` is the consensus encoding (type byte + RLP) that the receipts trie commits to;
    ``gas_used`` is this transaction's share of ``cumulative_gas_used``.
    """

    tx_hash: Hash32
    tx_index: int
    tx_type: int
    sender: Address
    to: Address | None
    status: bool
    gas_used: int
    cumulative_gas_used: int
    effective_gas_price: int
    contract_address: Address | None
    logs: tuple[Log, ...]
    bloom: bytes
    encoded: bytes


@dataclass(frozen=True)
class RejectedTransaction:
    """A transaction left out of a block being built, with the reason."""

    tx_hash: Hash32 | None
    index: int
    reason: str


@dataclass(frozen=True)
class BlockExecutionResult:
    """Everything a header needs from execution, and what the node stores and serves.

    ``transactions`` are the raw transactions actually applied (all of them, unless built with
    ``skip_invalid``, in which case ``rejected`` says what was left out and why).
    ``base_fees`` is base fee x gas used; it is burnt (``burnt_fees``, EIP-1559) unless the
    engine credits it to the coinbase. ``priority_fees`` (the tips) and ``reward`` always go to
    the coinbase.
    """

    state_root: Hash32
    transactions_root: Hash32
    receipts_root: Hash32
    logs_bloom: bytes
    gas_used: int
    receipts: tuple[Receipt, ...]
    transactions: tuple[bytes, ...]
    reward: int
    priority_fees: int
    base_fees: int
    burnt_fees: int
    rejected: tuple[RejectedTransaction, ...] = ()

    @property
    def logs(self) -> tuple[Log, ...]:
        return tuple(log for receipt in self.receipts for log in receipt.logs)

    @property
    def tx_hashes(self) -> tuple[Hash32, ...]:
        return tuple(r.tx_hash for r in self.receipts)


@dataclass(frozen=True)
class TransactionInfo:
    """A decoded, signature-checked transaction (what the mempool keeps)."""

    tx_hash: Hash32
    tx_type: int
    chain_id: int
    sender: Address
    nonce: int
    to: Address | None
    value: int
    data: bytes
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    intrinsic_gas: int
    raw: bytes

    @property
    def max_cost(self) -> int:
        """The most the sender can pay: value plus every unit of gas at the fee cap."""
        return self.value + self.gas * self.max_fee_per_gas

"""EVM execution for poqw: py-evm's Prague rules over a SQLite state database.

The chain hands :meth:`ExecutionEngine.apply_block` a parent state root, a :class:`BlockEnv`,
raw EIP-1559 transactions and the block reward, and gets back the new state root, receipts,
roots and gas. Importing this package imports py-evm (about a second).
"""

from .db import BlockRecord, SqliteStateDB
from .engine import DEFAULT_CALL_GAS, ExecutionEngine
from .fees import next_base_fee
from .receipts import ordered_trie_root
from .transactions import MAX_TRANSACTION_BYTES, decode_transaction, intrinsic_gas
from .types import (
    Address,
    BlockEnv,
    BlockExecutionResult,
    GenesisAccount,
    Hash32,
    Log,
    Receipt,
    RejectedTransaction,
    TransactionInfo,
)

__all__ = [
    "DEFAULT_CALL_GAS",
    "MAX_TRANSACTION_BYTES",
    "Address",
    "BlockEnv",
    "BlockExecutionResult",
    "BlockRecord",
    "ExecutionEngine",
    "GenesisAccount",
    "Hash32",
    "Log",
    "Receipt",
    "RejectedTransaction",
    "SqliteStateDB",
    "TransactionInfo",
    "decode_transaction",
    "intrinsic_gas",
    "next_base_fee",
    "ordered_trie_root",
]

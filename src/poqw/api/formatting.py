"""JSON shapes of the Ethereum JSON-RPC (ethereum/execution-apis): hex quantities and data, and
blocks, transactions, receipts and logs built from what the node stores.

Quantities are ``"0x"`` + lowercase hex without leading zeros (``"0x0"`` for zero); data is
``"0x"`` + two hex digits per byte; addresses are lowercase. Fields a PoQW block does not have
(uncles, a nonce, difficulty) carry the values a proof-of-stake block has for them; ``mixHash`` is
what PREVRANDAO returns in the block (its parent's hash, see :mod:`poqw.chain.environment`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils.crypto import keccak

from poqw.api.backend import BlockData
from poqw.execution import Log, Receipt, TransactionInfo, decode_transaction

__all__ = [
    "EMPTY_UNCLES_HASH",
    "block_bloom",
    "format_block",
    "format_log",
    "format_receipt",
    "format_transaction",
    "hex_data",
    "hex_quantity",
    "log_index_base",
    "tx_hash_of",
]

EMPTY_UNCLES_HASH = bytes.fromhex(
    "1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347")  # keccak(rlp([]))


def hex_quantity(value: int) -> str:
    return hex(int(value))


def hex_data(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def tx_hash_of(raw: bytes) -> bytes:
    """The hash of a typed transaction: keccak of its raw bytes."""
    return bytes(keccak(raw))


def block_bloom(receipts: Sequence[Receipt]) -> bytes:
    """The block's logs bloom: the OR of its receipts' blooms."""
    acc = 0
    for receipt in receipts:
        acc |= int.from_bytes(receipt.bloom, "big")
    return acc.to_bytes(256, "big")


def format_block(data: BlockData, receipts: Sequence[Receipt], full: bool,
                 chain_id: int) -> dict[str, Any]:
    """An execution-apis block; ``full``: transaction objects instead of hashes."""
    header, stored, block = data.header, data.stored, data.block
    raws = block.transactions
    transactions: list[Any]
    if full:
        transactions = [format_transaction(decode_transaction(raw, chain_id)[1], data, index,
                                           receipts[index] if index < len(receipts) else None)
                        for index, raw in enumerate(raws)]
    else:
        transactions = [hex_data(tx_hash_of(raw)) for raw in raws]
    return {
        "hash": hex_data(stored.block_hash),
        "parentHash": hex_data(stored.parent_hash),
        "sha3Uncles": hex_data(EMPTY_UNCLES_HASH),
        "miner": hex_data(header.miner),
        "stateRoot": hex_data(header.state_root),
        "transactionsRoot": hex_data(header.tx_root),
        "receiptsRoot": hex_data(header.receipt_root),
        "logsBloom": hex_data(block_bloom(receipts)),
        "difficulty": "0x0",
        "number": hex_quantity(stored.number),
        "gasLimit": hex_quantity(header.gas_limit),
        "gasUsed": hex_quantity(header.gas_used),
        "timestamp": hex_quantity(header.timestamp),
        "extraData": "0x",
        "mixHash": hex_data(stored.parent_hash),  # what PREVRANDAO returns in this block
        "nonce": "0x0000000000000000",
        "baseFeePerGas": hex_quantity(stored.base_fee),
        "size": hex_quantity(len(block.encode())),
        "transactions": transactions,
        "uncles": [],
    }


def format_transaction(tx: Any, data: BlockData | None, index: int | None,
                       receipt: Receipt | None, info: TransactionInfo | None = None
                       ) -> dict[str, Any]:
    """An execution-apis EIP-1559 transaction; ``data``/``index`` None: still pending.

    ``tx`` is py-evm's decoded transaction (:func:`poqw.execution.decode_transaction`)."""
    sender = bytes(tx.sender)
    if receipt is not None:
        gas_price = receipt.effective_gas_price
    elif data is not None:
        gas_price = min(tx.max_fee_per_gas, data.stored.base_fee + tx.max_priority_fee_per_gas)
    else:
        gas_price = tx.max_fee_per_gas
    return {
        "blockHash": None if data is None else hex_data(data.block_hash),
        "blockNumber": None if data is None else hex_quantity(data.number),
        "from": hex_data(sender),
        "gas": hex_quantity(tx.gas),
        "gasPrice": hex_quantity(gas_price),
        "maxFeePerGas": hex_quantity(tx.max_fee_per_gas),
        "maxPriorityFeePerGas": hex_quantity(tx.max_priority_fee_per_gas),
        "hash": hex_data(tx.hash),
        "input": hex_data(tx.data),
        "nonce": hex_quantity(tx.nonce),
        "to": None if tx.to == b"" else hex_data(tx.to),
        "transactionIndex": None if index is None else hex_quantity(index),
        "value": hex_quantity(tx.value),
        "type": "0x2",
        "accessList": [{"address": hex_data(address),
                        "storageKeys": [hex_data(int(k).to_bytes(32, "big")) for k in keys]}
                       for address, keys in tx.access_list],
        "chainId": hex_quantity(tx.chain_id),
        "v": hex_quantity(tx.y_parity),
        "yParity": hex_quantity(tx.y_parity),
        "r": hex_quantity(tx.r),
        "s": hex_quantity(tx.s),
    }


def format_log(log: Log, block_hash: bytes, number: int, tx_hash: bytes, tx_index: int,
               log_index: int, removed: bool = False) -> dict[str, Any]:
    """An execution-apis log; ``log_index`` counts logs across the whole block."""
    return {
        "address": hex_data(log.address),
        "topics": [hex_data(t) for t in log.topics],
        "data": hex_data(log.data),
        "blockNumber": hex_quantity(number),
        "blockHash": hex_data(block_hash),
        "transactionHash": hex_data(tx_hash),
        "transactionIndex": hex_quantity(tx_index),
        "logIndex": hex_quantity(log_index),
        "removed": removed,
    }


def log_index_base(receipts: Sequence[Receipt], tx_index: int) -> int:
    """The block-wide index of the first log of transaction ``tx_index``."""
    return sum(len(r.logs) for r in receipts[:tx_index])


def format_receipt(receipt: Receipt, block_hash: bytes, number: int,
                   receipts: Sequence[Receipt]) -> dict[str, Any]:
    """An execution-apis receipt (``receipts``: all of the block's, for the log indices)."""
    base = log_index_base(receipts, receipt.tx_index)
    return {
        "transactionHash": hex_data(receipt.tx_hash),
        "transactionIndex": hex_quantity(receipt.tx_index),
        "blockHash": hex_data(block_hash),
        "blockNumber": hex_quantity(number),
        "from": hex_data(receipt.sender),
        "to": None if receipt.to is None else hex_data(receipt.to),
        "cumulativeGasUsed": hex_quantity(receipt.cumulative_gas_used),
        "gasUsed": hex_quantity(receipt.gas_used),
        "effectiveGasPrice": hex_quantity(receipt.effective_gas_price),
        "contractAddress": None if receipt.contract_address is None
        else hex_data(receipt.contract_address),
        "logs": [format_log(log, block_hash, number, receipt.tx_hash, receipt.tx_index,
                            base + i) for i, log in enumerate(receipt.logs)],
        "logsBloom": hex_data(receipt.bloom),
        "type": hex_quantity(receipt.tx_type),
        "status": "0x1" if receipt.status else "0x0",
    }

"""The ``eth_``, ``net_`` and ``web3_`` methods: chain, blocks, state, calls and transactions,
shaped as ethereum/execution-apis says, so web3.py, ethers and Foundry work unchanged.

Every handler translates its validated parameters into :class:`NodeBackend` calls and the
answer into :mod:`poqw.api.formatting` shapes; nothing here touches the node directly. The node
holds no user keys, so ``eth_sign``, ``eth_sendTransaction`` and ``personal_*`` do not exist.
A reverting ``eth_call`` or ``eth_estimateGas`` is error 3 with the revert data, as geth gives it.
"""

from __future__ import annotations

from typing import Annotated, Any

from eth_utils.crypto import keccak
from pydantic import AfterValidator, BeforeValidator

from poqw.api import gasprice
from poqw.api.backend import BlockData, NodeBackend
from poqw.api.formatting import (
    format_block,
    format_receipt,
    format_transaction,
    hex_data,
    hex_quantity,
)
from poqw.api.jsonrpc import (
    EXECUTION_REVERTED,
    NOT_READY,
    SERVER_ERROR,
    MethodRegistry,
    Param,
    RpcContext,
    RpcError,
    invalid_params,
)
from poqw.api.params import (
    Address,
    BlockId,
    BlockRef,
    CallRequest,
    Data,
    Hash32,
    Quantity,
)
from poqw.api.txerrors import transaction_error
from poqw.errors import DecodeError, ExecutionError, InvalidTransaction, MempoolRejected
from poqw.execution import decode_transaction
from poqw.execution.engine import CALL_INTERRUPTED

__all__ = ["LATEST", "register", "revert_error"]

LATEST = BlockRef(tag="latest")
_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string), Solidity's require/revert reason


def _slot(value: Any) -> int:
    """A storage slot: hex of at most 32 bytes; leading zeros allowed (cast pads to 32)."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise ValueError("expected a storage slot as 0x-prefixed hex")
    digits = value[2:]
    if not digits or len(digits) > 64:
        raise ValueError(f"a storage slot is 1 to 64 hex digits, got {len(digits)}")
    if digits.strip("0123456789abcdefABCDEF"):
        raise ValueError(f"invalid hex storage slot {value[:20]!r}")
    return int(digits, 16)


def _percentiles(values: list[float]) -> list[float]:
    if len(values) > 100:
        raise ValueError(f"at most 100 reward percentiles, got {len(values)}")
    for i, p in enumerate(values):
        if not 0 <= p <= 100:
            raise ValueError(f"percentile {p} is outside [0, 100]")
        if i and p < values[i - 1]:
            raise ValueError("reward percentiles must increase")
    return values


StorageSlot = Annotated[int, BeforeValidator(_slot)]
Percentiles = Annotated[list[float], AfterValidator(_percentiles)]


def _reason(output: bytes) -> str | None:
    """The reason string of a Solidity ``Error(string)`` revert, if that is what it is."""
    if not output.startswith(_ERROR_STRING) or len(output) < 4 + 64:
        return None
    body = output[4:]
    offset = int.from_bytes(body[:32], "big")
    if offset + 32 > len(body):
        return None
    length = int.from_bytes(body[offset:offset + 32], "big")
    text = body[offset + 32:offset + 32 + length]
    return text.decode("utf-8", "replace") if len(text) == length else None


def revert_error(exc: ExecutionError, gas: int, estimating: bool,
                 timeout: float = 5.0) -> RpcError:
    """geth's answer to a failed call: 3 with the revert data, or -32000 naming the failure."""
    if exc.reason == CALL_INTERRUPTED:
        return RpcError(SERVER_ERROR, f"execution aborted (timeout = {timeout:g}s)")
    if exc.reason == "execution reverted":
        reason = _reason(exc.output)
        message = "execution reverted" + (f": {reason}" if reason else "")
        return RpcError(EXECUTION_REVERTED, message, hex_data(exc.output))
    if "OutOfGas" in exc.reason:
        return RpcError(SERVER_ERROR, f"gas required exceeds allowance ({gas})" if estimating
                        else "out of gas")
    return RpcError(SERVER_ERROR, exc.reason)


def _check_funds(backend: NodeBackend, block: BlockRef, request: CallRequest) -> None:
    value = request.value or 0
    if value:
        sender = request.sender or bytes(20)
        have = backend.balance(block, sender)
        if have < value:
            raise RpcError(SERVER_ERROR, f"insufficient funds for gas * price + value: address "
                           f"0x{sender.hex()} have {have} want {value}")


def _transaction_at(ctx: RpcContext, data: BlockData | None, index: int) -> Any:
    if data is None or index >= len(data.block.transactions):
        return None
    receipts = ctx.backend.receipts(data.block_hash)
    tx = decode_transaction(data.block.transactions[index], ctx.backend.chain_id)[1]
    return format_transaction(tx, data, index, receipts[index] if index < len(receipts) else None)


def register(registry: MethodRegistry) -> None:
    """Add this module's methods to ``registry``."""
    _register_node(registry)
    _register_state(registry)
    _register_blocks(registry)
    _register_transactions(registry)


def _register_node(registry: MethodRegistry) -> None:
    @registry.method("web3_clientVersion", on_loop=True)
    def client_version(ctx: RpcContext, params: list[Any]) -> str:
        return ctx.backend.client_version

    @registry.method("web3_sha3", Param("data", Data), on_loop=True)
    def sha3(ctx: RpcContext, params: list[Any]) -> str:
        return hex_data(keccak(params[0]))

    @registry.method("eth_chainId", on_loop=True)
    def chain_id(ctx: RpcContext, params: list[Any]) -> str:
        return hex_quantity(ctx.backend.chain_id)

    @registry.method("net_version", on_loop=True)
    def net_version(ctx: RpcContext, params: list[Any]) -> str:
        return str(ctx.backend.chain_id)

    @registry.method("net_listening", on_loop=True)
    def net_listening(ctx: RpcContext, params: list[Any]) -> bool:
        return True

    @registry.method("net_peerCount", on_loop=True)
    def net_peer_count(ctx: RpcContext, params: list[Any]) -> str:
        return hex_quantity(len(ctx.backend.peers()))

    @registry.method("eth_syncing", on_loop=True)
    def syncing(ctx: RpcContext, params: list[Any]) -> Any:
        highest = ctx.backend.highest_peer_height()
        current = ctx.backend.tip().number
        if highest is None or highest <= current:
            return False
        return {"startingBlock": hex_quantity(current), "currentBlock": hex_quantity(current),
                "highestBlock": hex_quantity(highest)}

    @registry.method("eth_accounts", on_loop=True)
    def accounts(ctx: RpcContext, params: list[Any]) -> list[str]:
        return []  # the node holds no user keys

    @registry.method("eth_mining", on_loop=True)
    def mining(ctx: RpcContext, params: list[Any]) -> bool:
        return bool(ctx.backend.node.mining == "mining")

    @registry.method("eth_gasPrice")
    def gas_price(ctx: RpcContext, params: list[Any]) -> str:
        backend = ctx.backend
        return hex_quantity(backend.next_base_fee() + gasprice.suggested_tip(backend))

    @registry.method("eth_maxPriorityFeePerGas")
    def max_priority_fee(ctx: RpcContext, params: list[Any]) -> str:
        return hex_quantity(gasprice.suggested_tip(ctx.backend))

    @registry.method("eth_feeHistory", Param("blockCount", Quantity),
                     Param("newestBlock", BlockId), Param("rewardPercentiles",
                                                          Percentiles | None, None))
    def fee_history(ctx: RpcContext, params: list[Any]) -> dict[str, Any]:
        count, newest, percentiles = params
        if count < 1:
            raise invalid_params("0 (blockCount)", "must be at least 1")
        count = min(count, ctx.config.fee_history_max_blocks)
        number = ctx.backend.block_number(newest)
        tip = ctx.backend.tip().number
        if number is None or number > tip:
            raise RpcError(SERVER_ERROR, f"request beyond head block: requested {number}, "
                           f"head {tip}")
        return gasprice.fee_history(ctx.backend, count, number, percentiles)


def _register_state(registry: MethodRegistry) -> None:
    @registry.method("eth_blockNumber", on_loop=True)
    def block_number(ctx: RpcContext, params: list[Any]) -> str:
        return hex_quantity(ctx.backend.tip().number)

    @registry.method("eth_getBalance", Param("address", Address), Param("block", BlockId, LATEST))
    def get_balance(ctx: RpcContext, params: list[Any]) -> str:
        address, block = params
        return hex_quantity(ctx.backend.balance(block, address))

    @registry.method("eth_getTransactionCount", Param("address", Address),
                     Param("block", BlockId, LATEST))
    def get_transaction_count(ctx: RpcContext, params: list[Any]) -> str:
        address, block = params
        return hex_quantity(ctx.backend.nonce(block, address))

    @registry.method("eth_getCode", Param("address", Address), Param("block", BlockId, LATEST))
    def get_code(ctx: RpcContext, params: list[Any]) -> str:
        address, block = params
        return hex_data(ctx.backend.code(block, address))

    @registry.method("eth_getStorageAt", Param("address", Address),
                     Param("slot", StorageSlot),
                     Param("block", BlockId, LATEST))
    def get_storage_at(ctx: RpcContext, params: list[Any]) -> str:
        address, slot, block = params
        return hex_data(ctx.backend.storage(block, address, slot).to_bytes(32, "big"))

    def remembered_call(ctx: RpcContext, params: list[Any]) -> Any:
        """The answer to a call at the head already made (no value: no funds to check)."""
        request, block, overrides = params
        if overrides is not None or request.value:
            return NOT_READY
        gas = min(request.gas or ctx.config.gas_cap, ctx.config.gas_cap)
        output = ctx.backend.cached_call(block, request.to, request.calldata, request.sender,
                                         0, gas)
        return NOT_READY if output is None else hex_data(output)

    @registry.method("eth_call", Param("transaction", CallRequest),
                     Param("block", BlockId, LATEST), Param("stateOverrides", Any, None),
                     evm=True, fast=remembered_call)
    def call(ctx: RpcContext, params: list[Any]) -> str:
        request, block, overrides = params
        if overrides is not None:
            raise invalid_params("2 (stateOverrides)", "state overrides are not supported")
        gas = min(request.gas or ctx.config.gas_cap, ctx.config.gas_cap)
        _check_funds(ctx.backend, block, request)
        try:
            return hex_data(ctx.backend.call(block, request.to, request.calldata,
                                             request.sender, request.value or 0, gas))
        except ExecutionError as exc:
            raise revert_error(exc, gas, False, ctx.config.evm_timeout_s) from None

    @registry.method("eth_estimateGas", Param("transaction", CallRequest),
                     Param("block", BlockId, LATEST), Param("stateOverrides", Any, None),
                     evm=True)
    def estimate_gas(ctx: RpcContext, params: list[Any]) -> str:
        request, block, overrides = params
        if overrides is not None:
            raise invalid_params("2 (stateOverrides)", "state overrides are not supported")
        cap = min(request.gas or ctx.config.gas_cap, ctx.config.gas_cap)
        _check_funds(ctx.backend, block, request)
        try:
            return hex_quantity(ctx.backend.estimate_gas(block, request.to, request.calldata,
                                                         request.sender, request.value or 0,
                                                         cap))
        except ExecutionError as exc:
            raise revert_error(exc, cap, True, ctx.config.evm_timeout_s) from None


def _register_blocks(registry: MethodRegistry) -> None:
    def block_json(ctx: RpcContext, data: BlockData | None, full: bool) -> Any:
        if data is None:
            return None
        return format_block(data, ctx.backend.receipts(data.block_hash), full,
                            ctx.backend.chain_id)

    @registry.method("eth_getBlockByNumber", Param("block", BlockId),
                     Param("fullTransactions", bool, False))
    def block_by_number(ctx: RpcContext, params: list[Any]) -> Any:
        block, full = params
        return block_json(ctx, ctx.backend.block(block), full)

    @registry.method("eth_getBlockByHash", Param("blockHash", Hash32),
                     Param("fullTransactions", bool, False))
    def block_by_hash(ctx: RpcContext, params: list[Any]) -> Any:
        block_hash, full = params
        return block_json(ctx, ctx.backend.block(BlockRef(block_hash=block_hash)), full)

    @registry.method("eth_getBlockTransactionCountByNumber", Param("block", BlockId))
    def count_by_number(ctx: RpcContext, params: list[Any]) -> Any:
        data = ctx.backend.block(params[0])
        return None if data is None else hex_quantity(len(data.block.transactions))

    @registry.method("eth_getBlockTransactionCountByHash", Param("blockHash", Hash32))
    def count_by_hash(ctx: RpcContext, params: list[Any]) -> Any:
        data = ctx.backend.block(BlockRef(block_hash=params[0]))
        return None if data is None else hex_quantity(len(data.block.transactions))

    @registry.method("eth_getUncleCountByBlockNumber", Param("block", BlockId))
    def uncles_by_number(ctx: RpcContext, params: list[Any]) -> Any:
        return None if ctx.backend.stored_block(params[0]) is None else "0x0"

    @registry.method("eth_getUncleCountByBlockHash", Param("blockHash", Hash32))
    def uncles_by_hash(ctx: RpcContext, params: list[Any]) -> Any:
        found = ctx.backend.stored_block(BlockRef(block_hash=params[0]))
        return None if found is None else "0x0"

    @registry.method("eth_getBlockReceipts", Param("block", BlockId))
    def block_receipts(ctx: RpcContext, params: list[Any]) -> Any:
        stored = ctx.backend.stored_block(params[0])
        if stored is None:
            return None
        receipts = ctx.backend.receipts(stored.block_hash)
        return [format_receipt(r, stored.block_hash, stored.number, receipts) for r in receipts]


def _register_transactions(registry: MethodRegistry) -> None:
    @registry.method("eth_sendRawTransaction", Param("transaction", Data))
    def send_raw_transaction(ctx: RpcContext, params: list[Any]) -> str:
        raw = params[0]
        try:
            info = ctx.backend.send_raw_transaction(raw)
        except (DecodeError, InvalidTransaction, MempoolRejected) as exc:
            raise transaction_error(exc, raw, ctx.backend.chain_id) from None
        return hex_data(info.tx_hash)

    @registry.method("eth_getTransactionByHash", Param("transactionHash", Hash32))
    def transaction_by_hash(ctx: RpcContext, params: list[Any]) -> Any:
        found = ctx.backend.find_transaction(params[0])
        if found is not None:
            return _transaction_at(ctx, found.block, found.index)
        pending = ctx.backend.pending_transaction(params[0])
        if pending is None:
            return None
        tx = decode_transaction(pending.raw, ctx.backend.chain_id)[1]
        return format_transaction(tx, None, None, None)

    @registry.method("eth_getTransactionReceipt", Param("transactionHash", Hash32))
    def receipt(ctx: RpcContext, params: list[Any]) -> Any:
        found = ctx.backend.find_transaction(params[0])
        if found is None:
            return None
        receipts = ctx.backend.receipts(found.block.block_hash)
        return format_receipt(found.receipt, found.block.block_hash, found.block.number,
                              receipts)

    @registry.method("eth_getTransactionByBlockNumberAndIndex", Param("block", BlockId),
                     Param("index", Quantity))
    def by_number_and_index(ctx: RpcContext, params: list[Any]) -> Any:
        return _transaction_at(ctx, ctx.backend.block(params[0]), params[1])

    @registry.method("eth_getTransactionByBlockHashAndIndex", Param("blockHash", Hash32),
                     Param("index", Quantity))
    def by_hash_and_index(ctx: RpcContext, params: list[Any]) -> Any:
        return _transaction_at(ctx, ctx.backend.block(BlockRef(block_hash=params[0])),
                               params[1])

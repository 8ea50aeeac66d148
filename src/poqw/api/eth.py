"""The ``eth_``, ``net_`` and ``web3_`` methods: chain, blocks, state, calls and transactions,
shaped as ethereum/execution-apis says, so web3.py, ethers and Foundry work unchanged.

Every handler translates its validated parameters into one :class:`NodeBackend` call and the
answer into :mod:`poqw.api.formatting` shapes; nothing here touches the node directly. The node
holds no user keys, so ``eth_sign``, ``eth_sendTransaction`` and ``personal_*`` do not exist.
"""

from __future__ import annotations

from typing import Any

from poqw.api.formatting import hex_data, hex_quantity
from poqw.api.jsonrpc import MethodRegistry, Param, RpcContext
from poqw.api.params import Address, BlockId, BlockRef

__all__ = ["LATEST", "register"]

LATEST = BlockRef(tag="latest")


def register(registry: MethodRegistry) -> None:
    """Add this module's methods to ``registry``."""

    @registry.method("web3_clientVersion", on_loop=True)
    def client_version(ctx: RpcContext, params: list[Any]) -> str:
        return ctx.backend.client_version

    @registry.method("eth_chainId", on_loop=True)
    def chain_id(ctx: RpcContext, params: list[Any]) -> str:
        return hex_quantity(ctx.backend.chain_id)

    @registry.method("net_version", on_loop=True)
    def net_version(ctx: RpcContext, params: list[Any]) -> str:
        return str(ctx.backend.chain_id)

    @registry.method("eth_blockNumber")
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

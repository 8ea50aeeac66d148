"""The ``poqw_`` methods: what a PoQW node has that an Ethereum node has not (proofs of quantum
work, difficulty, the miner, peers).

Byte strings are hex data and numbers are JSON integers unless they may exceed 2**53 (work,
ticket targets), which are hex quantities.
"""

from __future__ import annotations

from typing import Any

from poqw.api.formatting import hex_data
from poqw.api.jsonrpc import MethodRegistry, RpcContext

__all__ = ["register"]


def register(registry: MethodRegistry) -> None:
    """Add this module's methods to ``registry``."""

    @registry.method("poqw_nodeInfo")
    def node_info(ctx: RpcContext, params: list[Any]) -> dict[str, Any]:
        backend = ctx.backend
        node = backend.node
        tip = backend.tip()
        return {"name": node.config.global_.node_name, "client": backend.client_version,
                "genesis": node.genesis.name, "chainId": backend.chain_id,
                "genesisHash": hex_data(node.genesis_hash()), "height": tip.number,
                "head": hex_data(tip.block_hash), "p2pPort": backend.p2p_port(),
                "rpc": backend.rpc_url}

"""Settings of the node's HTTP API: where it listens, CORS, and the limits that keep one client
from starving the others.

:class:`RpcConfig` is built from the node's TOML ``[global]`` keys ``rpc`` (on/off), ``rpc_host``,
``rpc_port`` and ``rpc_cors`` (the CLI flags ``--rpc-host``, ``--rpc-port`` and ``--no-rpc``
override them); the limits are fixed defaults that tests may lower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_RPC_PORT", "RpcConfig", "rpc_config_from"]

DEFAULT_RPC_PORT = 8545


@dataclass(frozen=True)
class RpcConfig:
    """Where the JSON-RPC server listens and what it accepts.

    ``cors_origins`` empty means no CORS headers at all (browsers on other origins are refused);
    ``("*",)`` allows every origin. ``safe_depth`` and ``finalized_depth`` are the confirmation
    depths behind the ``safe`` and ``finalized`` block tags (``finalized_depth`` 0: the genesis's
    reorg warning depth). ``gas_cap`` and ``evm_timeout_s`` bound one ``eth_call`` or
    ``eth_estimateGas`` (geth's defaults: 50M gas, 5 s)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_RPC_PORT
    enabled: bool = True
    cors_origins: tuple[str, ...] = ()
    max_connections: int = 256
    max_body_bytes: int = 5 * 1024 * 1024
    max_batch: int = 100
    max_response_bytes: int = 32 * 1024 * 1024
    logs_max_blocks: int = 10_000
    logs_max_results: int = 10_000
    max_filters_per_connection: int = 64
    max_subscriptions_per_connection: int = 64
    filter_ttl_s: float = 300.0
    fee_history_max_blocks: int = 1024
    gas_cap: int = 50_000_000
    evm_timeout_s: float = 5.0
    safe_depth: int = 6
    finalized_depth: int = 0


def rpc_config_from(global_config: Any, **changes: Any) -> RpcConfig:
    """The API settings of a node's ``[global]`` section (:class:`poqw.node.config.GlobalConfig`)
    with ``changes`` (e.g. smaller limits in tests) laid over them."""
    values: dict[str, Any] = {
        "host": global_config.rpc_host, "port": global_config.rpc_port,
        "enabled": global_config.rpc, "cors_origins": tuple(global_config.rpc_cors),
    }
    values.update(changes)
    return RpcConfig(**values)

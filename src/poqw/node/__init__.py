"""The poqw node: storage, chain state and reorgs, mempool, miner loop and configuration.

:class:`Node` wires them over one data directory; :class:`Blockchain` imports and validates
blocks and keeps the canonical chain by cumulative work; :class:`Mempool` holds transactions;
:class:`Miner` solves this node's puzzles and seals blocks; :func:`load_config` reads the TOML
config, whose secrets are :class:`Secret` values that never print themselves. Names are loaded
on first use, so ``poqw.node.config`` stays light (the EVM loads only with the chain).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from poqw.node.blockchain import INITIAL_BASE_FEE, Blockchain, ImportResult, OrphanPool
    from poqw.node.config import PASSPHRASE_ENV, NodeConfig, Secret, load_config
    from poqw.node.mempool import Mempool, MempoolLimits, effective_tip
    from poqw.node.miner import Miner, PuzzleSolver, make_solver
    from poqw.node.service import CHAIN_DB, STATE_DB, Node, resolve_genesis
    from poqw.node.storage import ChainStore, MinerStats, StoredBlock

_LAZY = {
    "INITIAL_BASE_FEE": "blockchain", "Blockchain": "blockchain", "ImportResult": "blockchain",
    "OrphanPool": "blockchain", "PASSPHRASE_ENV": "config", "NodeConfig": "config",
    "Secret": "config", "load_config": "config", "Mempool": "mempool",
    "MempoolLimits": "mempool", "effective_tip": "mempool", "Miner": "miner",
    "PuzzleSolver": "miner", "make_solver": "miner", "CHAIN_DB": "service",
    "STATE_DB": "service", "Node": "service", "resolve_genesis": "service",
    "ChainStore": "storage", "MinerStats": "storage", "StoredBlock": "storage",
}

__all__ = [
    "CHAIN_DB",
    "INITIAL_BASE_FEE",
    "PASSPHRASE_ENV",
    "STATE_DB",
    "Blockchain",
    "ChainStore",
    "ImportResult",
    "Mempool",
    "MempoolLimits",
    "Miner",
    "MinerStats",
    "Node",
    "NodeConfig",
    "OrphanPool",
    "PuzzleSolver",
    "Secret",
    "StoredBlock",
    "effective_tip",
    "load_config",
    "make_solver",
    "resolve_genesis",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"poqw.node.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'poqw.node' has no attribute {name!r}")

"""A read-only summary of a node's chain, safe to take while the node runs.

:func:`chain_info` opens ``chain.sqlite`` read-only (SQLite WAL lets it read the last committed
state while the node writes), reloads the genesis the database was created with, and reports the
tip, its cumulative work, the difficulty the next block must meet (energy bound, ticket target
and their work) and the miners' records. It
holds only public chain data: no configuration, so no secret can appear in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from poqw.chain import block_work, decode_header, load_genesis, next_difficulty, ticket_work
from poqw.crypto.ecdsa import to_checksum_address
from poqw.errors import StorageError
from poqw.node.service import CHAIN_DB
from poqw.node.storage import ChainStore, StoreView

__all__ = ["chain_info"]


def chain_info(datadir: str | Path) -> dict[str, Any]:
    """Height, tip, work, bounds and per-miner statistics of the chain in ``datadir``."""
    path = Path(datadir) / CHAIN_DB
    store = ChainStore.open_read_only(path)
    try:
        raw_genesis = store.get_meta("genesis")
        tip_hash = store.tip_hash()
        if raw_genesis is None or tip_hash is None:
            raise StorageError(f"{path} holds no chain yet")
        genesis = load_genesis(raw_genesis)
        tip = store.get(tip_hash)
        if tip is None:
            raise StorageError(f"{path}: the tip block is missing")
        header = decode_header(tip.header)
        view = StoreView(store)
        following = next_difficulty(genesis, header, view)
        return {
            "genesis": genesis.name,
            "chain_id": genesis.chain_id,
            "genesis_id": "0x" + genesis.genesis_id.hex(),
            "height": tip.number,
            "tip": "0x" + tip_hash.hex(),
            "tip_timestamp": int(header.timestamp),
            "tip_miner": to_checksum_address(bytes(header.miner)),
            "total_work": tip.total_work,
            "tip_work": block_work(genesis, header),
            "tip_energy_bound": int(header.energy_bound),
            "next_energy_bound": following.energy_bound,
            "next_ticket_target": f"0x{following.ticket_target:064x}",
            "next_work": ticket_work(genesis.difficulty, following.energy_bound,
                                     following.ticket_target),
            "state_root": "0x" + tip.state_root.hex(),
            "blocks_stored": store.block_count(),
            "miners": [
                {"address": to_checksum_address(m.miner), "blocks_won": m.blocks_won,
                 "best_energy": m.best_energy, "current_streak": m.current_streak,
                 "last_block": m.last_block}
                for m in store.miner_stats()
            ],
        }
    finally:
        store.close()

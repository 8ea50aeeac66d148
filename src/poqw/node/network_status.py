"""What the network service reports: ``network.json`` for tools, and STATS answers for peers.

``network.json`` in the data directory holds where the node listens, its peers and their
capabilities, its tip and counters; it is rewritten atomically at the tick after anything in it
changed. A STATS answer carries the tip, the peer count and the same counters.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from poqw.node.capabilities import capability_json
from poqw.node.service import Node

if TYPE_CHECKING:
    from poqw.node.network import NetworkService

__all__ = ["network_status", "orphan_stats", "stats_of", "write_status"]

log = logging.getLogger("poqw.node.network")  # one logger for the whole network glue


def stats_of(net: NetworkService) -> dict[str, int | str]:
    tip = net.node.tip()
    return {"height": tip.number, "tip": bytes(tip.block_hash).hex(),
            "peers": len(net.peers), **net.stats, **orphan_stats(net.node)}


def orphan_stats(node: Node) -> dict[str, int]:
    pool = node.chain.orphans
    return {"orphans": len(pool), "orphan_bytes": pool.size_bytes}


def network_status(net: NetworkService) -> dict[str, Any]:
    """What ``network.json`` holds: where we listen, who we talk to, our tip."""
    tip = net.node.tip()
    return {
        "node_id": net.local.node_id.hex(), "host": net.host, "port": net.port,
        "chain_id": net.local.chain_id, "genesis_hash": net.local.genesis_hash.hex(),
        "pid": os.getpid(), "peer_count": len(net.peers),
        "peers": [{"node_id": k.hex(), "address": list(s.remote_address or ()),
                   "capability": net.capabilities.json_of(k)}
                  for k, s in net.peers.items()],
        "capability": None if net.capabilities.local is None
        else capability_json(net.capabilities.local),
        "capabilities_refused": net.capabilities.refused,
        "height": tip.number, "tip": "0x" + bytes(tip.block_hash).hex(),
        "total_work": tip.total_work, "updated": time.time(), "running": not net._closing,
        "mining": net.node.mining, **net.stats, **orphan_stats(net.node),
        **net.node.key_status(), **net.status_extra,
    }


def write_status(net: NetworkService) -> None:
    net._dirty = False
    tmp = net.status_path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(net.status(), indent=1))
        tmp.replace(net.status_path)
    except OSError as exc:
        log.warning("cannot write %s: %s", net.status_path, exc)

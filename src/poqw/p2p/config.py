"""What a node tells the peer layer about itself, and the knobs of the peer protocol.

``LocalNode`` is who we are (node key, chain, listen address); ``ChainTip`` is our best chain as
the node last reported it; ``PeerConfig`` holds the timers, rate limits and ban policy;
``SeenHashes`` is the bounded set, shared by all connections, that makes gossip fetched once.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from dataclasses import dataclass, field

from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.p2p.policing import TrafficClass

__all__ = ["ChainTip", "LocalNode", "PeerConfig", "SeenHashes"]


@dataclass(frozen=True)
class ChainTip:
    height: int
    tip: bytes
    work: int


@dataclass(frozen=True)
class LocalNode:
    """Who we are: the node key, the chain we follow and where we listen."""

    key: EcdsaPrivateKey
    chain_id: int
    genesis_hash: bytes
    listen_host: str = "127.0.0.1"
    listen_port: int = 20049
    agent: str = "poqw/0.1"

    @functools.cached_property
    def node_id(self) -> bytes:
        return self.key.public_key().compressed


def _default_rates() -> dict[TrafficClass, tuple[float, float]]:
    return {
        TrafficClass.CONTROL: (2.0, 20.0),
        TrafficClass.GOSSIP: (20.0, 100.0),
        TrafficClass.REQUEST: (20.0, 100.0),
        TrafficClass.PUSH: (5.0, 20.0),
        # a record after the join and on each change: a few per minute is plenty
        TrafficClass.CAPABILITY: (1.0 / 20.0, 4.0),
    }


@dataclass(frozen=True)
class PeerConfig:
    """Timers (seconds), limits (messages per second, burst) and the ban policy."""

    heartbeat_interval: float = 15.0
    silence_timeout: float = 60.0
    handshake_timeout: float = 10.0
    request_timeout: float = 20.0
    max_outstanding_requests: int = 64
    max_incoming_requests: int = 64
    ban_threshold: float = 100.0
    ban_duration: float = 24 * 3600.0
    score_decay_per_second: float = 1.0 / 60.0
    known_hashes: int = 4096
    # per-address budgets (rate per second, burst) of incoming connections and of new node keys;
    # what garbage before the join drains from the first, and a ban of a proven key from the
    # second (see AddressLimits)
    address_connections: tuple[float, float] = (2.0, 40.0)
    address_identities: tuple[float, float] = (1.0 / 60.0, 12.0)
    address_strike_cost: float = 10.0
    address_ban_cost: float = 2.0
    rate_limits: dict[TrafficClass, tuple[float, float]] = field(default_factory=_default_rates)


class SeenHashes:
    """A bounded, insertion-ordered set of hashes; share one among connections to fetch once."""

    def __init__(self, capacity: int = 65536) -> None:
        self.capacity = capacity
        self._items: OrderedDict[bytes, None] = OrderedDict()

    def add(self, item: bytes) -> bool:
        """Record ``item``; ``True`` if it was new."""
        if item in self._items:
            self._items.move_to_end(item)
            return False
        self._items[item] = None
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return True

    def forget(self, item: bytes) -> None:
        self._items.pop(item, None)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)

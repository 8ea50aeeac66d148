"""The node's head changes, turned into what log queries, filters and subscriptions consume.

:class:`BackendChain` is the :class:`~poqw.api.logs.LogChain` read surface over the
:class:`~poqw.api.backend.NodeBackend`. :class:`HeadFeed` (one per backend, :func:`feed_of`)
owns the node-wide :class:`~poqw.api.filters.FilterRegistry` and bloom cache; on every head
change (on the event loop) it reads the changed blocks once, with receipts only when some log
filter or subscription wants them, and hands them to the filters and to each WebSocket's
listener.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from poqw.api.formatting import format_block
from poqw.api.params import BlockRef
from poqw.chain import Header
from poqw.execution import Receipt, TransactionInfo

from .filters import ChangedBlock, FilterRegistry, HeadChange, changed_blocks
from .logs import BloomCache, LogLimits

if TYPE_CHECKING:
    from poqw.api.backend import NodeBackend
    from poqw.api.config import RpcConfig
    from poqw.node import ImportResult

__all__ = ["BackendChain", "HeadFeed", "HeadListener", "feed_of"]

log = logging.getLogger("poqw.api")


class BackendChain:
    """:class:`~poqw.api.logs.LogChain` over the node backend (safe from worker threads)."""

    def __init__(self, backend: NodeBackend) -> None:
        self.backend = backend

    def head_number(self) -> int:
        return self.backend.tip().number

    def tag_number(self, tag: str) -> int:
        number = self.backend.block_number(BlockRef(tag=tag))
        return 0 if number is None else number

    def canonical_hash(self, number: int) -> bytes | None:
        return self.backend.canonical_hash(number)

    def header(self, block_hash: bytes) -> Header | None:
        return self.backend.header(block_hash)

    def receipts(self, block_hash: bytes) -> Sequence[Receipt] | None:
        return self.backend.receipts(block_hash)


class HeadListener:
    """One consumer of head changes and new pending transactions (a WebSocket's
    subscriptions)."""

    def __init__(self, wants_logs: Callable[[], bool],
                 deliver: Callable[[HeadChange, Sequence[ChangedBlock]], None],
                 deliver_pending: Callable[[Sequence[bytes]], None] | None = None) -> None:
        self.wants_logs = wants_logs
        self.deliver = deliver
        self.deliver_pending = deliver_pending


class HeadFeed:
    """See the module docstring. ``clock`` gives the filters' ``now`` (monotonic seconds)."""

    def __init__(self, backend: NodeBackend, config: RpcConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.backend = backend
        self.chain = BackendChain(backend)
        self.blooms = BloomCache()
        self.limits = LogLimits(config.logs_max_blocks, config.logs_max_results)
        self.filters = FilterRegistry(ttl_s=config.filter_ttl_s,
                                      max_per_owner=config.max_filters_per_connection)
        self.clock = clock
        self.listeners: list[HeadListener] = []
        self._heads: OrderedDict[bytes, Any] = OrderedDict()
        self._unsubscribe = backend.subscribe_heads(self.on_head)
        self._pending_loop: asyncio.AbstractEventLoop | None = None

    def now(self) -> float:
        return self.clock()

    def on_head(self, result: ImportResult) -> None:
        change = HeadChange(tuple(b.hash() for b in result.connected),
                            tuple(b.hash() for b in result.disconnected))
        if not change.connected and not change.disconnected:
            return
        if not len(self.filters) and not self.listeners:
            return
        wants_logs = self.filters.wants_logs() or any(x.wants_logs() for x in self.listeners)
        blocks = changed_blocks(self.chain, change, wants_logs)
        self.filters.on_head(change, blocks, self.now())
        for listener in list(self.listeners):
            try:
                listener.deliver(change, blocks)
            except Exception as exc:  # one connection's failure must not stop the others
                log.error("head listener failed: %s", exc, exc_info=exc)

    def follow_pending_transactions(self) -> None:
        """Start hearing of newly admitted transactions (call on the event loop, when the
        first pending-transaction filter or subscription appears)."""
        if self._pending_loop is None:
            self._pending_loop = asyncio.get_running_loop()
            self.backend.node.mempool.listeners.append(self._on_admitted)

    def _on_admitted(self, info: TransactionInfo) -> None:
        """In the admitting thread (a worker of eth_sendRawTransaction, or the network's)."""
        loop = self._pending_loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.on_pending, (bytes(info.tx_hash),))

    def on_pending(self, tx_hashes: Sequence[bytes]) -> None:
        self.filters.on_pending_transactions(tx_hashes, self.now())
        for listener in list(self.listeners):
            if listener.deliver_pending is None:
                continue
            try:
                listener.deliver_pending(tx_hashes)
            except Exception as exc:  # one connection's failure must not stop the others
                log.error("pending-transaction listener failed: %s", exc, exc_info=exc)

    def head_json(self, block_hash: bytes) -> Any:
        """The newHeads result for a block (made once for every WebSocket)."""
        cached = self._heads.get(block_hash)
        if cached is None:
            stored = self.backend.node.store.get(block_hash)
            if stored is None:
                return None
            cached = format_block(self.backend.block_data(stored),
                                  self.backend.receipts(block_hash), False,
                                  self.backend.chain_id)
            self._heads[block_hash] = cached
            while len(self._heads) > 64:
                self._heads.popitem(last=False)
        return cached

    def close(self) -> None:
        self._unsubscribe()
        if self._pending_loop is not None:
            self.backend.node.mempool.listeners.remove(self._on_admitted)
            self._pending_loop = None


_FEEDS: weakref.WeakKeyDictionary[NodeBackend, HeadFeed] = weakref.WeakKeyDictionary()
_FEEDS_LOCK = threading.Lock()


def feed_of(backend: NodeBackend, config: RpcConfig) -> HeadFeed:
    """The one :class:`HeadFeed` of ``backend`` (made on first use)."""
    with _FEEDS_LOCK:
        feed = _FEEDS.get(backend)
        if feed is None:
            feed = _FEEDS[backend] = HeadFeed(backend, config)
        return feed

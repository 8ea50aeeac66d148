"""Polled filters: eth_newFilter, eth_newBlockFilter, eth_newPendingTransactionFilter, then
eth_getFilterChanges / eth_getFilterLogs / eth_uninstallFilter.

A :class:`FilterRegistry` holds every installed filter of a node and is fed head changes
(:class:`HeadChange`: blocks connected and, on a reorg, disconnected) and new pending
transactions; each filter buffers what its owner has not polled yet. The registry is bounded
three ways: filters per owner (connection), changes buffered per filter (a filter whose buffer
overflows is removed and its next poll says why), and idle time (``now`` is passed in).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from poqw.api.jsonrpc import MethodRegistry, RpcContext, invalid_params
from poqw.chain import Header
from poqw.errors import QueryLimitExceeded, QueryRejected, UnknownFilter
from poqw.execution import Receipt

from .logs import (
    LogChain,
    LogFilter,
    MatchedLog,
    block_logs,
    filter_param,
    find_logs,
    log_json,
    rpc_error,
)

__all__ = [
    "DEFAULT_FILTER_TTL_S",
    "DEFAULT_MAX_FILTERS_PER_OWNER",
    "DEFAULT_MAX_PENDING_CHANGES",
    "ChangedBlock",
    "FilterKind",
    "FilterRegistry",
    "HeadChange",
    "changed_blocks",
    "new_filter_id",
    "register",
]

DEFAULT_FILTER_TTL_S = 300.0
DEFAULT_MAX_FILTERS_PER_OWNER = 32
DEFAULT_MAX_FILTERS = 4096
DEFAULT_MAX_PENDING_CHANGES = 10_000


def new_filter_id() -> str:
    """A filter or subscription id: 16 random bytes as hex (not guessable by other clients)."""
    return "0x" + secrets.token_hex(16)


@dataclass(frozen=True)
class HeadChange:
    """The canonical blocks a head change gained and lost, by hash, oldest first."""

    connected: tuple[bytes, ...]
    disconnected: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class ChangedBlock:
    """A block of a head change with its receipts, read once for every filter."""

    block_hash: bytes
    header: Header
    receipts: Sequence[Receipt]
    removed: bool

    def logs(self, criteria: LogFilter) -> list[MatchedLog]:
        return block_logs(self.block_hash, self.header, self.receipts, criteria, self.removed)


def changed_blocks(chain: LogChain, change: HeadChange,
                   with_receipts: bool = True) -> list[ChangedBlock]:
    """Disconnected blocks newest first (their logs come back ``removed``), then connected ones
    oldest first: the order geth sends them in. Receipts are read only ``with_receipts``, and
    only for blocks that used gas."""
    out = []
    for block_hash, removed in [*((h, True) for h in reversed(change.disconnected)),
                                *((h, False) for h in change.connected)]:
        header = chain.header(block_hash)
        if header is None:
            continue
        receipts = chain.receipts(block_hash) if with_receipts and header.gas_used else ()
        out.append(ChangedBlock(block_hash, header, receipts or (), removed))
    return out


class FilterKind(Enum):
    LOGS = "logs"
    BLOCKS = "blocks"
    PENDING_TRANSACTIONS = "pending transactions"


@dataclass
class _Filter:
    kind: FilterKind
    owner: Hashable
    last_poll: float
    criteria: LogFilter | None = None
    pending: list[Any] = field(default_factory=list)


def in_range(criteria: LogFilter, number: int) -> bool:
    """Whether a new block at ``number`` is inside a filter's fixed bounds (tags follow the
    head, so they bound nothing)."""
    if criteria.block_hash is not None:
        return False
    low = criteria.from_block if isinstance(criteria.from_block, int) else 0
    high = criteria.to_block if isinstance(criteria.to_block, int) else None
    return number >= low and (high is None or number <= high)


class FilterRegistry:
    """Installed filters (see the module docstring). Not thread-safe: call it from the event
    loop only."""

    def __init__(self, *, ttl_s: float = DEFAULT_FILTER_TTL_S,
                 max_per_owner: int = DEFAULT_MAX_FILTERS_PER_OWNER,
                 max_filters: int = DEFAULT_MAX_FILTERS,
                 max_pending: int = DEFAULT_MAX_PENDING_CHANGES,
                 new_id: Callable[[], str] = new_filter_id) -> None:
        self.ttl_s = ttl_s
        self.max_per_owner = max_per_owner
        self.max_filters = max_filters
        self.max_pending = max_pending
        self._new_id = new_id
        self._filters: dict[str, _Filter] = {}
        self._dropped: dict[str, str] = {}  # id -> why, reported once at the next poll

    def __len__(self) -> int:
        return len(self._filters)

    def owned_by(self, owner: Hashable) -> int:
        return sum(1 for f in self._filters.values() if f.owner == owner)

    # --- installing -------------------------------------------------------------------------

    def _install(self, kind: FilterKind, owner: Hashable, now: float,
                 criteria: LogFilter | None = None) -> str:
        self.expire(now)
        if self.owned_by(owner) >= self.max_per_owner:
            raise QueryLimitExceeded(
                f"too many filters: this connection has {self.max_per_owner} installed, the "
                "most it may; uninstall one (eth_uninstallFilter) or let one expire",
                self.max_per_owner)
        if len(self._filters) >= self.max_filters:
            raise QueryLimitExceeded(f"too many filters: the node holds {self.max_filters}, the "
                                     "most it serves; try again later", self.max_filters)
        filter_id = self._new_id()
        self._filters[filter_id] = _Filter(kind, owner, now, criteria)
        return filter_id

    def install_logs(self, owner: Hashable, criteria: LogFilter, now: float) -> str:
        return self._install(FilterKind.LOGS, owner, now, criteria)

    def install_blocks(self, owner: Hashable, now: float) -> str:
        return self._install(FilterKind.BLOCKS, owner, now)

    def install_pending_transactions(self, owner: Hashable, now: float) -> str:
        return self._install(FilterKind.PENDING_TRANSACTIONS, owner, now)

    def uninstall(self, filter_id: str) -> bool:
        self._dropped.pop(filter_id, None)
        return self._filters.pop(filter_id, None) is not None

    def drop_owner(self, owner: Hashable) -> int:
        """Remove every filter of ``owner`` (a WebSocket that closed); how many there were."""
        ids = [i for i, f in self._filters.items() if f.owner == owner]
        for filter_id in ids:
            del self._filters[filter_id]
        return len(ids)

    def expire(self, now: float) -> list[str]:
        """Remove the filters not polled for ``ttl_s`` seconds; their ids."""
        idle = [i for i, f in self._filters.items() if now - f.last_poll > self.ttl_s]
        for filter_id in idle:
            del self._filters[filter_id]
            self._remember_drop(filter_id, f"filter {filter_id} expired: not polled for "
                                f"{self.ttl_s:g} s")
        return idle

    def _remember_drop(self, filter_id: str, why: str) -> None:
        self._dropped[filter_id] = why
        while len(self._dropped) > self.max_filters:
            del self._dropped[next(iter(self._dropped))]

    # --- polling ----------------------------------------------------------------------------

    def _get(self, filter_id: str, now: float) -> _Filter:
        self.expire(now)
        found = self._filters.get(filter_id)
        if found is None:
            why = self._dropped.pop(filter_id, None)
            raise UnknownFilter(filter_id, why or "filter not found")
        found.last_poll = now
        return found

    def kind(self, filter_id: str, now: float) -> FilterKind:
        return self._get(filter_id, now).kind

    def criteria(self, filter_id: str, now: float) -> LogFilter:
        """The criteria of a log filter (for eth_getFilterLogs)."""
        found = self._get(filter_id, now)
        if found.criteria is None:
            raise UnknownFilter(filter_id, f"filter {filter_id} is a {found.kind.value} filter, "
                                "not a log filter")
        return found.criteria

    def changes(self, filter_id: str, now: float) -> list[Any]:
        """What arrived since the last poll, JSON-shaped: logs for a log filter, block or
        transaction hashes for the others."""
        found = self._get(filter_id, now)
        pending, found.pending = found.pending, []
        return pending

    # --- feeding ----------------------------------------------------------------------------

    def _push(self, filter_id: str, found: _Filter, items: list[Any]) -> None:
        if len(found.pending) + len(items) > self.max_pending:
            del self._filters[filter_id]
            self._remember_drop(filter_id, f"filter {filter_id} was removed: more than "
                                f"{self.max_pending} changes waited unpolled; poll more often "
                                "or use eth_getLogs")
            return
        found.pending.extend(items)

    def wants_logs(self) -> bool:
        """Whether some log filter is installed (head changes then need receipts)."""
        return any(f.kind is FilterKind.LOGS for f in self._filters.values())

    def on_head(self, change: HeadChange, blocks: Sequence[ChangedBlock], now: float) -> None:
        """Buffer a head change for every filter; ``blocks`` are the change's blocks as
        :func:`changed_blocks` reads them (with receipts when :meth:`wants_logs`)."""
        self.expire(now)
        for filter_id, found in list(self._filters.items()):
            if found.kind is FilterKind.BLOCKS:
                self._push(filter_id, found, ["0x" + h.hex() for h in change.connected])
            elif found.kind is FilterKind.LOGS and found.criteria is not None:
                criteria = found.criteria
                items = [log_json(m) for b in blocks if in_range(criteria, b.header.number)
                         for m in b.logs(criteria)]
                if items:
                    self._push(filter_id, found, items)

    def on_pending_transactions(self, tx_hashes: Sequence[bytes], now: float) -> None:
        self.expire(now)
        for filter_id, found in list(self._filters.items()):
            if found.kind is FilterKind.PENDING_TRANSACTIONS:
                self._push(filter_id, found, ["0x" + h.hex() for h in tx_hashes])


# --- JSON-RPC -------------------------------------------------------------------------------


def _filter_id(params: list[Any]) -> str:
    if len(params) != 1 or not isinstance(params[0], str):
        raise invalid_params("0 (filter id)", "expected one filter id string")
    return params[0]


def register(registry: MethodRegistry) -> None:
    """Add the eth_newFilter family to ``registry``. Filters are node-wide (any client may
    poll an id it knows); each connection (all HTTP clients together, or one WebSocket) may
    hold ``max_filters_per_connection``, and a WebSocket's filters go when it closes."""
    from poqw.api.headfeed import HeadFeed, feed_of

    def owner(ctx: RpcContext, feed: HeadFeed) -> int:
        connection = ctx.connection
        key = id(connection)
        if connection.kind != "http" and not connection.items.get("filters_owner"):
            connection.items["filters_owner"] = True

            def drop() -> None:
                feed.filters.drop_owner(key)
            connection.on_close.append(drop)
        return key

    @registry.method("eth_newFilter", raw_params=True, on_loop=True)
    def new_filter(ctx: RpcContext, params: list[Any]) -> str:
        criteria = filter_param(params)
        feed = feed_of(ctx.backend, ctx.config)
        try:
            return feed.filters.install_logs(owner(ctx, feed), criteria, feed.now())
        except QueryRejected as exc:
            raise rpc_error(exc) from None

    @registry.method("eth_newBlockFilter", on_loop=True)
    def new_block_filter(ctx: RpcContext, params: list[Any]) -> str:
        feed = feed_of(ctx.backend, ctx.config)
        try:
            return feed.filters.install_blocks(owner(ctx, feed), feed.now())
        except QueryRejected as exc:
            raise rpc_error(exc) from None

    @registry.method("eth_newPendingTransactionFilter", on_loop=True)
    def new_pending_transaction_filter(ctx: RpcContext, params: list[Any]) -> str:
        feed = feed_of(ctx.backend, ctx.config)
        try:
            filter_id = feed.filters.install_pending_transactions(owner(ctx, feed), feed.now())
        except QueryRejected as exc:
            raise rpc_error(exc) from None
        feed.follow_pending_transactions()
        return filter_id

    @registry.method("eth_getFilterChanges", raw_params=True, on_loop=True)
    def get_filter_changes(ctx: RpcContext, params: list[Any]) -> list[Any]:
        feed = feed_of(ctx.backend, ctx.config)
        try:
            return feed.filters.changes(_filter_id(params), feed.now())
        except QueryRejected as exc:
            raise rpc_error(exc) from None

    @registry.method("eth_getFilterLogs", raw_params=True)
    async def get_filter_logs(ctx: RpcContext, params: list[Any]) -> list[dict[str, Any]]:
        feed = feed_of(ctx.backend, ctx.config)
        try:
            criteria = feed.filters.criteria(_filter_id(params), feed.now())
            found = await asyncio.to_thread(find_logs, feed.chain, criteria, feed.limits,
                                            feed.blooms)
        except QueryRejected as exc:
            raise rpc_error(exc) from None
        return [log_json(m) for m in found]

    @registry.method("eth_uninstallFilter", raw_params=True, on_loop=True)
    def uninstall_filter(ctx: RpcContext, params: list[Any]) -> bool:
        return feed_of(ctx.backend, ctx.config).filters.uninstall(_filter_id(params))

"""eth_getLogs: the logs of the canonical chain that match an address and topic filter.

A :class:`LogFilter` is parsed once from the JSON filter object (address: one or a list; topics:
per position a value, an OR-list or null for any) and matched against each block's receipts.
PoQW headers carry no logs bloom, so :class:`BloomCache` keeps each block's bloom (the OR of its
receipts' blooms) by hash, blocks with no gas used are skipped from their header alone, and a
bloom that cannot match skips the receipts. Range and result limits raise
:class:`~poqw.errors.QueryLimitExceeded` naming the limit (geth and Infura's ``-32005``).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_utils.crypto import keccak

from poqw.api.formatting import format_log
from poqw.api.jsonrpc import MethodRegistry, RpcContext, RpcError, invalid_params, server_error
from poqw.chain import Header
from poqw.errors import InvalidQuery, QueryLimitExceeded, QueryRejected
from poqw.execution import Log, Receipt

__all__ = [
    "BLOCK_TAGS",
    "DEFAULT_MAX_BLOCK_RANGE",
    "DEFAULT_MAX_RESULTS",
    "LIMIT_EXCEEDED",
    "BloomCache",
    "LogChain",
    "LogFilter",
    "LogLimits",
    "MatchedLog",
    "block_logs",
    "find_logs",
    "log_json",
    "parse_block_spec",
    "parse_filter",
    "register",
    "rpc_error",
]

LIMIT_EXCEEDED = -32005  # geth/Infura: "query returned more than N results", "limit exceeded"
BLOCK_TAGS = ("latest", "earliest", "pending", "safe", "finalized")
DEFAULT_MAX_BLOCK_RANGE = 10_000
DEFAULT_MAX_RESULTS = 10_000
MAX_TOPICS = 4
MAX_OR_VALUES = 1024
"""Most addresses (or values at one topic position) one filter may list."""

_HEX = re.compile(r"0x[0-9a-fA-F]*")
_QUANTITY = re.compile(r"0x(0|[1-9a-fA-F][0-9a-fA-F]*)")

BlockSpec = int | str
"""A block number, or one of :data:`BLOCK_TAGS`."""


class LogChain(Protocol):
    """What a log query reads from the node (the API backend provides it)."""

    def head_number(self) -> int: ...

    def tag_number(self, tag: str) -> int:
        """The height a block tag (``latest``, ``safe``...) names now."""
        ...

    def canonical_hash(self, number: int) -> bytes | None: ...

    def header(self, block_hash: bytes) -> Header | None: ...

    def receipts(self, block_hash: bytes) -> Sequence[Receipt] | None: ...


@dataclass(frozen=True)
class LogLimits:
    """The most blocks one query may scan and the most logs it may return."""

    max_block_range: int = DEFAULT_MAX_BLOCK_RANGE
    max_results: int = DEFAULT_MAX_RESULTS


@dataclass(frozen=True)
class MatchedLog:
    """A log with where it sits; ``removed`` is true for a log of a block a reorg took away."""

    log: Log
    block_hash: bytes
    block_number: int
    block_timestamp: int
    tx_hash: bytes
    tx_index: int
    log_index: int
    removed: bool = False


def _bloom_bits(value: bytes) -> int:
    """The three bloom bits of ``value`` as one mask (Yellow Paper, section 4.3.1, M3:2048)."""
    digest = keccak(value)
    mask = 0
    for i in (0, 2, 4):
        mask |= 1 << (((digest[i] << 8) | digest[i + 1]) & 2047)
    return mask


@dataclass(frozen=True)
class LogFilter:
    """Which logs to match. An empty ``addresses`` matches any address; ``topics[i]`` of None
    matches any topic at position i, otherwise one of the listed values. ``block_hash`` (one
    block) excludes ``from_block``/``to_block``."""

    from_block: BlockSpec = "latest"
    to_block: BlockSpec = "latest"
    block_hash: bytes | None = None
    addresses: frozenset[bytes] = frozenset()
    topics: tuple[frozenset[bytes] | None, ...] = ()

    def matches(self, log: Log) -> bool:
        if self.addresses and log.address not in self.addresses:
            return False
        if len(self.topics) > len(log.topics):
            return False
        return all(wanted is None or topic in wanted
                   for wanted, topic in zip(self.topics, log.topics, strict=False))

    def bloom_masks(self) -> tuple[tuple[int, ...], ...]:
        """Per constrained field, the masks of its alternatives: a bloom can hold a match only
        if, for every field, it contains all the bits of at least one alternative."""
        fields: list[Iterable[bytes]] = []
        if self.addresses:
            fields.append(self.addresses)
        fields.extend(wanted for wanted in self.topics if wanted is not None)
        return tuple(tuple(_bloom_bits(v) for v in sorted(values)) for values in fields)


def bloom_may_match(bloom: int, masks: tuple[tuple[int, ...], ...]) -> bool:
    return all(any(bloom & m == m for m in alternatives) for alternatives in masks)


class BloomCache:
    """Block blooms by block hash (a block's receipts never change), the most recent
    ``capacity`` of them."""

    def __init__(self, capacity: int = 65_536) -> None:
        self.capacity = capacity
        self._blooms: OrderedDict[bytes, int] = OrderedDict()
        self._lock = threading.Lock()  # queries run in worker threads

    def get(self, block_hash: bytes) -> int | None:
        with self._lock:
            bloom = self._blooms.get(block_hash)
            if bloom is not None:
                self._blooms.move_to_end(block_hash)
            return bloom

    def put(self, block_hash: bytes, receipts: Sequence[Receipt]) -> int:
        bloom = 0
        for receipt in receipts:
            bloom |= int.from_bytes(receipt.bloom, "big")
        with self._lock:
            self._blooms[block_hash] = bloom
            if len(self._blooms) > self.capacity:
                self._blooms.popitem(last=False)
        return bloom

    def __len__(self) -> int:
        return len(self._blooms)


# --- parsing --------------------------------------------------------------------------------


def _data(param: str, value: Any, length: int) -> bytes:
    if not isinstance(value, str) or not _HEX.fullmatch(value) or len(value) != 2 + 2 * length:
        raise InvalidQuery(param, f"expected 0x and {2 * length} hex digits, got {value!r}")
    return bytes.fromhex(value[2:])


def parse_block_spec(param: str, value: Any) -> BlockSpec:
    """A block tag or hex quantity; None means ``latest``."""
    if value is None:
        return "latest"
    if isinstance(value, str) and value in BLOCK_TAGS:
        return value
    if isinstance(value, str) and _QUANTITY.fullmatch(value) and len(value) <= 18:
        return int(value, 16)
    raise InvalidQuery(param, f"expected a block number as hex or one of {', '.join(BLOCK_TAGS)}"
                       f", got {value!r}")


def _or_list(param: str, value: Any, length: int) -> frozenset[bytes]:
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_OR_VALUES:
        raise InvalidQuery(param, f"{len(items)} values, at most {MAX_OR_VALUES}")
    return frozenset(_data(f"{param}[{i}]" if isinstance(value, list) else param, item, length)
                     for i, item in enumerate(items))


def parse_filter(obj: Any, *, allow_range: bool = True) -> LogFilter:
    """The :class:`LogFilter` of a JSON-RPC filter object, raising
    :class:`~poqw.errors.InvalidQuery` naming the first bad field."""
    if obj is None:
        obj = {}
    if not isinstance(obj, dict):
        raise InvalidQuery("filter", f"expected an object, got {type(obj).__name__}")
    block_hash = obj.get("blockHash")
    has_range = obj.get("fromBlock") is not None or obj.get("toBlock") is not None
    if block_hash is not None and has_range:
        raise InvalidQuery("filter", "blockHash excludes fromBlock and toBlock")
    if block_hash is not None and not allow_range:
        raise InvalidQuery("blockHash", "not accepted here")
    address = obj.get("address")
    addresses = frozenset() if address is None else _or_list("address", address, 20)
    topics_value = obj.get("topics")
    if topics_value is None:
        topics_value = []
    if not isinstance(topics_value, list):
        raise InvalidQuery("topics", f"expected a list, got {type(topics_value).__name__}")
    if len(topics_value) > MAX_TOPICS:
        raise InvalidQuery("topics", f"{len(topics_value)} positions, a log has at most "
                           f"{MAX_TOPICS}")
    topics = tuple(None if t is None or t == [] else _or_list(f"topics[{i}]", t, 32)
                   for i, t in enumerate(topics_value))
    while topics and topics[-1] is None:  # trailing wildcards constrain nothing
        topics = topics[:-1]
    return LogFilter(
        from_block=parse_block_spec("fromBlock", obj.get("fromBlock")),
        to_block=parse_block_spec("toBlock", obj.get("toBlock")),
        block_hash=None if block_hash is None else _data("blockHash", block_hash, 32),
        addresses=addresses,
        topics=topics,
    )


# --- matching -------------------------------------------------------------------------------


def resolve(chain: LogChain, spec: BlockSpec) -> int:
    return spec if isinstance(spec, int) else chain.tag_number(spec)


def block_logs(block_hash: bytes, header: Header, receipts: Sequence[Receipt],
               criteria: LogFilter, removed: bool = False) -> list[MatchedLog]:
    """The logs of one block that match ``criteria``, with their block-wide log index."""
    out = []
    index = 0
    for receipt in receipts:
        for log in receipt.logs:
            if criteria.matches(log):
                out.append(MatchedLog(log, block_hash, int(header.number), int(header.timestamp),
                                      receipt.tx_hash, receipt.tx_index, index, removed))
            index += 1
    return out


def _scan(chain: LogChain, block_hash: bytes, criteria: LogFilter,
          masks: tuple[tuple[int, ...], ...], cache: BloomCache) -> list[MatchedLog]:
    header = chain.header(block_hash)
    if header is None or header.gas_used == 0:  # no transaction ran: no logs
        return []
    bloom = cache.get(block_hash)
    if bloom is not None and not bloom_may_match(bloom, masks):
        return []
    receipts = chain.receipts(block_hash)
    if receipts is None:
        return []
    if bloom is None and not bloom_may_match(cache.put(block_hash, receipts), masks):
        return []
    return block_logs(block_hash, header, receipts, criteria)


def find_logs(chain: LogChain, criteria: LogFilter, limits: LogLimits,
              cache: BloomCache) -> list[MatchedLog]:
    """Every canonical log matching ``criteria``, oldest first, within ``limits``."""
    masks = criteria.bloom_masks()
    if criteria.block_hash is not None:
        header = chain.header(criteria.block_hash)
        if header is None:
            raise InvalidQuery("blockHash", f"unknown block 0x{criteria.block_hash.hex()}")
        found = _scan(chain, criteria.block_hash, criteria, masks, cache)
        _check_count(found, limits)
        return found
    start = resolve(chain, criteria.from_block)
    asked_end = resolve(chain, criteria.to_block)
    if isinstance(criteria.to_block, int) and asked_end < start:
        raise InvalidQuery("filter", f"fromBlock {start} is after toBlock {asked_end}")
    # the range as asked, not as clamped to today's head: a query is refused or served the
    # same way whatever the height
    if asked_end - start + 1 > limits.max_block_range:
        raise QueryLimitExceeded(
            f"block range too large: {asked_end - start + 1} blocks ({start} to {asked_end}), "
            f"this node serves at most {limits.max_block_range} per query",
            limits.max_block_range)
    end = min(asked_end, chain.head_number())
    if start > end:
        return []
    found = []
    for number in range(start, end + 1):
        block_hash = chain.canonical_hash(number)
        if block_hash is None:
            break
        found.extend(_scan(chain, block_hash, criteria, masks, cache))
        _check_count(found, limits)
    return found


def _check_count(found: list[MatchedLog], limits: LogLimits) -> None:
    if len(found) > limits.max_results:
        raise QueryLimitExceeded(
            f"query returned more than {limits.max_results} results; narrow the block range "
            "or the filter", limits.max_results)


def log_json(item: MatchedLog) -> dict[str, Any]:
    """The execution-apis shape of a log (the one receipts use), with ``blockTimestamp``."""
    out = format_log(item.log, item.block_hash, item.block_number, item.tx_hash, item.tx_index,
                     item.log_index, item.removed)
    out["blockTimestamp"] = hex(item.block_timestamp)
    return out


# --- JSON-RPC -------------------------------------------------------------------------------


def rpc_error(exc: QueryRejected) -> RpcError:
    """The JSON-RPC error for a refused query: -32602 naming the parameter, -32005 with the
    limit for a limit, -32000 (geth's ``filter not found``) for an unknown filter."""
    if isinstance(exc, InvalidQuery):
        return invalid_params(exc.param, exc.reason)
    if isinstance(exc, QueryLimitExceeded):
        return RpcError(LIMIT_EXCEEDED, str(exc), {"limit": exc.limit})
    return server_error(str(exc))


def filter_param(params: list[Any], *, allow_range: bool = True) -> LogFilter:
    """The one filter-object parameter of eth_getLogs / eth_newFilter."""
    if len(params) > 1:
        raise invalid_params("params", f"expected one filter object, got {len(params)} "
                             "parameters")
    try:
        return parse_filter(params[0] if params else None, allow_range=allow_range)
    except QueryRejected as exc:
        raise rpc_error(exc) from None


def register(registry: MethodRegistry) -> None:
    """Add eth_getLogs to ``registry``."""
    from poqw.api.headfeed import feed_of  # the feed module builds on this one

    @registry.method("eth_getLogs", raw_params=True)
    def get_logs(ctx: RpcContext, params: list[Any]) -> list[dict[str, Any]]:
        criteria = filter_param(params)
        feed = feed_of(ctx.backend, ctx.config)
        try:
            found = find_logs(feed.chain, criteria, feed.limits, feed.blooms)
        except QueryRejected as exc:
            raise rpc_error(exc) from None
        return [log_json(m) for m in found]

"""eth_getLogs: the logs of the canonical chain that match an address and topic filter.

A :class:`LogFilter` is parsed once from the JSON filter object (address: one or a list; topics:
per position a value, an OR-list or null for any) and matched against each block's receipts.
PoQW headers carry no logs bloom, so :class:`BloomCache` keeps each block's bloom (the OR of its
receipts' blooms) by hash, blocks with no gas used are skipped from their header alone, and a
bloom that cannot match skips the receipts. Range and result limits raise
:class:`~poqw.errors.QueryLimitExceeded` naming the limit (geth and Infura's ``-32005``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from eth_utils.crypto import keccak
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from poqw.api.formatting import format_log
from poqw.api.jsonrpc import MethodRegistry, RpcContext, RpcError, invalid_params, server_error
from poqw.api.params import Hash32 as Hash32Param
from poqw.api.params import parse_data, parse_quantity
from poqw.chain import Header
from poqw.errors import InvalidQuery, QueryLimitExceeded, QueryRejected
from poqw.execution import Log, Receipt

__all__ = [
    "BLOCK_TAGS",
    "DEFAULT_MAX_BLOCK_RANGE",
    "DEFAULT_MAX_RESULTS",
    "LIMIT_EXCEEDED",
    "BloomCache",
    "FilterObject",
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


def _block_spec(value: Any) -> BlockSpec:
    if value is None:
        return "latest"
    if isinstance(value, str) and value in BLOCK_TAGS:
        return value
    try:
        number = parse_quantity(value)
    except ValueError as exc:
        raise ValueError(f"expected a block number (hex) or one of {', '.join(BLOCK_TAGS)}: "
                         f"{exc}") from None
    if number >= 2**63:
        raise ValueError(f"block number {number} is past the largest height, 2^63 - 1")
    return number


def parse_block_spec(param: str, value: Any) -> BlockSpec:
    """A block tag or a number (hex); None means ``latest``."""
    try:
        return _block_spec(value)
    except ValueError as exc:
        raise InvalidQuery(param, str(exc)) from None


def _or_list(value: Any, length: int, what: str) -> frozenset[bytes]:
    """One value or a list of alternatives (``[i]`` in a message says which one is wrong)."""
    if not isinstance(value, list):
        return frozenset((parse_data(value, length, what),))
    if len(value) > MAX_OR_VALUES:
        raise ValueError(f"{len(value)} alternatives, at most {MAX_OR_VALUES}")
    out = set()
    for i, item in enumerate(value):
        try:
            out.add(parse_data(item, length, what))
        except ValueError as exc:
            raise ValueError(f"[{i}]: {exc}") from None
    return frozenset(out)


def _addresses(value: Any) -> frozenset[bytes]:
    return frozenset() if value is None else _or_list(value, 20, "an address")


def _topics(value: Any) -> tuple[frozenset[bytes] | None, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"expected a list of topic positions, got {type(value).__name__}")
    if len(value) > MAX_TOPICS:
        raise ValueError(f"{len(value)} positions, a log has at most {MAX_TOPICS}")
    topics: list[frozenset[bytes] | None] = []
    for i, wanted in enumerate(value):
        try:
            topics.append(None if wanted is None or wanted == [] else
                          _or_list(wanted, 32, "a topic"))
        except ValueError as exc:
            raise ValueError(f"[{i}]{'' if str(exc).startswith('[') else ': '}{exc}") from None
    while topics and topics[-1] is None:  # trailing wildcards constrain nothing
        topics.pop()
    return tuple(topics)


class FilterObject(BaseModel):
    """The filter object of eth_getLogs, eth_newFilter and the ``logs`` subscription, as the
    execution-apis ``Filter`` schema has it (unknown fields are ignored, as geth does)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    from_block: Annotated[BlockSpec, BeforeValidator(_block_spec)] = Field("latest",
                                                                           alias="fromBlock")
    to_block: Annotated[BlockSpec, BeforeValidator(_block_spec)] = Field("latest",
                                                                         alias="toBlock")
    block_hash: Hash32Param | None = Field(None, alias="blockHash")
    address: Annotated[frozenset[bytes], BeforeValidator(_addresses)] = frozenset()
    topics: Annotated[tuple[frozenset[bytes] | None, ...], BeforeValidator(_topics)] = ()


def parse_filter(obj: Any) -> LogFilter:
    """The :class:`LogFilter` of a JSON-RPC filter object (validated by :class:`FilterObject`),
    raising :class:`~poqw.errors.InvalidQuery` naming the first bad field."""
    if obj is None:
        obj = {}
    if not isinstance(obj, dict):
        raise InvalidQuery("filter", f"expected an object, got {type(obj).__name__}")
    try:
        spec = FilterObject.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = first.get("loc", ())
        reason = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise InvalidQuery(str(loc[0]) if loc else "filter", reason) from None
    if spec.block_hash is not None and (obj.get("fromBlock") is not None
                                        or obj.get("toBlock") is not None):
        raise InvalidQuery("filter", "blockHash excludes fromBlock and toBlock")
    return LogFilter(spec.from_block, spec.to_block, spec.block_hash, spec.address, spec.topics)


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


def filter_param(params: list[Any]) -> LogFilter:
    """The one filter-object parameter of eth_getLogs / eth_newFilter."""
    if len(params) > 1:
        raise invalid_params("params", f"expected one filter object, got {len(params)} "
                             "parameters")
    try:
        return parse_filter(params[0] if params else None)
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

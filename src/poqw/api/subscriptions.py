"""eth_subscribe / eth_unsubscribe over WebSocket: ``newHeads``, ``logs`` (with the eth_getLogs
filter) and ``newPendingTransactions``.

Each WebSocket has a :class:`Subscriptions` (capped in number) and an :class:`Outbox`, a bounded
queue of notifications. Head changes are turned into ``eth_subscription`` messages once per
connection; logs of blocks a reorg removed go out again with ``removed: true``. A consumer too
slow to drain its outbox is not buffered without end: the push fails and the connection is
closed with :data:`SLOW_CONSUMER_CLOSE_CODE` and a reason that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from poqw.api.jsonrpc import (
    ConnectionState,
    MethodRegistry,
    RpcContext,
    RpcError,
    error_response,
    handle_body,
    invalid_params,
    invalid_request,
)
from poqw.errors import InvalidQuery, QueryLimitExceeded, QueryRejected

from .filters import ChangedBlock, HeadChange, new_filter_id
from .headfeed import HeadListener, feed_of
from .logs import LogFilter, log_json, parse_filter, rpc_error

if TYPE_CHECKING:
    from poqw.api.backend import NodeBackend
    from poqw.api.config import RpcConfig

log = logging.getLogger("poqw.api")

__all__ = [
    "DEFAULT_MAX_SUBSCRIPTIONS",
    "DEFAULT_OUTBOX_MESSAGES",
    "SLOW_CONSUMER_CLOSE_CODE",
    "SUBSCRIPTION_KINDS",
    "Outbox",
    "Subscription",
    "Subscriptions",
    "notification",
    "register",
    "serve_websocket",
    "websocket_route",
]

SUBSCRIPTION_KINDS = ("newHeads", "logs", "newPendingTransactions")
DEFAULT_MAX_SUBSCRIPTIONS = 32
DEFAULT_OUTBOX_MESSAGES = 4096
SLOW_CONSUMER_CLOSE_CODE = 1008  # policy violation (RFC 6455, 7.4.1)


def notification(subscription_id: str, result: Any) -> str:
    return json.dumps({"jsonrpc": "2.0", "method": "eth_subscription",
                       "params": {"subscription": subscription_id, "result": result}},
                      separators=(",", ":"))


class Outbox:
    """Outgoing messages of one connection, at most ``capacity`` waiting. A push that would go
    over fails and marks the outbox ``overflowed``; the owner then closes the connection."""

    def __init__(self, capacity: int = DEFAULT_OUTBOX_MESSAGES) -> None:
        self.capacity = capacity
        self.overflowed = False
        self._messages: deque[str] = deque()

    def push(self, message: str) -> bool:
        if self.overflowed or len(self._messages) >= self.capacity:
            self.overflowed = True
            return False
        self._messages.append(message)
        return True

    def pop(self) -> str | None:
        return self._messages.popleft() if self._messages else None

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def close_reason(self) -> str:
        return (f"subscriber too slow: {self.capacity} notifications waited unread; "
                "read faster or subscribe to less")


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    kind: str
    criteria: LogFilter | None = None


class Subscriptions:
    """The subscriptions of one WebSocket connection."""

    def __init__(self, *, max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS,
                 kinds: Sequence[str] = SUBSCRIPTION_KINDS,
                 new_id: Callable[[], str] = new_filter_id) -> None:
        self.max_subscriptions = max_subscriptions
        self.kinds = tuple(kinds)
        self._new_id = new_id
        self._active: dict[str, Subscription] = {}

    def __len__(self) -> int:
        return len(self._active)

    def subscribe(self, params: Sequence[Any]) -> str:
        """``params`` of eth_subscribe: ``[kind]`` or ``["logs", filter]``; the new id."""
        if not params or not isinstance(params[0], str):
            raise InvalidQuery("subscription kind", "expected one of " + ", ".join(self.kinds))
        kind = params[0]
        if kind not in self.kinds:
            raise InvalidQuery("subscription kind", f"{kind!r} is not one of "
                               + ", ".join(self.kinds))
        if len(params) > 2 or (len(params) == 2 and kind != "logs"):
            raise InvalidQuery("params", f"{kind} takes no options")
        criteria = None
        if kind == "logs":
            criteria = parse_filter(params[1] if len(params) == 2 else None)
            if criteria.block_hash is not None or isinstance(criteria.from_block, int) \
                    or isinstance(criteria.to_block, int):
                raise InvalidQuery("filter", "a logs subscription follows new blocks: give "
                                   "address and topics only")
        if len(self._active) >= self.max_subscriptions:
            raise QueryLimitExceeded(
                f"too many subscriptions: this connection has {self.max_subscriptions}, the "
                "most it may; eth_unsubscribe one first", self.max_subscriptions)
        subscription_id = self._new_id()
        self._active[subscription_id] = Subscription(subscription_id, kind, criteria)
        return subscription_id

    def unsubscribe(self, subscription_id: str) -> bool:
        return self._active.pop(subscription_id, None) is not None

    def wants_logs(self) -> bool:
        return any(s.kind == "logs" for s in self._active.values())

    def head_messages(self, blocks: Sequence[ChangedBlock],
                      head_json: Callable[[bytes], Any]) -> list[str]:
        """Notifications for one head change: each connected block's header to ``newHeads``,
        each matching log (removed ones first) to ``logs``."""
        out: list[str] = []
        for sub in self._active.values():
            if sub.kind == "newHeads":
                out.extend(notification(sub.subscription_id, head_json(b.block_hash))
                           for b in blocks if not b.removed)
            elif sub.kind == "logs" and sub.criteria is not None:
                out.extend(notification(sub.subscription_id, log_json(m))
                           for b in blocks for m in b.logs(sub.criteria))
        return out

    def pending_messages(self, tx_hashes: Sequence[bytes]) -> list[str]:
        return [notification(sub.subscription_id, "0x" + h.hex())
                for sub in self._active.values() if sub.kind == "newPendingTransactions"
                for h in tx_hashes]


# --- JSON-RPC and the WebSocket endpoint -----------------------------------------------------

_NOTIFICATIONS_NOT_SUPPORTED = -32601  # geth: "notifications not supported" over HTTP


def register(registry: MethodRegistry) -> None:
    """Add eth_subscribe and eth_unsubscribe (WebSocket connections only)."""

    def subscriptions_of(ctx: RpcContext) -> Subscriptions:
        subs = ctx.connection.items.get("subscriptions")
        if not isinstance(subs, Subscriptions):
            raise RpcError(_NOTIFICATIONS_NOT_SUPPORTED,
                           "notifications not supported: subscribe over a WebSocket "
                           "(ws://) connection to this port")
        return subs

    @registry.method("eth_subscribe", raw_params=True, on_loop=True)
    def subscribe(ctx: RpcContext, params: list[Any]) -> str:
        subs = subscriptions_of(ctx)
        try:
            subscription_id = subs.subscribe(params)
        except QueryRejected as exc:
            raise rpc_error(exc) from None
        if params[0] == "newPendingTransactions":
            feed_of(ctx.backend, ctx.config).follow_pending_transactions()
        return subscription_id

    @registry.method("eth_unsubscribe", raw_params=True, on_loop=True)
    def unsubscribe(ctx: RpcContext, params: list[Any]) -> bool:
        if len(params) != 1 or not isinstance(params[0], str):
            raise invalid_params("0 (subscription id)", "expected one subscription id string")
        return subscriptions_of(ctx).unsubscribe(params[0])


def websocket_route(backend: NodeBackend, config: RpcConfig,
                    registry: MethodRegistry) -> WebSocketRoute:
    """The JSON-RPC WebSocket endpoint at ``/`` (beside ``POST /``)."""

    async def endpoint(websocket: WebSocket) -> None:
        await serve_websocket(websocket, backend, config, registry)
    return WebSocketRoute("/", endpoint)


async def serve_websocket(websocket: WebSocket, backend: NodeBackend, config: RpcConfig,
                          registry: MethodRegistry,
                          outbox_capacity: int = DEFAULT_OUTBOX_MESSAGES) -> None:
    """One WebSocket: JSON-RPC requests in, responses and notifications out through a bounded
    :class:`Outbox`; an overflowing outbox closes the connection with its reason."""
    await websocket.accept()
    outbox = Outbox(outbox_capacity)
    wake = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        outbox.push(json.dumps(message, separators=(",", ":")))
        wake.set()

    connection = ConnectionState(kind="websocket", send=send)
    subs = Subscriptions(max_subscriptions=config.max_subscriptions_per_connection)
    connection.items["subscriptions"] = subs
    ctx = RpcContext(backend, connection, config)
    feed = feed_of(backend, config)

    def deliver(change: HeadChange, blocks: Sequence[ChangedBlock]) -> None:
        for message in subs.head_messages(blocks, feed.head_json):
            if not outbox.push(message):
                break
        wake.set()

    def deliver_pending(tx_hashes: Sequence[bytes]) -> None:
        for message in subs.pending_messages(tx_hashes):
            if not outbox.push(message):
                break
        wake.set()

    listener = HeadListener(subs.wants_logs, deliver, deliver_pending)
    feed.listeners.append(listener)
    writer = asyncio.create_task(_write(websocket, outbox, wake), name="poqw-ws-writer")
    reader = asyncio.create_task(_read(websocket, registry, ctx, outbox, wake),
                                 name="poqw-ws-reader")
    try:
        done, _ = await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("WebSocket connection failed: %s", task.exception())
    finally:
        feed.listeners.remove(listener)
        connection.close()
        for task in (writer, reader):
            task.cancel()
        await asyncio.gather(writer, reader, return_exceptions=True)
        if outbox.overflowed:
            log.warning("closed a slow WebSocket subscriber: %s", outbox.close_reason)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(SLOW_CONSUMER_CLOSE_CODE,
                                                       outbox.close_reason), 2)


async def _read(websocket: WebSocket, registry: MethodRegistry, ctx: RpcContext,
                outbox: Outbox, wake: asyncio.Event) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while not outbox.overflowed:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            body = text.encode() if text is not None else message.get("bytes") or b""
            if len(body) > ctx.config.max_body_bytes:
                answer: bytes | None = json.dumps(error_response(invalid_request(
                    f"message of {len(body)} bytes exceeds the limit of "
                    f"{ctx.config.max_body_bytes} bytes"))).encode()
            else:  # calls over the socket count in the node's metrics as HTTP calls do
                state = getattr(getattr(websocket, "app", None), "state", None)
                metrics = getattr(state, "metrics", None)
                answer = await handle_body(registry, ctx, body,
                                           None if metrics is None else metrics.observe_rpc)
            if answer is not None:
                outbox.push(answer.decode())
                wake.set()


async def _write(websocket: WebSocket, outbox: Outbox, wake: asyncio.Event) -> None:
    """Send what the outbox holds; return when it overflowed (the connection then closes)."""
    while True:
        await wake.wait()
        wake.clear()
        while (message := outbox.pop()) is not None and not outbox.overflowed:
            await websocket.send_text(message)
        if outbox.overflowed:
            return

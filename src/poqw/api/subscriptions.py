"""eth_subscribe / eth_unsubscribe over WebSocket: ``newHeads``, ``logs`` (with the eth_getLogs
filter) and ``newPendingTransactions``.

Each WebSocket has a :class:`Subscriptions` (capped in number) and an :class:`Outbox`, a bounded
queue of notifications. Head changes are turned into ``eth_subscription`` messages once per
connection; logs of blocks a reorg removed go out again with ``removed: true``. A consumer too
slow to drain its outbox is not buffered without end: the push fails and the connection is
closed with :data:`SLOW_CONSUMER_CLOSE_CODE` and a reason that says why.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from poqw.chain import Header
from poqw.errors import InvalidQuery, QueryLimitExceeded

from .filters import ChangedBlock, new_filter_id
from .logs import LogFilter, log_json, parse_filter

__all__ = [
    "DEFAULT_MAX_SUBSCRIPTIONS",
    "DEFAULT_OUTBOX_MESSAGES",
    "SLOW_CONSUMER_CLOSE_CODE",
    "SUBSCRIPTION_KINDS",
    "Outbox",
    "Subscription",
    "Subscriptions",
    "notification",
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
                 new_id: Callable[[], str] = new_filter_id) -> None:
        self.max_subscriptions = max_subscriptions
        self._new_id = new_id
        self._active: dict[str, Subscription] = {}

    def __len__(self) -> int:
        return len(self._active)

    def subscribe(self, params: Sequence[Any]) -> str:
        """``params`` of eth_subscribe: ``[kind]`` or ``["logs", filter]``; the new id."""
        if not params or not isinstance(params[0], str):
            raise InvalidQuery("subscription kind", "expected one of "
                               + ", ".join(SUBSCRIPTION_KINDS))
        kind = params[0]
        if kind not in SUBSCRIPTION_KINDS:
            raise InvalidQuery("subscription kind", f"{kind!r} is not one of "
                               + ", ".join(SUBSCRIPTION_KINDS))
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
                      head_json: Callable[[Header], Any]) -> list[str]:
        """Notifications for one head change: each connected block's header to ``newHeads``,
        each matching log (removed ones first) to ``logs``."""
        out: list[str] = []
        for sub in self._active.values():
            if sub.kind == "newHeads":
                out.extend(notification(sub.subscription_id, head_json(b.header))
                           for b in blocks if not b.removed)
            elif sub.kind == "logs" and sub.criteria is not None:
                out.extend(notification(sub.subscription_id, log_json(m))
                           for b in blocks for m in b.logs(sub.criteria))
        return out

    def pending_messages(self, tx_hashes: Sequence[bytes]) -> list[str]:
        return [notification(sub.subscription_id, "0x" + h.hex())
                for sub in self._active.values() if sub.kind == "newPendingTransactions"
                for h in tx_hashes]

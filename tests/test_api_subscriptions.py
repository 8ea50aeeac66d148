"""eth_subscribe logic: kinds and their parameters, the per-connection cap, notifications for
new heads and logs (removed ones on a reorg), and the bounded outbox."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from api_chain import MemoryChain, addr, receipt, topic
from poqw.api.filters import HeadChange, changed_blocks
from poqw.api.subscriptions import Outbox, Subscriptions
from poqw.errors import InvalidQuery, QueryLimitExceeded
from poqw.execution import Log

A, B = addr(0xA), addr(0xB)
T1 = topic(1)


def hx(b: bytes) -> str:
    return "0x" + b.hex()


def subs(**kwargs: Any) -> Subscriptions:
    ids = itertools.count(1)
    return Subscriptions(new_id=lambda: hex(next(ids)), **kwargs)


def head_json(block_hash: bytes) -> dict[str, str]:
    return {"hash": hx(block_hash)}


def results(messages: list[str]) -> list[tuple[str, Any]]:
    out = []
    for text in messages:
        message = json.loads(text)
        assert message["jsonrpc"] == "2.0" and message["method"] == "eth_subscription"
        out.append((message["params"]["subscription"], message["params"]["result"]))
    return out


def test_new_heads_and_logs_notifications_with_removed_on_reorg() -> None:
    chain, s = MemoryChain(), subs()
    heads = s.subscribe(["newHeads"])
    logs = s.subscribe(["logs", {"address": [hx(A)], "topics": [hx(T1)]}])
    assert s.wants_logs()
    b1 = chain.append([receipt(0, [Log(A, (T1,), b"1"), Log(B, (T1,), b"x")])])
    got = results(s.head_messages(changed_blocks(chain, HeadChange((b1,))), head_json))
    assert got[0] == (heads, {"hash": hx(b1)})
    assert [(sid, r["data"], r["removed"], r["logIndex"]) for sid, r in got[1:]] == [
        (logs, "0x31", False, "0x0")]
    b1b = chain.append([receipt(0, [Log(A, (T1,), b"2")])], parent_number=0, salt=5)
    b2 = chain.append([])
    change = HeadChange((b1b, b2), disconnected=(b1,))
    got = results(s.head_messages(changed_blocks(chain, change), head_json))
    assert [r for sid, r in got if sid == heads] == [{"hash": hx(b1b)}, {"hash": hx(b2)}]
    assert [(r["data"], r["removed"], r["blockHash"]) for sid, r in got if sid == logs] == [
        ("0x31", True, hx(b1)), ("0x32", False, hx(b1b))]


def test_unsubscribe_stops_notifications() -> None:
    chain, s = MemoryChain(), subs()
    sid = s.subscribe(["newHeads"])
    assert s.unsubscribe(sid) is True
    assert s.unsubscribe(sid) is False
    b1 = chain.append([])
    assert s.head_messages(changed_blocks(chain, HeadChange((b1,))), head_json) == []


def test_pending_transactions() -> None:
    s = subs()
    sid = s.subscribe(["newPendingTransactions"])
    assert results(s.pending_messages([b"\x05" * 32])) == [(sid, hx(b"\x05" * 32))]


@pytest.mark.parametrize(("params", "match"), [
    ([], "subscription kind"),
    (["newBlocks"], "'newBlocks' is not one of newHeads, logs"),
    (["newHeads", {}], "newHeads takes no options"),
    (["logs", {"address": "0x1"}], "invalid address"),
    (["logs", {"fromBlock": "0x1"}], "follows new blocks"),
    (["logs", {}, {}], "logs takes no options"),
])
def test_bad_subscriptions_say_what_is_wrong(params: list[Any], match: str) -> None:
    with pytest.raises(InvalidQuery, match=match):
        subs().subscribe(params)


def test_subscription_cap_per_connection() -> None:
    s = subs(max_subscriptions=2)
    s.subscribe(["newHeads"])
    s.subscribe(["logs"])
    with pytest.raises(QueryLimitExceeded, match="this connection has 2") as info:
        s.subscribe(["newHeads"])
    assert info.value.limit == 2


def test_outbox_refuses_past_capacity_and_stays_refused() -> None:
    box = Outbox(capacity=2)
    assert box.push("a") and box.push("b")
    assert not box.push("c")
    assert box.overflowed and "2 notifications waited unread" in box.close_reason
    assert box.pop() == "a"
    assert not box.push("d")  # the connection is being closed: nothing more goes out
    assert len(box) == 1

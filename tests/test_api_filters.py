"""Polled filters: block and log filters across head changes and reorgs, per-owner caps, idle
expiry with an explicit clock, and bounded buffers."""

from __future__ import annotations

import itertools

import pytest

from api_chain import MemoryChain, addr, receipt, topic
from poqw.api.filters import FilterKind, FilterRegistry, HeadChange, changed_blocks
from poqw.api.logs import parse_filter
from poqw.errors import QueryLimitExceeded, UnknownFilter
from poqw.execution import Log

A, B = addr(0xA), addr(0xB)
T1 = topic(1)


def hx(b: bytes) -> str:
    return "0x" + b.hex()


def registry(**kwargs: object) -> FilterRegistry:
    ids = itertools.count(1)
    return FilterRegistry(new_id=lambda: hex(next(ids)), **kwargs)  # type: ignore[arg-type]


def grow(chain: MemoryChain, reg: FilterRegistry, logs: list[Log], now: float) -> bytes:
    block_hash = chain.append([receipt(0, logs)] if logs else [])
    feed(chain, reg, HeadChange((block_hash,)), now)
    return block_hash


def feed(chain: MemoryChain, reg: FilterRegistry, change: HeadChange, now: float) -> None:
    reg.on_head(change, changed_blocks(chain, change, reg.wants_logs()), now)


def test_block_filter_returns_new_hashes_once() -> None:
    chain, reg = MemoryChain(), registry()
    fid = reg.install_blocks("conn", now=0)
    assert reg.kind(fid, 0) is FilterKind.BLOCKS
    assert reg.changes(fid, now=1) == []
    h1 = grow(chain, reg, [], now=2)
    h2 = grow(chain, reg, [Log(A, (), b"")], now=3)
    assert reg.changes(fid, now=4) == [hx(h1), hx(h2)]
    assert reg.changes(fid, now=5) == []


def test_log_filter_matches_new_blocks_and_reports_reorged_logs_as_removed() -> None:
    chain, reg = MemoryChain(), registry()
    fid = reg.install_logs("conn", parse_filter({"address": hx(A)}), now=0)
    grow(chain, reg, [Log(B, (T1,), b"b")], now=1)
    old = grow(chain, reg, [Log(A, (T1,), b"a1")], now=2)
    got = reg.changes(fid, now=3)
    assert [(g["data"], g["blockHash"], g["removed"]) for g in got] == [("0x6131", hx(old), False)]
    # a reorg replaces block 2 with a block that logs a2
    new = chain.append([receipt(0, [Log(A, (), b"a2")])], parent_number=1, salt=9)
    feed(chain, reg, HeadChange((new,), disconnected=(old,)), now=4)
    got = reg.changes(fid, now=5)
    assert [(g["data"], g["blockHash"], g["removed"]) for g in got] == [
        ("0x6131", hx(old), True), ("0x6132", hx(new), False)]


def test_log_filter_respects_fixed_block_bounds() -> None:
    chain, reg = MemoryChain(), registry()
    fid = reg.install_logs("c", parse_filter({"fromBlock": "0x2", "toBlock": "0x2"}), now=0)
    for n in range(3):
        grow(chain, reg, [Log(A, (), bytes([n]))], now=1)
    assert [g["blockNumber"] for g in reg.changes(fid, now=2)] == ["0x2"]
    assert reg.criteria(fid, now=2).to_block == 2
    with pytest.raises(UnknownFilter, match="not a log filter"):
        reg.criteria(reg.install_blocks("c", now=2), now=2)


def test_per_owner_and_total_caps() -> None:
    reg = registry(max_per_owner=2, max_filters=3)
    reg.install_blocks("one", now=0)
    reg.install_pending_transactions("one", now=0)
    with pytest.raises(QueryLimitExceeded, match="this connection has 2 installed") as info:
        reg.install_blocks("one", now=0)
    assert info.value.limit == 2
    reg.install_blocks("two", now=0)
    with pytest.raises(QueryLimitExceeded, match="the node holds 3"):
        reg.install_blocks("three", now=0)
    assert reg.drop_owner("one") == 2
    reg.install_blocks("three", now=0)


def test_idle_filters_expire_and_polling_keeps_them() -> None:
    chain, reg = MemoryChain(), registry(ttl_s=60)
    idle = reg.install_blocks("c", now=0)
    polled = reg.install_blocks("c", now=0)
    reg.changes(polled, now=50)
    grow(chain, reg, [], now=61)  # on_head expires too
    with pytest.raises(UnknownFilter, match="expired: not polled for 60 s"):
        reg.changes(idle, now=62)
    with pytest.raises(UnknownFilter, match="filter not found"):
        reg.changes(idle, now=62)
    assert len(reg.changes(polled, now=62)) == 1
    assert reg.expire(now=200) == [polled]
    assert len(reg) == 0


def test_uninstall() -> None:
    reg = registry()
    fid = reg.install_blocks("c", now=0)
    assert reg.uninstall(fid) is True
    assert reg.uninstall(fid) is False
    with pytest.raises(UnknownFilter):
        reg.changes(fid, now=0)


def test_a_filter_whose_buffer_overflows_is_removed_with_a_reason() -> None:
    chain, reg = MemoryChain(), registry(max_pending=3)
    fid = reg.install_blocks("c", now=0)
    kept = reg.install_blocks("c", now=0)
    for _ in range(3):
        grow(chain, reg, [], now=1)
    assert len(reg.changes(kept, now=1)) == 3
    grow(chain, reg, [], now=2)
    with pytest.raises(UnknownFilter, match="more than 3 changes waited unpolled"):
        reg.changes(fid, now=2)
    assert len(reg.changes(kept, now=2)) == 1


def test_pending_transaction_filter() -> None:
    reg = registry()
    fid = reg.install_pending_transactions("c", now=0)
    blocks = reg.install_blocks("c", now=0)
    reg.on_pending_transactions([b"\x01" * 32, b"\x02" * 32], now=1)
    assert reg.changes(fid, now=2) == [hx(b"\x01" * 32), hx(b"\x02" * 32)]
    assert reg.changes(blocks, now=2) == []


def test_receipts_are_read_only_for_log_filters() -> None:
    chain, reg = MemoryChain(), registry()
    reg.install_blocks("c", now=0)
    grow(chain, reg, [Log(A, (), b"")], now=1)
    assert chain.receipt_reads == 0
    reg.install_logs("c", parse_filter({}), now=1)
    reg.install_logs("c", parse_filter({"address": hx(B)}), now=1)
    grow(chain, reg, [Log(A, (), b"")], now=1)
    assert chain.receipt_reads == 1

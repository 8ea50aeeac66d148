"""eth_getLogs matching, limits, parsing and JSON shape over an in-memory chain."""

from __future__ import annotations

import pytest

from api_chain import MemoryChain, addr, receipt, topic
from poqw.api.logs import (
    BloomCache,
    LogLimits,
    find_logs,
    log_json,
    parse_block_spec,
    parse_filter,
)
from poqw.errors import InvalidQuery, QueryLimitExceeded
from poqw.execution import Log

A, B, C = addr(0xA), addr(0xB), addr(0xC)
T1, T2, T3 = topic(1), topic(2), topic(3)


def hx(b: bytes) -> str:
    return "0x" + b.hex()


@pytest.fixture
def chain() -> MemoryChain:
    """Blocks 1..4: 1 has A(T1,T2) and B(T1); 2 is empty; 3 has C(T3) and A(T2,T3); 4 has
    A() with no topics."""
    c = MemoryChain()
    c.append([receipt(0, [Log(A, (T1, T2), b"\x01")]), receipt(1, [Log(B, (T1,), b"\x02")])])
    c.append([])
    c.append([receipt(0, [Log(C, (T3,), b""), Log(A, (T2, T3), b"\x03")])])
    c.append([receipt(0, [Log(A, (), b"\x04")])])
    return c


def query(chain: MemoryChain, obj: dict[str, object], limits: LogLimits | None = None,
          cache: BloomCache | None = None) -> list[tuple[int, bytes, bytes]]:
    found = find_logs(chain, parse_filter(obj), limits or LogLimits(),
                      BloomCache() if cache is None else cache)
    return [(m.block_number, m.log.address, m.log.data) for m in found]


def test_address_one_or_a_list(chain: MemoryChain) -> None:
    everything = {"fromBlock": "earliest"}
    assert [d for _, _, d in query(chain, everything)] == [b"\x01", b"\x02", b"", b"\x03",
                                                            b"\x04"]
    assert [d for _, _, d in query(chain, {**everything, "address": hx(A)})] == [
        b"\x01", b"\x03", b"\x04"]
    assert [a for _, a, _ in query(chain, {**everything, "address": [hx(B), hx(C)]})] == [B, C]


def test_topics_positions_wildcards_and_or_lists(chain: MemoryChain) -> None:
    base = {"fromBlock": "0x0", "toBlock": "latest"}
    assert [d for _, _, d in query(chain, {**base, "topics": [hx(T1)]})] == [b"\x01", b"\x02"]
    # null at position 0: any first topic, but a second one must exist and be T2 or T3
    got = query(chain, {**base, "topics": [None, [hx(T2), hx(T3)]]})
    assert [d for _, _, d in got] == [b"\x01", b"\x03"]
    # a position past a log's topics never matches; trailing nulls constrain nothing
    assert query(chain, {**base, "topics": [hx(T1), None, hx(T3)]}) == []
    assert len(query(chain, {**base, "topics": [None, None]})) == 5
    assert [d for _, _, d in query(chain, {**base, "address": hx(A), "topics": [[hx(T2)]]})] == [
        b"\x03"]


def test_block_range_tags_and_log_index(chain: MemoryChain) -> None:
    assert query(chain, {}) == [(4, A, b"\x04")]  # latest to latest
    assert [n for n, _, _ in query(chain, {"fromBlock": "0x2", "toBlock": "0x3"})] == [3, 3]
    assert query(chain, {"fromBlock": "0x3", "toBlock": "0x99"})[-1][0] == 4  # clamped to head
    assert query(chain, {"fromBlock": "0x50"}) == []
    found = find_logs(chain, parse_filter({"fromBlock": "0x3", "toBlock": "0x3"}), LogLimits(),
                      BloomCache())
    assert [(m.log_index, m.tx_index) for m in found] == [(0, 0), (1, 0)]
    with pytest.raises(InvalidQuery, match="fromBlock 3 is after toBlock 2"):
        query(chain, {"fromBlock": "0x3", "toBlock": "0x2"})


def test_block_hash_selects_one_block(chain: MemoryChain) -> None:
    got = query(chain, {"blockHash": hx(chain.canonical[3])})
    assert [d for _, _, d in got] == [b"", b"\x03"]
    with pytest.raises(InvalidQuery, match="unknown block") as info:
        query(chain, {"blockHash": hx(b"\x77" * 32)})
    assert info.value.param == "blockHash"
    with pytest.raises(InvalidQuery, match="blockHash excludes fromBlock"):
        query(chain, {"blockHash": hx(chain.canonical[3]), "fromBlock": "0x1"})


def test_range_cap_names_the_limit(chain: MemoryChain) -> None:
    for _ in range(20):
        chain.append([])
    with pytest.raises(QueryLimitExceeded, match=r"block range too large: 25 blocks .* at "
                       r"most 10 per query") as info:
        query(chain, {"fromBlock": "earliest", "toBlock": "latest"}, LogLimits(max_block_range=10))
    assert info.value.limit == 10
    assert len(query(chain, {"fromBlock": "0x0", "toBlock": "0x9"},
                     LogLimits(max_block_range=10))) == 5
    # the range as asked counts, even where it runs past the head
    with pytest.raises(QueryLimitExceeded, match=r"11 blocks \(20 to 30\)"):
        query(chain, {"fromBlock": "0x14", "toBlock": "0x1e"}, LogLimits(max_block_range=10))


def test_result_cap_names_the_limit(chain: MemoryChain) -> None:
    limits = LogLimits(max_results=4)
    with pytest.raises(QueryLimitExceeded, match="query returned more than 4 results") as info:
        query(chain, {"fromBlock": "earliest"}, limits)
    assert info.value.limit == 4
    assert len(query(chain, {"fromBlock": "earliest", "address": hx(A)}, limits)) == 3


def test_blooms_and_empty_blocks_spare_receipt_reads(chain: MemoryChain) -> None:
    cache = BloomCache()
    query(chain, {"fromBlock": "earliest"}, cache=cache)
    assert chain.receipt_reads == 3  # blocks 1, 3, 4: genesis and block 2 used no gas
    assert len(cache) == 3
    chain.receipt_reads = 0
    assert query(chain, {"fromBlock": "earliest", "address": hx(addr(0xDEAD))}, cache=cache) == []
    assert chain.receipt_reads == 0
    assert len(query(chain, {"fromBlock": "earliest", "topics": [hx(T3)]}, cache=cache)) == 1
    assert chain.receipt_reads == 1  # only block 3's bloom holds T3


def test_bloom_cache_is_bounded() -> None:
    cache = BloomCache(capacity=2)
    for i in range(5):
        cache.put(bytes([i]) * 32, [receipt(0, [Log(A, (), b"")])])
    assert len(cache) == 2 and cache.get(bytes([4]) * 32) is not None
    assert cache.get(bytes([0]) * 32) is None


@pytest.mark.parametrize(("obj", "param", "words"), [
    ({"address": "0x12"}, "address", "an address must be 20 bytes, got 1"),
    ({"address": [hx(A), "nothex"]}, "address", "[1]: hex string without 0x prefix"),
    ({"topics": [hx(T1), ["0x" + "zz" * 32]]}, "topics", "[1][0]: invalid hex string"),
    ({"topics": [hx(T1)] * 5}, "topics", "5 positions, a log has at most 4"),
    ({"topics": "0x00"}, "topics", "expected a list of topic positions"),
    ({"fromBlock": "last"}, "fromBlock", "expected a block number (hex) or one of latest"),
    ({"toBlock": "0x01"}, "toBlock", "leading zero"),
    ({"toBlock": True}, "toBlock", "boolean"),
    ({"toBlock": "0x" + "f" * 17}, "toBlock", "past the largest height"),
    ({"blockHash": "0x1234"}, "blockHash", "a hash must be 32 bytes"),
    ({"address": [hx(A)] * 1025}, "address", "1025 alternatives, at most 1024"),
])
def test_bad_filters_name_the_parameter(obj: dict[str, object], param: str, words: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        parse_filter(obj)
    assert info.value.param == param
    assert words in str(info.value) and param in str(info.value)


def test_block_specs() -> None:
    assert parse_block_spec("fromBlock", None) == "latest"
    assert parse_block_spec("fromBlock", "0x0") == 0
    assert parse_block_spec("fromBlock", "0x1f") == 31
    assert parse_block_spec("fromBlock", "finalized") == "finalized"
    assert parse_block_spec("fromBlock", 7) == 7  # a JSON number, as geth accepts
    assert parse_filter({"fromBlock": None, "address": None, "topics": None,
                         "extra": 1}) == parse_filter({})
    with pytest.raises(InvalidQuery):
        parse_block_spec("fromBlock", "0x" + "f" * 17)


def test_log_json_shape(chain: MemoryChain) -> None:
    (found,) = find_logs(chain, parse_filter({"fromBlock": "0x1", "toBlock": "0x1",
                                              "address": hx(B)}), LogLimits(), BloomCache())
    assert log_json(found) == {
        "address": hx(B), "topics": [hx(T1)], "data": "0x02", "blockNumber": "0x1",
        "blockHash": hx(chain.canonical[1]), "blockTimestamp": hex(1001),
        "transactionHash": hx(bytes([2]) * 32), "transactionIndex": "0x1", "logIndex": "0x1",
        "removed": False,
    }

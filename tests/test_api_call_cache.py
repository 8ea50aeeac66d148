"""eth_call answers a repeated call from its result cache, and never with another state's result.

The node serves JSON-RPC over real HTTP; a counting wrapper around the engine's ``call`` (the
real engine runs underneath) tells whether the EVM ran. The same call is made at genesis, after
a block that changes what it reads (a transfer, a new block number and coinbase) and after a
reorg onto a branch without that transfer: each head runs the EVM once, repeats come from the
cache, and every answer is the head's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from poqw.api.testing import rpc_call, rpc_in_thread
from poqw.node import Node
from poqw.node.testing import (
    account_key,
    build_block_on,
    dev_node_config,
    mldsa_signer,
    signed_transfer,
)

KEY = account_key("call-cache")
SENDER = bytes.fromhex(Account.from_key(KEY).address[2:])
RECIPIENT = b"\x42" * 20
# initcode run by eth_call with no `to`: returns NUMBER, COINBASE and BALANCE(RECIPIENT)
PROBE = "0x" + "43600052" "41602052" "73" + RECIPIENT.hex() + "31604052" "60606000f3"


def transfer(nonce: int, to: bytes, value: int) -> bytes:
    return signed_transfer(KEY, nonce, to, value)


@pytest.fixture
def node(tmp_path: Path) -> Any:
    with Node(dev_node_config(tmp_path, {SENDER: 10**21})) as node:
        yield node


class CountingEngineCalls:
    """Counts the EVM runs of ``engine.call`` (the real method does the work)."""

    def __init__(self, engine: Any) -> None:
        self.runs = 0
        real = engine.call

        def counted(*args: Any, **kwargs: Any) -> bytes:
            self.runs += 1
            return bytes(real(*args, **kwargs))
        engine.call = counted


def probe(url: str, block: str = "latest") -> tuple[int, bytes, int]:
    answer = rpc_call(url, "eth_call", {"data": PROBE}, block)
    out = bytes.fromhex(answer["result"][2:])
    return int.from_bytes(out[:32], "big"), out[44:64], int.from_bytes(out[64:], "big")


@pytest.mark.slow  # mines three blocks
def test_repeated_calls_hit_the_cache_and_never_outlive_their_head(node: Node) -> None:
    chain, signer = node.chain, mldsa_signer("call-cache")
    engine = CountingEngineCalls(node.engine)
    g = chain.tip_header()
    t0 = int(g.timestamp)
    with rpc_in_thread(node) as server:
        url = server.url
        assert probe(url) == (0, bytes(g.miner), 0)
        assert probe(url) == (0, bytes(g.miner), 0)
        assert probe(url, "pending") == (0, bytes(g.miner), 0)
        assert engine.runs == 1  # the repeats came from the cache

        env = chain.block_env(g, t0 + 1, bytes(20))
        node.mempool.add(transfer(0, RECIPIENT, 5), chain.state_root(g.hash()), env, t0)
        paid = build_block_on(chain, g, signer, t0 + 1, mempool=node.mempool, label="paid")
        assert chain.import_block(paid, t0 + 10**3).status == "new-tip"
        # a new head: the same call runs again and sees block 1's number, coinbase and state
        assert probe(url) == (1, bytes(paid.header.miner), 5)
        assert probe(url) == (1, bytes(paid.header.miner), 5)
        assert engine.runs == 2
        # an explicit older block is its own entry: genesis's answer, from the cache
        assert probe(url, "0x0") == (0, bytes(g.miner), 0)
        assert engine.runs == 2

        fork1 = build_block_on(chain, g, signer, t0 + 2, label="fork1")
        assert chain.import_block(fork1, t0 + 10**3).status == "side"
        fork2 = build_block_on(chain, fork1.header, signer, t0 + 3, label="fork2")
        assert probe(url) == (1, bytes(paid.header.miner), 5)  # a side block moves nothing
        assert chain.import_block(fork2, t0 + 10**3).reorg_depth == 1
        # the reorg: the transfer never happened on the new branch
        assert probe(url) == (2, bytes(fork2.header.miner), 0)
        assert probe(url, "0x1") == (1, bytes(fork1.header.miner), 0)
        assert engine.runs == 4
        # the replaced block's answer is still its own, by its hash
        by_hash = rpc_call(url, "eth_call", {"data": PROBE}, {"blockHash": "0x" +
                                                              paid.hash().hex()})
        assert int(by_hash["result"][-64:], 16) == 5

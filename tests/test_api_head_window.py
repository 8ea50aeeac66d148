"""The moment between a block's import and the API hearing of its head.

The node imports a block, drops its transactions from the mempool, then tells its listeners,
the API's backend last. A client that asked in between (ethers.js did, on CI) got the old head's
nonce with the mined transaction no longer pending: a used nonce, and "nonce too low" on the next
send. A listener placed between the node's own and the backend's asks exactly then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eth_account import Account

from poqw.api.backend import NodeBackend
from poqw.api.config import RpcConfig
from poqw.api.params import BlockRef
from poqw.node import Node
from poqw.node.testing import (
    account_key,
    build_block_on,
    dev_node_config,
    mldsa_signer,
    signed_transfer,
)

KEY = account_key("head-window")
SENDER = bytes.fromhex(Account.from_key(KEY).address[2:])


def test_pending_nonce_and_receipts_agree_while_the_backend_hears_of_a_head(
        tmp_path: Path) -> None:
    with Node(dev_node_config(tmp_path, {SENDER: 10**21})) as node:
        chain = node.chain
        seen: list[tuple[int, bool, int]] = []
        backend: NodeBackend | None = None

        def between(_: Any) -> None:  # after the node's own listener, before the backend's
            assert backend is not None
            found = backend.find_transaction(mined)
            seen.append((backend.nonce(BlockRef(tag="pending"), SENDER), found is None,
                         backend.tip().number))

        node.subscribe(between)
        backend = NodeBackend(node, RpcConfig())
        g = chain.tip_header()
        t0 = int(g.timestamp)
        info = node.mempool.add(signed_transfer(KEY, 0, b"\x42" * 20, 5),
                                chain.state_root(g.hash()),
                                chain.block_env(g, t0 + 1, bytes(20)), t0)
        mined = info.tx_hash
        assert backend.nonce(BlockRef(tag="pending"), SENDER) == 1
        block = build_block_on(chain, g, mldsa_signer("head-window"), t0 + 1,
                               mempool=node.mempool)
        assert chain.import_block(block, t0 + 10**3).status == "new-tip"
        # in between: the transaction is mined (not pending), its nonce used; the backend
        # still serves block 0 as latest, so no receipt for block 1 shows yet
        assert seen == [(1, True, 0)]
        assert not node.mempool.transactions()
        # after: the backend's head is block 1, with the receipt
        assert backend.tip().number == 1
        assert backend.nonce(BlockRef(tag="pending"), SENDER) == 1
        assert backend.nonce(BlockRef(tag="latest"), SENDER) == 1
        location = backend.find_transaction(mined)
        assert location is not None and location.block.number == 1

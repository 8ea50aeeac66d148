"""A real ``poqw node cpu`` process serves Ethereum JSON-RPC: its URL is in ``network.json``
(``rpc``, a free port with ``--rpc-port 0``), and the height it reports follows the chain."""

from __future__ import annotations

from collections.abc import Callable

from framework import Network, log, wait_until

from poqw.api.testing import rpc_call


def test_node_serves_json_rpc_at_the_url_in_network_json(network: Callable[[int], Network]
                                                         ) -> None:
    net = network(1)
    node = net[0]
    node.start(mine=True)
    url = node.status()["rpc"]
    log(f"{node.name} serves JSON-RPC at {url}")
    assert url.startswith("http://127.0.0.1:") and not url.endswith(":8545")
    chain_id = rpc_call(url, "eth_chainId")["result"]
    assert int(chain_id, 16) == node.info()["chain_id"]  # type: ignore[index]
    wait_until(lambda: int(rpc_call(url, "eth_blockNumber")["result"], 16) >= 2, 120,
               "two blocks over JSON-RPC")
    assert node.height() >= 2

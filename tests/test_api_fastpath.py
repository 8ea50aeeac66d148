"""``POST /`` is served by the plain ASGI path in front of Starlette, with the same behaviour.

Over real HTTP on one keep-alive connection: requests in one piece or in chunks without a
length are answered, a chunked body over the limit is refused with 413 and the JSON-RPC error
(without reading it all), and every other route (the explorer, ``/metrics``, a wrong method)
still reaches the Starlette app behind it.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from poqw.api.config import RpcConfig
from poqw.api.testing import RpcThread, rpc_in_thread
from poqw.node import Node, load_config
from poqw.node.testing import genesis_document


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RpcThread]:
    root: Path = tmp_path_factory.mktemp("fastpath")
    genesis = root / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    config = load_config(None, {"global.datadir": str(root / "node"),
                                "global.genesis": str(genesis), "global.key_height": 6})
    with Node(config) as node, rpc_in_thread(node, RpcConfig(max_body_bytes=4096)) as served:
        yield served


def connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)


def chunks(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def exchange(conn: http.client.HTTPConnection, method: str, path: str,
             body: bytes | Iterator[bytes] | None = None) -> tuple[int, str, bytes]:
    headers = {"Content-Type": "application/json"}
    conn.request(method, path, body=body, headers=headers,
                 encode_chunked=body is not None and not isinstance(body, bytes))
    response = conn.getresponse()
    return response.status, response.getheader("content-type") or "", response.read()


def test_one_connection_in_one_piece_in_chunks_and_over_the_limit(server: RpcThread) -> None:
    conn = connect(server.url)
    try:
        request = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "eth_blockNumber",
                              "params": []}).encode()
        for _ in range(3):  # keep-alive: each answer whole, in order
            status, kind, body = exchange(conn, "POST", "/", request)
            assert (status, kind) == (200, "application/json")
            assert json.loads(body) == {"jsonrpc": "2.0", "id": 7, "result": "0x0"}
        status, _, body = exchange(conn, "POST", "/", chunks(request, 5))
        assert status == 200 and json.loads(body)["result"] == "0x0"
        # notifications only: an empty answer
        note = json.dumps({"jsonrpc": "2.0", "method": "eth_blockNumber"}).encode()
        assert exchange(conn, "POST", "/", note)[::2] == (200, b"")
    finally:
        conn.close()

    conn = connect(server.url)
    try:
        huge = b'{"jsonrpc": "2.0", "id": 1, "method": "web3_sha3", "params": ["0x' + \
            b"00" * 4000 + b'"]}'
        status, kind, body = exchange(conn, "POST", "/", chunks(huge, 1000))
        assert (status, kind) == (413, "application/json")
        assert json.loads(body)["error"] == {
            "code": -32600, "message": "request body exceeds the limit of 4096 bytes"}
    finally:
        conn.close()


def test_other_routes_reach_the_app_behind(server: RpcThread) -> None:
    conn = connect(server.url)
    try:
        status, kind, body = exchange(conn, "GET", "/")
        assert status == 200 and kind.startswith("text/html") and b"<html" in body.lower()
        status, kind, body = exchange(conn, "GET", "/metrics")
        assert status == 200 and b"poqw_rpc_requests" in body
        assert exchange(conn, "POST", "/metrics", b"{}")[0] == 405
        assert exchange(conn, "POST", "/nowhere", b"{}")[0] == 404
    finally:
        conn.close()

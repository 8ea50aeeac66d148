"""Helpers for tests of the API: serve a node's JSON-RPC from a background thread, so a test (or
web3.py, or ``cast``) can talk to it over real HTTP while the test drives the node.

:func:`rpc_in_thread` runs an event loop in a daemon thread, starts the server on a free port of
127.0.0.1 and yields its URL; leaving the ``with`` block stops the server and the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from poqw.api.backend import NodeBackend
from poqw.api.config import RpcConfig
from poqw.api.server import RpcServer, build_app

if TYPE_CHECKING:
    from poqw.node import Node

__all__ = ["RpcThread", "post", "rpc_call", "rpc_in_thread"]


class RpcThread:
    """A server for ``node`` on its own loop in a daemon thread (see :func:`rpc_in_thread`)."""

    def __init__(self, node: Node, config: RpcConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.backend = NodeBackend(node, config)
        self.backend.bind_loop(self.loop)
        self.app = build_app(self.backend, config)
        self._thread = threading.Thread(target=self.loop.run_forever, name="poqw-rpc-test",
                                        daemon=True)
        self._thread.start()
        self.server: RpcServer = self.run(self._start(config))
        self.url = self.server.url
        self.backend.rpc_url = self.url

    async def _start(self, config: RpcConfig) -> RpcServer:
        server = RpcServer(self.app, config.host, config.port,
                           max_connections=config.max_connections)
        await server.start()
        return server

    def run(self, coro: Any) -> Any:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def close(self) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@contextlib.contextmanager
def rpc_in_thread(node: Node, config: RpcConfig | None = None) -> Iterator[RpcThread]:
    """Serve ``node`` on a free port of 127.0.0.1 for the ``with`` block."""
    server = RpcThread(node, replace(config or RpcConfig(), host="127.0.0.1", port=0))
    try:
        yield server
    finally:
        server.close()


def post(url: str, body: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    """POST raw ``body`` as JSON; the HTTP status and the response body."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def rpc_call(url: str, method: str, *params: Any) -> Any:
    """The whole JSON-RPC response object of one call."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    _, answer = post(url, body.encode())
    return json.loads(answer)

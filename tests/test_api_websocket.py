"""The WebSocket endpoint against a real node backend: a consumer that stops reading is closed
with code 1008 and a reason once its bounded outbox overflows (memory does not grow), and its
subscriptions and filters go with it; a consumer that reads gets every answer in order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poqw.api.backend import NodeBackend
from poqw.api.config import RpcConfig
from poqw.api.headfeed import feed_of
from poqw.api.server import default_registry
from poqw.api.subscriptions import SLOW_CONSUMER_CLOSE_CODE, serve_websocket
from poqw.node import Node, load_config
from poqw.node.testing import genesis_document


class ScriptedSocket:
    """The Starlette WebSocket surface ``serve_websocket`` uses, driven by a script: it sends
    ``requests``, then waits; after ``reads`` messages its reading stalls (a client that no
    longer reads: the TCP window is full, so a send never completes)."""

    def __init__(self, requests: list[dict[str, Any]], reads: int) -> None:
        self.requests = [json.dumps(r) for r in requests]
        self.reads = reads
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self._forever = asyncio.Event()

    async def accept(self) -> None:
        return None

    async def receive(self) -> dict[str, Any]:
        await asyncio.sleep(0)  # a network read yields to the loop
        if self.requests:
            return {"type": "websocket.receive", "text": self.requests.pop(0)}
        await self._forever.wait()
        raise AssertionError("unreachable")

    async def send_text(self, text: str) -> None:
        if len(self.sent) >= self.reads:
            await self._forever.wait()
        self.sent.append(json.loads(text))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeBackend]:
    root: Path = tmp_path_factory.mktemp("ws")
    genesis = root / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    config = load_config(None, {"global.datadir": str(root / "node"),
                                "global.genesis": str(genesis), "global.key_height": 6})
    with Node(config) as node:
        yield NodeBackend(node, RpcConfig())


def request(i: int, method: str, params: list[Any] | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": i, "method": method, "params": params or []}


def serve(backend: NodeBackend, socket: ScriptedSocket, capacity: int) -> None:
    async def run() -> None:
        backend.bind_loop(asyncio.get_running_loop())
        task = asyncio.create_task(serve_websocket(
            socket, backend, backend.config, default_registry(),  # type: ignore[arg-type]
            outbox_capacity=capacity))
        await asyncio.wait_for(task, 30)
    asyncio.run(run())


def test_a_consumer_that_stops_reading_is_closed_with_a_reason(backend: NodeBackend) -> None:
    requests = [request(1, "eth_subscribe", ["newHeads"]), request(2, "eth_newBlockFilter")]
    requests += [request(3 + i, "eth_chainId") for i in range(20)]
    socket = ScriptedSocket(requests, reads=2)
    serve(backend, socket, capacity=4)
    assert [m["id"] for m in socket.sent] == [1, 2]
    assert socket.closed is not None
    code, reason = socket.closed
    assert code == SLOW_CONSUMER_CLOSE_CODE
    assert "subscriber too slow: 4 notifications waited unread" in reason
    feed = feed_of(backend, backend.config)
    assert feed.listeners == []
    assert feed.filters.owned_by(id(socket)) == 0 and len(feed.filters) == 0


def test_a_consumer_that_reads_gets_every_answer_in_order(backend: NodeBackend) -> None:
    requests = [request(i, "eth_chainId") for i in range(10)]
    requests.append(request(10, "eth_subscribe", ["newBlocks"]))
    requests.append(request(11, "eth_unsubscribe", ["0x00"]))
    requests.append(request(12, "eth_chainId", ["x" * 6_000_000]))  # over max_body_bytes

    class Reading(ScriptedSocket):
        async def receive(self) -> dict[str, Any]:
            if self.requests:
                return await super().receive()
            while len(self.sent) < 13:  # let the answers out, then hang up
                await asyncio.sleep(0.01)
            return {"type": "websocket.disconnect", "code": 1000}

    socket = Reading(requests, reads=100)
    serve(backend, socket, capacity=4)
    assert [m["id"] for m in socket.sent] == [*range(12), None]
    assert socket.sent[0]["result"] == hex(backend.chain_id)
    assert socket.sent[10]["error"]["code"] == -32602
    assert "'newBlocks' is not one of newHeads, logs" in socket.sent[10]["error"]["message"]
    assert socket.sent[11]["result"] is False
    assert socket.sent[12]["error"]["code"] == -32600
    assert "exceeds the limit of 5242880 bytes" in socket.sent[12]["error"]["message"]
    assert socket.closed is None  # a normal end: the client hung up

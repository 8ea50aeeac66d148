"""The JSON-RPC hot path as a plain ASGI app: ``POST /`` goes straight from uvicorn to the
dispatcher, everything else (WebSocket, ``/metrics``, the explorer) to the Starlette app.

Starlette's routing, ``Request`` and ``Response`` objects and middleware stack cost about as much
CPU per request as answering ``eth_blockNumber`` itself; for the one route every client hammers,
this module reads the body (with the same size limit), calls the dispatcher and writes the answer
with two ASGI messages. Behaviour is the same as the Starlette route it stands in front of.
:class:`CoalescingHttpProtocol` is uvicorn's httptools protocol whose writes within one step of
the event loop leave in one ``send``: uvicorn writes a response's head and body separately, and
on loopback each ``send`` costs as much as the rest of a small request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from poqw.api.jsonrpc import INVALID_REQUEST, RpcError, error_response

__all__ = ["CoalescingHttpProtocol", "JsonRpcFastPath"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Dispatch = Callable[[bytes], Awaitable[bytes | None]]

_JSON_HEADER = (b"content-type", b"application/json")


class JsonRpcFastPath:
    """ASGI app: ``POST /`` to ``dispatch(body) -> response bytes``, the rest to ``app``
    (whose ``state`` this app shares)."""

    def __init__(self, app: Any, dispatch: Dispatch, max_body_bytes: int) -> None:
        self.app = app
        self.state = app.state
        self._dispatch = dispatch
        self._limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/":
            await self.app(scope, receive, send)
            return
        body = await self._read_body(scope, receive)
        if body is None:
            await _respond(send, 413, _refusal(f"request body exceeds the limit of "
                                               f"{self._limit} bytes"))
            return
        answer = await self._dispatch(body)
        await _respond(send, 200, b"" if answer is None else answer)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The request body, or None when it is over the limit (read no further)."""
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self._limit:
                    return None
                break
        message = await receive()
        body = message.get("body", b"")
        if not message.get("more_body", False):
            return body if len(body) <= self._limit else None
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: answer what came (uvicorn drops the answer)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)


def _refusal(message: str) -> bytes:
    return json.dumps(error_response(RpcError(INVALID_REQUEST, message))).encode()


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [_JSON_HEADER, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _CoalescingTransport:
    """A transport proxy that joins the writes of one event-loop step into one write (flushed by
    ``call_soon``, before ``close``); everything else goes to the real transport."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(p) for p in self._pending)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through :class:`_CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        proxy: Any = _CoalescingTransport(transport, asyncio.get_running_loop())
        self.transport = proxy

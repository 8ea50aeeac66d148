"""The JSON-RPC server turns Nagle's algorithm off on every accepted connection: with it on, a
keep-alive client's next request waited for a delayed ACK (about 40 ms per request on Linux)."""

from __future__ import annotations

import asyncio
import socket

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from poqw.api.server import serve


async def _ok(request: Request) -> Response:
    return Response(b"{}", media_type="application/json")


def test_accepted_connections_have_tcp_nodelay() -> None:
    async def run() -> list[int]:
        server = await serve(Starlette(routes=[Route("/", _ok, methods=["POST"])]),
                             "127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
            flags = [
                conn.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP,
                                                                   socket.TCP_NODELAY)
                for conn in server._server.server_state.connections]
            writer.close()
            return flags
        finally:
            await server.stop()
    flags = asyncio.run(run())
    assert flags and all(flags), flags

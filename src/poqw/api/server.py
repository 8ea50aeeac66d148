"""The node's HTTP server: JSON-RPC over HTTP ``POST /`` (and WebSocket on the same port), on
uvicorn running inside the node's own asyncio loop.

:func:`build_app` makes the Starlette app: the JSON-RPC endpoint with its body-size limit, CORS
only when configured, and the routes other modules add (:func:`extension_routes`: metrics,
explorer, WebSocket subscriptions). :class:`RpcServer` binds the socket itself (port 0: a free
port, known before serving), runs uvicorn without its signal handlers (the node owns SIGINT and
SIGTERM) and stops cleanly; a crash of the server task reaches ``on_failure``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from poqw.api import eth, filters, logs, poqw_ns, subscriptions
from poqw.api.backend import NodeBackend
from poqw.api.config import RpcConfig, rpc_config_from
from poqw.api.explorer import explorer_routes
from poqw.api.fastpath import CoalescingHttpProtocol, JsonRpcFastPath
from poqw.api.jsonrpc import (
    INVALID_REQUEST,
    ConnectionState,
    MethodRegistry,
    RpcContext,
    RpcError,
    error_response,
    handle_body,
)
from poqw.api.metrics import NodeMetrics, metrics_route, node_metrics
from poqw.errors import ConfigError

if TYPE_CHECKING:
    from poqw.node import Node, NodeConfig
    from poqw.node.network import NetworkService

__all__ = ["RpcServer", "build_app", "default_registry", "extension_routes", "serve",
           "start_node_rpc"]

log = logging.getLogger("poqw.api")
_JSON = "application/json"


def default_registry() -> MethodRegistry:
    """Every JSON-RPC method the node serves."""
    registry = MethodRegistry()
    eth.register(registry)
    poqw_ns.register(registry)
    logs.register(registry)
    filters.register(registry)
    subscriptions.register(registry)
    return registry


def extension_routes(backend: NodeBackend, config: RpcConfig, registry: MethodRegistry,
                     metrics: NodeMetrics) -> list[BaseRoute]:
    """Routes other API modules add beside ``POST /``: the WebSocket endpoint at ``/``
    (poqw.api.subscriptions), ``/metrics`` (poqw.api.metrics.metrics_route) and the explorer
    at ``/`` and ``/explorer`` (poqw.api.explorer.explorer_routes)."""
    return [subscriptions.websocket_route(backend, config, registry), metrics_route(metrics),
            *explorer_routes()]


def _json_response(body: bytes | None, status: int = 200) -> Response:
    return Response(b"" if body is None else body, status_code=status, media_type=_JSON)


def _refuse(status: int, message: str) -> Response:
    import json

    body = json.dumps(error_response(RpcError(INVALID_REQUEST, message))).encode()
    return _json_response(body, status)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is over ``limit`` bytes (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(backend: NodeBackend, config: RpcConfig, registry: MethodRegistry | None = None,
              on_call: Callable[[str, float, bool], None] | None = None
              ) -> Starlette | JsonRpcFastPath:
    """The app serving ``backend`` (see the module docstring): Starlette, behind the plain ASGI
    ``POST /`` path of :mod:`poqw.api.fastpath` unless CORS is on; every JSON-RPC call
    is counted in the node's metrics (``app.state.metrics``) and, if given, seen by
    ``on_call(method, seconds, ok)``."""
    methods = registry or default_registry()
    metrics = node_metrics(backend, methods.names())  # before mining starts: counts every block

    def observe(method: str, seconds: float, ok: bool) -> None:
        metrics.observe_rpc(method, seconds, ok)
        if on_call is not None:
            on_call(method, seconds, ok)
    http_connection = ConnectionState(kind="http")
    ctx = RpcContext(backend, http_connection, config)

    async def rpc_http(request: Request) -> Response:
        body = await _read_body(request, config.max_body_bytes)
        if body is None:
            return _refuse(413, f"request body exceeds the limit of {config.max_body_bytes} "
                           "bytes")
        answer = await handle_body(methods, ctx, body, observe)
        return _json_response(answer)

    routes: list[BaseRoute] = [Route("/", rpc_http, methods=["POST"])]
    routes += extension_routes(backend, config, methods, metrics)
    middleware = []
    if config.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                                     allow_methods=["GET", "POST"],
                                     allow_headers=["content-type"]))
    app = Starlette(routes=routes, middleware=middleware)
    app.state.backend = backend
    app.state.registry = methods
    app.state.rpc_config = config
    app.state.http_connection = http_connection
    app.state.metrics = metrics
    if config.cors_origins:  # CORS answers preflights and adds headers: Starlette does it all
        return app
    return JsonRpcFastPath(app, lambda body: handle_body(methods, ctx, body, observe),
                           config.max_body_bytes)


class _Uvicorn(uvicorn.Server):
    """uvicorn without its SIGINT/SIGTERM handlers: the node decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say TCP,
    # and with Nagle on, every keep-alive request waits ~40 ms for a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen for JSON-RPC on {host}:{port}: {exc.strerror} "
                          "(--rpc-port 0 picks a free port, --no-rpc turns the RPC off)"
                          ) from None
    return sock


class RpcServer:
    """uvicorn serving ``app`` on one socket inside the running loop."""

    def __init__(self, app: Any, host: str, port: int,
                 on_failure: Callable[[BaseException], None] | None = None,
                 max_connections: int = 256) -> None:
        self.app = app
        self.host = host
        self._sock = _bind(host, port)
        self.port: int = self._sock.getsockname()[1]
        self.on_failure = on_failure
        self._server = _Uvicorn(uvicorn.Config(
            app, lifespan="off", log_config=None, access_log=False, ws="websockets-sansio",
            http=CoalescingHttpProtocol, proxy_headers=False,  # no client address is used
            timeout_graceful_shutdown=2, server_header=False,
            limit_concurrency=max_connections))  # past it: HTTP 503, not a pile-up
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> int:
        """Serve in a task of the current loop; returns once requests are accepted."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]),
                                         name="poqw-rpc")
        self._task.add_done_callback(self._ended)
        while not self._server.started:
            if self._task.done():
                self._task.result()  # the reason it could not start
                raise ConfigError("the JSON-RPC server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("JSON-RPC listening on %s", self.url)
        return self.port

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stopping:
            return
        exc = task.exception()
        reason: BaseException = exc if exc is not None else \
            RuntimeError("the JSON-RPC server stopped by itself")
        log.error("JSON-RPC server failed: %s", reason, exc_info=exc)
        if self.on_failure is not None:
            self.on_failure(reason)

    async def stop(self) -> None:
        """Stop accepting, finish or drop open requests (2 s at most), close the socket."""
        self._stopping = True
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._sock.close()
        registry = getattr(getattr(self.app, "state", None), "registry", None)
        if isinstance(registry, MethodRegistry):
            registry.close()
        log.info("JSON-RPC on %s stopped", self.url)


async def serve(app: Any, host: str, port: int,
                on_failure: Callable[[BaseException], None] | None = None,
                max_connections: int = 256) -> RpcServer:
    """Start serving ``app`` on ``host:port`` (0: a free port) in this loop; the returned
    server has ``port``, ``url`` and ``stop()``."""
    server = RpcServer(app, host, port, on_failure, max_connections)
    await server.start()
    return server


async def start_node_rpc(node: Node, config: NodeConfig, network: NetworkService | None = None,
                         on_failure: Callable[[BaseException], None] | None = None
                         ) -> RpcServer | None:
    """The JSON-RPC server of ``poqw node`` per its ``[global]`` rpc settings (None: off)."""
    rpc_config = rpc_config_from(config.global_)
    if not rpc_config.enabled:
        return None
    backend = NodeBackend(node, rpc_config, network)
    backend.bind_loop(asyncio.get_running_loop())
    server = await serve(build_app(backend, rpc_config), rpc_config.host, rpc_config.port,
                         on_failure, rpc_config.max_connections)
    backend.rpc_url = server.url
    return server

"""JSON-RPC 2.0: the request envelope, batches, errors and the method registry.

:func:`handle_body` takes the raw bytes of an HTTP body (or a WebSocket message), checks the
envelope (``jsonrpc``, ``method``, ``params``, ``id``), runs each call through the
:class:`MethodRegistry` and returns the response bytes (``None`` when only notifications came).
Handlers receive a :class:`RpcContext` and their parameters already validated by pydantic, one
``TypeAdapter`` per declared :class:`Param`, so a wrong argument is refused with -32602 naming
it. Synchronous handlers run in worker threads (they read SQLite and run the EVM): those registered
``evm`` (calls, gas estimates) in a pool of their own, so slow calls cannot hold up the cheap
reads of other clients; ``async`` handlers and those registered ``on_loop`` run on the event loop.
A method may also register a ``fast`` path that the loop tries first (an answer it already has,
e.g. a remembered call result): anything but :data:`NOT_READY` is the answer, with no thread hop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from poqw.errors import PoqwError, RpcError

if TYPE_CHECKING:
    from poqw.api.backend import NodeBackend
    from poqw.api.config import RpcConfig

__all__ = [
    "EXECUTION_REVERTED",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "NOT_READY",
    "PARSE_ERROR",
    "SERVER_ERROR",
    "ConnectionState",
    "Handler",
    "MethodRegistry",
    "Param",
    "RpcContext",
    "RpcError",
    "error_response",
    "handle_body",
    "internal_error",
    "invalid_params",
    "invalid_request",
    "method_not_found",
    "server_error",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000  # geth: a transaction or state query refused
EXECUTION_REVERTED = 3  # geth: eth_call / eth_estimateGas reverted; data holds the revert data

log = logging.getLogger("poqw.api")

NOT_READY: Any = object()
"""What a method's ``fast`` path returns when it has no answer at hand."""


def invalid_params(name: str, why: str) -> RpcError:
    """-32602 naming the parameter (``name``) and what is wrong with it."""
    return RpcError(INVALID_PARAMS, f"invalid argument {name}: {why}")


def invalid_request(why: str) -> RpcError:
    return RpcError(INVALID_REQUEST, f"invalid request: {why}")


def method_not_found(method: str) -> RpcError:
    return RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")


def server_error(message: str, data: Any = None) -> RpcError:
    return RpcError(SERVER_ERROR, message, data)


def internal_error(message: str = "internal error") -> RpcError:
    return RpcError(INTERNAL_ERROR, message)


@dataclass
class ConnectionState:
    """What one client owns between requests: all HTTP clients share one (filters installed
    over HTTP are polled by later requests), each WebSocket has its own. ``send`` pushes a
    notification to a WebSocket client (``None`` over HTTP); ``on_close`` callbacks run when
    the connection ends; ``items`` is where the filter and subscription modules keep theirs."""

    kind: str = "http"
    send: Callable[[dict[str, Any]], Awaitable[None]] | None = None
    items: dict[str, Any] = field(default_factory=dict)
    on_close: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        callbacks, self.on_close = self.on_close, []
        for callback in callbacks:
            callback()


@dataclass(frozen=True)
class RpcContext:
    """What a handler may use: the node (through :class:`NodeBackend`), the caller's
    connection state and the API settings."""

    backend: NodeBackend
    connection: ConnectionState
    config: RpcConfig


_REQUIRED: Any = object()


@dataclass(frozen=True)
class Param:
    """One positional parameter: its name (for error messages), its type (validated with a
    pydantic ``TypeAdapter``) and, for an optional one, its default."""

    name: str
    type: Any
    default: Any = _REQUIRED

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


Handler = Callable[[RpcContext, list[Any]], Any]


@dataclass(frozen=True)
class _Method:
    handler: Handler
    params: tuple[Param, ...] | None
    adapters: tuple[TypeAdapter[Any], ...]
    on_loop: bool
    evm: bool
    fast: Handler | None = None

    @functools.cached_property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)

    def validate(self, params: list[Any]) -> list[Any]:
        if self.params is None:  # the handler validates for itself
            return params
        if len(params) > len(self.params):
            raise invalid_params(f"{len(self.params)}", f"too many arguments, want at most "
                                 f"{len(self.params)}, got {len(params)}")
        out = []
        for index, (spec, adapter) in enumerate(zip(self.params, self.adapters, strict=True)):
            value = params[index] if index < len(params) else None
            if value is None:
                if spec.required:
                    raise invalid_params(f"{index} ({spec.name})",
                                         "missing value for required argument")
                out.append(spec.default)
                continue
            try:
                out.append(adapter.validate_python(value))
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first.get("loc", ()))
                detail = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
                raise invalid_params(f"{index} ({spec.name}{'.' + where if where else ''})",
                                     detail) from None
        return out


class MethodRegistry:
    """Method name -> handler with its declared parameters.

    ``@registry.method("eth_getBalance", Param("address", Address), Param("block", BlockId,
    LATEST))`` registers ``def handler(ctx, params)``; ``params`` arrive validated, optional ones
    filled with their defaults. Without declared parameters the handler gets the raw list."""

    def __init__(self, read_threads: int = 4, evm_threads: int = 2) -> None:
        self._methods: dict[str, _Method] = {}
        self._reads = ThreadPoolExecutor(read_threads, thread_name_prefix="poqw-rpc")
        self._evm = ThreadPoolExecutor(evm_threads, thread_name_prefix="poqw-rpc-evm")

    def close(self) -> None:
        """Stop the worker threads (calls still queued are dropped)."""
        self._reads.shutdown(wait=False, cancel_futures=True)
        self._evm.shutdown(wait=False, cancel_futures=True)

    def method(self, name: str, *params: Param, raw_params: bool = False,
               on_loop: bool = False, evm: bool = False,
               fast: Handler | None = None) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if name in self._methods:
                raise ValueError(f"JSON-RPC method {name} registered twice")
            specs = None if raw_params else tuple(params)
            adapters = tuple(TypeAdapter(p.type) for p in params)
            self._methods[name] = _Method(handler, specs, adapters, on_loop, evm, fast)
            return handler
        return register

    def names(self) -> list[str]:
        return sorted(self._methods)

    def __contains__(self, name: str) -> bool:
        return name in self._methods

    def pool_for(self, request: Any) -> ThreadPoolExecutor | None:
        """The worker pool that answers ``request`` (a request object), or None when it is
        answered on the loop (or refused before any handler runs)."""
        if not isinstance(request, dict) or not _valid_id(request.get("id")):
            return None
        name = request.get("method")
        method = self._methods.get(name) if isinstance(name, str) else None
        if method is None or method.on_loop or method.is_async:
            return None
        return self._evm if method.evm else self._reads

    def _prepare(self, ctx: RpcContext, name: str, params: list[Any]
                 ) -> tuple[_Method, list[Any], Any]:
        """The method, its validated parameters, and its fast path's answer (NOT_READY when
        the handler must run)."""
        method = self._methods.get(name)
        if method is None:
            raise method_not_found(name)
        values = method.validate(params)
        answer = NOT_READY if method.fast is None else method.fast(ctx, values)
        return method, values, answer

    def call_here(self, ctx: RpcContext, name: str, params: list[Any]) -> Any:
        """:meth:`call` of a method with a synchronous handler, in the calling thread."""
        method, values, answer = self._prepare(ctx, name, params)
        return method.handler(ctx, values) if answer is NOT_READY else answer

    async def call(self, ctx: RpcContext, name: str, params: list[Any]) -> Any:
        method, values, answer = self._prepare(ctx, name, params)
        if answer is not NOT_READY:
            return answer
        if method.is_async:
            return await method.handler(ctx, values)
        if method.on_loop:
            return method.handler(ctx, values)
        pool = self._evm if method.evm else self._reads
        return await asyncio.get_running_loop().run_in_executor(pool, method.handler, ctx, values)


def error_response(error: RpcError, request_id: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.data is not None:
        body["data"] = error.data
    return {"jsonrpc": "2.0", "id": request_id, "error": body}


def _valid_id(request_id: Any) -> bool:
    return request_id is None or (isinstance(request_id, str | int)
                                  and not isinstance(request_id, bool))


def _request_id(request: dict[str, Any]) -> Any:
    request_id = request.get("id")
    if _valid_id(request_id):
        return request_id
    raise invalid_request("id must be a string, an integer or null")


def _call_of(request: dict[str, Any]) -> tuple[str, list[Any]]:
    """The envelope checks of one request object; its method name and parameter list."""
    method = request.get("method")
    if request.get("jsonrpc") != "2.0":
        raise invalid_request("\"jsonrpc\" must be \"2.0\"")
    if not isinstance(method, str) or not method:
        raise invalid_request("\"method\" must be a non-empty string")
    params = request.get("params", [])
    if params is None:
        params = []
    if isinstance(params, dict):
        raise invalid_params("params", "parameters by name are not supported; send a list")
    if not isinstance(params, list):
        raise invalid_params("params", f"expected a list, got {type(params).__name__}")
    return method, params


def _failure(exc: Exception, method: Any, request_id: Any) -> dict[str, Any]:
    """The error response for what a call raised."""
    if isinstance(exc, RpcError):
        return error_response(exc, request_id)
    if isinstance(exc, PoqwError):  # StorageError among them
        return error_response(server_error(str(exc)), request_id)
    # a bug: the client gets -32603, the log gets the traceback
    log.error("JSON-RPC %s failed unexpectedly: %s", method, exc, exc_info=exc)
    return error_response(internal_error(f"internal error: {type(exc).__name__}"), request_id)


async def _one(registry: MethodRegistry, ctx: RpcContext, request: Any,
               on_call: Callable[[str, float, bool], None] | None) -> dict[str, Any] | None:
    """The response to one request object (``None`` for a notification)."""
    if not isinstance(request, dict):
        return error_response(invalid_request(f"expected a request object, got "
                                              f"{type(request).__name__}"))
    try:
        request_id = _request_id(request)
    except RpcError as exc:
        return error_response(exc)
    method = request.get("method")
    started = time.monotonic()
    ok = False
    try:
        result = await registry.call(ctx, *_call_of(request))
        ok = True
        response: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "result": result}
    except Exception as exc:
        response = _failure(exc, method, request_id)
    if on_call is not None and isinstance(method, str):
        on_call(method, time.monotonic() - started, ok)
    return None if "id" not in request else response


def _one_in_thread(registry: MethodRegistry, ctx: RpcContext, request: dict[str, Any],
                   on_call: Callable[[str, float, bool], None] | None
                   ) -> dict[str, Any] | None:
    """:func:`_one` for a request whose method runs in a worker thread, in that thread."""
    method = request["method"]
    request_id = request.get("id")
    started = time.monotonic()
    ok = False
    try:
        result = registry.call_here(ctx, *_call_of(request))
        ok = True
        response: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "result": result}
    except Exception as exc:
        response = _failure(exc, method, request_id)
    if on_call is not None:
        on_call(method, time.monotonic() - started, ok)
    return None if "id" not in request else response


def _run_in_thread(registry: MethodRegistry, ctx: RpcContext, run: list[dict[str, Any]],
                   on_call: Callable[[str, float, bool], None] | None
                   ) -> list[dict[str, Any] | None]:
    return [_one_in_thread(registry, ctx, request, on_call) for request in run]


async def _batch(registry: MethodRegistry, ctx: RpcContext, payload: list[Any],
                 on_call: Callable[[str, float, bool], None] | None
                 ) -> list[dict[str, Any] | None]:
    """The responses to a batch, in order: each run of consecutive requests whose methods run
    in the same worker pool goes to that pool as one job (one thread hop, not one per
    request); the others are answered on the loop as single requests are."""
    answers: list[dict[str, Any] | None] = []
    loop = asyncio.get_running_loop()
    start = 0
    while start < len(payload):
        pool = registry.pool_for(payload[start])
        if pool is None:
            answers.append(await _one(registry, ctx, payload[start], on_call))
            start += 1
            continue
        end = start + 1
        while end < len(payload) and registry.pool_for(payload[end]) is pool:
            end += 1
        run = payload[start:end]
        answers += await loop.run_in_executor(pool, _run_in_thread, registry, ctx, run, on_call)
        start = end
    return answers


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def handle_body(registry: MethodRegistry, ctx: RpcContext, body: bytes,
                      on_call: Callable[[str, float, bool], None] | None = None) -> bytes | None:
    """The JSON-RPC response to ``body`` (one request or a batch), or ``None`` when nothing is
    to be answered (notifications only). ``on_call(method, seconds, ok)`` sees every call (for
    metrics)."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return _dump(error_response(RpcError(PARSE_ERROR, f"parse error: {exc}")))
    if isinstance(payload, list):
        if not payload:
            return _dump(error_response(invalid_request("empty batch")))
        if len(payload) > ctx.config.max_batch:
            return _dump(error_response(invalid_request(
                f"batch of {len(payload)} requests exceeds the limit of "
                f"{ctx.config.max_batch}")))
        answers = await _batch(registry, ctx, payload, on_call)
        kept = [a for a in answers if a is not None]
        return _limited(_dump(kept), ctx.config.max_response_bytes) if kept else None
    answer = await _one(registry, ctx, payload, on_call)
    if answer is None:
        return None
    return _limited(_dump(answer), ctx.config.max_response_bytes, answer.get("id"))


def _limited(body: bytes, limit: int, request_id: Any = None) -> bytes:
    """``body``, or an error when it is over ``limit`` bytes (ask for less at a time)."""
    if len(body) <= limit:
        return body
    return _dump(error_response(server_error(f"response of {len(body)} bytes exceeds the limit "
                                             f"of {limit} bytes; ask for less at once"),
                                request_id))

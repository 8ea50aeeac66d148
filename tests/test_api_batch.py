"""A JSON-RPC batch goes to the worker threads once per run of requests, not once per request.

Each thread hop costs the event loop a wake-up and a future, more than a cheap state read; a
batch of reads is therefore handed to the pool as one job per run of consecutive requests for
the same pool. The answers keep the batch's order and each request keeps its own error, metrics
see every call, and methods answered on the loop split the runs, so the order of effects is the
batch's order.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from poqw.api.config import RpcConfig
from poqw.api.jsonrpc import (
    ConnectionState,
    MethodRegistry,
    Param,
    RpcContext,
    handle_body,
)

EVENTS: list[str] = []


def registry_with_probes() -> MethodRegistry:
    registry = MethodRegistry()

    @registry.method("test_read", Param("n", int))
    def read(ctx: RpcContext, params: list[Any]) -> int:
        EVENTS.append(f"read {params[0]} in {threading.current_thread().name}")
        return int(params[0]) * 2

    @registry.method("test_loop", on_loop=True)
    def on_loop(ctx: RpcContext, params: list[Any]) -> str:
        EVENTS.append("loop")
        return "loop"

    @registry.method("test_evm", evm=True)
    def evm(ctx: RpcContext, params: list[Any]) -> str:
        EVENTS.append("evm")
        return "evm"
    return registry


class CountingSubmits:
    """Counts the jobs given to a real thread pool."""

    def __init__(self, pool: Any) -> None:
        self.jobs = 0
        real = pool.submit

        def submit(*args: Any, **kwargs: Any) -> Any:
            self.jobs += 1
            return real(*args, **kwargs)
        pool.submit = submit


def request(method: str, *params: Any, id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": list(params)}


def test_a_batch_hops_to_the_pool_once_per_run() -> None:
    registry = registry_with_probes()
    reads = CountingSubmits(registry._reads)
    evms = CountingSubmits(registry._evm)
    ctx: Any = RpcContext(None, ConnectionState(), RpcConfig())  # type: ignore[arg-type]
    seen: list[tuple[str, bool]] = []
    batch = [request("test_read", n, id=n) for n in range(5)]
    batch += [request("test_read", "not a number", id=5), request("test_loop", id=6),
              request("test_read", 7, id=7), {"jsonrpc": "2.0", "method": "test_read",
                                               "params": [8]},  # a notification
              request("test_evm", id=9), request("test_evm", id=10),
              request("no_such_method", id=11)]
    EVENTS.clear()
    try:
        body = asyncio.run(handle_body(registry, ctx, json.dumps(batch).encode(),
                                       lambda method, _s, ok: seen.append((method, ok))))
    finally:
        registry.close()
    assert body is not None
    answers = json.loads(body)
    assert [a["id"] for a in answers] == [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11]  # no notification
    assert [a.get("result") for a in answers[:5]] == [0, 2, 4, 6, 8]
    assert answers[5]["error"]["code"] == -32602 and "0 (n)" in answers[5]["error"]["message"]
    assert [a.get("result") for a in answers[6:10]] == ["loop", 14, "evm", "evm"]
    assert answers[10]["error"]["code"] == -32601
    # reads 0-5 in one job, the loop method, reads 7 and 8 in a second job, both evm calls in
    # one evm job; the effects in the batch's order
    assert (reads.jobs, evms.jobs) == (2, 1)
    assert [e.split(" in ")[0] for e in EVENTS] == [
        "read 0", "read 1", "read 2", "read 3", "read 4", "loop", "read 7", "read 8", "evm",
        "evm"]
    assert len({e.split(" in ")[1] for e in EVENTS[:5]}) == 1  # one thread ran the first run
    # metrics saw every call, the failed ones as failures
    assert seen.count(("test_read", True)) == 7 and ("test_read", False) in seen
    assert ("no_such_method", False) in seen and len(seen) == 12

"""The explorer page: a read-only view of the chain that the node serves at ``/`` and ``/explorer``.

The page is static (``poqw/api/static``: one HTML file, one script, one stylesheet and the
vendored uPlot chart library); the browser reads everything through the node's JSON-RPC on the
same origin, like any other client. The server adds a strict Content-Security-Policy (scripts and
styles from this origin only, no inline code, no framing), so even a value that slipped past the
script's text-only rendering could not run. ``/explorer/market.json`` gives the page the problem
market's event topics (keccak is not in the browser), computed here from the shipped ABI.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["SECURITY_HEADERS", "STATIC", "explorer_routes", "market_events"]

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


STATIC = Path(__file__).resolve().parent / "static"
MARKET_ABI = Path(__file__).resolve().parents[1] / "market" / "artifacts" / "ProblemMarket.json"


@cache
def market_events() -> dict[str, Any]:
    """The problem market's events for the page: per event its ``topic`` (keccak-256 of the
    canonical signature, ``0x`` hex) and its inputs (name, type, indexed) in ABI order."""
    abi = json.loads(MARKET_ABI.read_text())["abi"]
    events: dict[str, Any] = {}
    for entry in abi:
        if entry.get("type") != "event":
            continue
        types = [i["type"] for i in entry["inputs"]]
        if any(t.startswith("tuple") for t in types):
            raise ValueError(f"event {entry['name']} has a tuple input; the explorer decodes "
                             "only elementary types")
        signature = f"{entry['name']}({','.join(types)})"
        events[entry["name"]] = {
            "signature": signature, "topic": "0x" + keccak(signature.encode()).hex(),
            "inputs": [{"name": i["name"], "type": i["type"], "indexed": i["indexed"]}
                       for i in entry["inputs"]]}
    return {"contract": "ProblemMarket", "events": events}


class _SecureStatic:
    """The static files, each answer with :data:`SECURITY_HEADERS`."""

    def __init__(self) -> None:
        self.files = StaticFiles(directory=STATIC)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.files(scope, receive, send_with_headers)


def explorer_routes() -> list[BaseRoute]:
    """``GET /`` and ``GET /explorer`` (the page), ``/explorer/static/...`` (its files) and
    ``/explorer/market.json`` (the market's event topics)."""
    page = (STATIC / "index.html").read_bytes()

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8",
                        headers={**SECURITY_HEADERS, "cache-control": "no-cache"})

    async def market(request: Request) -> Response:
        return JSONResponse(market_events(), headers=SECURITY_HEADERS)

    return [Route("/", index, methods=["GET", "HEAD"]),
            Route("/explorer/market.json", market, methods=["GET", "HEAD"]),
            Route("/explorer", index, methods=["GET", "HEAD"]),
            Mount("/explorer/static", app=_SecureStatic(), name="explorer-static")]

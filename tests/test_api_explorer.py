"""The explorer's HTTP side: the page and its files are served with a strict Content-Security-
Policy, the vendored chart library ships in the package with its licence, nothing outside the
static folder can be fetched, and the script never writes HTML from data.

The server is real uvicorn on a loopback port, serving just the explorer routes.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import uvicorn
from eth_utils.crypto import keccak
from starlette.applications import Starlette
from web3 import Web3

from poqw.api.explorer import MARKET_ABI, SECURITY_HEADERS, STATIC, explorer_routes, market_events
from poqw.errors import ConfigError
from poqw.node.config import load_config


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=explorer_routes()), lifespan="off",
                                           log_config=None, access_log=False))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        threading.Event().wait(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, \
                response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


@pytest.mark.parametrize("path", ["/", "/explorer"])
def test_the_page_is_served_with_a_strict_policy(base_url: str, path: str) -> None:
    status, headers, body = get(base_url + path)
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value
    assert "script-src 'self';" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    html = body.decode()
    # no inline script or style: everything the policy allows comes from /explorer/static
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/explorer/static/vendor/uPlot.iife.min.js">',
        '<script src="/explorer/static/explorer.js">',
        '<script src="/explorer/static/market.js">']
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handlers


@pytest.mark.parametrize(("path", "kind"), [
    ("/explorer/static/explorer.js", "javascript"),
    ("/explorer/static/market.js", "javascript"),
    ("/explorer/static/explorer.css", "text/css"),
    ("/explorer/static/vendor/uPlot.iife.min.js", "javascript"),
    ("/explorer/static/vendor/uPlot.min.css", "text/css"),
    ("/explorer/static/vendor/uPlot.LICENSE", "")])
def test_the_static_files_and_the_vendored_licence(base_url: str, path: str, kind: str) -> None:
    status, headers, body = get(base_url + path)
    assert status == 200 and body
    assert kind in headers["content-type"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == SECURITY_HEADERS["content-security-policy"]


def test_nothing_outside_the_static_folder_is_served(base_url: str) -> None:
    assert (STATIC.parent / "explorer.py").is_file()
    for path in ("/explorer/static/../explorer.py", "/explorer/static/%2e%2e/explorer.py",
                 "/explorer/static/vendor/../../explorer.py", "/explorer/static/nope.js"):
        status, _, body = get(base_url + path)
        assert status == 404, path
        assert b"import" not in body


@pytest.mark.parametrize("name", ["explorer.js", "market.js"])
def test_the_script_writes_text_never_html(name: str) -> None:
    script = (STATIC / name).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function"):
        assert sink not in script, sink
    assert "uPlot" in (STATIC / "vendor" / "uPlot.LICENSE").read_text() or \
        "Leon Sorokin" in (STATIC / "vendor" / "uPlot.LICENSE").read_text()


def test_the_market_topics_are_served_from_the_shipped_abi(base_url: str) -> None:
    status, headers, body = get(base_url + "/explorer/market.json")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert headers["content-security-policy"] == SECURITY_HEADERS["content-security-policy"]
    served = json.loads(body)
    assert served == market_events()
    events = served["events"]
    # the topics are keccak-256 of the canonical signatures, as web3.py computes them
    contract = Web3().eth.contract(abi=json.loads(MARKET_ABI.read_text())["abi"])
    for name in ("ProblemPosted", "Committed", "Revealed", "SolverReported", "ProblemSettled",
                 "ProblemRefunded", "ProblemCancelled"):
        abi_event = getattr(contract.events, name)
        assert events[name]["topic"] == "0x" + abi_event.topic.removeprefix("0x"), name
    assert events["ProblemSettled"]["signature"] == \
        "ProblemSettled(uint256,address,int64,uint256,uint256)"
    assert events["ProblemSettled"]["topic"] == \
        "0x" + keccak(b"ProblemSettled(uint256,address,int64,uint256,uint256)").hex()
    assert [i["name"] for i in events["Committed"]["inputs"] if i["indexed"]] == \
        ["problemId", "solver"]


def test_the_market_address_setting_is_checked() -> None:
    market = "0x" + "ab" * 20
    assert load_config(overrides={"global.market_address": market}).global_.market_address \
        == market
    assert load_config().global_.market_address == ""  # no market: the page asks
    for bad in ("0x1234", "ab" * 20, "0x" + "zz" * 20, "<script>"):
        with pytest.raises(ConfigError, match=r"market_address .*must be a contract address"):
            load_config(overrides={"global.market_address": bad})

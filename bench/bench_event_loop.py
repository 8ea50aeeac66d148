"""The poqw node's CPU per JSON-RPC request on the stdlib asyncio loop against uvloop, same load.

Starts ``poqw node cpu --no-mine`` (127.0.0.1, free ports) with ``POQW_EVENT_LOOP=asyncio``,
then ``=uvloop``, alternating for ``--rounds`` rounds, and drives each with one aiohttp client:
``eth_blockNumber`` on one keep-alive connection, on 8 connections and in batches of 50, then
``eth_sendRawTransaction`` of signed transfers from 10 funded senders. It reports the node
process's own CPU time per request (user + system, from /proc: Linux only), which a busy machine
disturbs far less than requests per second, and the median uvloop/asyncio ratio.
Run: ``.venv/bin/python bench/bench_event_loop.py [--quick]``.
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session

# isort: split
import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from eth_account import Account

from bench_rpc import Target, start_poqw
from poqw.loops import EVENT_LOOP_ENV
from poqw.node.testing import genesis_document

SENDERS = [(i + 1).to_bytes(32, "big") for i in range(10)]
PER_SENDER = 60  # under the mempool's 64 per sender
LOOPS = ("asyncio", "uvloop")


def node_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_node(work: Path, loop: str) -> Target:
    """A non-mining node whose genesis funds the senders, on the ``loop`` event loop."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    alloc = {bytes.fromhex(Account.from_key(key).address[2:]): 10**22 for key in SENDERS}
    (work / "genesis.json").write_text(json.dumps(genesis_document(
        alloc, max_future_drift=10**6, timestamp=int(time.time()), target_interval=1)))
    (work / "node.toml").write_text("[global]\nkey_height = 10\n")
    os.environ[EVENT_LOOP_ENV] = loop  # the node process inherits it
    return start_poqw(work, False, 1)


def signed_transfers(chain_id: int) -> list[str]:
    """Transfers interleaved across senders (nonce order kept per sender)."""
    out = []
    for i in range(PER_SENDER * len(SENDERS)):
        key = SENDERS[i % len(SENDERS)]
        raw = Account.from_key(key).sign_transaction({
            "type": 2, "chainId": chain_id, "nonce": i // len(SENDERS), "gas": 21000,
            "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "to": "0x" + "55" * 20,
            "value": 1, "data": b""}).raw_transaction
        out.append("0x" + bytes(raw).hex())
    return out


async def measure(target: Target, requests: int) -> dict[str, tuple[float, float]]:
    """Per phase: (node CPU microseconds per request, requests per second)."""
    results: dict[str, tuple[float, float]] = {}
    pid = target.process.pid

    async def timed(name: str, count: int, body: Callable[[], Awaitable[None]]) -> None:
        cpu, wall = node_cpu_seconds(pid), time.perf_counter()
        await body()
        cpu, wall = node_cpu_seconds(pid) - cpu, time.perf_counter() - wall
        results[name] = (cpu / count * 1e6, count / wall)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session:
        async def post(payload: object) -> Any:
            async with session.post(target.url, json=payload) as response:
                return await response.json()

        def one(method: str, params: list[object]) -> dict[str, object]:
            return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}

        async def serial(count: int) -> None:
            for _ in range(count):
                await post(one("eth_blockNumber", []))

        chain_id = int((await post(one("eth_chainId", [])))["result"], 16)
        await asyncio.gather(*(serial(50) for _ in range(8)))  # warm up 8 connections
        await timed("eth_blockNumber 1 conn", requests, lambda: serial(requests))
        await timed("eth_blockNumber 8 conns", requests,
                    lambda: asyncio.gather(*(serial(requests // 8) for _ in range(8))))

        async def batches() -> None:
            for _ in range(requests // 10):  # 5x the requests: a batch costs little CPU
                await post([one("eth_blockNumber", []) for _ in range(50)])

        await timed("eth_blockNumber batch 50", requests // 10 * 50, batches)
        raws = signed_transfers(chain_id)

        async def send() -> None:
            for raw in raws:
                answer = await post(one("eth_sendRawTransaction", [raw]))
                if "result" not in answer:
                    raise SystemExit(f"transfer refused: {answer}")

        await timed(f"eth_sendRawTransaction ({len(raws)})", len(raws), send)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="asyncio/uvloop pairs")
    parser.add_argument("--requests", type=int, default=4000,
                        help="eth_blockNumber requests per measurement")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    add_threads_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.requests = 1, 400
    figures: dict[str, dict[str, list[tuple[float, float]]]] = {}
    with bench_session("bench_event_loop" + (" quick" if args.quick else ""),
                       packages=("aiohttp", "uvicorn", "httptools", "uvloop")):
        work = Path(tempfile.mkdtemp(prefix="poqw-bench-loop-"))
        try:
            for _ in range(args.rounds):
                for loop in LOOPS:
                    target = start_node(work / loop, loop)
                    try:
                        got = asyncio.run(measure(target, args.requests))
                    finally:
                        target.stop()
                    for name, value in got.items():
                        figures.setdefault(name, {}).setdefault(loop, []).append(value)
                    print(f"{loop}: " + ", ".join(f"{k} {v[0]:.0f} us" for k, v in got.items()),
                          flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{'node CPU per request (median of ' + str(args.rounds) + ')':42} {'asyncio':>9} "
          f"{'uvloop':>9} {'uvloop/asyncio':>15}   req/s asyncio, uvloop")
    for name, by_loop in figures.items():
        cpu = {loop: statistics.median(v[0] for v in by_loop[loop]) for loop in LOOPS}
        rate = {loop: statistics.median(v[1] for v in by_loop[loop]) for loop in LOOPS}
        ratio = f"{cpu['uvloop'] / cpu['asyncio']:14.2f}x" if cpu["asyncio"] else \
            f"{'(too short)':>15}"  # under one clock tick of CPU: raise --requests
        print(f"{name:42} {cpu['asyncio']:7.0f}us {cpu['uvloop']:7.0f}us {ratio}   "
              f"{rate['asyncio']:.0f}, {rate['uvloop']:.0f}")
    print("CPU: the node process's user + system time (all threads) over the phase; one "
          "aiohttp client on the stdlib loop in this process drives both nodes alike.")


if __name__ == "__main__":
    main()

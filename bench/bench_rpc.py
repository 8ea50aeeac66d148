"""JSON-RPC throughput and latency: a poqw node against anvil, same client, same run.

Starts anvil (npm ``@foundry-rs/anvil``) and a ``poqw node cpu`` on 127.0.0.1 (free ports, both
stopped by pid at the end), deploys the same minimal OpenZeppelin ERC-20 on each (compiled with
solc-js), then measures with one aiohttp client: ``eth_blockNumber`` and ``eth_call``
(``balanceOf``) requests per second from one keep-alive connection, one connection sending
batches, and 8 concurrent connections, with p50/p99 latency per HTTP request. ``eth_call`` is
measured twice: the same call over and over (a node may answer repeats from a result cache, as
poqw does) and "new holder", a balanceOf of an address no earlier request asked for, so no cache
can answer and every request executes the contract. Then signed ETH transfers sent raw by 8
senders: accepted per second (eth_sendRawTransaction) and included per second. Prints
poqw/anvil ratios. Run: ``.venv/bin/python bench/bench_rpc.py [--quick]``.
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session

# isort: split
import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from eth_account import Account

from poqw.loops import EVENT_LOOP_ENV, choose_loop
from poqw.node.testing import genesis_document

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "node_modules" / ".bin"
# anvil's first default account; the devnet genesis funds the same address
FUNDER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
TOKEN_SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
contract BenchToken is ERC20 {
    constructor() ERC20("Bench", "BNCH") { _mint(msg.sender, 1e24); }
}
"""
BALANCE_OF = "0x70a08231"
CONCURRENCY = 8
BATCH = 50


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def compile_token(work: Path) -> str:
    """The BenchToken creation bytecode (hex), from solc-js with OpenZeppelin."""
    (work / "BenchToken.sol").write_text(TOKEN_SOURCE)
    subprocess.run([str(NODE_BIN / "solcjs"), "--bin", "--optimize", "--base-path", str(work),
                    "--include-path", str(ROOT / "node_modules"), "-o", str(work / "out"),
                    str(work / "BenchToken.sol")], check=True, capture_output=True)
    return (work / "out" / "BenchToken_sol_BenchToken.bin").read_text().strip()


@dataclass
class Target:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_anvil(work: Path) -> Target:
    port = free_tcp_port()
    log = open(work / "anvil.out", "wb")  # noqa: SIM115 (kept open for the child)
    process = subprocess.Popen([str(NODE_BIN / "anvil"), "--host", "127.0.0.1", "--port",
                                str(port), "--silent"], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    return Target("anvil", f"http://127.0.0.1:{port}", process)


def start_poqw(work: Path, mine: bool, target_interval: int) -> Target:
    datadir = work / "poqw"
    genesis = work / "genesis.json"
    if not genesis.exists():
        genesis.write_text(json.dumps(genesis_document(
            max_future_drift=10**6, timestamp=int(time.time()), target_interval=target_interval)))
        (work / "node.toml").write_text("[global]\nkey_height = 10\n")
    (datadir / "network.json").unlink(missing_ok=True)
    log = open(work / "poqw.out", "ab")  # noqa: SIM115 (kept open for the child)
    cmd = [sys.executable, "-c", "from poqw.cli.main import main; main()", "node", "cpu",
           "--datadir", str(datadir), "--genesis", str(genesis), "--config",
           str(work / "node.toml"), "--port", "0", "--rpc-port", "0", "--no-discover",
           "--auto-mine" if mine else "--no-mine"]
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            url = json.loads((datadir / "network.json").read_text()).get("rpc")
        except (OSError, ValueError):
            url = None
        if url:
            return Target("poqw", str(url), process)
        if process.poll() is not None:
            raise SystemExit(f"poqw node exited ({process.returncode}); see {work}/poqw.out")
        time.sleep(0.2)
    raise SystemExit("poqw node did not publish its RPC URL in 300 s")


class Client:
    """A JSON-RPC client over one aiohttp session (keep-alive connections)."""

    def __init__(self, url: str, connections: int) -> None:
        self.url = url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, force_close=False))
        self._next = 0

    async def post(self, body: Any) -> Any:
        async with self.session.post(self.url, json=body) as response:
            return await response.json(content_type=None)

    async def call(self, method: str, *params: Any) -> Any:
        self._next += 1
        answer = await self.post({"jsonrpc": "2.0", "id": self._next, "method": method,
                                  "params": list(params)})
        if "error" in answer:
            raise RuntimeError(f"{method} failed: {answer['error']}")
        return answer["result"]

    async def wait(self, predicate: Callable[[], Awaitable[bool]], timeout: float,
                   what: str, interval: float = 0.05) -> None:
        deadline = time.monotonic() + timeout
        while not await predicate():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
            await asyncio.sleep(interval)

    async def close(self) -> None:
        await self.session.close()


async def wait_ready(client: Client) -> None:
    async def answers() -> bool:
        try:
            await client.call("eth_blockNumber")
            return True
        except (aiohttp.ClientError, OSError):
            return False
    await client.wait(answers, 120, f"{client.url} to answer")


class Signer:
    """Signs EIP-1559 transactions for one key, counting nonces locally."""

    def __init__(self, key: str, chain_id: int, nonce: int, fee: int) -> None:
        self.account = Account.from_key(key)
        self.chain_id = chain_id
        self.nonce = nonce
        self.fee = fee

    def sign(self, to: str | None, value: int = 0, data: str = "0x", gas: int = 21_000) -> str:
        tx: dict[str, Any] = {"chainId": self.chain_id, "nonce": self.nonce, "value": value,
                              "gas": gas, "maxFeePerGas": self.fee,
                              "maxPriorityFeePerGas": 10**9, "data": data, "type": 2}
        if to is not None:
            tx["to"] = to
        self.nonce += 1
        return "0x" + bytes(self.account.sign_transaction(tx).raw_transaction).hex()


async def receipt(client: Client, tx_hash: str, timeout: float = 300) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def mined() -> bool:
        result = await client.call("eth_getTransactionReceipt", tx_hash)
        if result:
            found.update(result)
        return bool(result)
    await client.wait(mined, timeout, f"transaction {tx_hash} to be mined")
    return found


async def deploy_token(client: Client, bytecode: str) -> tuple[str, str]:
    """Deploy BenchToken from the funder; (token address, funder address)."""
    chain_id = int(await client.call("eth_chainId"), 16)
    fee = 2 * int(await client.call("eth_gasPrice"), 16) + 10**9
    funder = Account.from_key(FUNDER_KEY).address
    nonce = int(await client.call("eth_getTransactionCount", funder, "pending"), 16)
    signer = Signer(FUNDER_KEY, chain_id, nonce, fee)
    tx_hash = await client.call("eth_sendRawTransaction",
                                signer.sign(None, data="0x" + bytecode, gas=3_000_000))
    found = await receipt(client, tx_hash)
    if found.get("status") != "0x1":
        raise SystemExit(f"token deployment failed: {found}")
    return str(found["contractAddress"]), funder


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Figure:
    rate: float  # requests (or transactions) per second
    p50_ms: float
    p99_ms: float


async def measure_reads(client: Client, request: dict[str, Any] | Callable[[], dict[str, Any]],
                        total: int, connections: int, batch: int) -> Figure:
    """``total`` requests over ``connections`` concurrent keep-alive connections, ``batch``
    requests per HTTP POST; latency is per POST. ``request`` is one request sent every time,
    or a function making a new one for each request."""
    posts = max(1, total // batch)
    make = request if callable(request) else (lambda: request)

    def body() -> Any:
        return [dict(make(), id=i) for i in range(batch)] if batch > 1 else make()
    latencies: list[float] = []
    bodies = [body() for _ in range(posts)]  # made before the clock starts
    queue = list(range(posts))

    async def worker() -> None:
        while queue:
            k = queue.pop()
            started = time.perf_counter()
            answer = await client.post(bodies[k])
            latencies.append(time.perf_counter() - started)
            first = answer[0] if isinstance(answer, list) else answer
            if "result" not in first:
                raise RuntimeError(f"{first} answered {bodies[k]}")
    await client.post(body())  # warm the connection
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return Figure(posts * batch / elapsed, percentile(latencies, 0.5) * 1e3,
                  percentile(latencies, 0.99) * 1e3)


async def measure_transfers(client: Client, senders: int,
                            per_sender: int) -> tuple[Figure, Figure]:
    """Fund ``senders`` fresh accounts, then send ``senders * per_sender`` signed transfers
    (raw, 8 at a time) and time from the first send until every one is mined. Latency: send to
    inclusion per transaction, seen by polling each sender's mined nonce every 20 ms (coarser
    polling would round anvil's sub-100 ms inclusion up to a poll interval)."""
    chain_id = int(await client.call("eth_chainId"), 16)
    fee = 2 * int(await client.call("eth_gasPrice"), 16) + 10**9
    funder_address = Account.from_key(FUNDER_KEY).address
    nonce = int(await client.call("eth_getTransactionCount", funder_address, "pending"), 16)
    funder = Signer(FUNDER_KEY, chain_id, nonce, fee)
    keys = ["0x" + os.urandom(32).hex() for _ in range(senders)]
    last = ""
    for key in keys:
        last = await client.call("eth_sendRawTransaction",
                                 funder.sign(Account.from_key(key).address, 10**18))
    await receipt(client, last)
    signers = [Signer(k, chain_id, 0, fee) for k in keys]
    raws = [(s, s.nonce, s.sign(funder_address, 1)) for _ in range(per_sender) for s in signers]
    sent_at: dict[tuple[str, int], float] = {}
    send_latencies: list[float] = []
    pending = list(reversed(raws))

    async def sender() -> None:
        while pending:
            signer, nonce, raw = pending.pop()
            started = time.perf_counter()
            await client.call("eth_sendRawTransaction", raw)
            send_latencies.append(time.perf_counter() - started)
            sent_at[(signer.account.address, nonce)] = started
    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
    accepted = Figure(len(raws) / (time.perf_counter() - started),
                      percentile(send_latencies, 0.5) * 1e3,
                      percentile(send_latencies, 0.99) * 1e3)
    included: dict[tuple[str, int], float] = {}

    async def mined_nonces(address: str) -> None:
        mined = int(await client.call("eth_getTransactionCount", address, "latest"), 16)
        now = time.perf_counter()
        for nonce in range(mined):
            included.setdefault((address, nonce), now)

    async def all_mined() -> bool:
        # one nonce query per sender (not a receipt per transaction): light on the node
        await asyncio.gather(*(mined_nonces(s.account.address) for s in signers))
        return len(included) >= len(raws)
    await client.wait(all_mined, 600, "every transfer to be mined", interval=0.02)
    elapsed = max(included.values()) - started
    latencies = [included[k] - sent_at[k] for k in sent_at]
    return accepted, Figure(len(raws) / elapsed, percentile(latencies, 0.5) * 1e3,
                            percentile(latencies, 0.99) * 1e3)


@dataclass
class Deployed:
    """A node under test with its token deployed: where, and who holds the supply."""

    target: Target
    token: str
    holder: str


async def read_suite(nodes: dict[str, Deployed], requests: int) -> dict[str, dict[str, Figure]]:
    """Every read measurement on each node, the nodes taking turns measurement by measurement
    (so a change in the machine's load between two measurements falls on both alike)."""
    clients = {name: Client(node.target.url, CONCURRENCY) for name, node in nodes.items()}
    fresh = iter(range(1, 1 << 62))

    def new_holder_call(token: str) -> Callable[[], dict[str, Any]]:
        def make() -> dict[str, Any]:
            """balanceOf of an address no request of this run asked for before (a result
            cache cannot answer it)."""
            who = f"{0xB0B << 140 | next(fresh):040x}"
            return {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [
                {"to": token, "data": BALANCE_OF + who.rjust(64, "0")}, "latest"]}
        return make

    def kinds(node: Deployed) -> list[tuple[str, Any, int]]:
        call = {"to": node.token, "data": BALANCE_OF + node.holder[2:].lower().rjust(64, "0")}
        return [("eth_blockNumber", {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber",
                                     "params": []}, requests),
                ("eth_call", {"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                              "params": [call, "latest"]}, max(requests // 4, BATCH)),
                ("eth_call new holder", new_holder_call(node.token), max(requests // 4, BATCH))]
    modes = (("1 conn", 1, 1), (f"1 conn, batch {BATCH}", 1, BATCH),
             (f"{CONCURRENCY} conns", CONCURRENCY, 1))
    out: dict[str, dict[str, Figure]] = {name: {} for name in nodes}
    try:
        for client in clients.values():
            await wait_ready(client)
        plans = {name: kinds(node) for name, node in nodes.items()}
        for k in range(len(next(iter(plans.values())))):
            for mode, connections, batch in modes:
                for name, client in clients.items():
                    kind, request, n = plans[name][k]
                    out[name][f"{kind} {mode}"] = await measure_reads(client, request, n,
                                                                      connections, batch)
        return out
    finally:
        for client in clients.values():
            await client.close()


async def deploy_and_transfer(target: Target, bytecode: str, senders: int,
                              per_sender: int) -> tuple[str, str, tuple[Figure, Figure]]:
    client = Client(target.url, CONCURRENCY)
    try:
        await wait_ready(client)
        token, holder = await deploy_token(client, bytecode)
        return token, holder, await measure_transfers(client, senders, per_sender)
    finally:
        await client.close()


def report(results: dict[str, dict[str, Figure]]) -> None:
    anvil, poqw = results["anvil"], results["poqw"]
    print(f"{'measurement':<38} {'poqw/s':>9} {'anvil/s':>9} {'ratio':>7}   "
          f"{'poqw p50/p99 ms':>17} {'anvil p50/p99 ms':>17}")
    for name in anvil:
        a, p = anvil[name], poqw[name]
        print(f"{name:<38} {p.rate:>9.0f} {a.rate:>9.0f} {p.rate / a.rate:>6.2f}x   "
              f"{p.p50_ms:>8.2f}/{p.p99_ms:<8.2f} {a.p50_ms:>8.2f}/{a.p99_ms:<8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000,
                        help="eth_blockNumber requests per measurement (eth_call: a quarter)")
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--per-sender", type=int, default=32,
                        help="transfers per sender (the poqw mempool holds 64 per sender)")
    parser.add_argument("--target-interval", type=int, default=1,
                        help="the poqw genesis's target block time in seconds (devnet: 10; "
                        "timestamps are whole seconds, so 1 is the shortest)")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    add_threads_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.requests, args.senders, args.per_sender = 400, 4, 8
    for tool in ("anvil", "solcjs"):
        if not (NODE_BIN / tool).exists():
            raise SystemExit(f"{NODE_BIN / tool} is missing: run `make install` (npm ci)")
    with bench_session("bench_rpc" + (" quick" if args.quick else ""),
                       packages=("aiohttp", "starlette", "uvicorn", "uvloop", "py-evm")):
        print(f"anvil: {subprocess.run([str(NODE_BIN / 'anvil'), '--version'], check=True, capture_output=True, text=True).stdout.splitlines()[0]}")  # noqa: E501
        work = Path(tempfile.mkdtemp(prefix="poqw-bench-rpc-"))
        try:
            run(work, args)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args: argparse.Namespace) -> None:
    bytecode = compile_token(work)
    transfers = args.senders * args.per_sender
    sent: dict[str, tuple[Figure, Figure]] = {}
    nodes: dict[str, Deployed] = {}
    try:
        # transfers first, one node at a time (poqw mines for them), then reads on a poqw node
        # that does not mine (the miner would take a core from the server on a small
        # machine) beside anvil, which automines throughout
        for name in ("anvil", "poqw"):
            target = start_anvil(work) if name == "anvil" else start_poqw(work, True,
                                                                           args.target_interval)
            nodes[name] = Deployed(target, "", "")
            token, holder, sent[name] = asyncio.run(deploy_and_transfer(
                target, bytecode, args.senders, args.per_sender))
            if name == "poqw":
                target.stop()
                target = start_poqw(work, False, args.target_interval)
            nodes[name] = Deployed(target, token, holder)
            print(f"{name} at {target.url}: transfers done", flush=True)
        reads = asyncio.run(read_suite(nodes, args.requests))
    finally:
        for node in nodes.values():
            node.target.stop()
    results = {name: {**reads[name], f"transfers sent raw ({transfers})": sent[name][0],
                      f"transfers included ({transfers})": sent[name][1]} for name in nodes}
    report(results)
    print(f"poqw: event loop {choose_loop()} ({EVENT_LOOP_ENV} chooses), target block time "
          f"{args.target_interval} s, CPU miner; anvil: automine (a "
          "block per transaction). Client: one aiohttp event loop in this process; the read "
          "measurements alternate between the two nodes.")
    print("poqw answers a repeated eth_call from its result cache (keyed by block hash and the "
          "whole message); the 'new holder' rows never repeat a call, so no cache can answer.")


if __name__ == "__main__":
    main()

"""Block propagation and late-joiner sync over real node processes on loopback.

Phase 1: five nodes (node i joins nodes 0..i-1); node 0 mines, the others only relay. A block's
propagation time to a peer is the time from node 0's commit to that peer's commit, both read from
the ``head N 0xHASH imported K at T`` lines the network layer logs right after each commit (one
clock: same machine). With the stock 15 s timestamp drift the first blocks come fast and the rest
about one a second. The comparison point is QUIP, whose nodes poll their peers about once per
second: a block waits 0.5 s on average per hop there before anyone even asks for it.
Phase 2: node 0 mines ``--sync-blocks`` blocks alone (wide drift: as fast as it can), then a new
node joins and syncs them; throughput is blocks over the time from its join to its last commit.
Run: ``.venv/bin/python bench/bench_propagation.py [--blocks 40 --sync-blocks 400] [--quick]``.
The node processes inherit the thread variables of ``--threads N`` (default 1: BLAS, OpenMP and
numba pinned before anything loads); the header prints them, the machine and the load.
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session

# isort: split
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from poqw.cli.devnet import free_port
from poqw.errors import PoqwError
from poqw.node.info import chain_info
from poqw.node.testing import genesis_document

_NODE_MAIN = "from poqw.cli.main import main; main()"
_HEAD = re.compile(r"head (\d+) 0x([0-9a-f]{64}) imported (\d+) at ([0-9.]+)")
_JOINED = re.compile(r"^(\S+ \S+) INFO poqw\.node\.network peer \S+ joined")
QUIP_POLL_S = 1.0


def start(root: Path, name: str, genesis: Path, port: int, peers: list[int], mine: bool,
          stop_at: int | None = None) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-c", _NODE_MAIN, "node", "cpu", "--datadir", str(root / name),
           "--genesis", str(genesis), "--port", str(port), "--node-name", name, "--no-discover",
           "--auto-mine" if mine else "--no-mine", "--rpc-port", "0"]
    if stop_at is not None:
        cmd += ["--stop-mining-at", str(stop_at)]
    for p in peers:
        cmd += ["--peer", f"127.0.0.1:{p}"]
    with open(root / f"{name}.out", "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.wait(30)


def height(datadir: Path) -> int:
    try:
        return int(chain_info(datadir)["height"])
    except (PoqwError, OSError):  # not created yet
        return -1


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def heads(log: Path) -> list[tuple[int, str, float]]:
    out = []
    for line in log.read_text().splitlines():
        m = _HEAD.search(line)
        if m:
            out.append((int(m.group(1)), m.group(2), float(m.group(4))))
    return out


def write_genesis(root: Path, drift: int) -> Path:
    path = root / f"genesis-{drift}.json"
    path.write_text(json.dumps(genesis_document(max_future_drift=drift,
                                                timestamp=int(time.time()))))
    return path


def propagation(root: Path, nodes: int, blocks: int) -> dict[str, Any]:
    (root / "p").mkdir()
    genesis = write_genesis(root / "p", 15)
    ports = [free_port() for _ in range(nodes)]
    procs = []
    try:
        for i in range(nodes):
            procs.append(start(root / "p", f"n{i}", genesis, ports[i], ports[:i], i == 0,
                               stop_at=blocks if i == 0 else None))
            time.sleep(0.3)
        wait(lambda: all(height(root / "p" / f"n{i}") >= blocks for i in range(nodes)),
             60 + 2 * blocks, f"{nodes} nodes at height {blocks}")
    finally:
        stop(procs)
    mined = {h: t for h, _, t in heads(root / "p" / "n0" / "node.log")}
    delays: list[float] = []
    steady: list[float] = []
    for i in range(1, nodes):
        peer_heads = heads(root / "p" / f"n{i}" / "node.log")
        for number, t0 in mined.items():
            t1 = next((t for h, _, t in peer_heads if h >= number), None)
            if t1 is not None:
                delays.append(t1 - t0)
                if number > 20:  # past the fast start: about one block a second
                    steady.append(t1 - t0)
    ms = np.array(delays) * 1000
    st = np.array(steady) * 1000 if steady else ms
    return {"nodes": nodes, "blocks": blocks, "samples": len(delays),
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "max_ms": float(ms.max()), "steady_p50_ms": float(np.percentile(st, 50)),
            "steady_p95_ms": float(np.percentile(st, 95))}


def late_sync(root: Path, blocks: int) -> dict[str, Any]:
    (root / "s").mkdir()
    genesis = write_genesis(root / "s", 10**6)
    ports = [free_port(), free_port()]
    miner = start(root / "s", "miner", genesis, ports[0], [], True, stop_at=blocks)
    procs = [miner]
    try:
        wait(lambda: height(root / "s" / "miner") >= blocks, 30 + blocks, f"{blocks} blocks")
        procs.append(start(root / "s", "joiner", genesis, ports[1], [ports[0]], False))
        wait(lambda: height(root / "s" / "joiner") >= blocks, 30 + blocks, "the joiner")
    finally:
        stop(procs)
    log = (root / "s" / "joiner" / "node.log").read_text().splitlines()
    joined = next(m.group(1) for line in log if (m := _JOINED.match(line)))
    t_join = datetime.strptime(joined, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    last = max(t for _, _, t in heads(root / "s" / "joiner" / "node.log"))
    seconds = last - t_join
    return {"blocks": blocks, "seconds": seconds, "blocks_per_s": blocks / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--sync-blocks", type=int, default=400)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" /
                        "propagation.json")
    parser.add_argument("--quick", action="store_true", help="3 nodes, 8 blocks, 40 to sync")
    add_threads_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.blocks, args.sync_blocks = 3, 8, 40
    with bench_session("bench_propagation" + (" quick" if args.quick else "")) as session:
        prop, sync = run(args.nodes, args.blocks, args.sync_blocks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"session": session.as_dict(), "propagation": prop,
                                    "late_sync": sync, "quip_poll_s": QUIP_POLL_S}, indent=1))


def run(nodes: int, blocks: int, sync_blocks: int) -> tuple[dict[str, Any], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="poqw-bench-prop-") as tmp:
        root = Path(tmp)
        prop = propagation(root, nodes, blocks)
        sync = late_sync(root, sync_blocks)
    quip_mean_ms = QUIP_POLL_S / 2 * 1000
    print(f"block propagation, {prop['nodes']} loopback nodes, {prop['samples']} (block, peer) "
          f"samples: p50 {prop['p50_ms']:.1f} ms, p95 {prop['p95_ms']:.1f} ms, max "
          f"{prop['max_ms']:.0f} ms; at ~1 block/s: p50 {prop['steady_p50_ms']:.1f} ms, "
          f"p95 {prop['steady_p95_ms']:.1f} ms")
    print(f"QUIP comparison: polling once a second adds ~{quip_mean_ms:.0f} ms per hop on "
          f"average before a block is even requested: {quip_mean_ms / prop['p50_ms']:.0f}x our "
          f"p50 (target p50 <= 50 ms: {'met' if prop['p50_ms'] <= 50 else 'NOT met'})")
    print(f"late joiner: {sync['blocks']} blocks in {sync['seconds']:.1f} s = "
          f"{sync['blocks_per_s']:.0f} blocks/s")
    return prop, sync


if __name__ == "__main__":
    main()

"""How fast an honest node follows a peer whose chain grows faster than gossip announces it.

Node A runs in this process and is fed a pre-built chain at ``--rate`` blocks a second (as if it
mined that fast, whatever this machine's speed); node B is a real ``poqw node cpu --no-mine``
process that only knows A. A announces its newest head at most every 60 ms, so above ~16 blocks
a second nearly every announcement skips a block: B must follow with headers-first sync inside
the request budget A enforces on it. Two phases, each with fresh nodes: quiet, then with the
flooder of ``tests/functional/attackers.py`` (decoding bombs, garbage, invalid transactions,
orphan blocks, a new key after each ban) attacking A all along. Printed per phase: the feed
rate, B's rate while the feed ran, B's lag when it ended, and how long B took to catch up.
Run: ``.venv/bin/python bench/bench_follow.py [--blocks 240 --rate 30] [--quick]``.
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session

# isort: split
import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_propagation import height, start, stop, wait
from poqw.chain import parse_genesis
from poqw.cli.devnet import free_port
from poqw.node import Node, load_config
from poqw.node.network import NetworkService
from poqw.node.testing import build_block_on, genesis_document, make_chain, mldsa_signer

FLOODER = Path(__file__).resolve().parent.parent / "tests" / "functional" / "attackers.py"


def build_chain(root: Path, blocks: int) -> tuple[Path, list[bytes]]:
    """A genesis file and ``blocks`` encoded blocks on it (stateless ML-DSA test signer)."""
    doc = genesis_document(max_future_drift=10**6, timestamp=int(time.time()))
    genesis = parse_genesis(doc)
    chain, _ = make_chain(root / "builder", genesis)
    signer, out = mldsa_signer("bench-follow"), []
    for _ in range(blocks):
        parent = chain.tip_header()
        block = build_block_on(chain, parent, signer, int(parent.timestamp) + 1)
        chain.import_block(block, int(time.time()) + 10**6)
        out.append(bytes(block.encode()))
    path = root / "genesis.json"
    path.write_text(json.dumps(doc))
    return path, out


async def follow(root: Path, genesis: Path, blocks: list[bytes], rate: float,
                 flood: bool) -> dict[str, Any]:
    config = load_config(None, {"global.datadir": str(root / "a"), "global.auto_mine": False,
                                "global.genesis": str(genesis), "global.key_height": 4,
                                "global.node_name": "a"})
    loop = asyncio.get_running_loop()
    with Node(config) as a:
        net = NetworkService(a, port=0)
        port = await net.start()
        b = start(root, "b", genesis, free_port(), [port], mine=False)
        flooder: subprocess.Popen[bytes] | None = None
        try:
            while not net.peers:
                await asyncio.sleep(0.05)
            if flood:
                flooder = subprocess.Popen(
                    [sys.executable, str(FLOODER), str(port), json.dumps(net.status()),
                     str(root), str(2 + len(blocks) / rate)],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
                assert flooder.stdout is not None
                await loop.run_in_executor(None, flooder.stdout.readline)  # flooding now
            started = loop.time()
            for i, data in enumerate(blocks):
                await asyncio.sleep(max(0.0, started + i / rate - loop.time()))
                await loop.run_in_executor(None, a.import_block_bytes, data)
            fed_s, followed = loop.time() - started, height(root / "b")
            await loop.run_in_executor(None, wait, lambda: height(root / "b") >= len(blocks),
                                       300, "the follower to catch up")
            caught_up_s = loop.time() - started - fed_s
            if flooder is not None:
                flooder.communicate(timeout=120)
        finally:
            if flooder is not None and flooder.poll() is None:
                flooder.kill()
            stop([b])
            await net.close()
    return {"flood": flood, "blocks": len(blocks), "fed_per_s": len(blocks) / fed_s,
            "followed_per_s": followed / fed_s, "lag_at_end": len(blocks) - followed,
            "caught_up_s": caught_up_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=240)
    parser.add_argument("--rate", type=float, default=30.0, help="blocks a second fed to A")
    parser.add_argument("--quick", action="store_true", help="60 blocks")
    add_threads_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.blocks = 60
    with bench_session("bench_follow" + (" quick" if args.quick else "")), \
            tempfile.TemporaryDirectory(prefix="poqw-bench-follow-") as tmp:
        root = Path(tmp)
        genesis, blocks = build_chain(root, args.blocks)
        for flood in (False, True):
            phase = root / ("flood" if flood else "quiet")
            phase.mkdir()
            r = asyncio.run(follow(phase, genesis, blocks, args.rate, flood))
            print(f"{'under a flood' if flood else 'quiet':>13}: fed {r['blocks']} blocks at "
                  f"{r['fed_per_s']:.1f}/s, the follower synced {r['followed_per_s']:.1f}/s "
                  f"meanwhile ({r['lag_at_end']} behind at the end), caught up "
                  f"{r['caught_up_s']:.1f} s later")


if __name__ == "__main__":
    main()

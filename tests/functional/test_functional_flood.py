"""Scenario 6: one peer floods a mining node (decoding bombs, garbage, invalid transactions,
orphan blocks; a new key each time it is banned) while an honest peer syncs from it and an
observer asks for its status four times a second.

Printed figures: the observer's status round trips (p50 and max), the node's resident memory
before, at its peak and after, and the honest peer's sync rate during the flood. Asserted:
every status request is answered, the node keeps mining, the honest peer keeps syncing and
catches up, and the node's memory stays under ``RSS_BOUND_MB``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from attackers import Attacker
from framework import Network, TestNode, log, wait_until

FLOOD_SECONDS = 10.0
RSS_BOUND_MB = 600  # the node's peak resident memory under the flood
STATUS_TIMEOUT = 10.0


def rss_mb(node: TestNode, field: str = "VmRSS") -> float:
    assert node.process is not None
    for line in Path(f"/proc/{node.process.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {node.name}")


async def observe(target: TestNode, tmp: Path, until: float) -> tuple[list[float], float]:
    """Status round trips of an honest observer until ``until`` (monotonic), and peak RSS."""
    observer = Attacker("observer", target.status(), tmp)
    await observer.join(target.port)
    latencies: list[float] = []
    peak = 0.0
    try:
        while time.monotonic() < until:
            latencies.append(await observer.status_round_trip(STATUS_TIMEOUT))
            peak = max(peak, rss_mb(target))
            await asyncio.sleep(0.25)
    finally:
        await observer.close()
    return latencies, peak


def test_node_keeps_mining_serving_and_syncing_under_a_flood(
        network: Callable[[int], Network], tmp_path: Path) -> None:
    net = network(2)
    target, honest = net[0], net[1]
    target.start()
    honest.start([target], mine=False)
    wait_until(lambda: target.height() >= 3 and honest.height() >= 3, 60, "a first blocks")
    before_mb = rss_mb(target)
    start_heights = (target.height(), honest.height())
    flooder = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("attackers.py")), str(target.port),
         json.dumps(target.status()), str(tmp_path), str(FLOOD_SECONDS)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert flooder.stdout is not None
        first = flooder.stdout.readline().decode()  # the flooder joined: the flood is on
        assert first.strip() == "flooding", first
        started = time.monotonic()
        latencies, peak_mb = asyncio.run(observe(target, tmp_path, started + FLOOD_SECONDS))
        elapsed = time.monotonic() - started
        out, _ = flooder.communicate(timeout=120)
        assert flooder.returncode == 0, out.decode(errors="replace")[-2000:]
    finally:
        if flooder.poll() is None:
            flooder.kill()
    end_heights = (target.height(), honest.height())
    sent = json.loads((tmp_path / "flood.json").read_text())
    after_mb = rss_mb(target)
    mined = end_heights[0] - start_heights[0]
    synced = end_heights[1] - start_heights[1]
    p50 = statistics.median(latencies)
    seen = {k: target.status().get(k) for k in ("blocks_received", "invalid_blocks",
                                                 "peers_banned")}
    log(f"flood for {elapsed:.1f} s: sent {sent}; the node counted {seen}; penalties logged: "
        f"{target.log_text().count('sent bad data')}, transactions refused: "
        f"{target.log_text().count('transaction refused')}")
    log(f"FIGURES status round trip p50 {p50 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
        f"over {len(latencies)} requests; node RSS {before_mb:.0f} MB before, peak "
        f"{max(peak_mb, after_mb):.0f} MB, {after_mb:.0f} MB after (bound {RSS_BOUND_MB} MB); "
        f"mined {mined} blocks, honest peer synced {synced} blocks "
        f"({synced / elapsed:.2f} blocks/s vs {mined / elapsed:.2f} mined/s)")
    assert sent["bomb blocks"] > 0 and sent["tx bombs"] > 0 and sent["identities"] > 0
    assert mined > 0, "the node stopped mining under the flood"
    assert synced > 0, "the honest peer stopped syncing under the flood"
    assert max(peak_mb, after_mb) < RSS_BOUND_MB
    # the target keeps mining (cheap test difficulty): the honest peer must catch up with where
    # the target stood when the flood ended
    wait_until(lambda: honest.height() >= end_heights[0], 150, "the honest peer to catch up")
    assert honest.peer_count() == 1
    assert "Traceback" not in target.log_text()

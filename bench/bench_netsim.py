"""Simulator throughput: events per second and simulated seconds per wall second, by size.

No peer simulator runs in this environment (SimBlock is Java, and none drives poqw's protocol
objects), so this reports absolute figures: the cost is dominated by the real ``PeerConnection``
work (framing, RLP, handshake signatures), not by the event loop. Run:
``.venv/bin/python bench/bench_netsim.py [NODES ...]``.
"""

from __future__ import annotations

import sys
import time

from poqw.netsim import SimConfig, Simulation


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [100, 1000]
    print(f"{'nodes':>6} {'blocks':>6} {'build s':>8} {'run s':>7} {'events':>9} "
          f"{'events/s':>9} {'sim s/wall s':>12}")
    for nodes in sizes:
        config = SimConfig(nodes=nodes, blocks=20, latency="geo", seed=0)
        start = time.perf_counter()
        sim = Simulation(config)
        built = time.perf_counter()
        record = sim.run()
        done = time.perf_counter()
        run_s = done - built
        print(f"{nodes:>6} {config.blocks:>6} {built - start:>8.2f} {run_s:>7.2f} "
              f"{record.events:>9} {record.events / run_s:>9.0f} "
              f"{record.end_time / (done - start):>12.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Simulator throughput: events per second and simulated seconds per wall second, by size.

No peer simulator runs in this environment (SimBlock is Java, and none drives poqw's protocol
objects), so this reports absolute figures: the cost is dominated by the real ``PeerConnection``
work (framing, RLP, handshake signatures), not by the event loop. Run:
``.venv/bin/python bench/bench_netsim.py [NODES ...] [--blocks 20] [--quick]`` (``--threads N``,
default 1, pins BLAS/OpenMP/numba first; the header prints them and the load).
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session

# isort: split
import argparse
import time

import numpy as np

from poqw.netsim import SimConfig, Simulation
from poqw.netsim.report import propagation_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nodes", type=int, nargs="*", help="network sizes (default 100 1000)")
    parser.add_argument("--blocks", type=int, default=20, help="blocks per run (default 20)")
    parser.add_argument("--quick", action="store_true", help="20 nodes, 5 blocks")
    add_threads_argument(parser)
    args = parser.parse_args()
    sizes = [20] if args.quick else (args.nodes or [100, 1000])
    blocks = 5 if args.quick else args.blocks
    with bench_session("bench_netsim" + (" quick" if args.quick else "")):
        run(sizes, blocks)


def run(sizes: list[int], blocks: int) -> None:
    print(f"{'nodes':>6} {'blocks':>6} {'build s':>8} {'run s':>7} {'events':>9} "
          f"{'events/s':>9} {'sim s/wall s':>12}  median propagation to 50/90/100% of nodes")
    for nodes in sizes:
        config = SimConfig(nodes=nodes, blocks=blocks, latency="geo", seed=0)
        start = time.perf_counter()
        sim = Simulation(config)
        built = time.perf_counter()
        record = sim.run()
        done = time.perf_counter()
        run_s = done - built
        print(f"{nodes:>6} {config.blocks:>6} {built - start:>8.2f} {run_s:>7.2f} "
              f"{record.events:>9} {record.events / run_s:>9.0f} "
              f"{record.end_time / (done - start):>12.1f}  " + "/".join(
                  f"{np.nanmedian(propagation_times(record, f)) * 1000:.0f}"
                  for f in (0.5, 0.9, 1.0)) + " ms")


if __name__ == "__main__":
    main()

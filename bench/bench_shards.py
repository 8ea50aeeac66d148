"""The shard marketplace's figures: time to solve a 60-variable QAOA angle search vs one node.

Run ``.venv/bin/python bench/bench_shards.py`` (``--quick`` for a short run). It prints, for a
random 3-regular MaxCut on 60 variables (too many for one state vector) at depth ``--p``:

* loopback: the market on 1 and ``--workers`` local worker processes (own key, measured and
  signed capability record, own bidding policy), wall time from the first offer to payment,
  against one process evaluating the same grid (LightconeQAOA, identical cones once);
* simulated (modelled time): the market on 50+ modelled nodes (per-core speed lognormal
  around this machine's measured 20-qubit layer throughput, 1-16 cores, latencies from a
  model) against the median node alone (its units on its cores), for several latency models,
  with one cheating node; "market s" is until every spot check is done, "answer s" until
  every unit is in.

The loopback figure is bounded by this machine's usable cores (the header says how many) and
its load; the simulated figures are modelled time, not measured.
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session

# isort: split
import argparse
import time

import numpy as np

from poqw.compute.shards import (
    angle_grid,
    decompose,
    ops_per_second,
    single_node_energies,
    unit_values_from_correlations,
)
from poqw.compute.shards_loopback import run_loopback
from poqw.compute.shards_sim import SimNode, one_node_seconds, random_nodes, simulate_market
from poqw.node.capability import measure_capability
from poqw.problems import IsingModel, random_maxcut


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_threads_argument(parser)
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--p", type=int, default=2, help="QAOA depth (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="loopback workers (default 2)")
    parser.add_argument("--nodes", type=int, default=60, help="simulated nodes (default 60)")
    args = parser.parse_args()
    grid = 2 if args.quick else 5
    with bench_session("bench_shards"):
        model = random_maxcut(3, 60, seed=1)
        points = angle_grid(model, args.p, grid)
        single_node_energies(decompose(model, args.p, points[:1], 1))  # compile, warm up
        started = time.perf_counter()
        reference = single_node_energies(decompose(model, args.p, points, 1))
        one = time.perf_counter() - started
        print(f"problem: random 3-regular MaxCut, 60 variables, p={args.p}, {len(points)} angle "
              f"points; one process: {one:.2f} s")
        print(f"{'mode':<34}{'units':>6}{'market s':>10}{'answer s':>9}{'one node s':>11}"
              f"{'speedup':>9}{'vs 1 core':>10}{'checks':>7}{'max |diff|':>11}  caught")
        for workers in sorted({1, args.workers}):
            job = decompose(model, args.p, points, 4 * workers)
            out = run_loopback(job, workers, cheaters=(), seed=1)
            print(f"{f'loopback, {workers} workers':<34}{len(job.units):>6}{out.seconds:>10.2f}"
                  f"{'':>9}"
                  f"{one:>11.2f}{one / out.seconds:>9.2f}{'':>10}{out.checks:>7}"
                  f"{np.max(np.abs(out.energies - reference)):>11.1e}  -")
        edges = np.zeros((0, 2), dtype=np.int64)
        speed = ops_per_second(measure_capability(1, 0, edges, 1, timers={"anneal": lambda: 0}))
        _simulated(model, args.p, points, reference, args.nodes, speed)
        if not args.quick and args.p < 3:
            # deeper: cones of up to 30 qubits, contracted as tensor networks (one point: the
            # true unit values cost about a minute here)
            deep = angle_grid(model, 3, 1)
            _simulated(model, 3, deep, single_node_energies(decompose(model, 3, deep, 1)),
                       args.nodes, speed)
        print(f"simulated per-core speed: median {speed:.3g} operations/s (this machine's "
              f"20-qubit layer, measured now)")


def _simulated(model: IsingModel, p: int, points: list[tuple[tuple[float, ...],
               tuple[float, ...]]], reference: np.ndarray, count: int, speed: float) -> None:
    job = decompose(model, p, points, 4 * count)
    values = unit_values_from_correlations(job)
    print(f"p={p}, {len(points)} points: estimated work {job.total_ops:.3g} operations")
    for latency in ("constant:1", "uniform:5-50", "geo"):
        nodes = random_nodes(count, seed=1, ops_per_s=speed, latency=latency)
        cheap = min(nodes, key=lambda n: n.price_per_mop).name
        nodes = [SimNode(n.name, n.ops_per_s, n.cores, n.price_per_mop, n.latency_s,
                         n.name == cheap) for n in nodes]
        sim = simulate_market(job, nodes, values, coordinator_ops_per_s=speed, seed=1)
        median = sorted(nodes, key=lambda n: n.ops_per_s * n.cores)[len(nodes) // 2]
        one_core = one_node_seconds(job, median.ops_per_s, 1)
        label = f"simulated {count}, p={p}, {latency}"
        print(f"{label:<34}{len(job.units):>6}{sim.seconds:>10.3f}{sim.answer_seconds:>9.3f}"
              f"{sim.one_node_seconds:>11.3f}{sim.speedup:>9.2f}"
              f"{one_core / sim.seconds:>10.2f}{sim.checks:>7}"
              f"{np.max(np.abs(sim.energies - reference)):>11.1e}  "
              f"{','.join(sorted(sim.cheaters)) or '-'}")


if __name__ == "__main__":
    main()

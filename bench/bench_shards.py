"""The shard marketplace's figures: time to solve a 60-variable QAOA angle search vs one node.

Run ``.venv/bin/python bench/bench_shards.py`` (``--quick`` for a short run). For a random
3-regular MaxCut on 60 variables (too many for one state vector) it prints, at depth 2 (a 5x5
grid of angle points) and depth 3 (a 2x2 grid, cones of up to 29 qubits contracted as tensor
networks):

* the coordinator's planning (cone classes and contraction plans, once per job) and "one
  node": the same job's units evaluated one after another in this process, the same engine
  and plans, with the thread count in the header (also the whole-model LightconeQAOA engine,
  which classifies and plans at every point, for reference);
* loopback: the market on 1 and ``--workers`` local worker processes (own key, measured and
  signed capability record, own bidding policy), wall time from the first offer to payment,
  and where the time went (workers' unit and check compute, transport, the coordinator);
* simulated (modelled time): the market on ``--nodes`` modelled nodes whose unit times are
  the ones measured here, scaled by each node's speed (lognormal around this machine's), with
  1-16 cores and latencies from a model, one cheating node (the cheapest; and a row with
  none); against the median node alone on all its cores and on one core (running whichever
  job, sliced or not, it runs faster); with and without slicing the widest cones.

The loopback figures are bounded by this machine's usable cores and its load (the header
says both); the simulated figures are modelled time, calibrated by measured unit times.
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session

# isort: split
import argparse
import os
import time

import numpy as np

from poqw.compute.shards import (
    ShardJob,
    angle_grid,
    decompose,
    evaluate_unit,
    single_node_energies,
)
from poqw.compute.shards_loopback import run_loopback
from poqw.compute.shards_market import ops_per_second
from poqw.compute.shards_sim import SimNode, one_node_seconds, random_nodes, simulate_market
from poqw.node.capability import measure_capability
from poqw.problems import IsingModel, random_maxcut

FloatArray = np.ndarray


def _timed_units(job: ShardJob) -> tuple[list[FloatArray], list[float]]:
    """Every unit's values and its time, evaluated here one after another."""
    values, seconds = [], []
    for unit in job.units:
        started = time.perf_counter()
        values.append(evaluate_unit(job.model, unit, job.points))
        seconds.append(time.perf_counter() - started)
    return values, seconds


def _plan(model: IsingModel, p: int, points: list, units: int, **kw: object) -> ShardJob:
    started = time.perf_counter()
    job = decompose(model, p, points, units, **kw)  # type: ignore[arg-type]
    print(f"  plan {len(job.units)} units: {time.perf_counter() - started:.2f} s "
          f"(cone classes and contraction plans, once per job)")
    return job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_threads_argument(parser)
    parser.add_argument("--quick", action="store_true", help="a short run (depth 2 only)")
    parser.add_argument("--grid", type=int, default=5, help="depth-2 angle grid side (5)")
    parser.add_argument("--grid3", type=int, default=2, help="depth-3 angle grid side (2)")
    parser.add_argument("--workers", type=int, default=2, help="loopback workers (default 2)")
    parser.add_argument("--nodes", type=int, default=60, help="simulated nodes (default 60)")
    parser.add_argument("--depth", type=int, choices=(2, 3), help="run only this depth")
    args = parser.parse_args()
    with bench_session("bench_shards"):
        model = random_maxcut(3, 60, seed=1)
        edges = np.zeros((0, 2), dtype=np.int64)
        speed = ops_per_second(measure_capability(1, 0, edges, 1, timers={"anneal": lambda: 0}))
        print(f"this machine's 20-qubit layer: {speed:.3g} operations/s per core; "
              f"{len(os.sched_getaffinity(0))} usable CPUs")
        depths = [(2, angle_grid(model, 2, 2 if args.quick else args.grid))]
        if not args.quick:
            depths.append((3, angle_grid(model, 3, args.grid3)))
        depths = [d for d in depths if args.depth in (None, d[0])]
        for p, points in depths:
            print(f"\n== random 3-regular MaxCut, 60 variables, p={p}, {len(points)} angle "
                  f"points ==")
            _loopback(model, p, points, args.workers)
            _simulated(model, p, points, args.nodes, speed)


def _loopback(model: IsingModel, p: int, points: list, workers: int) -> None:
    started = time.perf_counter()
    reference = single_node_energies(decompose(model, p, points[:1], 1))  # warm up
    started = time.perf_counter()
    reference = single_node_energies(decompose(model, p, points, 1))
    engine_s = time.perf_counter() - started
    print(f"  LightconeQAOA engine, whole model (classifies and plans at every point): "
          f"{engine_s:.2f} s")
    print(f"  {'mode':<24}{'units':>6}{'market s':>10}{'one node s':>11}{'speedup':>9}"
          f"{'checks':>7}{'max |diff|':>11}  where the time went (s, summed)")
    for count in sorted({1, workers}):
        job = _plan(model, p, points, 4 * count)
        values, seconds = _timed_units(job)
        one = sum(seconds)
        out = run_loopback(job, count, cheaters=(), seed=1)
        diff = max(np.max(np.abs(out.energies - reference)),
                   np.max(np.abs(np.sum(values, axis=0) + model.offset - reference)))
        spent = ", ".join(f"{k} {v:.2f}" for k, v in out.profile.items())
        print(f"  {f'loopback, {count} workers':<24}{len(job.units):>6}{out.seconds:>10.2f}"
              f"{one:>11.2f}{one / out.seconds:>9.2f}{out.checks:>7}{diff:>11.1e}  {spent}; "
              f"start-up {out.startup_seconds:.1f}")


def _simulated(model: IsingModel, p: int, points: list, count: int, speed: float) -> None:
    print(f"  simulated {count} nodes (unit times measured here, scaled by node speed; one "
          f"node: the median node on the faster of the jobs below):")
    print(f"  {'mode':<34}{'units':>6}{'market s':>10}{'answer s':>9}{'one node s':>11}"
          f"{'speedup':>9}{'vs 1 core':>10}{'checks':>7}{'max |diff|':>11}  caught")
    jobs = []
    for slicing in (False, True) if p > 2 else (True,):  # no wide cones at p=2
        job = _plan(model, p, points, 4 * count, slicing=slicing)
        jobs.append((slicing, job, *_timed_units(job)))
    reference = np.sum(jobs[0][2], axis=0) + model.offset
    runs = [(latency, 1) for latency in ("constant:1", "uniform:5-50", "geo")]
    for slicing, job, values, seconds in jobs:
        for latency, cheaters in runs + ([("uniform:5-50", 0)] if slicing else []):
            nodes = random_nodes(count, seed=1, ops_per_s=speed, latency=latency)
            cheap = {n.name for n in sorted(nodes, key=lambda n: n.price_per_mop)[:cheaters]}
            nodes = [SimNode(n.name, n.ops_per_s, n.cores, n.price_per_mop, n.latency_s,
                             n.name in cheap) for n in nodes]
            sim = simulate_market(job, nodes, values, coordinator_ops_per_s=speed, seed=1,
                                  unit_seconds=seconds)
            median = sorted(nodes, key=lambda n: n.ops_per_s * n.cores)[len(nodes) // 2]
            # the fairest one node: whichever job (sliced or not) it runs faster
            one = min(one_node_seconds(j, median.ops_per_s, median.cores, t, speed)
                      for _, j, _, t in jobs)
            one_core = min(one_node_seconds(j, median.ops_per_s, 1, t, speed)
                           for _, j, _, t in jobs)
            label = (f"{'sliced' if slicing else 'unsliced'}, {latency}"
                     f"{'' if cheaters else ', no cheater'}")
            print(f"  {label:<34}{len(job.units):>6}{sim.seconds:>10.3f}"
                  f"{sim.answer_seconds:>9.3f}{one:>11.3f}{one / sim.seconds:>9.2f}"
                  f"{one_core / sim.seconds:>10.2f}{sim.checks:>7}"
                  f"{np.max(np.abs(sim.energies - reference)):>11.1e}  "
                  f"{','.join(sorted(sim.cheaters)) or '-'}")
        print(f"  ({'sliced' if slicing else 'unsliced'}: largest unit "
              f"{max(seconds):.3f} s of {sum(seconds):.2f} s measured here)")


if __name__ == "__main__":
    main()

"""Simulated annealing: poqw's wrapper against raw dwave-samplers, same machine, same run.

Speed is spin-flip attempts per second (reads x sweeps x variables / wall time), median of
``--repeats`` runs, on a random 3-regular MaxCut with n=1000 and a dense n=64 +-1 glass; the
ratio column is poqw / raw dwave-samplers. Parallel tempering (our numba kernel) is timed on
the same number of attempts (reads x replicas x sweeps x n). Quality is the best energy found
against the exact ground state on instances of at most 24 variables, for every sampler.

    .venv/bin/python bench/bench_annealing.py [--repeats 3] [--quick] [--threads N]

Every sampler runs with ``--threads N`` (default 1), pinned before numpy and numba load; raw
dwave-samplers has no thread option and always runs one thread (the 'per cpu-s' columns are the
fair comparison when N > 1). The header prints the thread settings in force and the load.
"""

from __future__ import annotations

from _common import THREADS, add_threads_argument, bench_session

# isort: split
import argparse
import statistics
import time
from collections.abc import Callable

import networkx as nx
import numpy as np
from dwave.samplers import SimulatedAnnealingSampler as DwaveSA

from poqw.problems import (
    IsingModel,
    pm_j_spin_glass,
    random_maxcut,
    random_regular_graph,
    sherrington_kirkpatrick,
    solve_exact,
)
from poqw.samplers import (
    ParallelTemperingSampler,
    RandomSampler,
    SimulatedAnnealingSampler,
    SteepestDescentSampler,
)

PT_REPLICAS = 8


def median_seconds(run: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """Median wall time, median process CPU time (all threads) and best wall time of ``run``."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), min(walls)


def speed_rows(repeats: int, quick: bool) -> None:
    cases: list[tuple[str, IsingModel, int, int]] = [
        ("3-regular n=1000", random_maxcut(3, 1000, seed=1), 8 if quick else 32, 1000),
        ("dense +-1 glass n=64", pm_j_spin_glass(nx.complete_graph(64), seed=1),
         16 if quick else 64, 1000),
    ]
    print("M flips/s = reads x sweeps x n / wall time; 'per cpu-s' divides by process CPU time")
    print("(all threads), the fair per-core figure on a shared machine; 'best' uses the fastest")
    print("run's wall time (what threads give when cores are free); ratios: poqw / raw dwave.")
    print(f"{'instance':<22} {'sampler':<26} {'reads x sweeps':>14} {'wall s':>7} "
          f"{'M flips/s':>10} {'ratio':>6} {'per cpu-s':>10} {'ratio':>6} "
          f"{'best':>10} {'ratio':>6}")
    for label, model, reads, sweeps in cases:
        bqm = model.to_bqm()
        attempts = reads * sweeps * model.num_variables
        raw = median_seconds(lambda b=bqm, r=reads, s=sweeps: DwaveSA().sample(
            b, num_reads=r, num_sweeps=s, seed=1), repeats)
        work = f"{reads} x {sweeps}"
        rows = [("dwave-samplers (raw)", work, raw)]
        sampler = SimulatedAnnealingSampler(num_threads=THREADS)
        t = median_seconds(lambda m=model, r=reads, s=sweeps, sa=sampler: sa.sample(
            m, num_reads=r, num_sweeps=s, seed=1), repeats)
        rows.append((f"poqw SA, {THREADS} thread(s)", work, t))
        tempering = ParallelTemperingSampler(num_threads=THREADS)
        pt_reads = max(1, reads // PT_REPLICAS)  # the same number of attempts as the SA rows
        tempering.sample(model, num_reads=1, num_sweeps=1, num_replicas=2, seed=0)  # compile
        t = median_seconds(lambda m=model, r=pt_reads, s=sweeps, pt=tempering: pt.sample(
            m, num_reads=r, num_sweeps=s, num_replicas=PT_REPLICAS, seed=1), repeats)
        pt_work = f"{pt_reads}x{PT_REPLICAS} x {sweeps}"
        rows.append((f"poqw PT (numba), {THREADS} thread(s)", pt_work, t))
        for name, label_work, (wall, cpu, best) in rows:
            print(f"{label:<22} {name:<26} {label_work:>14} {wall:7.3f} "
                  f"{attempts / wall / 1e6:10.1f} {raw[0] / wall:6.2f} "
                  f"{attempts / cpu / 1e6:10.1f} {raw[1] / cpu:6.2f} "
                  f"{attempts / best / 1e6:10.1f} {raw[2] / best:6.2f}")


def quality_rows(quick: bool) -> None:
    instances: list[tuple[str, IsingModel]] = [
        ("maxcut 3-reg n=24", random_maxcut(3, 24, seed=2)),
        ("+-J glass+fields n=24", pm_j_spin_glass(random_regular_graph(3, 24, seed=3), seed=3,
                                                  field=True)),
        ("+-J glass K24", pm_j_spin_glass(nx.complete_graph(24), seed=4)),
        ("SK gaussian n=20", sherrington_kirkpatrick(20, seed=4)),
    ]
    reads = 16 if quick else 64
    print(f"\nQuality: best energy / fraction of the {reads} reads at the exact ground state")
    names = ["SA 1000 sweeps", "raw dwave SA", "PT 8x125 sweeps", "steepest", "random"]
    print(f"{'instance':<22} {'exact':>8} " + " ".join(f"{name:>17}" for name in names))
    for label, model in instances:
        exact = solve_exact(model).energy
        n = model.num_variables
        raw = DwaveSA().sample(model.to_bqm(), num_reads=reads, num_sweeps=1000,
                               seed=5)
        raw_spins = np.asarray(raw.record.sample)[:, [raw.variables.index(i) for i in range(n)]]
        energies = [
            SimulatedAnnealingSampler(THREADS).sample(model, num_reads=reads, num_sweeps=1000,
                                               seed=5).record.energy,
            model.energies(raw_spins),
            ParallelTemperingSampler(THREADS).sample(model, num_reads=reads, num_sweeps=125,
                                              num_replicas=8, seed=5).record.energy,
            SteepestDescentSampler().sample(model, num_reads=reads, seed=5).record.energy,
            RandomSampler().sample(model, num_reads=reads, seed=5).record.energy,
        ]
        cells = []
        for e in energies:
            hit = float(np.mean(np.isclose(e, exact, atol=1e-9)))
            cells.append(f"{float(np.min(e)):9.3f} / {hit:5.2f}")
        print(f"{label:<22} {exact:8.3f} " + " ".join(f"{c:>17}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer reads (a smoke run)")
    add_threads_argument(parser)
    args = parser.parse_args()
    with bench_session("bench_annealing" + (" quick" if args.quick else ""),
                       packages=("numba", "dimod", "dwave-samplers")):
        if THREADS > 1:
            print("note: raw dwave-samplers runs one thread whatever --threads says")
        speed_rows(args.repeats, args.quick)
        quality_rows(args.quick)


if __name__ == "__main__":
    main()

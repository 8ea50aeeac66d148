"""GPU annealing miner vs the CPU annealer: spin-flip attempts per second on the genesis topology.

Both anneal block puzzles (fresh instances of the genesis graph) with the miner's schedule
(``--reads`` reads x ``--sweeps`` sweeps per puzzle); the GPU runs ``--batch`` puzzles per
kernel launch (after a warm-up launch that compiles the kernel), the CPU runs dwave-samplers
through poqw's wrapper with ``--threads N``. Attempts = puzzles x reads x sweeps x spins; the
ratio column is GPU / CPU. Before timing, the GPU's spins are checked against the NumPy
reference on a few puzzles (they must be identical). Without a GPU the GPU row says why.

    .venv/bin/python bench/bench_gpu_anneal.py [--genesis devnet|zephyr-testnet] [--batch 4096]
        [--reads 64] [--sweeps 16] [--repeats 3] [--device 0 ...] [--threads N]
"""

from __future__ import annotations

from _common import THREADS, add_threads_argument, bench_session

# isort: split
import argparse
import statistics
import time
from importlib import resources

import numpy as np

from poqw.chain import load_genesis
from poqw.chain.instance import derive_instance
from poqw.node.hardware import GpuPuzzleSolver
from poqw.node.miner import make_solver
from poqw.samplers.gpu_annealing import gpu_status


def _instances(topology: object, count: int, offset: int = 0) -> list[object]:
    return [derive_instance(topology, (offset + i).to_bytes(32, "big"))  # type: ignore[arg-type]
            for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--genesis", default="devnet")
    parser.add_argument("--batch", type=int, default=4096, help="puzzles per GPU launch")
    parser.add_argument("--cpu-puzzles", type=int, default=64, help="puzzles timed on the CPU")
    parser.add_argument("--reads", type=int, default=64)
    parser.add_argument("--sweeps", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 8 CPU puzzles, one repeat")
    parser.add_argument("--device", type=int, action="append", default=None)
    add_threads_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.cpu_puzzles, args.repeats = min(args.cpu_puzzles, 8), 1
    raw = (resources.files("poqw") / "data" / "genesis" / f"{args.genesis}.json").read_bytes()
    topology = load_genesis(raw).topology
    n = topology.num_nodes
    with bench_session("bench_gpu_anneal", ("numba", "dwave-samplers")):
        print(f"genesis {args.genesis}: {topology.family} {n} spins, {topology.num_edges} edges; "
              f"{args.reads} reads x {args.sweeps} sweeps per puzzle")
        cpu = make_solver(num_reads=args.reads, num_sweeps=args.sweeps, num_threads=THREADS)
        puzzles = _instances(topology, args.cpu_puzzles)
        cpu(puzzles[0], 0)  # warm-up
        cpu_rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for k, inst in enumerate(puzzles):
                cpu(inst, k)
            elapsed = time.perf_counter() - start
            cpu_rates.append(len(puzzles) * args.reads * args.sweeps * n / elapsed)
        cpu_rate = statistics.median(cpu_rates)
        print(f"cpu  dwave-samplers ({THREADS} threads): {cpu_rate:,.0f} attempts/s")
        devices = tuple(args.device or (0,))
        status = gpu_status(devices)
        if not status.available:
            print(f"gpu  skipped: {status.reason}")
            return
        gpu = GpuPuzzleSolver(devices=devices, num_reads=args.reads, num_sweeps=args.sweeps,
                              batch_size=args.batch)
        check = _instances(topology, 4, 10**6)
        reference = GpuPuzzleSolver(backend="numpy", num_reads=args.reads,
                                    num_sweeps=args.sweeps)
        same = all(np.array_equal(a, b) for a, b in zip(
            gpu.solve_many(check, [1, 2, 3, 4]), reference.solve_many(check, [1, 2, 3, 4]),
            strict=True))
        print(f"gpu  devices {', '.join(status.devices[d] for d in devices)}; spins identical "
              f"to the NumPy reference: {same}")
        batch = _instances(topology, args.batch, 10**7)
        seeds = list(range(args.batch))
        gpu.solve_many(batch, seeds)  # warm-up: compiles the kernel, moves the plan
        gpu_rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            gpu.solve_many(batch, seeds)
            elapsed = time.perf_counter() - start
            gpu_rates.append(args.batch * args.reads * args.sweeps * n / elapsed)
        gpu_rate = statistics.median(gpu_rates)
        print(f"gpu  batch {args.batch} puzzles: {gpu_rate:,.0f} attempts/s (incl. puzzle "
              f"upload and spin download)")
        print(f"ratio gpu / cpu: {gpu_rate / cpu_rate:.1f}x")


if __name__ == "__main__":
    main()

"""Runs the CUDA annealing kernel under numba's CUDA simulator (a subprocess of the GPU tests).

``NUMBA_ENABLE_CUDASIM`` must be set before numba.cuda is first imported, and once set it holds
for the whole process, so the simulator runs here and never inside the pytest process (where a
simulated "GPU" would fool the fallback tests); never import it, run it:
``python gpu_sim_driver.py OUT.npz DATADIR``. It writes the kernel's spins for a few devnet
puzzles, with their seeds and schedule, and a block mined with the GPU solver.
"""

from __future__ import annotations

import os
import sys
import warnings

os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
# uint64 arithmetic wraps on purpose; the simulator runs it on numpy scalars, which warn
warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)

import numpy as np  # noqa: E402

from poqw.chain.instance import derive_instance  # noqa: E402
from poqw.node import Miner, load_config  # noqa: E402
from poqw.node.hardware import GpuPuzzleSolver, gpu_solver  # noqa: E402
from poqw.node.testing import funded_genesis, make_chain, mldsa_signer, salt_stream  # noqa: E402
from poqw.samplers.colored_anneal import plan_for_graph  # noqa: E402
from poqw.samplers.gpu_annealing import CudaAnnealer, anneal_batch, gpu_status  # noqa: E402

SEEDS = [11, 12, 13]
READS, SWEEPS = 8, 6


def main(out: str, datadir: str) -> None:
    status = gpu_status()
    assert status.available, status.reason
    genesis = funded_genesis({})
    topology = genesis.topology
    plan = plan_for_graph(topology.num_nodes, topology.edges)
    instances = [derive_instance(topology, bytes([i]) * 32) for i in range(len(SEEDS))]
    h = np.stack([inst.h for inst in instances])
    J = np.stack([inst.J for inst in instances])
    # two "devices" (the simulator has one, used twice): the split over GPUs is exercised too
    spins = anneal_batch("cuda", plan, h, J, SEEDS, READS, SWEEPS,
                         annealer=CudaAnnealer(plan, devices=(0, 0), threads_per_block=16))
    # what `poqw node gpu` does: probe, compile and run the kernel once, no fallback
    cfg = load_config(None, {"global.datadir": datadir, "gpu.num_reads": 4,
                             "gpu.num_sweeps": 2})
    choice = gpu_solver(cfg, genesis.k, require=True, topology=topology)
    chain, pool = make_chain(datadir, genesis)
    solver = GpuPuzzleSolver(backend="cuda", num_reads=16, num_sweeps=8, batch_size=2)
    miner = Miner(chain, pool, mldsa_signer("gpu"), solver,
                  clock=lambda: genesis.timestamp + 10**6, salt_source=salt_stream("gpu-sim"))
    block = miner.mine_block()
    assert block is not None and chain.tip().block_hash == block.hash()
    np.savez(out, spins=spins, block=np.frombuffer(block.encode(), dtype=np.uint8),
             salts_tried=miner.stats.salts_tried, seeds=np.array(SEEDS),
             reads=READS, sweeps=SWEEPS, runs_on=choice.runs_on, fallback=choice.fallback)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

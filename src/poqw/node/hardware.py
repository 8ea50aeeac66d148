"""Miner solvers for hardware: CUDA GPUs (``poqw node gpu``), with a plain fallback where absent.

:func:`gpu_solver` turns the ``[gpu]`` config section into a :class:`GpuPuzzleSolver` (many
puzzles per kernel launch, split over ``devices``) when numba.cuda finds the GPUs, and otherwise
into the CPU annealer with a note that says why, or a :class:`~poqw.errors.BackendUnavailable`
when the user required the GPU. The D-Wave side is :mod:`poqw.node.qpu`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from poqw.chain import Instance
from poqw.chain.instance import derive_instance
from poqw.chain.topology import Topology
from poqw.errors import BackendUnavailable
from poqw.node.config import NodeConfig
from poqw.node.miner import PuzzleSolver, make_solver
from poqw.samplers.colored_anneal import AnnealPlan, plan_for_graph
from poqw.samplers.gpu_annealing import CudaAnnealer, GpuStatus, anneal_batch, gpu_status

__all__ = ["GpuPuzzleSolver", "SolverChoice", "cpu_solver", "gpu_solver"]

log = logging.getLogger("poqw.node.hardware")


@dataclass(frozen=True)
class SolverChoice:
    """The solver a node mines with, what it runs on, and why when it fell back."""

    solver: PuzzleSolver
    runs_on: str
    fallback: str = ""


@lru_cache(maxsize=4)
def _plan(num_nodes: int, edges: bytes) -> AnnealPlan:
    return plan_for_graph(num_nodes, np.frombuffer(edges, dtype=np.int64).reshape(-1, 2))


class GpuPuzzleSolver:
    """Block puzzles annealed ``batch_size`` at a time on the GPU (``backend="cuda"``) or by
    the bit-identical NumPy reference (``backend="numpy"``, for tests and machines without one).

    Each puzzle gets ``num_reads`` reads of ``num_sweeps`` sweeps, seeded by its salt, as the
    CPU miner's runs; the colouring and CSR of the genesis graph are computed once."""

    miner_kind = "gpu"  # the label its attempts carry in the node's metrics

    def __init__(self, *, backend: str = "cuda", devices: tuple[int, ...] = (0,),
                 num_reads: int = 64, num_sweeps: int = 16, batch_size: int = 256) -> None:
        self.backend = backend
        self.devices = devices
        self.num_reads = num_reads
        self.num_sweeps = num_sweeps
        self.batch_size = batch_size
        self._annealer: CudaAnnealer | None = None

    def _plan_for(self, instance: Instance) -> AnnealPlan:
        plan = _plan(instance.num_variables, np.ascontiguousarray(instance.edges).tobytes())
        if self.backend == "cuda" and (self._annealer is None or self._annealer.plan is not plan):
            self._annealer = CudaAnnealer(plan, self.devices)
        return plan

    def solve_many(self, instances: list[Instance],
                   seeds: list[int]) -> list[npt.NDArray[np.int64]]:
        """Candidate spins (num_reads, n) for each puzzle (all on one graph)."""
        plan = self._plan_for(instances[0])
        h = np.stack([inst.h for inst in instances])
        J = np.stack([inst.J for inst in instances])
        spins = anneal_batch(self.backend, plan, h, J, seeds, self.num_reads, self.num_sweeps,
                             annealer=self._annealer).astype(np.int64)
        return [spins[b * self.num_reads:(b + 1) * self.num_reads]
                for b in range(len(instances))]

    def __call__(self, instance: Instance, seed: int) -> npt.NDArray[np.int64]:
        return self.solve_many([instance], [seed])[0]


def cpu_solver(config: NodeConfig, k: int) -> PuzzleSolver:
    """The ``poqw node cpu`` solver of this config (what the hardware miners fall back to)."""
    cpu = config.cpu
    return make_solver("simulated-annealing", num_reads=cpu.num_reads,
                       num_sweeps=cpu.num_sweeps, num_threads=cpu.num_cpus, k=k)


def gpu_solver(config: NodeConfig, k: int, *, require: bool = False,
               topology: Topology | None = None) -> SolverChoice:
    """The GPU solver of ``config.gpu`` (default device 0), else the CPU annealer with the reason
    (``BackendUnavailable`` instead when ``require``). With ``topology`` the kernel is compiled
    and run once on a puzzle of it first, so a driver or toolkit that cannot run it (no NVVM,
    say) is found here rather than in the miner thread."""
    gpu = config.gpu
    devices = gpu.devices or (0,)
    status = gpu_status(devices)
    solver = GpuPuzzleSolver(devices=devices, num_reads=gpu.num_reads,
                             num_sweeps=gpu.num_sweeps, batch_size=gpu.batch_size)
    reason = f"no usable GPU ({status.reason})"
    if status.available and topology is not None:
        try:
            solver.solve_many([derive_instance(topology, bytes(32))], [0])
        except Exception as exc:  # numba's CUDA errors have no common base class
            status = GpuStatus(False, status.devices, f"the CUDA kernel did not run: {exc}")
            reason = f"GPU found but unusable ({status.reason})"
    if not status.available:
        if require:
            raise BackendUnavailable(f"{reason}; --require-gpu was given, so the node does not "
                                     "fall back to the CPU annealer")
        return SolverChoice(cpu_solver(config, k), f"CPU annealer ({config.cpu.num_cpus} "
                            "threads)", f"{reason}: mining with the CPU annealer instead")
    names = ", ".join(f"{d}: {status.devices[d]}" for d in devices)
    return SolverChoice(solver, f"CUDA GPU {names} (batches of {gpu.batch_size} puzzles, "
                        f"{gpu.num_reads} reads x {gpu.num_sweeps} sweeps)")

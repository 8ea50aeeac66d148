"""Simulated annealing on CUDA GPUs (numba.cuda): one thread per read, many puzzles per launch.

Each thread anneals one read of one instance, spins laid out (spin, read) so a warp's loads are
contiguous, walking the spins in the colour order of :mod:`poqw.samplers.colored_anneal` with
its counter-based draws and integer acceptance thresholds: the NumPy reference there gives the
same spins bit for bit (tested under numba's CUDA simulator). Instances are split across the
configured devices, one host thread per device. numba.cuda is imported on first use only.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from poqw.errors import BackendUnavailable, SamplerError
from poqw.problems.model import IsingModel, SpinArray
from poqw.samplers.base import PoqwSampler
from poqw.samplers.colored_anneal import (
    AnnealPlan,
    acceptance_thresholds,
    anneal_reference,
    beta_schedule,
    check_integer_model,
    default_beta_range,
    plan_for_graph,
    read_keys,
)

__all__ = ["BACKENDS", "CudaAnnealer", "GpuAnnealingSampler", "GpuStatus", "anneal_batch",
           "gpu_status"]

BACKENDS = ("cuda", "numpy")
THREADS_PER_BLOCK = 128


@dataclass(frozen=True)
class GpuStatus:
    """Whether CUDA GPUs are usable here: their names, or the reason they are not."""

    available: bool
    devices: tuple[str, ...]
    reason: str


def _device_name(gpu: Any) -> str:
    name = getattr(gpu, "name", None)  # numba's simulated device has none
    if isinstance(name, bytes):
        return name.decode(errors="replace")
    return str(name) if name is not None else f"{type(gpu).__name__} (simulated)"


def gpu_status(wanted: Sequence[int] = ()) -> GpuStatus:
    """Probe numba.cuda for a driver and devices (and that every index in ``wanted`` exists)."""
    try:
        from numba import cuda
    except Exception as exc:  # a broken numba install is "no GPU", said plainly
        return GpuStatus(False, (), f"numba.cuda cannot be imported ({exc})")
    try:
        if not cuda.is_available():
            return GpuStatus(False, (), "no CUDA driver or GPU found by numba.cuda")
        names = tuple(_device_name(gpu) for gpu in cuda.gpus)
    except Exception as exc:
        return GpuStatus(False, (), f"the CUDA driver failed: {exc}")
    missing = [d for d in wanted if not 0 <= d < len(names)]
    if missing:
        return GpuStatus(False, names, f"no GPU with index {', '.join(map(str, missing))} "
                         f"(this machine has {len(names)})")
    return GpuStatus(bool(names), names, "" if names else "numba.cuda lists no GPU")


def _kernel() -> Any:
    """The compiled (or, under NUMBA_ENABLE_CUDASIM=1, simulated) annealing kernel."""
    from poqw.samplers._cuda_kernels import anneal_kernel

    return anneal_kernel


def _simulated() -> bool:
    from numba import config

    return bool(getattr(config, "ENABLE_CUDASIM", 0))


class CudaAnnealer:
    """Runs the kernel for one graph on ``devices`` (numba device indices)."""

    def __init__(self, plan: AnnealPlan, devices: Sequence[int] = (0,),
                 threads_per_block: int = THREADS_PER_BLOCK) -> None:
        if not devices:
            raise SamplerError("the GPU annealer needs at least one device index")
        self.plan = plan
        self.devices = tuple(devices)
        self.threads_per_block = threads_per_block
        self._lock = threading.Lock()

    def anneal(self, h: npt.NDArray[np.int8], J: npt.NDArray[np.int8], keys: npt.NDArray[np.uint64],
               reads_per_instance: int, thresholds: npt.NDArray[np.int64]) -> SpinArray:
        """Spins (B * reads_per_instance, n) for instances ``h`` (B, n), ``J`` (B, m)."""
        batches = np.array_split(np.arange(h.shape[0]), min(len(self.devices), h.shape[0]))
        jobs = [(self.devices[k], idx) for k, idx in enumerate(batches) if idx.size]

        def run(device: int, idx: npt.NDArray[np.int64]) -> SpinArray:
            rows = (idx[:, None] * reads_per_instance + np.arange(reads_per_instance)).ravel()
            return self._run_on(device, h[idx], J[idx], keys[rows], reads_per_instance,
                                thresholds)

        if len(jobs) == 1 or _simulated():  # the simulator runs one kernel at a time
            return np.concatenate([run(*job) for job in jobs], axis=0)
        with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="poqw-gpu") as pool:
            parts = list(pool.map(lambda job: run(*job), jobs))
        return np.concatenate(parts, axis=0)

    def _run_on(self, device: int, h: npt.NDArray[np.int8], J: npt.NDArray[np.int8],
                keys: npt.NDArray[np.uint64], reads_per_instance: int,
                thresholds: npt.NDArray[np.int64]) -> SpinArray:
        from numba import cuda

        plan = self.plan
        total = keys.shape[0]
        with cuda.gpus[device]:
            spins = cuda.device_array((plan.num_nodes, total), dtype=np.int8)
            blocks = (total + self.threads_per_block - 1) // self.threads_per_block
            _kernel()[blocks, self.threads_per_block](
                cuda.to_device(plan.order), cuda.to_device(plan.row_ptr),
                cuda.to_device(plan.neighbors), cuda.to_device(plan.edge_index),
                cuda.to_device(np.ascontiguousarray(h.T)),
                cuda.to_device(np.ascontiguousarray(J.T)),
                cuda.to_device(keys), np.int64(reads_per_instance),
                cuda.to_device(thresholds), spins)
            out: SpinArray = np.ascontiguousarray(spins.copy_to_host().T)
        return out


def anneal_batch(backend: str, plan: AnnealPlan, h: npt.ArrayLike, J: npt.ArrayLike,
                 seeds: Sequence[int], reads_per_instance: int, num_sweeps: int,
                 beta_range: tuple[float, float] | None = None,
                 annealer: CudaAnnealer | None = None) -> SpinArray:
    """Anneal ``reads_per_instance`` reads of each instance (rows of ``h`` (B, n), ``J`` (B, m),
    integer), instance ``b`` seeded by ``seeds[b]``; ``backend`` is ``cuda`` or ``numpy`` (the
    reference), with identical results."""
    hb = np.ascontiguousarray(np.asarray(h, dtype=np.int8).reshape(-1, plan.num_nodes))
    Jb = np.ascontiguousarray(np.asarray(J, dtype=np.int8).reshape(hb.shape[0], -1))
    max_field = check_integer_model(plan, h, J)
    betas = beta_schedule(num_sweeps, beta_range or default_beta_range(max_field))
    thresholds = acceptance_thresholds(betas, max_field)
    keys = read_keys(seeds, reads_per_instance)
    if backend == "numpy":
        return anneal_reference(plan, hb, Jb, keys, reads_per_instance, thresholds)
    if backend != "cuda":
        raise SamplerError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return (annealer or CudaAnnealer(plan)).anneal(hb, Jb, keys, reads_per_instance, thresholds)


class GpuAnnealingSampler(PoqwSampler):
    """Colour-ordered simulated annealing on CUDA (``backend="cuda"``, ``devices``) or its NumPy
    reference (``backend="numpy"``); integer fields and couplings only.

    Parameters: ``num_reads``, ``seed``, ``num_sweeps`` (default 1000), ``beta_range``."""

    extra_parameters: ClassVar[dict[str, list[str]]] = {"num_sweeps": [], "beta_range": []}

    def __init__(self, backend: str = "cuda", devices: Sequence[int] = (0,)) -> None:
        if backend not in BACKENDS:
            raise SamplerError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "cuda":
            status = gpu_status(devices)
            if not status.available:
                raise BackendUnavailable(f"gpu-annealing needs a CUDA GPU: {status.reason}")
        self.backend = backend
        self.devices = tuple(devices)

    @property
    def properties(self) -> dict[str, Any]:
        return {**super().properties, "backend": self.backend, "devices": list(self.devices)}

    def _sample_model(self, model: IsingModel, num_reads: int | None, seed: int,
                      **parameters: Any) -> tuple[SpinArray, dict[str, Any]]:
        assert num_reads is not None
        num_sweeps = parameters.get("num_sweeps", 1000)
        if isinstance(num_sweeps, bool) or not isinstance(num_sweeps, int) or num_sweeps < 1:
            raise SamplerError(f"num_sweeps must be a positive integer, got {num_sweeps!r}")
        beta_range = parameters.get("beta_range")
        if beta_range is not None:
            low, high = (float(b) for b in beta_range)
            if not 0 < low <= high:
                raise SamplerError(f"beta_range must satisfy 0 < low <= high, got {beta_range}")
            beta_range = (low, high)
        n = model.num_variables
        if n == 0:
            return np.zeros((num_reads, 0), dtype=np.int8), {}
        plan = plan_for_graph(n, model.edges)
        annealer = CudaAnnealer(plan, self.devices) if self.backend == "cuda" else None
        spins = anneal_batch(self.backend, plan, model.h[None, :], model.J[None, :], [seed],
                             num_reads, num_sweeps, beta_range, annealer)
        return spins, {"num_sweeps": num_sweeps, "backend": self.backend}

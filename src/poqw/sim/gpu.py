"""The GPU path of the state-vector engine: CuPy when importable, else PyTorch with CUDA.

The layer is the same as the CPU kernels (cost phase by level-table lookup or ``exp(-i g E)``,
then ``exp(-i beta X)`` on each qubit through a (rest, 2, 2**j) view), written once against a
tiny array-module adapter so the CuPy and PyTorch versions share the code. Uniform random numbers
are drawn on the host from the caller's numpy Generator, so a seed gives the same samples on
every device up to the rounding of the cumulative sums. Nothing is imported until first use.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import numpy.typing as npt

from poqw.errors import BackendUnavailable
from poqw.problems.model import FloatArray
from poqw.sim._diagonal import EnergyLevels

__all__ = ["GpuStateVector", "gpu_available", "select_gpu_library"]


def _cupy_ready() -> Any:
    try:
        cp = importlib.import_module("cupy")
        if cp.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:  # no module, no driver, no device: all mean "not usable"
        return None
    return cp


def _torch_ready() -> Any:
    try:
        torch = importlib.import_module("torch")
        if not torch.cuda.is_available():
            return None
    except Exception:
        return None
    return torch


def select_gpu_library(prefer: str | None = None) -> tuple[str, Any]:
    """('cupy', module) or ('torch', module) for a usable CUDA GPU; BackendUnavailable if none."""
    order = ("cupy", "torch") if prefer in (None, "cupy") else ("torch", "cupy")
    probes = {"cupy": _cupy_ready, "torch": _torch_ready}
    for name in order:
        module = probes[name]()
        if module is not None:
            return name, module
    raise BackendUnavailable("kernel='gpu' needs CuPy or PyTorch with a CUDA device; neither is "
                             "usable here (use kernel='fast')")


def gpu_available() -> bool:
    """True when a CUDA GPU is usable through CuPy or PyTorch."""
    try:
        select_gpu_library()
    except BackendUnavailable:
        return False
    return True


class _Ops:
    """The handful of array operations the engine needs, for CuPy or PyTorch."""

    def __init__(self, name: str, module: Any) -> None:
        self.name, self.m = name, module
        if name == "torch":
            self.device = module.device("cuda")

    def to_device(self, a: npt.NDArray[Any]) -> Any:
        if self.name == "cupy":
            return self.m.asarray(a)
        return self.m.from_numpy(np.ascontiguousarray(a)).to(self.device)

    def to_host(self, a: Any) -> npt.NDArray[Any]:
        if self.name == "cupy":
            return self.m.asnumpy(a)  # type: ignore[no-any-return]
        return a.cpu().numpy()  # type: ignore[no-any-return]

    def full_state(self, n: int) -> Any:
        amp = 2.0 ** (-n / 2)
        if self.name == "cupy":
            return self.m.full(1 << n, amp, dtype=self.m.complex128)
        return self.m.full((1 << n,), amp, dtype=self.m.complex128, device=self.device)

    def phase(self, diag: Any, gamma: float) -> Any:
        if self.name == "cupy":
            return self.m.exp(-1j * gamma * diag)
        return self.m.polar(self.m.ones_like(diag), -gamma * diag)

    def take(self, table: Any, index: Any) -> Any:
        return table[index]

    def cumsum(self, p: Any) -> Any:
        return self.m.cumsum(p, 0) if self.name == "torch" else self.m.cumsum(p)

    def searchsorted(self, cdf: Any, u: Any) -> Any:
        if self.name == "cupy":
            return self.m.searchsorted(cdf, u, side="right")
        return self.m.searchsorted(cdf, u, right=True)


class GpuStateVector:
    """Device-resident QAOA evaluation; the CPU engine delegates here for kernel='gpu'."""

    def __init__(self, diagonal: FloatArray, levels: EnergyLevels | None,
                 prefer: str | None = None) -> None:
        name, module = select_gpu_library(prefer)
        self.ops = _Ops(name, module)
        self.n = int(diagonal.shape[0]).bit_length() - 1
        self.diag = self.ops.to_device(diagonal)
        self.level_index: Any = None
        self.level_values: FloatArray | None = None
        if levels is not None:
            self.level_index = self.ops.to_device(levels.index.astype(np.int64))
            self.level_values = levels.values()

    def _evolve(self, gammas: FloatArray, betas: FloatArray) -> Any:
        ops, n = self.ops, self.n
        psi = ops.full_state(n)
        for g, b in zip(gammas, betas, strict=True):
            if self.level_index is not None and self.level_values is not None:
                table = ops.to_device(np.exp(-1j * float(g) * self.level_values))
                psi *= ops.take(table, self.level_index)
            else:
                psi *= ops.phase(self.diag, float(g))
            c, s = float(np.cos(b)), float(np.sin(b))
            for j in range(n):
                view = psi.reshape(-1, 2, 1 << j)
                a = view[:, 0, :].clone() if ops.name == "torch" else view[:, 0, :].copy()
                bb = view[:, 1, :]
                view[:, 0, :] = c * a - 1j * s * bb
                view[:, 1, :] = c * bb - 1j * s * a
        return psi

    def state(self, gammas: FloatArray, betas: FloatArray) -> npt.NDArray[np.complex128]:
        return self.ops.to_host(self._evolve(gammas, betas))

    def expectation(self, gammas: FloatArray, betas: FloatArray) -> float:
        psi = self._evolve(gammas, betas)
        p = psi.real**2 + psi.imag**2
        return float((p * self.diag).sum())

    def sample_indices(self, gammas: FloatArray, betas: FloatArray, shots: int,
                       rng: np.random.Generator) -> tuple[npt.NDArray[np.int64], float]:
        psi = self._evolve(gammas, betas)
        p = psi.real**2 + psi.imag**2
        expect = float((p * self.diag).sum())
        cdf = self.ops.cumsum(p)
        total = float(cdf[-1])
        u = self.ops.to_device(rng.random(shots) * total)
        idx = self.ops.to_host(self.ops.searchsorted(cdf, u)).astype(np.int64)
        np.minimum(idx, (1 << self.n) - 1, out=idx)
        return idx, expect

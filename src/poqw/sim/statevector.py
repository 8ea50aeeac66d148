"""The reusable state-vector QAOA engine, the hot path of the strike loop.

``StateVectorQAOA`` precomputes the energies of a model once (for models whose energies sit on
a small integer grid, as a compact level index so the cost phase is a table lookup; otherwise as
the float diagonal), keeps one state buffer (real and imaginary parts apart, up to a global
factor; for models without fields only the half of the state with the top bit 0, since then
``psi(x) == psi(~x)``), and evaluates states, expectations, batches of angle sets and samples
(a two-level inverse-CDF sampler: no 2**n cumulative array) without allocating more than its
outputs. An engine holds buffers: use one engine per thread.
Convention: ``|gamma, beta> = prod_k exp(-i beta_k sum_j X_j) exp(-i gamma_k H) |+>^n``, ``H``
the model's energy with offset; qubit j is variable j and |0> is spin +1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from poqw.errors import InvalidProblem, ProblemTooLarge, SimulationError
from poqw.problems.model import FloatArray, IsingModel, SpinArray
from poqw.sim._diagonal import MAX_DIAGONAL_QUBITS, EnergyLevels, build_diagonal, build_levels
from poqw.sim.reference import ComplexArray, qaoa_state_reference

__all__ = [
    "KERNELS",
    "MAX_STATEVECTOR_QUBITS",
    "StateVectorQAOA",
    "as_generator",
    "check_angles",
    "sample_from_cdf",
]

KERNELS = ("reference", "fast", "gpu", "auto")  # 'auto': 'gpu' when one is usable, else 'fast'
MAX_STATEVECTOR_QUBITS = MAX_DIAGONAL_QUBITS
_EMPTY_LEVELS = np.empty(0, dtype=np.uint16)
_EMPTY_FLOATS = np.empty(0, dtype=np.float64)
_SAMPLE_CHUNK = 256  # amplitudes per chunk of the two-level sampler
_MIN_REFLECT_QUBITS = 4  # below this the half-state path saves nothing worth its branches
# the imaginary parts start 2 KiB + 64 B after a page boundary relative to the real parts, so
# re[i] and im[i] never share their low 12 address bits (4K aliasing stalls loads 5x)
_IMAG_OFFSET = 264


def split_buffers(size: int) -> tuple[FloatArray, FloatArray]:
    """Real and imaginary buffers of ``size`` float64 in one allocation, offset against 4K
    aliasing."""
    buf = np.empty(2 * size + _IMAG_OFFSET, dtype=np.float64)
    return buf[:size], buf[size + _IMAG_OFFSET:]


def _check_norm(total: float) -> None:
    if not total > 0.5:
        raise SimulationError(f"state norm {total} is far from 1: numerical failure")


def _max_threads() -> int:
    return int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]


def check_angles(gammas: npt.ArrayLike, betas: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Validate one angle set: equal lengths p >= 1, finite reals."""
    g = np.atleast_1d(np.asarray(gammas, dtype=np.float64))
    b = np.atleast_1d(np.asarray(betas, dtype=np.float64))
    if g.ndim != 1 or b.ndim != 1:
        raise InvalidProblem(f"gammas and betas must be 1-D, got shapes {g.shape} and {b.shape}")
    if g.shape != b.shape:
        raise InvalidProblem(
            f"gammas has {g.shape[0]} angles but betas has {b.shape[0]}: one of each per layer"
        )
    if g.shape[0] == 0:
        raise InvalidProblem("at least one layer (one gamma and one beta) is needed")
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(b))):
        raise InvalidProblem("angles must be finite")
    return g, b


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A numpy Generator from a Generator or an integer seed (None is refused: be explicit)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        raise InvalidProblem("sampling needs an explicit seed or numpy Generator")
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise InvalidProblem(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")


def sample_from_cdf(cdf: FloatArray, shots: int, rng: np.random.Generator) -> npt.NDArray[Any]:
    """Basis indices drawn from an (unnormalised) cumulative distribution."""
    u = rng.random(shots) * cdf[-1]
    idx: npt.NDArray[Any] = np.searchsorted(cdf, u, side="right")
    np.minimum(idx, cdf.shape[0] - 1, out=idx)
    return idx


def _check_shots(shots: int) -> int:
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 0:
        raise InvalidProblem(f"shots must be a non-negative integer, got {shots!r}")
    return int(shots)


class StateVectorQAOA:
    """QAOA on a full state vector; ``kernel`` is 'reference' (numpy), 'fast' (numba), 'gpu'
    (CuPy or PyTorch CUDA) or 'auto' (the GPU when one is usable, else 'fast').

    ``threads``: None uses numba's thread pool, 1 runs the serial kernels, k > 1 caps the pool.
    ``max_bond`` is accepted for backend symmetry and ignored (a state vector is exact).
    ``use_levels=False`` computes the cost phase with a sine and cosine per amplitude even when
    the energies sit on an integer grid (for benchmarks and tests of that path).
    ``use_symmetry=False`` keeps the whole state even when the model has no fields (without
    fields ``psi(x) == psi(~x)`` and the fast path by default simulates only half the state).
    """

    def __init__(self, model: IsingModel, kernel: str = "fast", threads: int | None = None,
                 max_bond: int | None = None, use_levels: bool = True,
                 use_symmetry: bool = True) -> None:
        del max_bond  # a state vector is exact: a bond-dimension cap does not apply
        if kernel not in KERNELS:
            raise SimulationError(f"unknown kernel {kernel!r}; choose one of "
                                  f"{', '.join(KERNELS)}")
        if kernel == "auto":
            from poqw.sim.gpu import gpu_available

            kernel = "gpu" if gpu_available() else "fast"
        n = model.num_variables
        if n > MAX_STATEVECTOR_QUBITS:
            raise ProblemTooLarge(f"a state vector of {n} qubits needs 2**{n} amplitudes; "
                                  f"the limit is {MAX_STATEVECTOR_QUBITS} qubits")
        if n == 0:
            raise InvalidProblem("the model has no variables")
        if threads is not None and (isinstance(threads, bool) or int(threads) < 1):
            raise InvalidProblem(f"threads must be a positive integer or None, got {threads!r}")
        self.model = model
        self.num_qubits = n
        self.kernel = kernel
        self.threads = threads
        self.levels: EnergyLevels | None = None
        if kernel != "reference" and use_levels:
            self.levels = build_levels(model)
        # with energy levels the fast path never needs the float diagonal: it is built lazily
        self._diagonal: FloatArray | None = None
        if self.levels is None or kernel != "fast":
            self._diagonal = build_diagonal(model)
        self._lev = self.levels.index if self.levels is not None else _EMPTY_LEVELS
        self._values = self.levels.values() if self.levels is not None else _EMPTY_FLOATS
        self._diag_arg = self._diagonal if self._diagonal is not None else _EMPTY_FLOATS
        self._gpu: Any = None
        if kernel == "gpu":
            from poqw.sim.gpu import GpuStateVector

            self._gpu = GpuStateVector(self.diagonal, self.levels)
        # spin-flip symmetry (no fields, so E(x) == E(~x)): the fast path stores only half
        self.reflect = bool(kernel == "fast" and use_symmetry and n >= _MIN_REFLECT_QUBITS
                            and not np.any(model.h))
        stored = 1 << (n - 1 if self.reflect else n)
        self._re, self._im = split_buffers(stored if kernel == "fast" else 0)
        if self.reflect:  # the kernels only look up the energies of the stored half
            self._lev = self._lev[:stored]
            self._diag_arg = self._diag_arg[:stored]
        self._psi: ComplexArray = np.empty(1 << n if kernel == "reference" else 0,
                                           dtype=np.complex128)
        self._chunk = min(_SAMPLE_CHUNK, stored)
        self._chunk_sums: FloatArray = np.empty(stored // self._chunk, dtype=np.float64)
        from poqw.sim import _kernels

        self._kernels: dict[str, Callable[..., Any]] = (
            _kernels.KERNELS_SERIAL if threads == 1 else _kernels.KERNELS_PARALLEL
        )

    @property
    def diagonal(self) -> FloatArray:
        """Energy of every basis state (offset included); built on first use when the engine
        runs from energy levels."""
        if self._diagonal is None:
            assert self.levels is not None
            self._diagonal = self._values[self.levels.index]
        return self._diagonal

    # ---- evolution ----------------------------------------------------------------------

    @contextmanager
    def _thread_cap(self) -> Iterator[None]:
        if self.threads is None or self.threads == 1:
            yield
            return
        before = numba.get_num_threads()
        numba.set_num_threads(min(int(self.threads), _max_threads()))
        try:
            yield
        finally:
            numba.set_num_threads(before)

    def _evolve(self, gammas: FloatArray, betas: FloatArray) -> complex:
        """Evolve into the internal buffers; the state is ``scale * (re + i im)`` (the stored
        half of it with ``self.reflect``). Returns ``scale``."""
        if self.kernel == "reference":
            self._psi[:] = qaoa_state_reference(self.diagonal, gammas, betas)
            return 1.0
        from poqw.sim._kernels import apply_layers

        with self._thread_cap():
            return apply_layers(self._kernels, self._re, self._im, self._lev, self._values,
                                self._diag_arg, gammas, betas, self.num_qubits, self.reflect)

    def state(self, gammas: npt.ArrayLike, betas: npt.ArrayLike) -> ComplexArray:
        """The QAOA state vector (a new array of 2**n complex128)."""
        g, b = check_angles(gammas, betas)
        if self.kernel == "gpu":
            return self._gpu.state(g, b).copy()  # type: ignore[no-any-return]
        scale = self._evolve(g, b)
        if self.kernel == "reference":
            return self._psi.copy()
        out = np.empty(1 << self.num_qubits, dtype=np.complex128)
        half = self._re.shape[0]
        out.real[:half] = self._re
        out.imag[:half] = self._im
        out[:half] *= scale
        if self.reflect:
            out[half:] = out[half - 1::-1]
        return out

    def probabilities(self, gammas: npt.ArrayLike, betas: npt.ArrayLike) -> FloatArray:
        """|amplitude|**2 of every basis state."""
        g, b = check_angles(gammas, betas)
        if self.kernel != "fast":
            psi = self.state(g, b)
            return psi.real**2 + psi.imag**2  # type: ignore[no-any-return]
        scale = self._evolve(g, b)
        re, im = self._re, self._im
        p: FloatArray = (re * re + im * im) * abs(scale) ** 2
        return np.concatenate([p, p[::-1]]) if self.reflect else p

    def _mass_factor(self, scale: complex) -> float:
        """What a sum of |stored|**2 must be multiplied by to be a sum over the whole state."""
        return abs(scale) ** 2 * (2.0 if self.reflect else 1.0)

    def expectation(self, gammas: npt.ArrayLike, betas: npt.ArrayLike) -> float:
        """<gamma, beta| H |gamma, beta>, offset included."""
        g, b = check_angles(gammas, betas)
        if self.kernel == "gpu":
            return float(self._gpu.expectation(g, b))
        scale = self._evolve(g, b)
        if self.kernel == "reference":
            psi = self._psi
            return float(np.dot(psi.real**2 + psi.imag**2, self.diagonal))
        with self._thread_cap():
            total = self._kernels["expectation"](self._re, self._im, self._lev,
                                                 self._values, self._diag_arg)
        return float(total) * self._mass_factor(scale)

    def expectations(self, angle_batch: npt.ArrayLike) -> FloatArray:
        """Expectations for a batch of angle sets, shape (k, 2, p): [:, 0] gammas, [:, 1] betas."""
        batch = np.asarray(angle_batch, dtype=np.float64)
        if batch.ndim != 3 or batch.shape[1] != 2:
            raise InvalidProblem(
                f"angle_batch must have shape (k, 2, p) (gammas then betas), got {batch.shape}"
            )
        return np.array([self.expectation(a[0], a[1]) for a in batch], dtype=np.float64)

    # ---- sampling -----------------------------------------------------------------------

    def _draw(self, gammas: npt.ArrayLike, betas: npt.ArrayLike, shots: int,
              rng: np.random.Generator | int) -> tuple[npt.NDArray[Any], float]:
        """Basis indices of ``shots`` samples and <H>."""
        g, b = check_angles(gammas, betas)
        shots = _check_shots(shots)
        gen = as_generator(rng)
        if self.kernel == "gpu":
            idx, expect = self._gpu.sample_indices(g, b, shots, gen)
            return idx, float(expect)
        scale = self._evolve(g, b)
        if self.kernel == "reference":
            psi = self._psi
            p = psi.real**2 + psi.imag**2
            cdf = np.cumsum(p)
            _check_norm(float(cdf[-1]))
            return sample_from_cdf(cdf, shots, gen), float(np.dot(p, self.diagonal))
        re, im = self._re, self._im
        with self._thread_cap():
            energy = self._kernels["chunk_masses"](re, im, self._lev, self._values,
                                                   self._diag_arg, self._chunk, self._chunk_sums)
        chunk_cdf = np.cumsum(self._chunk_sums)
        mass = float(chunk_cdf[-1]) * (2.0 if self.reflect else 1.0)
        _check_norm(mass * abs(scale) ** 2)
        u = gen.random(shots) * mass
        idx = np.empty(shots, dtype=np.int64)
        self._kernels["draw"](re, im, chunk_cdf, u, self._chunk, self.reflect, idx)
        return idx, float(energy) * self._mass_factor(scale)

    def _energies(self, idx: npt.NDArray[Any]) -> FloatArray:
        if self.levels is not None and self.kernel == "fast":
            return self._values[self.levels.index[idx]]  # type: ignore[no-any-return]
        out: FloatArray = self.diagonal[idx]
        return out

    def _spins(self, idx: npt.NDArray[Any]) -> SpinArray:
        out = np.empty((idx.shape[0], self.num_qubits), dtype=np.int8)
        self._kernels["spins"](idx, self.num_qubits, out)
        return out

    def sample(self, gammas: npt.ArrayLike, betas: npt.ArrayLike, shots: int,
               rng: np.random.Generator | int) -> SpinArray:
        """``shots`` spin vectors (shots, n) int8 of +-1 drawn from the QAOA state."""
        idx, _ = self._draw(gammas, betas, shots, rng)
        return self._spins(idx)

    def strike(self, gammas: npt.ArrayLike, betas: npt.ArrayLike, shots: int,
               rng: np.random.Generator | int) -> tuple[SpinArray, FloatArray, float]:
        """One strike: samples (shots, n) int8, their energies (shots,), and <H> of the state."""
        idx, expect = self._draw(gammas, betas, shots, rng)
        return self._spins(idx), self._energies(idx), expect

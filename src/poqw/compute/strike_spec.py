"""Verifiable strikes: a strike's samples are a function of its specification alone.

A :class:`StrikeSpec` is (model hash, angles, shots, job seed). Its shots are inverse-CDF draws:
uniform ``u_k`` come from a SHAKE-256 stream of the spec's digest (53 bits each), and shot ``k``
is the first basis index ``x`` (in the fixed order 0 .. 2**n - 1) whose cumulative probability
exceeds ``u_k`` times the total. Any honest backend (numpy reference, numba fast kernel, exact
MPS, GPU) computes the same probabilities up to the last bits of float64, so it draws the same
indices except when ``u_k`` falls within ``CDF_TOLERANCE`` of an interval boundary; a checker
accepts a claimed index whose interval, widened by that tolerance, holds ``u_k``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from poqw.crypto.hashing import Hash32, hash32, shake_stream
from poqw.errors import JobRejected
from poqw.problems import IsingModel

__all__ = [
    "CDF_TOLERANCE",
    "MAX_JOB_SHOTS",
    "MAX_STRIKE_DEPTH",
    "MAX_STRIKE_QUBITS",
    "STRIKE_BACKENDS",
    "ShotCheck",
    "StrikeOutcome",
    "StrikeRunner",
    "StrikeSpec",
    "check_shots",
    "derive_job_seed",
    "draw_indices",
    "energies_digest",
    "samples_digest",
    "spins_from_indices",
    "strike_uniforms",
    "uniform_words",
]

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int64]
SpinArray = npt.NDArray[np.int8]

#: A verifiable strike needs the whole distribution: 2**24 probabilities (128 MiB) at most.
MAX_STRIKE_QUBITS = 24
MAX_STRIKE_DEPTH = 16
MAX_JOB_SHOTS = 1 << 16
#: How far (as a fraction of the total probability) a uniform may sit from an interval's edge
#: and still pick the neighbour. Honest backends differ by ~1e-13 at 2**20 states (measured by
#: bench/bench_compute.py); a cheater gains a shot only when a draw lands this close to an edge.
CDF_TOLERANCE = 1e-9
STRIKE_BACKENDS = ("reference", "fast", "mps", "gpu")

_VERSION = 1
_SPEC_HEAD = struct.Struct(">B32sBI32s")  # version, model hash, depth, shots, seed
_UNIFORM_DOMAIN = b"poqw/compute/strike-uniforms/v1"


@dataclass(frozen=True)
class StrikeSpec:
    """One strike: the model (by hash), one gamma and beta per layer, shots and a job seed."""

    model_hash: Hash32
    gammas: tuple[float, ...]
    betas: tuple[float, ...]
    shots: int
    seed: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.model_hash, bytes) or len(self.model_hash) != 32:
            raise JobRejected("model_hash must be 32 bytes", self)
        if not isinstance(self.seed, bytes) or len(self.seed) != 32:
            raise JobRejected("seed must be 32 bytes", self)
        if len(self.gammas) != len(self.betas):
            raise JobRejected(f"{len(self.gammas)} gammas but {len(self.betas)} betas", self)
        if not 1 <= len(self.gammas) <= MAX_STRIKE_DEPTH:
            raise JobRejected(f"depth must be 1..{MAX_STRIKE_DEPTH}, got {len(self.gammas)}",
                              self)
        if not all(isinstance(a, float) and math.isfinite(a) for a in self.gammas + self.betas):
            raise JobRejected("angles must be finite floats", self)
        if isinstance(self.shots, bool) or not isinstance(self.shots, int) \
                or not 1 <= self.shots <= MAX_JOB_SHOTS:
            raise JobRejected(f"shots must be 1..{MAX_JOB_SHOTS}, got {self.shots!r}", self)

    @classmethod
    def create(cls, model_hash: bytes, gammas: npt.ArrayLike, betas: npt.ArrayLike,
               shots: int, seed: bytes) -> StrikeSpec:
        """A spec from array-like angles (converted to Python floats)."""
        g = tuple(float(a) for a in np.atleast_1d(np.asarray(gammas, dtype=np.float64)))
        b = tuple(float(a) for a in np.atleast_1d(np.asarray(betas, dtype=np.float64)))
        return cls(bytes(model_hash), g, b, int(shots), bytes(seed))

    @property
    def depth(self) -> int:
        return len(self.gammas)

    def to_bytes(self) -> bytes:
        """Canonical encoding: header, then gammas and betas as big-endian float64."""
        angles = struct.pack(f">{2 * self.depth}d", *self.gammas, *self.betas)
        return _SPEC_HEAD.pack(_VERSION, self.model_hash, self.depth, self.shots,
                               self.seed) + angles

    @classmethod
    def from_bytes(cls, data: bytes) -> StrikeSpec:
        """Decode, checking the length before reading any angle."""
        if len(data) < _SPEC_HEAD.size or len(data) > _SPEC_HEAD.size + 16 * MAX_STRIKE_DEPTH:
            raise JobRejected(f"a strike spec is {_SPEC_HEAD.size}..."
                              f"{_SPEC_HEAD.size + 16 * MAX_STRIKE_DEPTH} bytes, got {len(data)}")
        version, model_hash, depth, shots, seed = _SPEC_HEAD.unpack_from(data)
        if version != _VERSION:
            raise JobRejected(f"unknown strike spec version {version}")
        if len(data) != _SPEC_HEAD.size + 16 * depth:
            raise JobRejected(f"a depth-{depth} strike spec is {_SPEC_HEAD.size + 16 * depth} "
                              f"bytes, got {len(data)}")
        angles = struct.unpack_from(f">{2 * depth}d", data, _SPEC_HEAD.size)
        return cls(model_hash, tuple(angles[:depth]), tuple(angles[depth:]), shots, seed)

    def digest(self) -> Hash32:
        return hash32(b"poqw/compute/strike-spec/v1", self.to_bytes())


def derive_job_seed(solve_seed: bytes, round_index: int, job_index: int) -> bytes:
    """The seed of job ``job_index`` of round ``round_index`` of a solve: it depends on neither
    the solver nor the number of solvers, so N solvers draw what one would."""
    return hash32(b"poqw/compute/job-seed/v1", solve_seed, round_index.to_bytes(8, "big"),
                  job_index.to_bytes(4, "big"))


def uniform_words(spec: StrikeSpec) -> list[int]:
    """``spec.shots`` 53-bit integers: the top bits of big-endian 64-bit words of SHAKE-256
    over the spec's digest."""
    raw = shake_stream(_UNIFORM_DOMAIN, spec.digest(), 8 * spec.shots)
    return [int.from_bytes(raw[k:k + 8], "big") >> 11 for k in range(0, len(raw), 8)]


def strike_uniforms(spec: StrikeSpec) -> FloatArray:
    """``spec.shots`` uniforms in [0, 1): the 53-bit words times 2**-53 (exact in float64)."""
    raw = shake_stream(_UNIFORM_DOMAIN, spec.digest(), 8 * spec.shots)
    words = np.frombuffer(raw, dtype=">u8").astype(np.uint64) >> np.uint64(11)
    return words.astype(np.float64) * 2.0**-53


def draw_indices(probabilities: FloatArray, uniforms: FloatArray) -> tuple[IndexArray, FloatArray]:
    """Inverse-CDF draws over ``probabilities`` in index order, and each draw's margin: its
    distance to the nearer edge of its interval, as a fraction of the total probability."""
    cdf = np.cumsum(probabilities)
    total = float(cdf[-1])
    x = uniforms * total
    idx: IndexArray = np.searchsorted(cdf, x, side="right").astype(np.int64)
    np.minimum(idx, cdf.shape[0] - 1, out=idx)
    lower = np.where(idx > 0, cdf[np.maximum(idx - 1, 0)], 0.0)
    margins: FloatArray = np.minimum(x - lower, cdf[idx] - x) / total
    return idx, margins


@dataclass(frozen=True)
class ShotCheck:
    """A checker's view of claimed shots: how many fall outside their widened interval
    (``mismatches``: fraud), and how many were accepted only thanks to the tolerance."""

    mismatches: int
    boundary_accepted: int
    first_mismatch: int | None

    @property
    def honest(self) -> bool:
        return self.mismatches == 0


def check_shots(probabilities: FloatArray, spec: StrikeSpec, claimed: npt.ArrayLike,
                tolerance: float = CDF_TOLERANCE) -> ShotCheck:
    """Compare claimed basis indices with the draws of ``spec`` over ``probabilities``."""
    claim = np.asarray(claimed, dtype=np.int64)
    size = probabilities.shape[0]
    if claim.shape != (spec.shots,) or (claim.size and (claim.min() < 0 or claim.max() >= size)):
        return ShotCheck(spec.shots, 0, 0)
    cdf = np.cumsum(probabilities)
    total = float(cdf[-1])
    x = strike_uniforms(spec) * total
    lower = np.where(claim > 0, cdf[np.maximum(claim - 1, 0)], 0.0)
    upper = cdf[claim]
    slack = tolerance * total
    bad = (x < lower - slack) | (x > upper + slack)
    strict = (x >= lower) & (x < upper)
    mismatches = int(np.count_nonzero(bad))
    first = int(np.flatnonzero(bad)[0]) if mismatches else None
    return ShotCheck(mismatches, int(np.count_nonzero(~bad & ~strict)), first)


def samples_digest(indices: npt.ArrayLike) -> Hash32:
    """SHA-256 of the shots' basis indices as big-endian uint32, with domain separation."""
    return hash32(b"poqw/compute/samples/v1", np.asarray(indices, dtype=">u4").tobytes())


def energies_digest(energies: npt.ArrayLike) -> Hash32:
    return hash32(b"poqw/compute/energies/v1", np.asarray(energies, dtype=">f8").tobytes())


def spins_from_indices(indices: npt.ArrayLike, n: int) -> SpinArray:
    """Spins (shots, n): variable j of index x is ``1 - 2 * ((x >> j) & 1)``."""
    idx = np.asarray(indices, dtype=np.int64)
    bits = (idx[:, None] >> np.arange(n, dtype=np.int64)[None, :]) & 1
    return (1 - 2 * bits).astype(np.int8)


@dataclass(frozen=True, eq=False)
class StrikeOutcome:
    """What running a spec gives: basis indices, their energies, and each draw's margin (the
    margins are for the record; they are not committed)."""

    spec: StrikeSpec
    indices: IndexArray
    energies: FloatArray
    margins: FloatArray

    def spins(self, n: int) -> SpinArray:
        return spins_from_indices(self.indices, n)


def _probability_function(model: IsingModel, backend: str,
                          ) -> Callable[[FloatArray, FloatArray], FloatArray]:
    """``f(gammas, betas) -> |amplitude|**2`` in index order for ``backend``."""
    if backend in ("reference", "fast", "gpu"):
        from poqw.sim.statevector import StateVectorQAOA

        engine = StateVectorQAOA(model, kernel=backend, threads=1 if backend == "fast" else None)
        return engine.probabilities
    if backend == "mps":
        from poqw.sim.mps import MPSQAOA

        # exact: no bond cap and no cutoff (a truncated state is a different distribution)
        mps = MPSQAOA(model, max_bond=None, cutoff=0.0)

        def from_mps(gammas: FloatArray, betas: FloatArray) -> FloatArray:
            psi = mps.state(gammas, betas).to_dense()
            return psi.real**2 + psi.imag**2  # type: ignore[no-any-return]

        return from_mps
    raise JobRejected(f"unknown strike backend {backend!r}; choose one of "
                      f"{', '.join(STRIKE_BACKENDS)}")


class StrikeRunner:
    """Runs verifiable strikes of one model on one backend (an engine holds buffers: one
    runner per thread). ``run`` solves a spec; ``check`` re-runs one and compares claims."""

    def __init__(self, model: IsingModel, backend: str = "fast") -> None:
        if model.num_variables > MAX_STRIKE_QUBITS:
            raise JobRejected(f"a verifiable strike needs the whole distribution: "
                              f"{model.num_variables} variables is over {MAX_STRIKE_QUBITS}")
        self.model = model
        self.model_hash = model.content_hash()
        self.backend = backend
        self._probabilities = _probability_function(model, backend)

    def _check_model(self, spec: StrikeSpec) -> None:
        if spec.model_hash != self.model_hash:
            raise JobRejected(f"job for model {spec.model_hash.hex()[:16]}..., this runner "
                              f"holds {self.model_hash.hex()[:16]}...", spec)

    def probabilities(self, spec: StrikeSpec) -> FloatArray:
        self._check_model(spec)
        g = np.asarray(spec.gammas, dtype=np.float64)
        b = np.asarray(spec.betas, dtype=np.float64)
        return np.ascontiguousarray(self._probabilities(g, b), dtype=np.float64)

    def run(self, spec: StrikeSpec) -> StrikeOutcome:
        """The spec's shots: basis indices, energies from the model, margins."""
        probs = self.probabilities(spec)
        idx, margins = draw_indices(probs, strike_uniforms(spec))
        energies = self.model.energies(spins_from_indices(idx, self.model.num_variables))
        return StrikeOutcome(spec, idx, np.asarray(energies, dtype=np.float64), margins)

    def check(self, spec: StrikeSpec, claimed: npt.ArrayLike,
              tolerance: float = CDF_TOLERANCE) -> ShotCheck:
        """Re-run ``spec`` and compare the claimed indices (tolerating boundary draws)."""
        return check_shots(self.probabilities(spec), spec, claimed, tolerance)


"""Matrix-product-state simulation of QAOA circuits on sparse Ising models (40-100+ qubits).

The qubits are laid on a chain in an order that keeps coupled variables close
(:mod:`poqw.sim.ordering`). Each cost layer is a set of commuting diagonal ZZ phases: every
variable travels left by swaps to its farthest left neighbour, picking up the phase of each
neighbour it passes (phase and swap fused in one two-site update), then travels back. The mixer
and the fields are single-site unitaries, which keep the canonical form. Every two-site update
truncates to ``max_bond`` and ``cutoff``; the product of (1 - discarded weight) over all of them
is the fidelity estimate reported with the state.

Convention (shared with the state-vector engine): |γ,β⟩ = Π_k exp(−iβ_k Σ X) exp(−iγ_k H)|+⟩^n,
qubit j = variable j, |0⟩ = spin +1.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from poqw.errors import InvalidProblem, ProblemTooLarge, SimulationError
from poqw.problems.model import IsingModel
from poqw.sim.mps_kernels import (
    ComplexArray,
    apply_two_site,
    move_centre_left,
    move_centre_right,
    sample_right_canonical,
    transfer,
)
from poqw.sim.ordering import OrderingScore, best_ordering

__all__ = ["MPSQAOA", "MPSBackend", "MPSState", "blas_threads", "qaoa_mps"]

DEFAULT_CUTOFF = 1e-12
MAX_DENSE_QUBITS = 24
MAX_SHOTS = 1 << 24
_Z = np.array([1.0, -1.0])


def blas_threads(count: int | None) -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS threads while running many small matrix operations.

    On a shared machine, multithreaded BLAS on 128x128 SVDs is many times slower than one
    thread (measured 30x under load), so the engine asks for one thread by default.
    """
    if count is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it BLAS keeps its own thread count
        return contextlib.nullcontext()
    limiter: contextlib.AbstractContextManager[Any] = threadpool_limits(
        limits=count, user_api="blas"
    )
    return limiter


@dataclass
class MPSState:
    """A QAOA state as an MPS with the orthogonality centre at site ``centre``.

    ``order[k]`` is the variable held by site ``k``. ``fidelity`` is the estimate
    prod(1 - discarded weight) over every truncation made while building the state.
    """

    tensors: list[ComplexArray]
    order: npt.NDArray[np.int64]
    centre: int = 0
    fidelity: float = 1.0
    truncations: int = 0
    ordering_name: str = "explicit"
    ordering_score: OrderingScore | None = None
    two_site_updates: int = field(default=0)

    @property
    def num_qubits(self) -> int:
        return len(self.tensors)

    @property
    def bond_dimensions(self) -> list[int]:
        """Bond dimension between site k and k+1, for k = 0..n-2."""
        return [t.shape[2] for t in self.tensors[:-1]]

    @property
    def max_bond_used(self) -> int:
        return max(self.bond_dimensions, default=1)

    # -- canonical form ---------------------------------------------------------------------
    def move_centre(self, target: int) -> None:
        """Move the orthogonality centre to site ``target`` by QR steps."""
        t = self.tensors
        while self.centre < target:
            c = self.centre
            t[c], t[c + 1] = move_centre_right(t[c], t[c + 1])
            self.centre += 1
        while self.centre > target:
            c = self.centre
            t[c - 1], t[c] = move_centre_left(t[c - 1], t[c])
            self.centre -= 1

    # -- read-out ---------------------------------------------------------------------------
    def sample(
        self, shots: int, seed: int | np.random.Generator | None = None
    ) -> npt.NDArray[np.int8]:
        """``shots`` perfect samples as spins (shots, n) in variable order, |0⟩ = +1."""
        if not 0 <= shots <= MAX_SHOTS:
            raise InvalidProblem(f"shots must be between 0 and {MAX_SHOTS}, got {shots}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        with blas_threads(1):
            self.move_centre(0)
            bits = sample_right_canonical(self.tensors, shots, rng)
        spins = np.empty((shots, self.num_qubits), dtype=np.int8)
        spins[:, self.order] = 1 - 2 * bits.astype(np.int8)
        return spins

    def z_expectations(self) -> npt.NDArray[np.float64]:
        """⟨Z_j⟩ for every variable j (variable order)."""
        out = np.empty(self.num_qubits)
        self.move_centre(0)
        for k in range(self.num_qubits):
            a = self.tensors[k]
            p = np.einsum("lbr,lbr->b", a.conj(), a).real
            out[self.order[k]] = p[0] - p[1]
            if k + 1 < self.num_qubits:
                self.move_centre(k + 1)
        return out

    def zz_expectations(self, pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """⟨Z_i Z_j⟩ for each variable pair (m, 2), by transfer matrices from the centre."""
        n = self.num_qubits
        site = np.empty(n, dtype=np.int64)
        site[self.order] = np.arange(n)
        a_site = np.minimum(site[pairs[:, 0]], site[pairs[:, 1]])
        b_site = np.maximum(site[pairs[:, 0]], site[pairs[:, 1]])
        out = np.empty(pairs.shape[0])
        by_left: dict[int, list[int]] = {}
        for idx, a in enumerate(a_site.tolist()):
            by_left.setdefault(a, []).append(idx)
        self.move_centre(0)
        for k in range(n):
            if k in by_left:
                todo = sorted(by_left[k], key=lambda i: b_site[i])
                c = self.tensors[k]
                env = transfer(np.eye(c.shape[0], dtype=np.complex128), c, _Z)
                pos = k + 1
                for idx in todo:
                    target = int(b_site[idx])
                    while pos < target:
                        env = transfer(env, self.tensors[pos], None)
                        pos += 1
                    out[idx] = float(np.trace(transfer(env, self.tensors[target], _Z)).real)
            if k + 1 < n:
                self.move_centre(k + 1)
        return out

    def expectation(self, model: IsingModel) -> float:
        """⟨H⟩ of a diagonal Ising Hamiltonian, offset included."""
        if model.num_variables != self.num_qubits:
            raise InvalidProblem(
                f"model has {model.num_variables} variables, state has {self.num_qubits} qubits"
            )
        value = float(model.offset)
        with blas_threads(1):
            if np.any(model.h != 0):
                value += float(model.h @ self.z_expectations())
            if model.num_interactions:
                value += float(model.J @ self.zz_expectations(model.edges))
        return value

    def overlap(self, other: MPSState) -> complex:
        """⟨self|other⟩ for two states on the same chain order (e.g. two bond caps)."""
        if not np.array_equal(self.order, other.order):
            raise InvalidProblem("overlap needs both states on the same qubit order")
        env = np.ones((1, 1), dtype=np.complex128)
        for a, b in zip(self.tensors, other.tensors, strict=True):
            da, _, ra = a.shape
            db, _, rb = b.shape
            x = (env @ b.reshape(db, 2 * rb)).reshape(da * 2, rb)
            env = a.reshape(da * 2, ra).conj().T @ x
        return complex(env[0, 0])

    def to_dense(self) -> ComplexArray:
        """The state vector (2**n,) in the shared basis convention (small n only)."""
        n = self.num_qubits
        if n > MAX_DENSE_QUBITS:
            raise ProblemTooLarge(f"a dense vector of {n} qubits is over {MAX_DENSE_QUBITS}")
        psi = self.tensors[0].reshape(2, -1)
        for t in self.tensors[1:]:
            psi = (psi @ t.reshape(t.shape[0], -1)).reshape(-1, t.shape[2])
        psi = psi.reshape((2,) * n)
        site = np.empty(n, dtype=np.int64)
        site[self.order] = np.arange(n)
        # index x has variable j at bit j, so C-order axes run over variables n-1 .. 0
        axes = [int(site[n - 1 - t]) for t in range(n)]
        return np.ascontiguousarray(psi.transpose(axes)).reshape(-1)


def _check_angles(gammas: npt.ArrayLike, betas: npt.ArrayLike) -> tuple[list[float], list[float]]:
    g = [float(x) for x in np.asarray(gammas, dtype=np.float64).reshape(-1)]
    b = [float(x) for x in np.asarray(betas, dtype=np.float64).reshape(-1)]
    if len(g) != len(b):
        raise InvalidProblem(f"{len(g)} gammas but {len(b)} betas: one of each per layer")
    if not all(np.isfinite(g + b)):
        raise InvalidProblem("angles must be finite")
    return g, b


class MPSQAOA:
    """QAOA on an MPS with a bond-dimension cap: build states, expectations and samples.

    ``max_bond=None`` keeps every singular value above ``cutoff`` (exact for small n);
    ``ordering`` is ``"auto"``, a name from :func:`poqw.sim.ordering.candidate_orderings` or a
    permutation. ``svd_driver`` 'gesvd' trades speed for SVDs accurate to the last bits
    (verifiable strikes need it: see :func:`poqw.sim.mps_kernels.truncated_svd`).
    """

    def __init__(
        self,
        model: IsingModel,
        *,
        max_bond: int | None = None,
        cutoff: float = DEFAULT_CUTOFF,
        ordering: str | Sequence[int] = "auto",
        blas_thread_limit: int | None = 1,
        svd_driver: str = "gesdd",
    ) -> None:
        if max_bond is not None and max_bond < 1:
            raise InvalidProblem(f"max_bond must be at least 1, got {max_bond}")
        if not 0.0 <= cutoff < 1.0:
            raise InvalidProblem(f"cutoff must be in [0, 1), got {cutoff}")
        if svd_driver not in ("gesdd", "gesvd"):
            raise InvalidProblem(f"svd_driver must be 'gesdd' or 'gesvd', got {svd_driver!r}")
        if model.num_variables == 0:
            raise InvalidProblem("the model has no variables")
        self.model = model
        self.max_bond = max_bond
        self.cutoff = cutoff
        self.svd_driver = svd_driver
        self.blas_thread_limit = blas_thread_limit
        self.order, self.ordering_name, self.ordering_score = best_ordering(model, ordering)
        n = model.num_variables
        self._nbrs: list[dict[int, float]] = [{} for _ in range(n)]
        for (i, j), w in zip(model.edges.tolist(), model.J.tolist(), strict=True):
            self._nbrs[i][j] = w
            self._nbrs[j][i] = w

    def state(self, gammas: npt.ArrayLike, betas: npt.ArrayLike) -> MPSState:
        """The QAOA state for the given angles (one gamma and one beta per layer)."""
        g, b = _check_angles(gammas, betas)
        n = self.model.num_variables
        plus = np.full((1, 2, 1), 1 / np.sqrt(2), dtype=np.complex128)
        st = MPSState(
            [plus.copy() for _ in range(n)],
            self.order.copy(),
            ordering_name=self.ordering_name,
            ordering_score=self.ordering_score,
        )
        with blas_threads(self.blas_thread_limit):
            for gamma, beta in zip(g, b, strict=True):
                self._cost_layer(st, gamma)
                self._mixer(st, beta)
        if not np.isfinite(st.fidelity):
            raise SimulationError("the MPS lost its normalisation (non-finite fidelity)")
        return st

    def expectation(self, gammas: npt.ArrayLike, betas: npt.ArrayLike) -> float:
        """⟨H⟩ including the offset."""
        return self.state(gammas, betas).expectation(self.model)

    def sample(
        self,
        gammas: npt.ArrayLike,
        betas: npt.ArrayLike,
        shots: int,
        seed: int | np.random.Generator | None = None,
    ) -> npt.NDArray[np.int8]:
        """Spins (shots, n) drawn from the QAOA state."""
        return self.state(gammas, betas).sample(shots, seed)

    # -- layers -----------------------------------------------------------------------------
    def _mixer(self, st: MPSState, beta: float) -> None:
        c, s = np.cos(beta), -1j * np.sin(beta)
        rx = np.array([[c, s], [s, c]], dtype=np.complex128)
        st.tensors = [np.einsum("ab,lbr->lar", rx, t) for t in st.tensors]

    def _cost_layer(self, st: MPSState, gamma: float) -> None:
        h = self.model.h
        if np.any(h != 0):
            for k, t in enumerate(st.tensors):
                phase = np.exp(-1j * gamma * h[st.order[k]] * _Z)
                st.tensors[k] = t * phase[None, :, None]
        order = st.order
        n = len(order)
        site = np.empty(n, dtype=np.int64)
        site[order] = np.arange(n)
        for b in range(n):
            q = int(order[b])
            left = {w: jw for w, jw in self._nbrs[q].items() if site[w] < b}
            if not left:
                continue
            lowest = min(int(site[w]) for w in left)
            st.move_centre(b)
            # travel left: at sites (k-1, k) the variable q sits at k
            for k in range(b, lowest, -1):
                other = int(st.order[k - 1])
                phase = self._zz_phase(gamma, left.get(other))
                self._update(st, k - 1, phase, swap=k - 1 > lowest, centre_left=k - 1 > lowest)
                if k - 1 > lowest:
                    st.order[k - 1], st.order[k] = q, other
            # travel back: q sits at lowest + 1
            for k in range(lowest + 1, b):
                self._update(st, k, None, swap=True, centre_left=False)
                st.order[k], st.order[k + 1] = st.order[k + 1], st.order[k]

    @staticmethod
    def _zz_phase(gamma: float, coupling: float | None) -> ComplexArray | None:
        if coupling is None:
            return None
        zz = np.outer(_Z, _Z)
        return np.exp(-1j * gamma * coupling * zz)

    def _update(
        self, st: MPSState, k: int, phase: ComplexArray | None, swap: bool, centre_left: bool
    ) -> None:
        """Two-site update on sites (k, k+1); the centre must be on one of them."""
        if st.centre not in (k, k + 1):
            st.move_centre(k)
        left, right, discarded = apply_two_site(
            st.tensors[k], st.tensors[k + 1], phase, swap, centre_left, self.max_bond, self.cutoff,
            self.svd_driver,
        )
        st.tensors[k], st.tensors[k + 1] = left, right
        st.centre = k if centre_left else k + 1
        st.two_site_updates += 1
        if discarded > 0.0:
            st.fidelity *= 1.0 - discarded
            st.truncations += 1


def qaoa_mps(
    model: IsingModel,
    gammas: npt.ArrayLike,
    betas: npt.ArrayLike,
    *,
    max_bond: int | None = None,
    cutoff: float = DEFAULT_CUTOFF,
    ordering: str | Sequence[int] = "auto",
) -> MPSState:
    """Build the QAOA state of ``model`` as an MPS (convenience wrapper of :class:`MPSQAOA`)."""
    return MPSQAOA(model, max_bond=max_bond, cutoff=cutoff, ordering=ordering).state(gammas, betas)


DEFAULT_BACKEND_MAX_BOND = 64


class MPSBackend(MPSQAOA):
    """Registry adapter (``backend="mps"``): ``factory(model, *, kernel, threads, max_bond)``.

    ``max_bond=None`` means :data:`DEFAULT_BACKEND_MAX_BOND` here (an uncapped MPS is
    exponential in general). ``last_fidelity`` is the truncation-fidelity estimate of the state
    behind the last ``expectation`` or ``sample`` call.
    """

    def __init__(
        self,
        model: IsingModel,
        *,
        kernel: str = "fast",
        threads: int | None = None,
        max_bond: int | None = None,
        cutoff: float = DEFAULT_CUTOFF,
        ordering: str | Sequence[int] = "auto",
    ) -> None:
        super().__init__(
            model,
            max_bond=DEFAULT_BACKEND_MAX_BOND if max_bond is None else max_bond,
            cutoff=cutoff,
            ordering=ordering,
            blas_thread_limit=threads if threads is not None else 1,
        )
        self.last_fidelity: float | None = None

    def state(self, gammas: npt.ArrayLike, betas: npt.ArrayLike) -> MPSState:
        st = super().state(gammas, betas)
        self.last_fidelity = st.fidelity
        return st

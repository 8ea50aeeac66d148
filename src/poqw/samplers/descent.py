"""Steepest descent: flip the single spin that lowers the energy most, until none does.

Flipping spin ``i`` changes the energy by ``-2 s_i f_i`` where ``f_i = h_i + sum_j J_ij s_j`` is
its local field. The fast kernel keeps every local field up to date over the CSR adjacency
(numba, one pass per flip to find the steepest move, ties to the lowest index); the reference
recomputes the fields with numpy at every step. Both stop at a local minimum: no single flip
lowers the energy by more than a tolerance scaled to the model's largest field.
:func:`polish` takes any batch of spin vectors down to local minima.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import numba
import numpy as np
import numpy.typing as npt

from poqw.errors import SamplerError
from poqw.problems.model import FloatArray, IntArray, IsingModel, SpinArray
from poqw.samplers.base import PoqwSampler
from poqw.samplers.simple import random_spins

__all__ = [
    "SteepestDescentSampler",
    "csr_arrays",
    "descent_tolerance",
    "polish",
    "polish_reference",
]

RELATIVE_TOLERANCE = 1e-12


@functools.lru_cache(maxsize=32)
def descent_tolerance(model: IsingModel) -> float:
    """The smallest energy drop that counts as an improvement (guards against round-off)."""
    if model.num_variables == 0:
        return 0.0
    scale = np.abs(model.h).copy()
    np.add.at(scale, model.edges[:, 0], np.abs(model.J))
    np.add.at(scale, model.edges[:, 1], np.abs(model.J))
    return float(RELATIVE_TOLERANCE * max(1.0, float(scale.max())))


@numba.njit(cache=True, nogil=True)
def _descend_batch(indptr: IntArray, indices: IntArray, weights: FloatArray, h: FloatArray,
                   spins: SpinArray, tolerance: float) -> IntArray:  # pragma: no cover - numba
    """Steepest descent on each row of ``spins`` in place; returns the flips made per row."""
    k, n = spins.shape
    field = np.empty(n, dtype=np.float64)
    flips = np.zeros(k, dtype=np.int64)
    for r in range(k):
        s = spins[r]
        for i in range(n):
            f = h[i]
            for p in range(indptr[i], indptr[i + 1]):
                f += weights[p] * s[indices[p]]
            field[i] = f
        while True:
            best = -tolerance
            arg = -1
            for i in range(n):
                delta = -2.0 * s[i] * field[i]
                if delta < best:
                    best = delta
                    arg = i
            if arg < 0:
                break
            s[arg] = -s[arg]
            twice = 2.0 * s[arg]
            for p in range(indptr[arg], indptr[arg + 1]):
                field[indices[p]] += twice * weights[p]
            flips[r] += 1
    return flips


def _checked_spins(model: IsingModel, spins: npt.ArrayLike) -> SpinArray:
    s = np.array(spins, dtype=np.int8, ndmin=2, copy=True)
    n = model.num_variables
    if s.ndim != 2 or s.shape[1] != n:
        raise SamplerError(f"spins must have shape (k, {n}), got {np.shape(spins)}")
    if s.size and not np.all(np.abs(s) == 1):
        raise SamplerError("spins must be +1 or -1")
    return s


@functools.lru_cache(maxsize=32)
def csr_arrays(model: IsingModel) -> tuple[IntArray, IntArray, FloatArray]:
    """``(indptr, indices, weights)`` of the symmetric coupling matrix (cached per model, since
    the strike loop polishes many batches on one model)."""
    n, e = model.num_variables, model.edges
    rows = np.concatenate([e[:, 0], e[:, 1]])
    cols = np.concatenate([e[:, 1], e[:, 0]])
    weights = np.concatenate([model.J, model.J])
    order = np.lexsort((cols, rows))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, cols[order].astype(np.int64), weights[order].astype(np.float64)


def polish(model: IsingModel, spins: npt.ArrayLike) -> SpinArray:
    """Each spin vector of ``spins`` ((k, n) or (n,)) taken down to a local minimum (a copy).

    Energies never rise; a vector already at a local minimum comes back unchanged.
    """
    single = np.ndim(spins) == 1
    s = _checked_spins(model, spins)
    if s.size:
        indptr, indices, weights = csr_arrays(model)
        _descend_batch(indptr, indices, weights, model.h, s, descent_tolerance(model))
    return s[0] if single else s


def polish_reference(model: IsingModel, spins: npt.ArrayLike) -> SpinArray:
    """Readable reference for :func:`polish`: recompute every local field at every step."""
    single = np.ndim(spins) == 1
    s = _checked_spins(model, spins)
    tolerance = descent_tolerance(model)
    for row in s:
        while model.num_variables:
            deltas = -2.0 * row * model.local_fields(row)[0]
            steepest = int(np.argmin(deltas))
            if not deltas[steepest] < -tolerance:
                break
            row[steepest] = -row[steepest]
    return s[0] if single else s


class SteepestDescentSampler(PoqwSampler):
    """Greedy single-flip descent from uniformly random starts (or given ``initial_states``).

    Parameters: ``num_reads``, ``seed``, ``initial_states`` (k, n) of +-1 (then ``num_reads``
    defaults to k and must equal it).
    """

    extra_parameters: ClassVar[dict[str, list[str]]] = {"initial_states": []}

    def _sample_model(self, model: IsingModel, num_reads: int | None, seed: int,
                      **parameters: Any) -> tuple[SpinArray, dict[str, Any]]:
        assert num_reads is not None
        initial = parameters.get("initial_states")
        if initial is None:
            starts = random_spins(np.random.default_rng(seed), num_reads, model.num_variables)
        else:
            starts = _checked_spins(model, initial)
            if starts.shape[0] != num_reads:
                raise SamplerError(f"initial_states has {starts.shape[0]} rows but "
                                   f"num_reads={num_reads}")
        return polish(model, starts), {}

    def sample(self, bqm: Any, num_reads: int | None = None, seed: int | None = None,
               **parameters: Any) -> Any:
        """As :meth:`PoqwSampler.sample`; ``num_reads`` defaults to the rows of initial_states."""
        initial = parameters.get("initial_states")
        if num_reads is None and initial is not None:
            num_reads = int(np.shape(initial)[0]) if np.ndim(initial) == 2 else 1
        return super().sample(bqm, num_reads=num_reads, seed=seed, **parameters)

"""Exact solutions by exhaustive enumeration: the oracle every test trusts.

Basis convention (shared with the simulators): state index ``x`` assigns spin
``s_j = 1 - 2 * ((x >> j) & 1)`` to variable ``j``, so bit 0 is spin +1 (qubit |0>).

``energy_diagonal`` lists the energy of every state by doubling: adding variable ``k`` to the
first ``2**k`` states splits each into ``E + f_k`` and ``E - f_k`` where ``f_k`` is the field on
``k`` from ``h_k`` and the variables before it. ``solve_exact`` avoids holding ``2**n`` numbers:
it splits the variables into a low block of ``c`` and a high block, and evaluates a chunk of high
states against every low state at once as ``E_low + E_high + S_low @ G_high`` (one matrix
product for the cross couplings).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poqw.errors import ProblemTooLarge
from poqw.problems.model import FloatArray, IsingModel, SpinArray

__all__ = [
    "MAX_DIAGONAL_VARIABLES",
    "MAX_EXACT_VARIABLES",
    "ExactResult",
    "energy_diagonal",
    "index_to_spins",
    "solve_exact",
    "spins_to_index",
]

MAX_DIAGONAL_VARIABLES = 30
MAX_EXACT_VARIABLES = 34


def index_to_spins(indices: np.ndarray, n: int) -> SpinArray:
    """Spin vectors (k, n) of int8 for basis indices (k,) under the shared convention."""
    idx = np.asarray(indices, dtype=np.int64).reshape(-1, 1)
    bits = (idx >> np.arange(n, dtype=np.int64)) & 1
    return (1 - 2 * bits).astype(np.int8)


def spins_to_index(spins: np.ndarray) -> np.ndarray:
    """Basis indices (k,) of spin vectors (k, n) of +-1."""
    s = np.atleast_2d(np.asarray(spins))
    bits = (s < 0).astype(np.int64)
    return (bits << np.arange(s.shape[1], dtype=np.int64)).sum(axis=1)  # type: ignore[no-any-return]


def _spin_pattern(j: int, length: int) -> FloatArray:
    """s_j(x) for x in [0, length): blocks of 2**j plus-ones then 2**j minus-ones."""
    block = 1 << j
    base = np.concatenate([np.ones(block), -np.ones(block)])
    return np.resize(base, length)


def _partial_diagonal(model: IsingModel, first: int, count: int, with_offset: bool) -> FloatArray:
    """Energies over variables first..first+count-1 only (fields and couplings inside)."""
    lo, hi = first, first + count
    neighbours: list[list[tuple[int, float]]] = [[] for _ in range(count)]
    for (a, b), w in zip(model.edges, model.J, strict=True):
        if lo <= a < hi and lo <= b < hi:
            neighbours[b - lo].append((a - lo, float(w)))  # a < b: b sees a as an earlier var
    diag = np.array([model.offset if with_offset else 0.0])
    for k in range(count):
        length = diag.shape[0]
        field = np.full(length, model.h[lo + k])
        for j, w in neighbours[k]:
            field += w * _spin_pattern(j, length)
        diag = np.concatenate([diag + field, diag - field])
    return diag


def energy_diagonal(model: IsingModel) -> FloatArray:
    """Energy of every basis state, shape (2**n,), under the shared index convention."""
    n = model.num_variables
    if n > MAX_DIAGONAL_VARIABLES:
        raise ProblemTooLarge(f"the energy diagonal of {n} variables needs 2**{n} numbers; "
                              f"the limit is {MAX_DIAGONAL_VARIABLES} variables")
    return _partial_diagonal(model, 0, n, with_offset=True)


@dataclass(frozen=True)
class ExactResult:
    """The ground energy, up to ``max_states`` ground states and how many there are."""

    energy: float
    states: SpinArray
    num_ground_states: int


def solve_exact(model: IsingModel, max_states: int = 64, atol: float = 1e-9) -> ExactResult:
    """Exhaustive minimum of the energy, usable to about 30 variables.

    Ground states are those within ``atol`` of the minimum; both halves of a degenerate pair
    (a state and its global flip, for models with no fields) are listed.
    """
    n = model.num_variables
    if n > MAX_EXACT_VARIABLES:
        raise ProblemTooLarge(f"exhaustive search over {n} variables is 2**{n} states; "
                              f"the limit is {MAX_EXACT_VARIABLES}")
    if n == 0:
        return ExactResult(model.offset, np.zeros((1, 0), dtype=np.int8), 1)
    c = min(n, max(1, (n + 1) // 2), 16)
    nh = n - c
    e_low = _partial_diagonal(model, 0, c, with_offset=True)
    e_high = _partial_diagonal(model, c, nh, with_offset=False)
    cross = np.zeros((c, nh))
    for (a, b), w in zip(model.edges, model.J, strict=True):
        if a < c <= b:
            cross[a, b - c] += w
    s_low = np.stack([_spin_pattern(j, 1 << c) for j in range(c)], axis=1)  # (2**c, c)
    s_high_all = None if nh == 0 else np.arange(1 << nh, dtype=np.int64)
    chunk = max(1, (1 << 24) >> c)
    best = np.inf
    found: list[int] = []
    count = 0
    total_high = 1 << nh
    for start in range(0, total_high, chunk):
        stop = min(total_high, start + chunk)
        if nh:
            assert s_high_all is not None
            bits = (s_high_all[start:stop, None] >> np.arange(nh)) & 1
            g = cross @ (1.0 - 2.0 * bits).T  # (c, chunk)
            block = e_low[:, None] + e_high[None, start:stop] + s_low @ g
        else:
            block = e_low[:, None]
        m = float(block.min())
        if m < best - atol:
            best, found, count = m, [], 0
        if m <= best + atol:
            lows, highs = np.nonzero(block <= best + atol)
            count += lows.size
            room = max_states - len(found)
            if room > 0:
                idx = lows[:room] + ((highs[:room] + start) << c)
                found.extend(int(i) for i in idx)
    states = index_to_spins(np.array(found, dtype=np.int64), n)
    return ExactResult(best, states, count)

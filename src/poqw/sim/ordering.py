"""Qubit orderings that place coupled variables close together on a chain.

An MPS lays the qubits out on a line, so every coupling (i, j) costs swaps proportional to the
distance between their sites, and the entanglement a bond must carry grows with the number of
couplings that cross it (the cut width). This module scores a few classic orderings (reverse
Cuthill-McKee, breadth-first from pseudo-peripheral vertices, the spectral Fiedler order) by
cut width, then swap count, and keeps the best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from poqw.errors import InvalidProblem
from poqw.problems.model import IsingModel

__all__ = [
    "OrderingScore",
    "best_ordering",
    "candidate_orderings",
    "score_ordering",
]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class OrderingScore:
    """How well a chain ordering suits a model: lower is better, compared in field order."""

    cutwidth: int
    swaps: int
    bandwidth: int


def score_ordering(edges: IntArray, order: IntArray) -> OrderingScore:
    """Cut width, swap estimate and bandwidth of placing variable ``order[k]`` on site ``k``.

    The swap estimate counts, per variable, the distance to its farthest neighbour on the left,
    which is what the per-variable swap network in :mod:`poqw.sim.mps` pays (twice).
    """
    n = order.shape[0]
    if edges.shape[0] == 0:
        return OrderingScore(0, 0, 0)
    site = np.empty(n, dtype=np.int64)
    site[order] = np.arange(n)
    a = site[edges[:, 0]]
    b = site[edges[:, 1]]
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    crossing = np.zeros(n + 1, dtype=np.int64)
    np.add.at(crossing, lo, 1)
    np.add.at(crossing, hi, -1)
    cutwidth = int(np.cumsum(crossing).max())
    reach = np.full(n, -1, dtype=np.int64)
    np.maximum.at(reach, hi, hi - lo)
    swaps = int(np.maximum(reach - 1, 0).sum())
    return OrderingScore(cutwidth, swaps, int((hi - lo).max()))


def _neighbours(n: int, edges: IntArray) -> list[list[int]]:
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for i, j in edges.tolist():
        nbrs[i].append(j)
        nbrs[j].append(i)
    return nbrs


def _bfs_levels(nbrs: list[list[int]], start: int, seen: npt.NDArray[np.bool_]) -> list[int]:
    """Cuthill-McKee order of one component: BFS, neighbours by increasing degree."""
    order = [start]
    seen[start] = True
    head = 0
    while head < len(order):
        v = order[head]
        head += 1
        for w in sorted(nbrs[v], key=lambda x: (len(nbrs[x]), x)):
            if not seen[w]:
                seen[w] = True
                order.append(w)
    return order


def _peripheral(nbrs: list[list[int]], start: int, members: set[int]) -> int:
    """A pseudo-peripheral vertex: repeat BFS from the farthest vertex until depth stops growing."""
    best, depth = start, -1
    for _ in range(4):
        dist = {best: 0}
        frontier = [best]
        while frontier:
            nxt = []
            for v in frontier:
                for w in nbrs[v]:
                    if w not in dist:
                        dist[w] = dist[v] + 1
                        nxt.append(w)
            frontier = nxt
        far = max(members, key=lambda v: (dist.get(v, -1), -len(nbrs[v])))
        if dist[far] <= depth:
            break
        best, depth = far, dist[far]
    return best


def _cuthill_mckee(n: int, nbrs: list[list[int]], reverse: bool, peripheral: bool) -> IntArray:
    seen = np.zeros(n, dtype=bool)
    out: list[int] = []
    for v in sorted(range(n), key=lambda x: len(nbrs[x])):
        if seen[v]:
            continue
        start = v
        if peripheral:
            members = _component(nbrs, v)
            start = _peripheral(nbrs, v, members)
        comp = _bfs_levels(nbrs, start, seen)
        out.extend(comp[::-1] if reverse else comp)
    return np.asarray(out, dtype=np.int64)


def _component(nbrs: list[list[int]], v: int) -> set[int]:
    comp = {v}
    stack = [v]
    while stack:
        x = stack.pop()
        for w in nbrs[x]:
            if w not in comp:
                comp.add(w)
                stack.append(w)
    return comp


def _spectral(n: int, edges: IntArray) -> IntArray:
    """Order by the Fiedler vector of the unweighted graph Laplacian (dense; small n only)."""
    lap = np.zeros((n, n))
    lap[edges[:, 0], edges[:, 1]] = -1.0
    lap[edges[:, 1], edges[:, 0]] = -1.0
    lap[np.arange(n), np.arange(n)] = -lap.sum(axis=1)
    _, vecs = np.linalg.eigh(lap)
    return np.argsort(vecs[:, 1], kind="stable").astype(np.int64)


def refine_adjacent(nbrs: list[list[int]], order: IntArray, passes: int = 20) -> IntArray:
    """Local descent on the total edge length: swap neighbouring sites while it helps.

    Swapping the variables x (site k) and y (site k+1) changes only the crossing count of bond
    k: it drops when y has fewer neighbours beyond k+1 plus x fewer before k than before.
    """
    out = order.copy()
    n = out.shape[0]
    site = np.empty(n, dtype=np.int64)
    site[out] = np.arange(n)
    for _ in range(passes):
        improved = False
        for k in range(n - 1):
            x, y = int(out[k]), int(out[k + 1])
            before = sum(1 for w in nbrs[x] if site[w] > k + 1) + sum(
                1 for w in nbrs[y] if site[w] < k
            )
            after = sum(1 for w in nbrs[y] if site[w] > k + 1) + sum(
                1 for w in nbrs[x] if site[w] < k
            )
            if after < before:
                out[k], out[k + 1] = y, x
                site[x], site[y] = k + 1, k
                improved = True
        if not improved:
            break
    return out


def candidate_orderings(model: IsingModel) -> dict[str, IntArray]:
    """The orderings :func:`best_ordering` chooses from, by name."""
    import scipy.sparse.csgraph as csgraph

    n = model.num_variables
    edges = model.edges
    nbrs = _neighbours(n, edges)
    out: dict[str, IntArray] = {"identity": np.arange(n, dtype=np.int64)}
    if edges.shape[0] == 0:
        return out
    adj = model.adjacency().tocsr()
    adj.data[:] = 1.0
    out["rcm"] = np.asarray(csgraph.reverse_cuthill_mckee(adj, symmetric_mode=True), np.int64)
    out["cm_peripheral"] = _cuthill_mckee(n, nbrs, reverse=False, peripheral=True)
    if n <= 1200:
        out["spectral"] = _spectral(n, edges)
    for name in [k for k in out if k != "identity"]:
        out[name + "_refined"] = refine_adjacent(nbrs, out[name])
    return out


def best_ordering(
    model: IsingModel, ordering: str | Sequence[int] | IntArray = "auto"
) -> tuple[IntArray, str, OrderingScore]:
    """Pick a chain ordering: ``order[k]`` is the variable placed on site ``k``.

    ``ordering`` is ``"auto"`` (the best-scoring candidate), a candidate's name, or an explicit
    permutation of ``0..n-1``. Returns the order, its name and its score.
    """
    n = model.num_variables
    if not isinstance(ordering, str):
        order = np.asarray(ordering, dtype=np.int64).reshape(-1)
        if order.shape[0] != n or not np.array_equal(np.sort(order), np.arange(n)):
            raise InvalidProblem(f"ordering must be a permutation of 0..{n - 1}")
        return order, "explicit", score_ordering(model.edges, order)
    candidates = candidate_orderings(model)
    if ordering != "auto":
        if ordering not in candidates:
            raise InvalidProblem(
                f"unknown ordering {ordering!r}; choose 'auto', one of {sorted(candidates)}, "
                "or an explicit permutation"
            )
        order = candidates[ordering]
        return order, ordering, score_ordering(model.edges, order)
    scored = [
        (score_ordering(model.edges, order), name, order) for name, order in candidates.items()
    ]
    scored.sort(key=lambda t: (t[0].cutwidth, t[0].swaps, t[0].bandwidth))
    score, name, order = scored[0]
    return order, name, score

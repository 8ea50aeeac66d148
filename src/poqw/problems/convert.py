"""Conversions between the Ising form and MaxCut graphs and QUBOs.

MaxCut on a weighted graph maximises ``cut(s) = sum_{(i,j)} w_ij (1 - s_i s_j) / 2``. Its Ising
form has ``J_ij = w_ij / 2``, no fields and offset ``-W / 2`` (W the total weight), so that
``energy(s) == -cut(s)``: minimising the energy maximises the cut.

QUBO: ``x_i = (1 - s_i) / 2`` maps a spin to a bit (spin +1 is bit 0, like qubit |0>).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from poqw.errors import InvalidProblem
from poqw.problems.model import FloatArray, IsingModel

__all__ = [
    "cut_values",
    "ising_to_maxcut",
    "ising_to_qubo",
    "maxcut_to_ising",
    "qubo_to_ising",
]


def maxcut_to_ising(graph: Any, weight: str = "weight") -> IsingModel:
    """The Ising model whose energy is minus the cut of ``graph`` (a networkx graph).

    Nodes must be the integers ``0..n-1``; edges without a ``weight`` attribute weigh 1.
    """
    nodes = list(graph.nodes)
    n = len(nodes)
    if set(nodes) != set(range(n)):
        raise InvalidProblem("graph nodes must be the integers 0..n-1; relabel them first "
                             "(networkx.convert_node_labels_to_integers)")
    couplings: dict[tuple[int, int], float] = {}
    total = 0.0
    for a, b, data in graph.edges(data=True):
        if a == b:
            raise InvalidProblem(f"self-loop on node {a}: a cut edge needs two nodes")
        w = float(data.get(weight, 1.0))
        if not np.isfinite(w):
            raise InvalidProblem(f"edge ({a}, {b}) has weight {w}: weights must be finite")
        key = (int(a), int(b)) if a < b else (int(b), int(a))
        couplings[key] = couplings.get(key, 0.0) + w / 2.0
        total += w
    return IsingModel.from_dicts([0.0] * n, couplings, offset=-total / 2.0, num_variables=n)


def ising_to_maxcut(model: IsingModel) -> Any:
    """The weighted graph (networkx) of a model with no fields: ``w_ij = 2 J_ij``."""
    import networkx as nx

    if np.any(model.h != 0):
        raise InvalidProblem("a model with nonzero fields h is not a pure MaxCut problem")
    g = nx.Graph()
    g.add_nodes_from(range(model.num_variables))
    for (a, b), w in zip(model.edges, model.J, strict=True):
        g.add_edge(int(a), int(b), weight=2.0 * float(w))
    return g


def cut_values(model: IsingModel, spins: npt.ArrayLike) -> FloatArray:
    """Cut value of each spin vector for a MaxCut-derived model (``-energy``)."""
    return -model.energies(spins)


def qubo_to_ising(Q: Mapping[tuple[int, int], float], offset: float = 0.0) -> IsingModel:
    """Ising model equal to the QUBO ``sum Q_ij x_i x_j + offset`` under ``x = (1 - s) / 2``."""
    h: dict[int, float] = {}
    J: dict[tuple[int, int], float] = {}
    const = float(offset)
    n = 0
    for (i, j), q in Q.items():
        i, j, q = int(i), int(j), float(q)
        if i < 0 or j < 0:
            raise InvalidProblem(f"QUBO entry ({i}, {j}) has a negative index")
        if not np.isfinite(q):
            raise InvalidProblem(f"QUBO entry ({i}, {j}) is {q}: entries must be finite")
        n = max(n, i + 1, j + 1)
        if i == j:  # q x_i = q (1 - s_i) / 2
            h[i] = h.get(i, 0.0) - q / 2
            const += q / 2
        else:  # q x_i x_j = q (1 - s_i - s_j + s_i s_j) / 4
            key = (i, j) if i < j else (j, i)
            J[key] = J.get(key, 0.0) + q / 4
            h[i] = h.get(i, 0.0) - q / 4
            h[j] = h.get(j, 0.0) - q / 4
            const += q / 4
    return IsingModel.from_dicts(h, J, offset=const, num_variables=n)


def ising_to_qubo(model: IsingModel) -> tuple[dict[tuple[int, int], float], float]:
    """``(Q, offset)`` with ``sum Q_ij x_i x_j + offset == energy`` under ``s = 1 - 2x``."""
    Q: dict[tuple[int, int], float] = {}
    const = model.offset
    for i, hi in enumerate(model.h):  # h s = h - 2 h x
        if hi:
            Q[(i, i)] = Q.get((i, i), 0.0) - 2.0 * float(hi)
            const += float(hi)
    for (a, b), w in zip(model.edges, model.J, strict=True):  # J (1-2xa)(1-2xb)
        a, b, w = int(a), int(b), float(w)
        Q[(a, b)] = Q.get((a, b), 0.0) + 4.0 * w
        Q[(a, a)] = Q.get((a, a), 0.0) - 2.0 * w
        Q[(b, b)] = Q.get((b, b), 0.0) - 2.0 * w
        const += w
    return Q, const

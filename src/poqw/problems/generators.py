"""Seeded instance generators: graphs for MaxCut and spin glasses.

Graphs are networkx graphs on nodes ``0..n-1``. Every generator takes an explicit ``seed`` and
is reproducible for a given networkx/numpy version (consensus code does not use these: the chain
derives its instances from a SHAKE-256 stream instead).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from poqw.errors import InvalidProblem, ProblemTooLarge
from poqw.problems.convert import maxcut_to_ising
from poqw.problems.model import IsingModel

__all__ = [
    "MAX_GENERATED_EDGES",
    "MAX_GENERATED_NODES",
    "dwave_topology",
    "erdos_renyi_graph",
    "pm_j_spin_glass",
    "random_maxcut",
    "random_regular_graph",
    "sherrington_kirkpatrick",
    "weighted_graph",
]


MAX_GENERATED_NODES = 1_000_000
MAX_GENERATED_EDGES = 10_000_000
"""Generators refuse larger graphs up front: a networkx graph costs hundreds of bytes an edge,
so a mistyped size must fail with a clear error, not after filling the memory."""


def _check_size(what: str, n: int, edges: float) -> None:
    if n > MAX_GENERATED_NODES or edges > MAX_GENERATED_EDGES:
        raise ProblemTooLarge(f"{what} is too large to generate: at most "
                              f"{MAX_GENERATED_NODES:,} nodes and {MAX_GENERATED_EDGES:,} edges")


def random_regular_graph(d: int, n: int, seed: int | None = 0) -> Any:
    """A uniformly random ``d``-regular simple graph on ``n`` nodes (needs ``n*d`` even)."""
    import networkx as nx

    if d < 0 or n <= 0 or d >= n:
        raise InvalidProblem(f"no {d}-regular graph on {n} nodes (need 0 <= d < n)")
    if (n * d) % 2:
        raise InvalidProblem(f"no {d}-regular graph on {n} nodes: n*d must be even")
    _check_size(f"a {d}-regular graph on {n:,} nodes", n, n * d / 2)
    return nx.random_regular_graph(d, n, seed=seed)


def erdos_renyi_graph(n: int, p: float, seed: int | None = 0) -> Any:
    """G(n, p): each of the n(n-1)/2 edges present independently with probability ``p``."""
    import networkx as nx

    if n <= 0 or not 0.0 <= p <= 1.0:
        raise InvalidProblem(f"G(n={n}, p={p}) needs n > 0 and 0 <= p <= 1")
    _check_size(f"G(n={n:,}, p={p})", n, p * n * (n - 1) / 2)
    return nx.gnp_random_graph(n, p, seed=seed)


def weighted_graph(graph: Any, low: float = 0.0, high: float = 1.0, seed: int | None = 0,
                   integer: bool = False) -> Any:
    """A copy of ``graph`` with weights uniform in [low, high) (integers if ``integer``)."""
    rng = np.random.default_rng(seed)
    g = graph.copy()
    for a, b in sorted(g.edges):
        w = rng.integers(int(low), int(high) + 1) if integer else rng.uniform(low, high)
        g.edges[a, b]["weight"] = float(w)
    return g


def random_maxcut(d: int, n: int, seed: int | None = 0) -> IsingModel:
    """MaxCut of a random ``d``-regular graph as an Ising model (energy = -cut)."""
    return maxcut_to_ising(random_regular_graph(d, n, seed))


def sherrington_kirkpatrick(n: int, seed: int | None = 0, scale: bool = True) -> IsingModel:
    """SK model: all-to-all Gaussian couplings ``J_ij ~ N(0, 1)`` (divided by sqrt(n) if scale)."""
    if n < 2:
        raise InvalidProblem(f"an SK model needs at least 2 spins, got {n}")
    _check_size(f"an SK model on {n:,} spins", n, n * (n - 1) / 2)
    rng = np.random.default_rng(seed)
    iu = np.triu_indices(n, 1)
    J = rng.standard_normal(iu[0].size) / (np.sqrt(n) if scale else 1.0)
    return IsingModel.from_arrays(np.zeros(n), np.stack(iu, axis=1), J)


def pm_j_spin_glass(graph: Any, seed: int | None = 0, field: bool = False) -> IsingModel:
    """+-J spin glass on ``graph``: couplings +1/-1 with equal probability (fields too if asked)."""
    rng = np.random.default_rng(seed)
    n = graph.number_of_nodes()
    if set(graph.nodes) != set(range(n)):
        raise InvalidProblem("graph nodes must be the integers 0..n-1")
    edges = np.array(sorted((min(a, b), max(a, b)) for a, b in graph.edges), dtype=np.int64)
    J = rng.choice([-1.0, 1.0], size=len(edges))
    h = rng.choice([-1.0, 1.0], size=n) if field else np.zeros(n)
    return IsingModel.from_arrays(h, edges.reshape(-1, 2), J)


def dwave_topology(family: str, size: int) -> Any:
    """A D-Wave QPU graph (dwave-graphs, the successor of dwave-networkx; the same graphs)
    relabelled to integers: chimera, pegasus or zephyr."""
    import dwave.graphs as dg
    import networkx as nx

    makers = {"chimera": dg.chimera_graph, "pegasus": dg.pegasus_graph,
              "zephyr": dg.zephyr_graph}
    if family not in makers:
        raise InvalidProblem(f"unknown D-Wave topology {family!r}; choose one of {sorted(makers)}")
    if size < 1:
        raise InvalidProblem(f"topology size must be positive, got {size}")
    g = makers[family](size)
    return nx.convert_node_labels_to_integers(g, ordering="sorted")

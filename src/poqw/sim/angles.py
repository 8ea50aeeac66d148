"""Published fixed QAOA angles and the closed-form p=1 expectation.

Fixed angles: Wurtz & Lykov, "The fixed angle conjecture for QAOA on regular MaxCut graphs"
(PRA 104, 052419, 2021), quoted for the cut ``C = sum (1 - Z_i Z_j)/2`` with the state
``exp(-i beta B) exp(-i gamma C) |+>``. Our models (``maxcut_to_ising``) have energy ``H = -C``,
so ``exp(-i gamma C) = exp(-i (-gamma) H)``: this module returns ``-gamma`` and the same
``beta``. At p=1 any degree D works: ``gamma = arctan(1/sqrt(D-1))``, ``beta = pi/8``.

Closed form at p=1 (derived in the Heisenberg picture; cf. Wang, Hadfield, Jiang, Rieffel,
PRA 97, 022304 (2018), and Ozaeta, van Dam, McMahon (2022) for fields), for
``H = offset + sum h_u Z_u + sum J_uv Z_u Z_v`` and our convention:

* ``<Z_u> = sin(2b) sin(2g h_u) prod_w cos(2g J_uw)``
* ``<Z_u Z_v> = sin(4b)/2 [sin(2g J_uv) (cos(2g h_u) P_u\\v + cos(2g h_v) P_v\\u)]
  + sin(2b)^2/2 [cos(2g(h_u - h_v)) prod_w cos(2g(J_uw - J_vw))
  - cos(2g(h_u + h_v)) prod_w cos(2g(J_uw + J_vw))]``

with ``P_u\\v = prod_{w != v} cos(2g J_uw)`` and products over all other variables (a missing
coupling is 0, so its factor is 1). Evaluated on dense rows of the coupling matrix, a chunk of
edges at a time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from poqw.errors import InvalidProblem, ProblemTooLarge
from poqw.problems.convert import maxcut_to_ising
from poqw.problems.model import FloatArray, IsingModel

__all__ = [
    "FIXED_ANGLE_RATIOS_3REGULAR",
    "P1_MAX_VARIABLES",
    "fixed_angles",
    "p1_expectation",
    "p1_maxcut_expectation",
]

# Wurtz & Lykov 2021, degree 3, in their convention (gammas, betas): the p=2..4 rows of their
# table (digits from the authors' published angle file, reduced to the principal branch).
_FIXED_3REGULAR: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] = {
    2: ((0.48788735, 0.89775859), (0.55475546, 0.29225740)),
    3: ((0.41787832, 0.79214776, 0.93232948), (0.60032889, 0.45241986, 0.23511412)),
    4: ((0.40718406, 0.77873346, 0.97786102, 1.14390016),
        (0.59413038, 0.44061878, 0.31250151, 0.16312574)),
}
# Large-girth <C>/|E| the angles guarantee (same source).
FIXED_ANGLE_RATIOS_3REGULAR = {1: 0.6925, 2: 0.7559, 3: 0.7923, 4: 0.8167}
P1_MAX_VARIABLES = 4096  # the dense coupling matrix costs 8 n**2 bytes


def fixed_angles(p: int, degree: int = 3) -> tuple[FloatArray, FloatArray]:
    """Fixed angles (gammas, betas) for MaxCut on ``degree``-regular graphs, in our convention."""
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1:
        raise InvalidProblem(f"p must be a positive integer, got {p!r}")
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 2:
        raise InvalidProblem(f"degree must be an integer >= 2, got {degree!r}")
    g: tuple[float, ...]
    b: tuple[float, ...]
    if p == 1:
        g, b = (math.atan(1 / math.sqrt(degree - 1)),), (math.pi / 8,)
    elif degree == 3 and p in _FIXED_3REGULAR:
        g, b = _FIXED_3REGULAR[int(p)]
    else:
        raise InvalidProblem(f"no fixed angles for p={p}, degree={degree}: known are p=1 for "
                             f"any degree and p<=4 for degree 3")
    return -np.array(g, dtype=np.float64), np.array(b, dtype=np.float64)


def _as_model(graph_or_model: Any) -> IsingModel:
    if isinstance(graph_or_model, IsingModel):
        return graph_or_model
    if hasattr(graph_or_model, "edges") and hasattr(graph_or_model, "nodes"):
        return maxcut_to_ising(graph_or_model)
    raise InvalidProblem(f"expected an IsingModel or a networkx graph, got "
                         f"{type(graph_or_model).__name__}")


def p1_expectation(model: IsingModel, gamma: float, beta: float,
                   chunk_entries: int = 1 << 22) -> float:
    """<H> at p=1 for any Ising model, from the closed form (offset included)."""
    g2, b2 = 2.0 * float(gamma), 2.0 * float(beta)
    n = model.num_variables
    if n > P1_MAX_VARIABLES:
        raise ProblemTooLarge(f"the p=1 closed form here uses a dense {n}x{n} matrix; "
                              f"the limit is {P1_MAX_VARIABLES} variables")
    dense = np.zeros((n, n))
    if model.num_interactions:
        u_all, v_all = model.edges[:, 0], model.edges[:, 1]
        dense[u_all, v_all] = model.J
        dense[v_all, u_all] = model.J
    h = model.h
    cos_rows = np.cos(g2 * dense)
    total = model.offset
    z = np.sin(b2) * np.sin(g2 * h) * np.prod(cos_rows, axis=1)
    total += float(h @ z)
    step = max(1, chunk_entries // max(n, 1))
    for start in range(0, model.num_interactions, step):
        u = model.edges[start:start + step, 0]
        v = model.edges[start:start + step, 1]
        J = model.J[start:start + step]
        rows = np.arange(u.shape[0])
        ju, jv = dense[u].copy(), dense[v].copy()
        for a in (ju, jv):  # products run over w not in {u, v}
            a[rows, u] = 0.0
            a[rows, v] = 0.0
        pu = np.prod(np.cos(g2 * ju), axis=1)
        pv = np.prod(np.cos(g2 * jv), axis=1)
        minus = np.prod(np.cos(g2 * (ju - jv)), axis=1)
        plus = np.prod(np.cos(g2 * (ju + jv)), axis=1)
        hu, hv = h[u], h[v]
        zz = (0.5 * np.sin(2 * b2) * np.sin(g2 * J) * (np.cos(g2 * hu) * pu + np.cos(g2 * hv) * pv)
              + 0.5 * np.sin(b2) ** 2 * (np.cos(g2 * (hu - hv)) * minus
                                         - np.cos(g2 * (hu + hv)) * plus))
        total += float(J @ zz)
    return float(total)


def p1_maxcut_expectation(graph_or_model: Any, gamma: float, beta: float) -> float:
    """<H> at p=1 for a networkx graph (as ``maxcut_to_ising``, so -<cut>) or an Ising model."""
    return p1_expectation(_as_model(graph_or_model), gamma, beta)

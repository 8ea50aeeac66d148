"""Light cones for the shard marketplace: grouped once per job, planned once, run from the plan.

The coordinator sorts the cones of ⟨H⟩ into classes of identical rooted weighted graphs (trees
by an exact canonical code, other cones by a Weisfeiler-Lehman bucket confirmed by an
isomorphism check) once per job, since that does not depend on the angles; it plans each wide
cone's contraction once (cotengra) and can cut it into slices. A work unit carries the plan, so
a node simulates one representative per class and never re-plans: every node and the verifier
run the same contraction, slice by slice, and get the same numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from poqw.errors import ConfigError
from poqw.problems.model import IsingModel
from poqw.sim.lightcone import Cone, _cone_graph, _tree_code, cone_of

__all__ = [
    "CONE_OVERHEAD_OPS",
    "STATEVECTOR_LIMIT",
    "TN_FLOP_OPS",
    "TN_OVERHEAD_OPS",
    "ConeClass",
    "ConePlan",
    "CostModel",
    "cone_classes",
    "cone_plan",
    "plan_tree",
    "simulate_cone",
    "slice_ranges",
]

STATEVECTOR_LIMIT = 20  # widest cone simulated as a state vector (LightconeQAOA's default)
# Cost model, in state-vector amplitude updates (the unit of the capability record's timing):
# one flop of a cotengra contraction costs about TN_FLOP_OPS of them; every cone at every point
# costs CONE_OVERHEAD_OPS more (extracting it, calling the kernel), and a contraction
# TN_OVERHEAD_OPS more again (building the network, one einsum call per tensor pair). Fitted
# to the measured times of the 60-variable p=2 and p=3 cones on one core of the development
# machine (20-qubit state vectors ~1.5e8 updates/s, contractions ~5e8 flops/s, ~20 us per
# state-vector cone, ~30 ms per contraction, under load).
TN_FLOP_OPS = 0.3
CONE_OVERHEAD_OPS = 2e4
TN_OVERHEAD_OPS = 4e6


@dataclass(frozen=True)
class CostModel:
    """How a cone's work is estimated, in state-vector amplitude updates (defaults: the
    calibration above)."""

    tn_flop_ops: float = TN_FLOP_OPS
    cone_overhead_ops: float = CONE_OVERHEAD_OPS
    tn_overhead_ops: float = TN_OVERHEAD_OPS

    def contraction(self, flops: float) -> float:
        """One contraction (or slice range) of ``flops`` at one point, overheads included."""
        return flops * self.tn_flop_ops + self.cone_overhead_ops + self.tn_overhead_ops


@dataclass(frozen=True)
class ConePlan:
    """A wide cone's contraction: the cotengra path over its network (:func:`cone_network`'s
    canonical index order), the indices sliced, their slice count and the largest piece."""

    path: tuple[tuple[int, int], ...]
    sliced: tuple[str, ...]
    nslices: int
    flops: float  # all slices together
    max_size: int


@dataclass
class ConeClass:
    """Cones that are the same rooted weighted graph: ``cone`` (the first) is simulated, its
    value counts for every member ``(roots, weight)``."""

    cone: Cone
    members: list[tuple[tuple[int, ...], float]] = field(default_factory=list)
    plan: ConePlan | None = None  # None: a state vector

    def ops_per_point(self, p: int, cost: CostModel) -> float:
        """Estimated work of one evaluation (one angle point), overhead included."""
        if self.plan is None:
            k = self.cone.size
            return float((1 << k) * (k + len(self.cone.edges) + p * (k + 1))) \
                + cost.cone_overhead_ops
        return cost.contraction(self.plan.flops)

    @property
    def memory_bytes(self) -> int:
        if self.plan is None:
            return 16 * (1 << self.cone.size)
        return 16 * self.plan.max_size


def _network_inputs(cone: Cone, p: int) -> list[tuple[str, ...]]:
    from poqw.sim.lightcone_network import cone_network

    return cone_network(cone, [0.0] * p, [0.0] * p)[0]


def plan_tree(inputs: Sequence[tuple[str, ...]], plan: ConePlan | None = None,
              *, slices: int = 1) -> Any:
    """The cotengra tree of a cone network: searched (greedy) and cut into at least ``slices``
    pieces when ``plan`` is None, else rebuilt from ``plan``'s path and sliced indices."""
    import cotengra as ctg

    size_dict = {ix: 2 for term in inputs for ix in term}
    if plan is None:
        tree = ctg.array_contract_tree(list(inputs), (), size_dict, optimize="greedy")
        if slices > 1:
            tree = tree.slice(target_slices=slices, allow_outer=False, seed=0)
        return tree
    tree = ctg.array_contract_tree(list(inputs), (), size_dict,
                                   optimize=[tuple(step) for step in plan.path])
    for ix in plan.sliced:
        tree.remove_ind_(ix)
    return tree


def cone_plan(cone: Cone, p: int, slices: int = 1, base: ConePlan | None = None) -> ConePlan:
    """Plan ``cone``'s contraction (or take ``base``'s path), cut into at least ``slices``
    pieces."""
    from poqw.sim.lightcone_network import MAX_INTERMEDIATE

    inputs = _network_inputs(cone, p)
    if base is None:
        tree = plan_tree(inputs, slices=slices)
    else:
        tree = plan_tree(inputs, base)
        if tree.nslices < slices:
            tree = tree.slice(target_slices=-(-slices // int(tree.nslices)),
                              allow_outer=False, seed=0)
    if tree.max_size() > MAX_INTERMEDIATE:
        tree = tree.slice(target_size=MAX_INTERMEDIATE, allow_outer=False, seed=0)
    return ConePlan(tuple((int(a), int(b)) for a, b in tree.get_path()),
                    tuple(str(ix) for ix in tree.sliced_inds), int(tree.nslices),
                    float(tree.total_flops()), int(tree.max_size()))


def cone_classes(model: IsingModel, p: int,
                 max_statevector_qubits: int = STATEVECTOR_LIMIT) -> list[ConeClass]:
    """Every cone of ⟨H⟩ at depth ``p`` (one per field and per coupling) in classes of identical
    cones, in the order their first member appears; cones wider than
    ``max_statevector_qubits`` planned as tensor networks (unsliced)."""
    import networkx as nx

    if p < 1:
        raise ConfigError(f"p must be at least 1, got {p}")
    nbrs: list[dict[int, float]] = [{} for _ in range(model.num_variables)]
    for (i, j), w in zip(model.edges.tolist(), model.J.tolist(), strict=True):
        nbrs[i][j] = w
        nbrs[j][i] = w
    roots_weights: list[tuple[tuple[int, ...], float]] = [
        ((u,), float(model.h[u])) for u in np.flatnonzero(model.h != 0).tolist()]
    roots_weights += [((u, v), float(w)) for (u, v), w in
                      zip(model.edges.tolist(), model.J.tolist(), strict=True)]
    out: list[ConeClass] = []
    trees: dict[object, ConeClass] = {}
    buckets: dict[str, list[tuple[Any, ConeClass]]] = {}
    for roots, w in roots_weights:
        cone = cone_of(nbrs, model.h, roots, p)
        found: ConeClass | None = None
        if cone.is_tree:
            key = _tree_code(cone)
            found = trees.get(key)
            if found is None:
                found = trees[key] = ConeClass(cone)
                out.append(found)
        else:
            graph = _cone_graph(cone)
            bucket = nx.weisfeiler_lehman_graph_hash(graph, node_attr="label", edge_attr="w")
            members = buckets.setdefault(bucket, [])
            for other, cls in members:  # a WL hash can collide: confirm the isomorphism
                if nx.is_isomorphic(graph, other, node_match=lambda a, c: a["label"] == c["label"],
                                    edge_match=lambda a, c: a["w"] == c["w"]):
                    found = cls
                    break
            if found is None:
                found = ConeClass(cone)
                members.append((graph, found))
                out.append(found)
        found.members.append((roots, w))
    for cls in out:
        if cls.cone.size > max_statevector_qubits:
            cls.plan = cone_plan(cls.cone, p)
    return out


def simulate_cone(cone: Cone, gammas: Sequence[float], betas: Sequence[float],
                  plan: ConePlan | None, slice_range: tuple[int, int] | None = None,
                  tree: Any = None) -> float:
    """⟨Π_roots Z⟩ of ``cone`` (a state vector without ``plan``), or with a plan the real part
    of the sum of slices ``slice_range`` (all when None) of its contraction; ``tree`` is the
    plan's tree when the caller already built it (see :func:`plan_tree`)."""
    from poqw.sim.lightcone_kernels import cone_statevector_expectation
    from poqw.sim.lightcone_network import cone_network

    if plan is None:
        return cone_statevector_expectation(cone, list(gammas), list(betas))
    inputs, arrays = cone_network(cone, list(gammas), list(betas))
    if tree is None:
        tree = plan_tree(inputs, plan)
    first, stop = slice_range if slice_range is not None else (0, plan.nslices)
    if not 0 <= first < stop <= plan.nslices:
        raise ConfigError(f"slice range {first}..{stop} is outside the plan's "
                          f"{plan.nslices} slices")
    total: complex = 0j
    for i in range(first, stop):
        total += complex(tree.contract_slice(arrays, i))
    return float(total.real)


def slice_ranges(nslices: int, pieces: int) -> list[tuple[int, int]]:
    """``nslices`` slices in ``pieces`` contiguous ranges as even as possible."""
    pieces = max(1, min(pieces, nslices))
    bounds = [math.floor(k * nslices / pieces) for k in range(pieces + 1)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]

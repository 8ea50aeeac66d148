"""The shard marketplace's work: a QAOA expectation too large for one state vector, cut into
light-cone work units that nodes bid for (:mod:`poqw.compute.shards_market`).

:func:`decompose` sorts the light cones of ⟨H⟩ (one per field and per coupling) into classes of
identical cones once per job (:mod:`poqw.compute.shards_cones`), plans each wide cone once, and
cuts the work (classes x angle points) into units of about equal estimated cost: a class too big
for one unit is split over its angle points and, when one point is still too big, over slices of
its contraction; small classes are batched into one unit. A unit carries its plans, so a node
simulates one cone per class and point, never re-plans, and returns its share of ⟨H⟩ at every
point; the shares sum to ⟨H⟩.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from poqw.compute.shards_cones import (
    STATEVECTOR_LIMIT,
    ConeClass,
    ConePlan,
    CostModel,
    cone_classes,
    cone_plan,
    plan_tree,
    simulate_cone,
    slice_ranges,
)
from poqw.errors import ConfigError, InvalidProblem
from poqw.problems.model import IsingModel

__all__ = [
    "ConeGroup",
    "ShardJob",
    "WorkUnit",
    "angle_grid",
    "decompose",
    "evaluate_unit",
    "single_node_energies",
    "unit_values",
    "unit_values_from_correlations",
    "warm_up",
]

FloatArray = npt.NDArray[np.float64]
Point = tuple[tuple[float, ...], tuple[float, ...]]
# No piece of work is cut smaller than this (about 10 ms on one core): below it, shipping and
# bookkeeping cost more than the parallelism saves. A cone is cut into at most
# MAX_SLICE_PIECES slice ranges, each with at least SLICE_WORK_PER_OVERHEAD times a
# contraction's fixed cost in flops (a slice pays the whole fixed cost again).
MIN_PIECE_OPS = 1e7
MAX_SLICE_PIECES = 16
SLICE_WORK_PER_OVERHEAD = 4.0


@dataclass(frozen=True)
class ConeGroup:
    """Identical light cones: ``roots[i]`` is (u,) for a field or (u, v) for a coupling with
    weight ``weights[i]``; the first root set's cone is simulated at each of ``points`` (indices
    of the job's points) and counts for all. A wide cone carries its contraction ``plan``, and
    ``slices`` = (first, stop) when this group sums only those slices of it."""

    roots: tuple[tuple[int, ...], ...]
    weights: tuple[float, ...]
    points: tuple[int, ...]
    plan: ConePlan | None = None
    slices: tuple[int, int] | None = None


@dataclass(frozen=True)
class WorkUnit:
    """Some cone groups; ``ops`` estimates the unit's whole work (every group at each of its
    points, in state-vector amplitude updates), ``memory_bytes`` its largest piece."""

    index: int
    groups: tuple[ConeGroup, ...]
    ops: float
    memory_bytes: int

    @property
    def roots(self) -> tuple[tuple[int, ...], ...]:
        return tuple(r for g in self.groups for r in g.roots)


@dataclass(frozen=True)
class ShardJob:
    """⟨H⟩ at every angle point ``points[k] = (gammas, betas)``, cut into ``units``."""

    model: IsingModel
    p: int
    points: tuple[Point, ...]
    units: tuple[WorkUnit, ...]

    @property
    def total_ops(self) -> float:
        return sum(u.ops for u in self.units)


@dataclass(frozen=True)
class _Piece:
    """One item to pack: a class at some points, maybe a slice range of its plan."""

    cls: ConeClass
    points: tuple[int, ...]
    plan: ConePlan | None
    slices: tuple[int, int] | None
    ops: float


def _pieces(cls: ConeClass, p: int, npoints: int, target: float, slicing: bool,
            cost: CostModel) -> list[_Piece]:
    """Split a class's work into pieces of at most about ``target`` operations: over its angle
    points first, then (one point each) over slices of its contraction."""
    per_point = cls.ops_per_point(p, cost)
    wanted = math.ceil(per_point * npoints / target) if target > 0 else 1
    if wanted <= 1:
        return [_Piece(cls, tuple(range(npoints)), cls.plan, None, per_point * npoints)]
    chunks = [tuple(c.tolist()) for c in np.array_split(np.arange(npoints), min(wanted, npoints))]
    per_chunk = min(math.ceil(wanted / npoints), MAX_SLICE_PIECES)
    if cls.plan is not None:
        fixed = SLICE_WORK_PER_OVERHEAD * cost.tn_overhead_ops
        if fixed > 0:
            per_chunk = min(per_chunk, int(cls.plan.flops * cost.tn_flop_ops / fixed))
    if per_chunk <= 1 or cls.plan is None or not slicing:
        return [_Piece(cls, c, cls.plan, None, per_point * len(c)) for c in chunks]
    plan = cone_plan(cls.cone, p, slices=per_chunk, base=cls.plan)
    # cotengra slices in powers of two: one range per slice unless that doubles the pieces
    ranges = slice_ranges(plan.nslices, plan.nslices if plan.nslices < 2 * per_chunk
                          else per_chunk)
    return [_Piece(cls, c, plan, r,
                   cost.contraction(plan.flops * (r[1] - r[0]) / plan.nslices) * len(c))
            for c in chunks for r in ranges]


def decompose(model: IsingModel, p: int, points: Sequence[tuple[Sequence[float], Sequence[float]]],
              units: int, *, slicing: bool = True,
              max_statevector_qubits: int = STATEVECTOR_LIMIT,
              min_piece_ops: float = MIN_PIECE_OPS, cost: CostModel | None = None) -> ShardJob:
    """Cut ⟨H⟩ at depth ``p`` at every angle point into at most ``units`` work units of about
    equal estimated cost: identical cones grouped (computed once per point), classes bigger
    than an equal share split over points and (``slicing``) contraction slices, the pieces
    packed largest first, each into the currently cheapest unit. Cones wider than
    ``max_statevector_qubits`` are contracted as tensor networks; no class is cut into pieces
    smaller than ``min_piece_ops``; ``cost`` estimates the work (default: the calibrated
    :class:`~poqw.compute.shards_cones.CostModel`)."""
    if p < 1:
        raise ConfigError(f"p must be at least 1, got {p}")
    if units < 1:
        raise ConfigError(f"the number of work units must be positive, got {units}")
    pts = tuple((tuple(float(x) for x in g), tuple(float(x) for x in b)) for g, b in points)
    if not pts or any(len(g) != p or len(b) != p for g, b in pts):
        raise ConfigError(f"need at least one angle point, each with {p} gammas and {p} betas")
    cost = CostModel() if cost is None else cost
    classes = cone_classes(model, p, max_statevector_qubits)
    total = sum(c.ops_per_point(p, cost) for c in classes) * len(pts)
    target = max(total / units, min_piece_ops) if units > 1 else 0.0
    pieces = [x for c in classes for x in _pieces(c, p, len(pts), target, slicing, cost)]
    count = max(1, min(units, len(pieces)))
    bins: list[list[_Piece]] = [[] for _ in range(count)]
    load = [0.0] * count
    for piece in sorted(pieces, key=lambda x: -x.ops):  # stable: ties keep the cone order
        k = int(np.argmin(load))
        bins[k].append(piece)
        load[k] += piece.ops
    out: list[WorkUnit] = []
    for b in bins:
        if not b:
            continue
        groups = tuple(ConeGroup(tuple(r for r, _ in x.cls.members),
                                 tuple(w for _, w in x.cls.members), x.points, x.plan, x.slices)
                       for x in b)
        memory = max(16 * x.plan.max_size if x.plan is not None else x.cls.memory_bytes
                     for x in b)
        out.append(WorkUnit(len(out), groups, sum(x.ops for x in b), memory))
    return ShardJob(model, p, pts, tuple(out))


def evaluate_unit(model: IsingModel, unit: WorkUnit,
                  points: Sequence[tuple[Sequence[float], Sequence[float]]]) -> FloatArray:
    """The unit's share of ⟨H⟩ at every point (0 where it has no group): Σ weight · ⟨Π Z⟩ over
    its cones, one simulation per group and point from the unit's own plans. Deterministic,
    so a re-run of the same unit gives the same numbers."""
    from poqw.sim.lightcone import cone_of

    nbrs: list[dict[int, float]] = [{} for _ in range(model.num_variables)]
    for (i, j), w in zip(model.edges.tolist(), model.J.tolist(), strict=True):
        nbrs[i][j] = w
        nbrs[j][i] = w
    n = model.num_variables
    out = np.zeros(len(points))
    for group in unit.groups:
        first = group.roots[0]
        if not 1 <= len(first) <= 2 or not all(0 <= x < n for x in first):
            raise InvalidProblem(f"a cone root set must be one or two of the {n} variables, "
                                 f"got {first}")
        if any(not 0 <= k < len(points) for k in group.points):
            raise InvalidProblem(f"a cone group names points {group.points} of {len(points)}")
        g0, _ = points[group.points[0]]
        cone = cone_of(nbrs, model.h, first, len(g0))
        tree = None
        if group.plan is not None:  # the same tree serves every point: build it once
            from poqw.sim.lightcone_network import cone_network

            tree = plan_tree(cone_network(cone, [0.0] * len(g0), [0.0] * len(g0))[0],
                             group.plan)
        weight = float(np.sum(group.weights))
        for k in group.points:
            g, b = points[k]
            out[k] += weight * simulate_cone(cone, g, b, group.plan, group.slices, tree)
    return out


def warm_up() -> None:
    """Compile (or load) the cone kernels once, on a tiny job, so that no timing or first
    unit pays for it."""
    from poqw.problems import random_maxcut

    model = random_maxcut(3, 8, seed=0)
    job = decompose(model, 2, [((0.3, 0.5), (0.4, 0.2))], 1)
    evaluate_unit(model, job.units[0], job.points)


def unit_values(job: ShardJob) -> list[FloatArray]:
    """Every unit's true result, computed here (for simulations and verifiers)."""
    return [evaluate_unit(job.model, u, job.points) for u in job.units]


def unit_values_from_correlations(job: ShardJob) -> list[FloatArray]:
    """The same as :func:`unit_values` (the name of the first version of this API)."""
    return unit_values(job)


def single_node_energies(job: ShardJob) -> FloatArray:
    """⟨H⟩ at every point on one node (LightconeQAOA over the whole model): the reference."""
    from poqw.sim.lightcone import LightconeQAOA

    engine = LightconeQAOA(job.model, closed_form_p1=False)
    return np.array([engine.expectation(g, b) for g, b in job.points])


def angle_grid(model: IsingModel, p: int, size: int
               ) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
    """``size``² angle points for a grid search: a base schedule (fixed angles for the mean
    degree where published, else a linear ramp) with its gammas and betas each scaled by
    0.6 .. 1.4."""
    if size < 1:
        raise ConfigError(f"the angle grid needs at least 1 point a side, got {size}")
    try:
        from poqw.sim.angles import fixed_angles

        degree = max(2, round(2 * model.num_interactions / max(model.num_variables, 1)))
        g0, b0 = fixed_angles(p, degree)
    except InvalidProblem:
        ramp = (np.arange(p) + 0.5) / p
        g0, b0 = -0.7 * ramp, 0.6 * (1 - ramp)
    scales = np.linspace(0.6, 1.4, size) if size > 1 else np.ones(1)
    return [(tuple((g0 * sg).tolist()), tuple((b0 * sb).tolist()))
            for sg in scales for sb in scales]

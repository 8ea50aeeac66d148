"""The shard marketplace: a QAOA expectation too large for one state vector, cut into light-cone
work units that nodes bid for, verified by spot checks and paid from a ledger.

:func:`decompose` groups the light cones of ⟨H⟩ (one per field and per coupling) into units with
a cost estimate (amplitude updates of each cone's state vector, or the flops of its cotengra
contraction tree when it is too wide). A node's :class:`BiddingPolicy` prices a unit from its
measured throughput (its capability record); :class:`ShardMarket` awards each open unit to the
cheapest bid under the unit's reserve that promises to finish by the deadline, takes results,
re-runs a random share of them (every node's first result always) and pays only nodes whose
checked results all matched. Pure logic: time is passed in, transports live elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from poqw.compute.ledger import Ledger
from poqw.errors import ComputeError, ConfigError, InvalidProblem, ResultRejected
from poqw.node.capability import Capability
from poqw.problems.model import IsingModel

if TYPE_CHECKING:
    from poqw.sim.lightcone import Cone

__all__ = [
    "Assignment",
    "Bid",
    "BiddingPolicy",
    "ShardJob",
    "ShardMarket",
    "WorkUnit",
    "angle_grid",
    "decompose",
    "evaluate_unit",
    "ops_per_second",
    "single_node_energies",
    "unit_values_from_correlations",
]

FloatArray = npt.NDArray[np.float64]
# One QAOA layer of a 20-qubit state vector, the capability record's benchmark: a phase and one
# mixer pass per qubit over 2**20 amplitudes.
LAYER20_OPS = 21 * (1 << 20)
STATEVECTOR_LIMIT = 20  # widest cone simulated as a state vector (LightconeQAOA's default)
DEFAULT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class WorkUnit:
    """Some light cones of ⟨H⟩: ``roots[i]`` is (u,) for a field or (u, v) for a coupling with
    weight ``weights[i]``; ``ops`` estimates the work per angle point, ``memory_bytes`` the
    largest cone's state."""

    index: int
    roots: tuple[tuple[int, ...], ...]
    weights: tuple[float, ...]
    ops: float
    memory_bytes: int


@dataclass(frozen=True)
class ShardJob:
    """⟨H⟩ at every angle point ``points[k] = (gammas, betas)``, cut into ``units``."""

    model: IsingModel
    p: int
    points: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]
    units: tuple[WorkUnit, ...]

    @property
    def total_ops(self) -> float:
        return sum(u.ops for u in self.units) * len(self.points)


def _cone_cost(size: int, edges: int, p: int, inputs: list[tuple[str, ...]] | None) -> float:
    if size <= STATEVECTOR_LIMIT or inputs is None:
        return float((1 << size) * (size + edges + p * (size + 1)))
    from poqw.compute.slicing import plan_sliced

    sizes = {ix: 2 for term in inputs for ix in term}
    return float(plan_sliced(inputs, (), sizes).tree.total_flops())


@dataclass
class _ConeClass:
    ops: float
    size: int
    members: list[tuple[tuple[int, ...], float]] = field(default_factory=list)


def _cone_key(cone: Cone) -> object:
    """Equal for cones the single-node engine computes once: a tree's exact canonical code, else
    the Weisfeiler-Lehman bucket (isomorphism is confirmed when the unit runs)."""
    from poqw.sim.lightcone import _cone_graph, _tree_code

    if cone.is_tree:
        return _tree_code(cone)
    import networkx as nx

    return nx.weisfeiler_lehman_graph_hash(_cone_graph(cone), node_attr="label", edge_attr="w")


def decompose(model: IsingModel, p: int, points: Sequence[tuple[Sequence[float], Sequence[float]]],
              units: int) -> ShardJob:
    """Cut ⟨H⟩ at depth ``p`` into at most ``units`` work units of about equal estimated cost:
    identical cones grouped (computed once), largest groups first, each to the currently
    cheapest unit."""
    from poqw.sim.lightcone import cone_of
    from poqw.sim.lightcone_network import cone_network

    if p < 1:
        raise ConfigError(f"p must be at least 1, got {p}")
    if units < 1:
        raise ConfigError(f"the number of work units must be positive, got {units}")
    pts = tuple((tuple(float(x) for x in g), tuple(float(x) for x in b)) for g, b in points)
    if not pts or any(len(g) != p or len(b) != p for g, b in pts):
        raise ConfigError(f"need at least one angle point, each with {p} gammas and {p} betas")
    nbrs: list[dict[int, float]] = [{} for _ in range(model.num_variables)]
    for (i, j), w in zip(model.edges.tolist(), model.J.tolist(), strict=True):
        nbrs[i][j] = w
        nbrs[j][i] = w
    roots_weights: list[tuple[tuple[int, ...], float]] = [
        ((u,), float(model.h[u])) for u in np.flatnonzero(model.h != 0).tolist()]
    roots_weights += [((u, v), float(w)) for (u, v), w in
                      zip(model.edges.tolist(), model.J.tolist(), strict=True)]
    # Cones that are the same rooted weighted graph are simulated once per unit, so they go to
    # the same unit as one class, costed once (as the single-node engine does).
    classes: dict[object, _ConeClass] = {}
    zero = ([0.0] * p, [0.0] * p)
    for roots, w in roots_weights:
        cone = cone_of(nbrs, model.h, roots, p)
        key = _cone_key(cone)
        found = classes.get(key)
        if found is None:
            inputs = cone_network(cone, *zero)[0] if cone.size > STATEVECTOR_LIMIT else None
            found = classes[key] = _ConeClass(
                _cone_cost(cone.size, len(cone.edges), p, inputs), cone.size)
        found.members.append((roots, w))
    count = max(1, min(units, len(classes)))
    bins: list[list[_ConeClass]] = [[] for _ in range(count)]
    load = [0.0] * count
    for item in sorted(classes.values(), key=lambda c: (-c.ops, c.members[0][0])):
        k = int(np.argmin(load))
        bins[k].append(item)
        load[k] += item.ops
    out = tuple(
        WorkUnit(k, tuple(r for c in b for r, _ in c.members),
                 tuple(w for c in b for _, w in c.members), load[k],
                 16 * (1 << min(max(c.size for c in b), STATEVECTOR_LIMIT)))
        for k, b in enumerate(bins) if b
    )
    return ShardJob(model, p, pts, out)


def evaluate_unit(model: IsingModel, unit: WorkUnit,
                  points: Sequence[tuple[Sequence[float], Sequence[float]]]) -> FloatArray:
    """The unit's share of ⟨H⟩ at every point: Σ weight · ⟨Π Z⟩ over its cones. Deterministic, so
    a re-run must match."""
    from poqw.sim.lightcone import LightconeQAOA

    engine = LightconeQAOA(model, closed_form_p1=False)
    w = np.asarray(unit.weights)
    return np.array([float(w @ engine.cone_values(unit.roots, g, b)) for g, b in points])


def single_node_energies(job: ShardJob) -> FloatArray:
    """⟨H⟩ at every point on one node (LightconeQAOA over the whole model): the reference."""
    from poqw.sim.lightcone import LightconeQAOA

    engine = LightconeQAOA(job.model, closed_form_p1=False)
    return np.array([engine.expectation(g, b) for g, b in job.points])


def ops_per_second(capability: Capability) -> float:
    """Single-thread amplitude updates per second from the record's 20-qubit layer time."""
    if capability.statevector_layer_ns <= 0:
        raise ConfigError("the capability record has no state-vector timing to bid from")
    return LAYER20_OPS / (capability.statevector_layer_ns * 1e-9)


@dataclass(frozen=True)
class Bid:
    """``node`` will run ``unit`` for ``price`` base units, finishing by ``finish`` (seconds)."""

    node: str
    unit: int
    price: int
    finish: float


@dataclass
class BiddingPolicy:
    """How a node bids, run by the node itself from its own measurements: it asks
    ``price_per_mop`` base units per 10⁶ operations (at least 1), and promises to finish
    ``latency_s`` after its estimated compute time. It bids on at most ``slots`` units at once
    (its free cores) and never on a unit whose largest cone does not fit ``memory_bytes``."""

    node: str
    ops_per_s: float
    price_per_mop: float
    slots: int = 1
    memory_bytes: int = 1 << 40
    latency_s: float = 0.0

    @classmethod
    def from_capability(cls, node: str, capability: Capability, price_per_mop: float, *,
                        slots: int | None = None, latency_s: float = 0.0) -> BiddingPolicy:
        return cls(node, ops_per_second(capability), price_per_mop,
                   capability.cores if slots is None else slots,
                   capability.memory_bytes or 1 << 40, latency_s)

    def seconds(self, unit: WorkUnit, points: int) -> float:
        return unit.ops * points / self.ops_per_s

    def bids(self, units: Sequence[WorkUnit], points: int, now: float) -> list[Bid]:
        return [Bid(self.node, u.index, max(1, math.ceil(u.ops * points / 1e6
                                                         * self.price_per_mop)),
                    now + self.seconds(u, points) + self.latency_s)
                for u in units if u.memory_bytes <= self.memory_bytes]


@dataclass(frozen=True)
class Assignment:
    node: str
    unit: int
    price: int
    finish: float
    awarded_at: float


@dataclass
class _Result:
    assignment: Assignment
    values: FloatArray
    checked: bool = False


@dataclass
class ShardMarket:
    """The coordinator's books for one job. ``reserve_per_mop`` caps a unit's price (its
    reserve); ``deadline`` is the absolute time by which bids must promise to finish;
    ``check_share`` of results are re-run (and every node's first), matching within
    ``tolerance``. A winner may overrun its promised finish by its promised duration or
    ``grace_s``, whichever is longer, before its unit is taken back."""

    job: ShardJob
    ledger: Ledger
    deadline: float
    reserve_per_mop: float
    check_share: float = 0.25
    tolerance: float = DEFAULT_TOLERANCE
    seed: int = 0
    grace_s: float = 5.0
    assigned: dict[int, Assignment] = field(default_factory=dict)
    results: dict[int, _Result] = field(default_factory=dict)
    cheaters: set[str] = field(default_factory=set)
    checks: int = 0
    awards: list[Assignment] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0.0 <= self.check_share <= 1.0:
            raise ConfigError(f"check_share must be within [0, 1], got {self.check_share}")
        self._rng = np.random.default_rng(self.seed)
        self._seen: set[str] = set()
        self._taken_back: dict[int, Assignment] = {}
        self._points = len(self.job.points)

    def reserve(self, unit: WorkUnit) -> int:
        return max(1, math.ceil(unit.ops * self._points / 1e6 * self.reserve_per_mop))

    def open_units(self) -> list[WorkUnit]:
        """Units neither assigned nor done, largest first."""
        return sorted((u for u in self.job.units
                       if u.index not in self.assigned and u.index not in self.results),
                      key=lambda u: (-u.ops, u.index))

    def clear(self, bids: Sequence[Bid], now: float, slots: dict[str, int]) -> list[Assignment]:
        """Award open units, largest first, each to the cheapest valid bid (then the earliest
        finish, then the node id) from a node with a free slot (``slots`` per node)."""
        free = dict(slots)
        by_unit: dict[int, list[Bid]] = {}
        for bid in bids:
            if bid.node not in self.cheaters:
                by_unit.setdefault(bid.unit, []).append(bid)
        out = []
        for unit in self.open_units():
            reserve = self.reserve(unit)
            valid = [b for b in by_unit.get(unit.index, ())
                     if b.price <= reserve and b.finish <= self.deadline
                     and free.get(b.node, 0) > 0]
            if not valid:
                continue
            best = min(valid, key=lambda b: (b.price, b.finish, b.node))
            free[best.node] -= 1
            award = Assignment(best.node, unit.index, best.price, best.finish, now)
            self.assigned[unit.index] = award
            self.awards.append(award)
            out.append(award)
        return out

    def overdue_at(self, award: Assignment) -> float:
        return award.finish + max(self.grace_s, award.finish - award.awarded_at)

    def holder(self, node: str, unit: int) -> Assignment | None:
        """``node``'s award of ``unit`` if it may still deliver: the unit is assigned to it, or
        it was taken back from it as overdue and nobody else holds it yet."""
        if node in self.cheaters or unit in self.results:
            return None
        award = self.assigned.get(unit)
        if award is None:
            award = self._taken_back.get(unit)
        return award if award is not None and award.node == node else None

    def expire(self, now: float) -> list[Assignment]:
        """Reopen units whose winner is overdue (a late result is then refused, not paid)."""
        late = [a for a in self.assigned.values() if self.overdue_at(a) < now]
        for a in late:
            del self.assigned[a.unit]
            self._taken_back[a.unit] = a
        return late

    def submit(self, node: str, unit: int, values: npt.ArrayLike) -> bool:
        """Take a result; True when it should be re-run now (a spot check)."""
        award = self.holder(node, unit)
        if award is None:
            raise ResultRejected(f"unit {unit} is not assigned to {node}", (node, unit))
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.size != self._points or not np.all(np.isfinite(v)):
            raise ResultRejected(f"unit {unit} from {node}: need {self._points} finite values",
                                 (node, unit))
        self.assigned.pop(unit, None)
        self.results[unit] = _Result(award, v)
        first = node not in self._seen
        self._seen.add(node)
        return first or bool(self._rng.random() < self.check_share)

    def check(self, unit: int, expected: npt.ArrayLike) -> bool:
        """Compare a result with the verifier's re-run. A mismatch marks the node a cheater:
        all its results are discarded and their units reopened."""
        result = self.results[unit]
        self.checks += 1
        result.checked = True
        ok = bool(np.allclose(result.values, np.asarray(expected), rtol=self.tolerance,
                              atol=self.tolerance))
        if not ok:
            cheater = result.assignment.node
            self.cheaters.add(cheater)
            for k in [k for k, r in self.results.items() if r.assignment.node == cheater]:
                del self.results[k]
            for k in [k for k, a in self.assigned.items() if a.node == cheater]:
                del self.assigned[k]
        return ok

    @property
    def done(self) -> bool:
        return len(self.results) == len(self.job.units)

    def energies(self) -> FloatArray:
        """⟨H⟩ at every point, once every unit has a result."""
        if not self.done:
            raise ComputeError(f"{len(self.job.units) - len(self.results)} units have no result")
        total = np.full(self._points, float(self.job.model.offset))
        for k in sorted(self.results):
            total += self.results[k].values
        return total

    def settle(self) -> dict[str, int]:
        """Pay every accepted unit's price (never a cheater's); the payees' totals."""
        if not self.done:
            raise ComputeError("cannot settle before every unit has a result")
        for k in sorted(self.results):
            a = self.results[k].assignment
            if a.node not in self.cheaters:
                self.ledger.credit_batch(a.node, k.to_bytes(4, "big"), a.price)
        return self.ledger.balances()


def unit_values_from_correlations(job: ShardJob) -> list[FloatArray]:
    """Every unit's true result from one whole-model run per point (same cone values as
    :func:`evaluate_unit`, identical cones computed once): for simulations and verifiers."""
    from poqw.sim.lightcone import LightconeQAOA

    model = job.model
    engine = LightconeQAOA(model, closed_form_p1=False)
    edge_index = {(int(u), int(v)): e for e, (u, v) in enumerate(model.edges.tolist())}
    out = [np.empty(len(job.points)) for _ in job.units]
    for k, (g, b) in enumerate(job.points):
        z, zz = engine.correlations(g, b)
        for unit, values in zip(job.units, out, strict=True):
            corr = [z[r[0]] if len(r) == 1 else zz[edge_index[(r[0], r[1])]] for r in unit.roots]
            values[k] = float(np.asarray(unit.weights) @ np.asarray(corr))
    return out


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

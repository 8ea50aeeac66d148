"""QAOA energies of large sparse Ising models from light cones (1,000+ variables).

At depth p, ⟨Z_u Z_v⟩ depends only on the reverse causal cone of the edge: vertices within
distance p of u or v, couplings touching a vertex within distance p-1, fields within p-1. Each
cone is simulated alone (a small state vector, or a quimb/cotengra tensor-network contraction
when it is too wide), and cones that are the same rooted weighted graph are computed once: tree
cones get an exact canonical code (AHU encoding with weights and fields), other cones are
bucketed by a Weisfeiler-Lehman hash and confirmed by an isomorphism check. At p=1 the closed
form (Wang et al. 2018; Ozaeta, van Dam, McMahon 2022) is used directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from poqw.errors import ConfigError, InvalidProblem, SimulationError
from poqw.problems.model import IsingModel
from poqw.sim.lightcone_kernels import (
    cone_statevector_expectation,
    cone_tensor_network_expectation,
)

__all__ = [
    "Cone",
    "LightconeBackend",
    "LightconeQAOA",
    "cone_of",
    "cone_statevector_expectation",
    "cone_tensor_network_expectation",
    "optimize_lightcone_angles",
    "p1_closed_form",
]

FloatArray = npt.NDArray[np.float64]
DEFAULT_MAX_STATEVECTOR_QUBITS = 20
MAX_CONE_QUBITS = 64
# With a Dask client, each wide cone is cut into at least this many slices per worker thread.
SLICES_PER_THREAD = 2
# A cone whose contraction costs fewer operations than this is contracted here even with a
# client: shipping it costs more than it saves (a 30-qubit tree cone, ~1e6 operations, takes
# ~5 ms here and ~30-60 ms through a cluster). Read when an engine is made.
DISTRIBUTE_MIN_FLOPS = 1e9


# -- p = 1 closed form -------------------------------------------------------------------------
def p1_closed_form(
    model: IsingModel, gamma: float, beta: float
) -> tuple[FloatArray, FloatArray]:
    """(⟨Z_u⟩ per variable, ⟨Z_u Z_v⟩ per edge) at p=1, for any sparse Ising model.

    ⟨Z_u⟩ = sin 2β sin(2γh_u) Π_w cos(2γJ_uw);
    ⟨Z_uZ_v⟩ = ½ sin 4β sin(2γJ_uv)[cos(2γh_u) Π_{w≠v} cos(2γJ_uw) + (u↔v)]
             + ½ sin²2β [cos(2γ(h_u−h_v)) Π_w cos(2γ(J_uw−J_vw))
                        − cos(2γ(h_u+h_v)) Π_w cos(2γ(J_uw+J_vw))],
    products over w ∉ {u, v} (Ozaeta, van Dam, McMahon, Quantum Sci. Technol. 7, 045036, 2022).
    """
    g2, b2 = 2.0 * float(gamma), 2.0 * float(beta)
    n = model.num_variables
    nbrs: list[dict[int, float]] = [{} for _ in range(n)]
    for (i, j), w in zip(model.edges.tolist(), model.J.tolist(), strict=True):
        nbrs[i][j] = w
        nbrs[j][i] = w
    h = model.h
    z = np.array(
        [np.prod([np.cos(g2 * w) for w in nb.values()]) if nb else 1.0 for nb in nbrs]
    )
    z = np.sin(b2) * np.sin(g2 * h) * z
    zz = np.empty(model.num_interactions)
    hl = h.tolist()
    for e, ((u, v), juv) in enumerate(zip(model.edges.tolist(), model.J.tolist(), strict=True)):
        nu, nv = nbrs[u], nbrs[v]
        pu = 1.0
        pv = 1.0
        minus = 1.0
        plus = 1.0
        for w, juw in nu.items():
            if w == v:
                continue
            pu *= np.cos(g2 * juw)
            jvw = nv.get(w, 0.0)
            minus *= np.cos(g2 * (juw - jvw))
            plus *= np.cos(g2 * (juw + jvw))
        for w, jvw in nv.items():
            if w == u:
                continue
            pv *= np.cos(g2 * jvw)
            if w not in nu:
                minus *= np.cos(g2 * jvw)
                plus *= np.cos(g2 * jvw)
        hu, hv = hl[u], hl[v]
        zz[e] = 0.5 * np.sin(2 * b2) * np.sin(g2 * juv) * (
            np.cos(g2 * hu) * pu + np.cos(g2 * hv) * pv
        ) + 0.5 * np.sin(b2) ** 2 * (
            np.cos(g2 * (hu - hv)) * minus - np.cos(g2 * (hu + hv)) * plus
        )
    return z, zz


# -- cones ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cone:
    """The causal cone of Z_u (one root) or Z_u Z_v (two roots) at depth p, relabelled 0..k-1.

    Roots come first; ``edges``/``J``/``h`` are the couplings and fields that can influence the
    roots' observable.
    """

    roots: tuple[int, ...]
    vertices: tuple[int, ...]
    edges: tuple[tuple[int, int], ...]
    J: tuple[float, ...]
    h: tuple[float, ...]

    @property
    def size(self) -> int:
        return len(self.vertices)

    @property
    def is_tree(self) -> bool:
        return len(self.edges) == self.size - 1

    def model(self) -> IsingModel:
        edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        return IsingModel.from_arrays(np.asarray(self.h), edges, np.asarray(self.J))


def cone_of(nbrs: list[dict[int, float]], h: FloatArray, roots: Sequence[int], p: int) -> Cone:
    """Extract the depth-``p`` causal cone of the product of Z on ``roots``."""
    dist = {r: 0 for r in roots}
    order = list(roots)
    frontier = list(roots)
    for d in range(1, p + 1):
        nxt = []
        for x in frontier:
            for w in nbrs[x]:
                if w not in dist:
                    dist[w] = d
                    nxt.append(w)
                    order.append(w)
        frontier = nxt
    local = {v: k for k, v in enumerate(order)}
    edges: list[tuple[int, int]] = []
    couplings: list[float] = []
    for x in order:
        if dist[x] > p - 1:
            continue
        for w, jw in nbrs[x].items():
            # an edge touching the inner ball; count it once
            if dist[w] <= p - 1 and local[w] < local[x]:
                continue
            a, b = local[x], local[w]
            edges.append((min(a, b), max(a, b)))
            couplings.append(jw)
    fields = tuple(float(h[x]) if dist[x] <= p - 1 else 0.0 for x in order)
    return Cone(tuple(roots), tuple(order), tuple(edges), tuple(couplings), fields)


def _tree_code(cone: Cone) -> tuple[Any, ...]:
    """Exact canonical code of a tree cone rooted at its roots (AHU with weights and fields)."""
    adj: list[list[tuple[int, float]]] = [[] for _ in range(cone.size)]
    for (a, b), w in zip(cone.edges, cone.J, strict=True):
        adj[a].append((b, w))
        adj[b].append((a, w))

    def encode(x: int, parents: frozenset[int]) -> tuple[Any, ...]:
        kids = sorted((w, encode(y, frozenset((x,)))) for y, w in adj[x] if y not in parents)
        return (cone.h[x], tuple(kids))

    if len(cone.roots) == 1:
        return ("z", encode(0, frozenset()))
    roots = frozenset((0, 1))
    juv = next((w for (a, b), w in zip(cone.edges, cone.J, strict=True) if (a, b) == (0, 1)), 0.0)
    pair = sorted((encode(0, roots), encode(1, roots)))
    return ("zz", juv, tuple(pair))


def _cone_graph(cone: Cone) -> Any:
    import networkx as nx

    g = nx.Graph()
    for k in range(cone.size):
        g.add_node(k, label=f"{'r' if k < len(cone.roots) else 'x'}{cone.h[k]!r}")
    for (a, b), w in zip(cone.edges, cone.J, strict=True):
        g.add_edge(a, b, w=repr(w))
    return g


# -- the engine ----------------------------------------------------------------------------------
@dataclass
class _Cache:
    trees: dict[tuple[Any, ...], float] = field(default_factory=dict)
    graphs: dict[str, list[tuple[Any, float]]] = field(default_factory=dict)
    simulated: int = 0
    looked_up: int = 0
    network: int = 0
    distributed: int = 0
    slices: int = 0


class LightconeQAOA:
    """⟨H⟩ of QAOA on a large sparse model from per-edge light cones, identical cones once.

    ``expectation(gammas, betas)`` has the signature of ``StateVectorQAOA.expectation``.
    Cones up to ``max_statevector_qubits`` use a dense state vector, wider ones a tensor
    network: ``tn_engine="native"`` (:mod:`poqw.sim.lightcone_network`, contraction plans
    cached by cone shape and sliced so no intermediate has more than ``slice_target_size``
    entries) or ``"quimb"`` (quimb's ``Circuit.local_expectation``, the reference).
    ``closed_form_p1`` uses the p=1 formula instead of cones.

    With a Dask ``client`` (a ``distributed.Client``) the slices of every tensor-network cone
    are contracted on the cluster and summed here; plans are then also sliced into at least
    ``SLICES_PER_THREAD`` pieces per worker thread (counted when the engine is made), so one
    cone is parallel work. Only costly cones go to the cluster: cones within the state-vector
    limit, p=1 with the closed form, and networks cheaper than ``distribute_min_flops``
    operations (default :data:`DISTRIBUTE_MIN_FLOPS`) are computed here as before. The result
    equals the no-client value to rounding. ``last_stats`` counts cones looked up and
    simulated, those contracted as networks, those sent to the cluster and their slices.
    """

    def __init__(
        self,
        model: IsingModel,
        *,
        max_statevector_qubits: int = DEFAULT_MAX_STATEVECTOR_QUBITS,
        max_cone_qubits: int = MAX_CONE_QUBITS,
        closed_form_p1: bool = True,
        tn_optimize: Any = "greedy",
        tn_engine: str = "native",
        client: Any = None,
        slice_target_size: int | None = None,
        distribute_min_flops: float | None = None,
    ) -> None:
        self.distribute_min_flops = (DISTRIBUTE_MIN_FLOPS if distribute_min_flops is None
                                     else float(distribute_min_flops))
        if tn_engine not in ("native", "quimb"):
            raise InvalidProblem(f"tn_engine must be 'native' or 'quimb', got {tn_engine!r}")
        if slice_target_size is not None and (
                isinstance(slice_target_size, bool) or not isinstance(slice_target_size, int)
                or slice_target_size < 1):
            raise ConfigError(f"slice_target_size must be a positive integer (entries of the "
                              f"largest intermediate tensor), got {slice_target_size!r}")
        target_slices: int | None = None
        self._chunks: int | None = None
        if client is not None:
            from poqw.compute.slicing import cluster_threads

            if tn_engine != "native":
                raise ConfigError("a Dask client needs tn_engine='native' (the quimb engine "
                                  "contracts each cone here)")
            threads = max(1, cluster_threads(client))
            target_slices = SLICES_PER_THREAD * threads
            self._chunks = 4 * threads
        self.model = model
        self.tn_engine = tn_engine
        self.client = client
        from poqw.sim.lightcone_network import ConeNetworkCache

        self._plans = ConeNetworkCache(tn_optimize, slice_target_size, target_slices)
        self.max_statevector_qubits = max_statevector_qubits
        self.max_cone_qubits = max_cone_qubits
        self.closed_form_p1 = closed_form_p1
        self.tn_optimize = tn_optimize
        n = model.num_variables
        self._nbrs: list[dict[int, float]] = [{} for _ in range(n)]
        for (i, j), w in zip(model.edges.tolist(), model.J.tolist(), strict=True):
            self._nbrs[i][j] = w
            self._nbrs[j][i] = w
        self.last_stats: dict[str, int] = {}

    def expectation(self, gammas: npt.ArrayLike, betas: npt.ArrayLike) -> float:
        """⟨γ,β|H|γ,β⟩ including the offset."""
        z, zz = self.correlations(gammas, betas)
        return float(self.model.offset + self.model.h @ z + self.model.J @ zz)

    def correlations(
        self, gammas: npt.ArrayLike, betas: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """(⟨Z_u⟩ per variable, ⟨Z_uZ_v⟩ per edge); ⟨Z_u⟩ is 0 where h_u = 0 (not computed)."""
        g = np.asarray(gammas, dtype=np.float64).reshape(-1)
        b = np.asarray(betas, dtype=np.float64).reshape(-1)
        if g.shape != b.shape or g.size == 0:
            raise InvalidProblem(
                f"need one gamma and one beta per layer, got {g.size} and {b.size}"
            )
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(b))):
            raise InvalidProblem("angles must be finite")
        if g.size == 1 and self.closed_form_p1:
            z, zz = p1_closed_form(self.model, g[0], b[0])
            z[self.model.h == 0] = 0.0
            self.last_stats = {"cones": 0, "simulated": 0, "network": 0, "distributed": 0,
                               "slices": 0}
            return z, zz
        p = int(g.size)
        gl, bl = g.tolist(), b.tolist()
        cache = _Cache()
        h = self.model.h
        z = np.zeros(self.model.num_variables)
        for u in np.flatnonzero(h != 0).tolist():
            z[u] = self._cone_value(cone_of(self._nbrs, h, (u,), p), gl, bl, cache)
        zz = np.empty(self.model.num_interactions)
        for e, (u, v) in enumerate(self.model.edges.tolist()):
            zz[e] = self._cone_value(cone_of(self._nbrs, h, (u, v), p), gl, bl, cache)
        self.last_stats = {"cones": cache.looked_up, "simulated": cache.simulated,
                           "network": cache.network, "distributed": cache.distributed,
                           "slices": cache.slices}
        return z, zz

    def cone_values(self, roots: Sequence[Sequence[int]], gammas: npt.ArrayLike,
                    betas: npt.ArrayLike) -> FloatArray:
        """⟨Π_{r in roots[i]} Z_r⟩ for each root set (one or two variables), by the same cone
        simulation as :meth:`correlations` (identical cones once): a shard of its work."""
        g = np.asarray(gammas, dtype=np.float64).reshape(-1)
        b = np.asarray(betas, dtype=np.float64).reshape(-1)
        if g.shape != b.shape or g.size == 0:
            raise InvalidProblem(
                f"need one gamma and one beta per layer, got {g.size} and {b.size}"
            )
        n = self.model.num_variables
        cache = _Cache()
        out = np.empty(len(roots))
        for k, r in enumerate(roots):
            if not 1 <= len(r) <= 2 or not all(0 <= x < n for x in r):
                raise InvalidProblem(f"a cone root set must be one or two of the {n} "
                                     f"variables, got {tuple(r)}")
            cone = cone_of(self._nbrs, self.model.h, tuple(int(x) for x in r), int(g.size))
            out[k] = self._cone_value(cone, g.tolist(), b.tolist(), cache)
        return out

    def _cone_value(self, cone: Cone, g: list[float], b: list[float], cache: _Cache) -> float:
        cache.looked_up += 1
        if cone.is_tree:
            key = _tree_code(cone)
            found = cache.trees.get(key)
            if found is None:
                found = self._simulate(cone, g, b, cache)
                cache.trees[key] = found
            return found
        import networkx as nx

        graph = _cone_graph(cone)
        bucket = nx.weisfeiler_lehman_graph_hash(graph, node_attr="label", edge_attr="w")
        # refined colours (each node's WL hash) make the VF2 confirmation prune early
        colours = nx.weisfeiler_lehman_subgraph_hashes(
            graph, node_attr="label", edge_attr="w", iterations=3
        )
        for node, history in colours.items():
            graph.nodes[node]["colour"] = history[-1]
        members = cache.graphs.setdefault(bucket, [])
        for other, value in members:
            if nx.is_isomorphic(
                graph,
                other,
                node_match=lambda a, c: a["colour"] == c["colour"],
                edge_match=lambda a, c: a["w"] == c["w"],
            ):
                return value
        value = self._simulate(cone, g, b, cache)
        members.append((graph, value))
        return value

    def _simulate(self, cone: Cone, g: list[float], b: list[float], cache: _Cache) -> float:
        cache.simulated += 1
        if cone.size <= self.max_statevector_qubits:
            return cone_statevector_expectation(cone, g, b)
        if cone.size > self.max_cone_qubits:
            raise SimulationError(
                f"a light cone of {cone.size} qubits (roots {cone.roots}) is over the limit of "
                f"{self.max_cone_qubits}; use fewer layers or the MPS backend"
            )
        cache.network += 1
        if self.tn_engine == "quimb":
            return cone_tensor_network_expectation(cone, g, b, self.tn_optimize)
        from poqw.sim.lightcone_network import cone_network, contract_cone_network

        inputs, arrays = cone_network(cone, g, b)
        client = self.client
        if client is not None and \
                self._plans.plan(inputs).tree.total_flops() < self.distribute_min_flops:
            client = None  # cheaper here than through the cluster
        value = contract_cone_network(inputs, arrays, self._plans, client, self._chunks)
        if client is not None:
            cache.distributed += 1
            cache.slices += int(self._plans.last_plan.nslices)
        return value


class LightconeBackend(LightconeQAOA):
    """Registry adapter (``backend="lightcone"``): light-cone expectations, MPS samples.

    Samples come from :class:`poqw.sim.mps.MPSQAOA` with ``max_bond`` (64 when not given);
    the fidelity estimate of the last sampled state is ``last_fidelity``. ``client`` and
    ``slice_target_size`` are those of :class:`LightconeQAOA` (expectations only).
    """

    #: :func:`poqw.sim.backends.build_engine` passes ``client``/``slice_target_size`` only to
    #: factories that say they take them.
    supports_dask: ClassVar[bool] = True

    def __init__(
        self,
        model: IsingModel,
        *,
        kernel: str = "fast",
        threads: int | None = None,
        max_bond: int | None = None,
        client: Any = None,
        slice_target_size: int | None = None,
    ) -> None:
        super().__init__(model, client=client, slice_target_size=slice_target_size)
        self.max_bond = 64 if max_bond is None else max_bond
        self.last_fidelity: float | None = None

    def sample(
        self,
        gammas: npt.ArrayLike,
        betas: npt.ArrayLike,
        shots: int,
        rng: np.random.Generator | int | None,
    ) -> npt.NDArray[np.int8]:
        from poqw.sim.mps import MPSQAOA

        g = np.asarray(gammas, dtype=np.float64).tolist()
        b = np.asarray(betas, dtype=np.float64).tolist()
        state = MPSQAOA(self.model, max_bond=self.max_bond).state(g, b)
        self.last_fidelity = state.fidelity
        return state.sample(shots, rng)


def optimize_lightcone_angles(
    model: IsingModel,
    p: int,
    *,
    gammas0: npt.ArrayLike | None = None,
    betas0: npt.ArrayLike | None = None,
    maxiter: int = 300,
    client: Any = None,
) -> tuple[FloatArray, FloatArray, float]:
    """Minimise ⟨H⟩ over the 2p angles with light-cone energies (Nelder-Mead from a start).

    The start is ``gammas0``/``betas0``, else the fixed angles for the model's (rounded) mean
    degree where known, else a linear ramp. With a Dask ``client`` the wide cones of every
    energy evaluation are contracted on the cluster (see :class:`LightconeQAOA`). Returns
    (gammas, betas, ⟨H⟩); sample the result with :class:`poqw.sim.mps.MPSQAOA`.
    """
    from scipy.optimize import minimize

    if p < 1:
        raise InvalidProblem(f"p must be at least 1, got {p}")
    if gammas0 is None or betas0 is None:
        try:
            from poqw.sim.angles import fixed_angles

            degree = max(2, round(2 * model.num_interactions / max(model.num_variables, 1)))
            g0, b0 = fixed_angles(p, degree)
        except (ImportError, InvalidProblem):
            ramp = (np.arange(p) + 0.5) / p
            g0, b0 = -0.7 * ramp, 0.6 * (1 - ramp)
    else:
        g0 = np.asarray(gammas0, dtype=np.float64).reshape(-1)
        b0 = np.asarray(betas0, dtype=np.float64).reshape(-1)
        if g0.size != p or b0.size != p:
            raise InvalidProblem(f"need {p} starting gammas and betas")
    engine = LightconeQAOA(model, client=client)

    def energy(x: FloatArray) -> float:
        return engine.expectation(x[:p], x[p:])

    x0 = np.concatenate([g0, b0])
    start = energy(x0)
    res = minimize(energy, x0, method="Nelder-Mead",
                   options={"maxiter": maxiter, "xatol": 1e-6, "fatol": 1e-9})
    x = np.asarray(res.x) if float(res.fun) <= start else x0
    return x[:p].copy(), x[p:].copy(), min(float(res.fun), start)

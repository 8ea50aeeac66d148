"""Simulated annealing by colour classes with a counter-based RNG: the GPU miner's NumPy reference.

Spins of one colour class of a proper colouring share no coupling, so updating them one after
another or all at once gives the same result: the reference updates a whole class at once (over
every read), the CUDA kernel (:mod:`poqw.samplers.gpu_annealing`) walks the same order one spin
at a time per thread, and both give identical spins. Random numbers come from a counter-based
generator (the SplitMix64 finaliser of Steele, Lea and Flood, OOPSLA 2014, applied to
``key + (counter + 1) * golden_gamma``), so a read's numbers depend only on its key and on which
spin and sweep asks, never on thread scheduling. Metropolis acceptance compares the top 32 random
bits with an integer threshold per (sweep, local-field) pair computed once on the host, so no
floating-point ``exp`` runs on the device and CPU and GPU agree bit for bit on integer models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from poqw.errors import SamplerError

__all__ = [
    "GOLDEN_GAMMA",
    "AnnealPlan",
    "acceptance_thresholds",
    "anneal_reference",
    "beta_schedule",
    "check_integer_model",
    "color_classes",
    "counter_draws",
    "default_beta_range",
    "mix64",
    "plan_for_graph",
    "read_keys",
]

U64 = npt.NDArray[np.uint64]
GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
MIX_2 = np.uint64(0x94D049BB133111EB)
ALWAYS = 1 << 32
"""A threshold that every 32-bit draw is under: the move is always accepted."""


def mix64(z: npt.ArrayLike) -> U64:
    """The SplitMix64 output function on uint64 values (wrapping arithmetic)."""
    x = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):  # numpy warns on wrapping scalars, not arrays
        x = (x ^ (x >> np.uint64(30))) * MIX_1
        x = (x ^ (x >> np.uint64(27))) * MIX_2
    out: U64 = x ^ (x >> np.uint64(31))
    return out


def counter_draws(keys: npt.ArrayLike, counter: npt.ArrayLike) -> U64:
    """The 64-bit random number number ``counter`` of the stream ``keys`` (broadcast)."""
    k = np.asarray(keys, dtype=np.uint64)
    c = np.asarray(counter, dtype=np.uint64) + np.uint64(1)
    with np.errstate(over="ignore"):
        return mix64(k + c * GOLDEN_GAMMA)


def read_keys(seeds: npt.ArrayLike, reads_per_instance: int) -> U64:
    """One key per read, instance-major: read ``r`` of instance ``b`` gets
    ``counter_draws(seed_b, r)`` (seeds are taken modulo 2**64)."""
    s = np.asarray([int(x) % (1 << 64) for x in np.ravel(np.asarray(seeds, dtype=object))],
                   dtype=np.uint64)
    return counter_draws(s[:, None], np.arange(reads_per_instance, dtype=np.uint64)[None, :]
                         ).reshape(-1)


@dataclass(frozen=True, eq=False)
class AnnealPlan:
    """A graph prepared for colour-ordered sweeps.

    ``order`` lists the spins class by class (``class_starts`` delimits the classes); the
    adjacency is CSR: spin ``i``'s neighbours are ``neighbors[row_ptr[i]:row_ptr[i+1]]``, joined
    by the edge ``edge_index[...]`` of the model's edge list. ``max_field`` bounds ``|h_i| +
    sum_j |J_ij|`` for fields and couplings in {-1, 0, +1}."""

    num_nodes: int
    order: npt.NDArray[np.int32]
    class_starts: npt.NDArray[np.int32]
    row_ptr: npt.NDArray[np.int32]
    neighbors: npt.NDArray[np.int32]
    edge_index: npt.NDArray[np.int32]
    max_field: int

    @property
    def num_colors(self) -> int:
        return int(self.class_starts.shape[0]) - 1

    def color_class(self, c: int) -> npt.NDArray[np.int32]:
        return self.order[self.class_starts[c]:self.class_starts[c + 1]]


def color_classes(num_nodes: int, edges: npt.ArrayLike) -> list[list[int]]:
    """A proper colouring (greedy, largest degree first, ties by index): lists of spins, no two
    in one list joined by an edge. Deterministic for a given edge list."""
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    adjacency: list[set[int]] = [set() for _ in range(num_nodes)]
    for a, b in e:
        if a == b:
            raise SamplerError(f"edge ({a}, {b}) is a self-loop: no colouring exists")
        adjacency[int(a)].add(int(b))
        adjacency[int(b)].add(int(a))
    color = [-1] * num_nodes
    for v in sorted(range(num_nodes), key=lambda v: (-len(adjacency[v]), v)):
        used = {color[u] for u in adjacency[v]}
        color[v] = next(c for c in range(num_nodes + 1) if c not in used)
    classes: list[list[int]] = [[] for _ in range(max(color, default=-1) + 1)]
    for v, c in enumerate(color):
        classes[c].append(v)
    return classes


def plan_for_graph(num_nodes: int, edges: npt.ArrayLike) -> AnnealPlan:
    """The colour order and CSR adjacency of a graph (edges as an (m, 2) array)."""
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    classes = color_classes(num_nodes, e)
    order = np.array([v for cls in classes for v in cls], dtype=np.int32)
    starts = np.cumsum([0] + [len(cls) for cls in classes]).astype(np.int32)
    ends = np.concatenate([e[:, 0], e[:, 1]])
    others = np.concatenate([e[:, 1], e[:, 0]])
    which = np.concatenate([np.arange(len(e)), np.arange(len(e))])
    by_node = np.lexsort((others, ends))
    counts = np.bincount(ends, minlength=num_nodes) if len(e) else np.zeros(num_nodes, np.int64)
    row_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    max_degree = int(counts.max()) if num_nodes else 0
    return AnnealPlan(num_nodes, order, starts, row_ptr, others[by_node].astype(np.int32),
                      which[by_node].astype(np.int32), max_degree + 1)


def check_integer_model(plan: AnnealPlan, h: npt.ArrayLike, J: npt.ArrayLike) -> int:
    """The largest ``|h_i| + sum_j |J_ij|`` over a batch (B, n) / (B, m) of integer models: the
    size of the threshold table. ``SamplerError`` if a value is not an integer."""
    hb = np.asarray(h, dtype=np.float64)
    Jb = np.asarray(J, dtype=np.float64)
    if not (np.all(hb == np.round(hb)) and np.all(Jb == np.round(Jb))):
        raise SamplerError("the colour-class annealer takes integer fields and couplings only")
    if max(np.abs(hb).max(initial=0), np.abs(Jb).max(initial=0)) > 127:
        raise SamplerError("the colour-class annealer takes fields and couplings in [-127, 127]")
    weight = np.abs(hb).astype(np.int64)
    entry_node = np.repeat(np.arange(plan.num_nodes), np.diff(plan.row_ptr))
    np.add.at(weight.T, entry_node, np.abs(Jb).astype(np.int64)[:, plan.edge_index].T)
    return int(weight.max()) if weight.size else 0


def default_beta_range(max_field: int) -> tuple[float, float]:
    """Hot: the largest energy change (2 * max_field) is accepted half the time; cold: the
    smallest (2, for integer fields and couplings) one time in a hundred."""
    return math.log(2.0) / (2.0 * max(max_field, 1)), math.log(100.0) / 2.0


def beta_schedule(num_sweeps: int, beta_range: tuple[float, float]) -> npt.NDArray[np.float64]:
    """Geometric inverse temperatures from ``beta_range[0]`` to ``beta_range[1]``."""
    low, high = beta_range
    if num_sweeps == 1:
        return np.array([high])
    return np.geomspace(low, high, num_sweeps)


def acceptance_thresholds(betas: npt.ArrayLike, max_field: int) -> npt.NDArray[np.int64]:
    """``T[s, d]``: a flip that raises the energy by ``2d`` (``d = -s_i * f_i > 0`` with the
    local field ``f_i = h_i + sum_j J_ij s_j``) is accepted in sweep ``s`` when the draw's top 32
    bits are below ``T[s, d] = floor(2**32 * exp(-2 beta_s d))``; ``T[s, 0]`` is
    :data:`ALWAYS`. Flips that do not raise the energy are always accepted, without a draw."""
    b = np.asarray(betas, dtype=np.float64)[:, None]
    d = np.arange(max_field + 1, dtype=np.float64)[None, :]
    table = np.floor(np.exp(-2.0 * b * d) * float(ALWAYS)).astype(np.int64)
    table[:, 0] = ALWAYS
    out: npt.NDArray[np.int64] = np.minimum(table, ALWAYS)
    return out


def anneal_reference(plan: AnnealPlan, h: npt.ArrayLike, J: npt.ArrayLike, keys: U64,
                     reads_per_instance: int,
                     thresholds: npt.NDArray[np.int64]) -> npt.NDArray[np.int8]:
    """Anneal ``len(keys)`` reads; read ``t`` solves instance ``t // reads_per_instance`` of
    ``h`` (B, n) and ``J`` (B, m). Returns (B * reads_per_instance, n) spins of +-1.

    Spin ``i`` starts at +1 when the top bit of draw ``i`` is set; in sweep ``s`` (0-based) it
    uses draw ``(s + 1) * n + i``, and only when its flip would raise the energy."""
    n = plan.num_nodes
    hb = np.asarray(h, dtype=np.int64)
    Jb = np.asarray(J, dtype=np.int64)
    inst = np.arange(len(keys)) // reads_per_instance
    h_read, J_read = hb[inst], Jb[inst]  # (T, n), (T, m)
    spins = np.where(counter_draws(keys[:, None], np.arange(n)) >> np.uint64(63), 1, -1)
    for sweep in range(thresholds.shape[0]):
        for c in range(plan.num_colors):
            members = plan.color_class(c).astype(np.int64)
            field = h_read[:, members].copy()
            for col, i in enumerate(members):  # neighbours lie in other classes: fixed now
                lo, hi = plan.row_ptr[i], plan.row_ptr[i + 1]
                nbr, eid = plan.neighbors[lo:hi], plan.edge_index[lo:hi]
                field[:, col] += np.sum(J_read[:, eid] * spins[:, nbr], axis=1)
            rise = -spins[:, members] * field  # a flip changes the energy by 2 * rise
            draws = counter_draws(keys[:, None], (sweep + 1) * n + members[None, :])
            top = (draws >> np.uint64(32)).astype(np.int64)
            limit = thresholds[sweep][np.clip(rise, 0, thresholds.shape[1] - 1)]
            flip = (rise <= 0) | (top < limit)
            spins[:, members] = np.where(flip, -spins[:, members], spins[:, members])
    out: npt.NDArray[np.int8] = spins.astype(np.int8)
    return out

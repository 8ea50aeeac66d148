"""The puzzle graph, fixed by genesis and committed to by the hash of its canonical edge list.

Families: ``regular3`` (a random 3-regular graph on ``size`` nodes drawn from a SHAKE-256 stream
by the rule below, so any implementation rebuilds it bit for bit) and the D-Wave QPU graphs
``chimera``, ``pegasus`` and ``zephyr`` (dwave-graphs, nodes relabelled to integers in sorted
order), on which a QPU embeds the puzzle natively.

``regular3`` rule: for attempt = 0, 1, 2, ... read the stream
``shake_stream(b"poqw/topology/regular3/v1", u32be(n) || u32be(attempt))`` as big-endian u32 words;
``draw(m)`` takes words until one is ``< m * floor(2**32 / m)`` and returns it ``mod m``. Start from
the stub list ``[0,0,0,1,1,1,...,n-1,n-1,n-1]``, shuffle it with Fisher-Yates (for ``i`` from
``3n-1`` down to 1, swap positions ``i`` and ``draw(i+1)``), and pair stubs ``(2t, 2t+1)``. The
attempt is kept if there is no self-loop, no repeated edge and the graph is connected.

The topology hash is ``hash32(b"poqw/topology/v1", u32be(n), u32be(m), edges)`` with each edge
``(i, j)``, ``i < j``, in lexicographic order, as two big-endian u32.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from poqw.chain.types import Hash32
from poqw.crypto.hashing import hash32, shake_stream
from poqw.errors import InvalidGenesis
from poqw.problems.model import IntArray

__all__ = ["FAMILIES", "ShakeReader", "Topology", "build_topology", "topology_hash"]

FAMILIES = ("regular3", "chimera", "pegasus", "zephyr")
MAX_TOPOLOGY_NODES = 1 << 16
_MAX_ATTEMPTS = 10_000


class ShakeReader:
    """Reads a SHAKE-256 stream of ``(domain, seed)`` from the start, byte by byte or in words."""

    def __init__(self, domain: bytes, seed: bytes, initial: int = 256) -> None:
        self._domain, self._seed = domain, seed
        self._buf = shake_stream(domain, seed, initial)
        self._pos = 0

    def read(self, count: int) -> bytes:
        end = self._pos + count
        if end > len(self._buf):  # a longer SHAKE output extends the shorter one
            self._buf = shake_stream(self._domain, self._seed, max(2 * len(self._buf), end))
        out = self._buf[self._pos:end]
        self._pos = end
        return out

    def draw(self, m: int) -> int:
        """A uniform integer in ``[0, m)`` by rejection sampling on big-endian u32 words."""
        limit = m * ((1 << 32) // m)
        while True:
            w = int.from_bytes(self.read(4), "big")
            if w < limit:
                return w % m


@dataclass(frozen=True, eq=False)
class Topology:
    """A puzzle graph: ``edges`` is an (m, 2) read-only int64 array, ``i < j``, sorted."""

    family: str
    size: int
    num_nodes: int
    edges: IntArray
    hash: Hash32

    @property
    def num_edges(self) -> int:
        return int(self.edges.shape[0])


def topology_hash(num_nodes: int, edges: IntArray) -> Hash32:
    """The commitment to a graph: its canonical edge list, hashed with a domain."""
    header = struct.pack(">II", num_nodes, edges.shape[0])
    return Hash32(hash32(b"poqw/topology/v1", header, edges.astype(">u4").tobytes()))


def _canonical_edges(pairs: list[tuple[int, int]] | IntArray) -> IntArray:
    e = np.sort(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), axis=1)
    e = e[np.lexsort((e[:, 1], e[:, 0]))]
    return e


def _is_connected(n: int, edges: IntArray) -> bool:
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges.tolist():
        adj[a].append(b)
        adj[b].append(a)
    seen, stack = {0}, [0]
    while stack:
        for nb in adj[stack.pop()]:
            if nb not in seen:
                seen.add(nb)
                stack.append(nb)
    return len(seen) == n


def regular3_edges(n: int) -> IntArray:
    """The ``regular3`` graph on ``n`` nodes by the rule in the module docstring."""
    if n < 4 or n % 2:
        raise InvalidGenesis(f"regular3 needs an even number of nodes >= 4, got {n}")
    for attempt in range(_MAX_ATTEMPTS):
        reader = ShakeReader(b"poqw/topology/regular3/v1", struct.pack(">II", n, attempt))
        stubs = [v for v in range(n) for _ in range(3)]
        for i in range(len(stubs) - 1, 0, -1):
            j = reader.draw(i + 1)
            stubs[i], stubs[j] = stubs[j], stubs[i]
        pairs = [(stubs[2 * t], stubs[2 * t + 1]) for t in range(len(stubs) // 2)]
        if any(a == b for a, b in pairs):
            continue
        edges = _canonical_edges(pairs)
        if np.any(np.all(edges[1:] == edges[:-1], axis=1)):
            continue
        if _is_connected(n, edges):
            return edges
    raise InvalidGenesis(f"no regular3 graph on {n} nodes in {_MAX_ATTEMPTS} attempts")


@lru_cache(maxsize=16)
def build_topology(family: str, size: int) -> Topology:
    """The genesis puzzle graph of ``family`` and ``size`` (cached: it is immutable)."""
    if family not in FAMILIES:
        raise InvalidGenesis(f"unknown topology family {family!r}; choose one of {FAMILIES}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidGenesis(f"topology size must be a positive integer, got {size!r}")
    if family == "regular3":
        if size > MAX_TOPOLOGY_NODES:
            raise InvalidGenesis(f"regular3 size {size} exceeds {MAX_TOPOLOGY_NODES} nodes")
        n, edges = size, regular3_edges(size)
    else:
        from poqw.problems.generators import dwave_topology

        if size > 32:
            raise InvalidGenesis(f"{family} size {size} is larger than any QPU graph (max 32)")
        g = dwave_topology(family, size)
        n = int(g.number_of_nodes())
        edges = _canonical_edges(list(g.edges))
    edges.setflags(write=False)
    return Topology(family, size, n, edges, topology_hash(n, edges))

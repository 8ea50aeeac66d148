"""Block puzzle derivation: each (parent, miner, salt) gets its own spin glass on the genesis graph.

``seed = hash32(b"poqw/instance/v1", parent_hash (32 bytes), miner_address (20), salt (32))``,
that is SHA-256 of ``0x10 || "poqw/instance/v1" || parent || miner || salt``. The stream is
``shake_stream(b"poqw/instance-stream/v1", seed)`` (SHAKE-256 of ``0x17 || domain || seed``) read
one byte at a time: first the fields, for variable ``i = 0..n-1`` in order take the next byte ``b``
that is not 255 (255 is skipped) and set ``h_i = b mod 3 - 1``; then the couplings, for each edge
in the topology's canonical order take the next byte ``b`` and set ``J_ij = 1 - 2 (b & 1)``.
Energies ``E(s) = sum h_i s_i + sum J_ij s_i s_j`` are integers. Binding the miner's address
means a proof found for one miner is worthless to another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from poqw.chain.topology import ShakeReader, Topology
from poqw.chain.types import Address, Bytes32, Hash32
from poqw.crypto.hashing import hash32, shake_stream
from poqw.problems.model import IntArray, IsingModel

__all__ = [
    "Instance",
    "derive_instance",
    "derive_instance_reference",
    "derive_seed",
    "instance_energies",
]

INSTANCE_DOMAIN = b"poqw/instance/v1"
STREAM_DOMAIN = b"poqw/instance-stream/v1"


@dataclass(frozen=True, eq=False)
class Instance:
    """A block puzzle: integer fields ``h`` (n,) and couplings ``J`` (m,) on ``edges``."""

    seed: Hash32
    h: IntArray
    J: IntArray
    edges: IntArray

    @property
    def num_variables(self) -> int:
        return int(self.h.shape[0])

    def to_model(self) -> IsingModel:
        """The same puzzle as an :class:`IsingModel` (for samplers and the exact oracle)."""
        return IsingModel.from_arrays(self.h.astype(np.float64), self.edges,
                                      self.J.astype(np.float64))


def derive_seed(parent_hash: bytes, miner: bytes, salt: bytes) -> Hash32:
    """The instance seed; sizes are checked so that the concatenation is unambiguous."""
    return Hash32(hash32(INSTANCE_DOMAIN, Hash32(parent_hash), Address(miner), Bytes32(salt)))


def _frozen(a: npt.NDArray[np.int64]) -> IntArray:
    a = np.ascontiguousarray(a, dtype=np.int64)
    a.setflags(write=False)
    return a


def derive_instance_reference(topology: Topology, seed: bytes) -> Instance:
    """The rule read literally, one byte at a time (the reference the fast path is tested on)."""
    reader = ShakeReader(STREAM_DOMAIN, seed)
    h = []
    for _ in range(topology.num_nodes):
        b = reader.read(1)[0]
        while b == 255:
            b = reader.read(1)[0]
        h.append(b % 3 - 1)
    J = [1 - 2 * (reader.read(1)[0] & 1) for _ in range(topology.num_edges)]
    return Instance(Hash32(seed), _frozen(np.array(h)), _frozen(np.array(J)), topology.edges)


def derive_instance(topology: Topology, seed: bytes) -> Instance:
    """The puzzle for ``seed`` on ``topology`` (vectorised; same bytes as the reference)."""
    n, m = topology.num_nodes, topology.num_edges
    length = n + n // 64 + m + 64
    while True:
        buf = np.frombuffer(shake_stream(STREAM_DOMAIN, seed, length), dtype=np.uint8)
        accepted = np.flatnonzero(buf[: length - m] != 255)
        if accepted.size >= n:
            break
        length *= 2  # astronomically rare: many 255 bytes in a row
    picks = accepted[:n]
    h = buf[picks].astype(np.int64) % 3 - 1
    start = int(picks[-1]) + 1 if n else 0
    J = 1 - 2 * (buf[start:start + m].astype(np.int64) & 1)
    return Instance(Hash32(seed), _frozen(h), _frozen(J), topology.edges)


def instance_energies(instance: Instance, spins: npt.NDArray[np.int64]) -> IntArray:
    """Integer energies of a (k, n) batch of +-1 spins, in O(k * edges).

    Spins are gathered per edge in an (n, k) int8 layout (each gather moves k contiguous bytes)
    and summed by ``einsum`` in int32, exact while ``n + edges < 2**31``.
    """
    st = np.ascontiguousarray(np.asarray(spins).T, dtype=np.int8)
    e0, e1 = instance.edges[:, 0], instance.edges[:, 1]
    total = np.einsum("nk,n->k", st, instance.h.astype(np.int32))
    if e0.size:
        total = total + np.einsum("mk,m->k", st[e0] * st[e1], instance.J.astype(np.int32))
    out: IntArray = total.astype(np.int64)
    return out

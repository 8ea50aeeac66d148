"""The work proof: ``k`` diverse low-energy spin vectors of the block's puzzle, and its ticket.

A solution is bit-packed little-endian: variable ``j`` is bit ``j % 8`` of byte ``j // 8``, a set
bit meaning spin -1 (the basis convention of poqw); padding bits must be zero. The solutions are
listed in strictly ascending byte order, so one set of solutions has one encoding. The proof holds
when each energy is ``<= energy_bound``, each solution is the canonical representative of its
zero-energy plateau (every spin whose local field ``h_i + sum_j J_ij s_j`` is zero is +1), every
pair is at distance ``>= d_min`` (``min(hamming, n - hamming)``: a vector and its global flip count
as one), and the ticket ``hash32(b"poqw/ticket/v1", seed, lead)`` read big-endian is
``<= ticket_target``, where the lead is the proof's lowest-energy solution (the first in byte
order among equals). A ticket needs a solved vector, so salts cannot be screened by hashing, and
one annealing run gets at most one ticket per distinct valid vector it found, not one per
``k``-subset. Verification checks sizes before unpacking anything and then costs O(k * edges)
array work and one hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import rlp

from poqw.chain.instance import Instance, instance_energies
from poqw.chain.types import U256, Hash32
from poqw.crypto.hashing import hash32
from poqw.errors import DecodeError, InvalidProof
from poqw.problems.model import IntArray, IsingModel

__all__ = [
    "TICKET_DOMAIN",
    "WorkProof",
    "canonical_plateau",
    "greedy_diverse_selection",
    "lead_index",
    "lead_proofs",
    "local_fields",
    "make_proof",
    "pack_spins",
    "pairwise_distances",
    "proof_ticket",
    "solution_bytes",
    "unpack_spins",
    "verify_proof",
]

MAX_PROOF_SOLUTIONS = 256
TICKET_DOMAIN = b"poqw/ticket/v1"


def solution_bytes(num_variables: int) -> int:
    """Bytes of one packed solution."""
    return (num_variables + 7) // 8


@dataclass(frozen=True)
class WorkProof:
    """Packed solutions in strictly ascending byte order (checked by :func:`verify_proof`)."""

    solutions: tuple[bytes, ...]

    def encode(self) -> bytes:
        return bytes(rlp.encode(list(self.solutions)))

    def hash(self) -> Hash32:
        return Hash32(hash32(b"poqw/proof/v1", self.encode()))

    @classmethod
    def from_rlp(cls, item: Any, max_solutions: int, row_bytes: int) -> WorkProof:
        """From a decoded RLP item; counts and lengths are checked before anything is kept."""
        if not isinstance(item, list):
            raise DecodeError("a work proof must be an RLP list of solutions")
        if len(item) > max_solutions:
            raise DecodeError(f"work proof has {len(item)} solutions, limit {max_solutions}")
        for i, sol in enumerate(item):
            if not isinstance(sol, bytes) or len(sol) != row_bytes:
                size = len(sol) if isinstance(sol, bytes) else "a list"
                raise DecodeError(f"work proof solution {i} is {size} bytes, expected {row_bytes}")
        return cls(tuple(item))


def pack_spins(spins: npt.ArrayLike) -> tuple[bytes, ...]:
    """Pack a (k, n) batch of +-1 spins into k byte strings (set bit = spin -1)."""
    s = np.atleast_2d(np.asarray(spins))
    bits = (s < 0).astype(np.uint8)
    packed = np.packbits(bits, axis=1, bitorder="little")
    return tuple(row.tobytes() for row in packed)


def unpack_spins(solutions: tuple[bytes, ...], num_variables: int) -> npt.NDArray[np.int64]:
    """The (k, n) int64 spins of packed solutions (lengths must already be right)."""
    row = solution_bytes(num_variables)
    raw = np.frombuffer(b"".join(solutions), dtype=np.uint8).reshape(len(solutions), row)
    bits = np.unpackbits(raw, axis=1, count=num_variables, bitorder="little")
    return 1 - 2 * bits.astype(np.int64)


def pairwise_distances(spins: npt.NDArray[np.int64]) -> IntArray:
    """``min(hamming, n - hamming)`` between every pair of rows of a (k, n) +-1 array."""
    n = spins.shape[1]
    sf = spins.astype(np.float64)  # BLAS; exact for n < 2**53
    overlap = np.rint(sf @ sf.T).astype(np.int64)  # = n - 2 * hamming
    hamming = (n - overlap) // 2
    out: IntArray = np.minimum(hamming, n - hamming)
    return out


def local_fields(instance: Instance, spins: npt.NDArray[np.int64]) -> IntArray:
    """``h_i + sum_j J_ij s_j`` for every row of a (k, n) +-1 batch, in O(k * edges)."""
    s = np.atleast_2d(np.asarray(spins, dtype=np.int64))
    fields = np.tile(instance.h.astype(np.int64), (s.shape[0], 1))
    e0, e1 = instance.edges[:, 0], instance.edges[:, 1]
    if e0.size:
        np.add.at(fields.T, e0, (s[:, e1] * instance.J).T)
        np.add.at(fields.T, e1, (s[:, e0] * instance.J).T)
    out: IntArray = fields
    return out


def canonical_plateau(instance: Instance, spins: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """A copy of ``spins`` with each row moved, at equal energy, to a plateau representative.

    Flipping a -1 spin whose local field is zero leaves the energy unchanged; repeating it (lowest
    index first) ends, since the count of -1 spins falls, at a vector the proof rule accepts.
    """
    s = np.atleast_2d(np.array(spins, dtype=np.int64))
    rows = np.arange(s.shape[0])
    while rows.size:
        free = (local_fields(instance, s[rows]) == 0) & (s[rows] == -1)
        has = free.any(axis=1)
        rows = rows[has]
        if rows.size:
            s[rows, free[has].argmax(axis=1)] = 1
    return s


def proof_ticket(seed: bytes, lead: bytes) -> int:
    """The lottery ticket of a proof led by the packed solution ``lead``:
    ``hash32(b"poqw/ticket/v1", seed, lead)`` as a big-endian integer."""
    return int.from_bytes(hash32(TICKET_DOMAIN, Hash32(seed), lead), "big")


def lead_index(energies: npt.ArrayLike) -> int:
    """The lead of a proof (solutions in byte order): its first lowest-energy solution."""
    return int(np.argmin(np.asarray(energies)))


def verify_proof(instance: Instance, proof: WorkProof, k: int, d_min: int, energy_bound: int,
                 ticket_target: int, block: Any = None) -> None:
    """Raise :class:`InvalidProof` naming the first broken rule, or return ``None``.

    ``ticket_target`` is the header's (already checked against the parent chain); the ticket is
    checked last, once the proof itself holds."""
    n = instance.num_variables
    row = solution_bytes(n)
    sols = proof.solutions
    if len(sols) != k:
        raise InvalidProof(f"proof has {len(sols)} solutions, expected exactly {k}", block)
    for i, sol in enumerate(sols):
        if len(sol) != row:
            raise InvalidProof(f"solution {i} is {len(sol)} bytes, expected {row}", block)
    if n % 8:
        pad_mask = 0xFF & ~((1 << (n % 8)) - 1)
        for i, sol in enumerate(sols):
            if sol[-1] & pad_mask:
                raise InvalidProof(f"solution {i} sets padding bits beyond variable {n}", block)
    for i in range(1, len(sols)):
        if sols[i] == sols[i - 1]:
            raise InvalidProof(f"solutions {i - 1} and {i} are duplicates", block)
        if sols[i] < sols[i - 1]:
            raise InvalidProof("solutions are not in strictly ascending byte order", block)
    spins = unpack_spins(sols, n)
    energies = instance_energies(instance, spins)
    over = np.flatnonzero(energies > energy_bound)
    if over.size:
        i = int(over[0])
        raise InvalidProof(
            f"solution {i} has energy {int(energies[i])} above the bound {energy_bound}", block
        )
    loose = np.argwhere((local_fields(instance, spins) == 0) & (spins == -1))
    if loose.size:
        i, j = (int(x) for x in loose[0])
        raise InvalidProof(f"solution {i} is not its plateau's canonical vector: spin {j} has zero "
                           "local field but is -1", block)
    dist = pairwise_distances(spins)
    close = np.argwhere(np.triu(dist < d_min, 1))
    if close.size:
        i, j = (int(x) for x in close[0])
        raise InvalidProof(
            f"solutions {i} and {j} are at distance {int(dist[i, j])} < d_min {d_min} "
            "(a vector and its global flip count as one)", block
        )
    ticket = proof_ticket(instance.seed, sols[lead_index(energies)])
    if ticket > ticket_target:
        raise InvalidProof(f"proof ticket 0x{ticket:064x} is above the ticket target "
                           f"0x{U256(ticket_target):064x}", block)


def greedy_diverse_selection(energies: npt.ArrayLike, spins: npt.ArrayLike, k: int,
                             d_min: int) -> list[int]:
    """Indices of up to ``k`` rows, lowest energy first, each ``>= d_min`` from those before."""
    e = np.asarray(energies)
    s = np.asarray(spins, dtype=np.int64)
    n = s.shape[1]
    keys = [row.tobytes() for row in np.packbits(s < 0, axis=1, bitorder="little")]
    order = sorted(range(len(e)), key=lambda i: (e[i], keys[i]))  # deterministic ties
    chosen: list[int] = []
    for i in order:
        if chosen:
            overlap = s[chosen] @ s[i]
            ham = (n - overlap) // 2
            if int(np.minimum(ham, n - ham).min()) < d_min:
                continue
        chosen.append(i)
        if len(chosen) == k:
            break
    return chosen


def make_proof(instance: Instance | IsingModel, candidate_spins: npt.ArrayLike, k: int,
               d_min: int, bound: int) -> WorkProof | None:
    """Pick ``k`` diverse candidates with energy ``<= bound`` (greedy, lowest first), or None.

    Candidates of a block :class:`Instance` are first moved to their plateau representatives
    (:func:`canonical_plateau`), as the proof rule requires."""
    s = np.atleast_2d(np.asarray(candidate_spins)).astype(np.int64)
    if isinstance(instance, Instance) and s.size:
        s = canonical_plateau(instance, s)
    if s.size == 0:
        return None
    energies: npt.NDArray[Any]
    if isinstance(instance, IsingModel):
        energies = instance.energies(s)
    else:
        energies = instance_energies(instance, s)
    keep = np.flatnonzero(energies <= bound)
    chosen = greedy_diverse_selection(energies[keep], s[keep], k, d_min)
    if len(chosen) < k:
        return None
    return WorkProof(tuple(sorted(pack_spins(s[keep][chosen]))))


def lead_proofs(instance: Instance, candidate_spins: npt.ArrayLike, k: int, d_min: int,
                bound: int) -> list[tuple[bytes, WorkProof]]:
    """Every ticket these candidates can draw: ``(lead, proof)`` per valid vector that heads a
    proof, lowest energy first (the first is :func:`make_proof`'s proof).

    Candidates are canonicalized and deduplicated; for each one under the bound, in (energy,
    bytes) order, the greedy selection among it and the vectors after it picks the partners."""
    s = np.atleast_2d(np.asarray(candidate_spins)).astype(np.int64)
    if s.size == 0:
        return []
    s = canonical_plateau(instance, s)
    energies = instance_energies(instance, s)
    keep = np.flatnonzero(energies <= bound)
    s, energies = s[keep], energies[keep]
    packed = pack_spins(s) if len(s) else ()
    first: dict[bytes, int] = {}
    for i in range(len(s)):
        first.setdefault(packed[i], i)
    unique = sorted(first.values(), key=lambda i: (int(energies[i]), packed[i]))
    out: list[tuple[bytes, WorkProof]] = []
    for pos, lead in enumerate(unique):
        rest = unique[pos:]
        chosen = greedy_diverse_selection(energies[rest], s[rest], k, d_min)
        if len(chosen) == k:
            out.append((packed[lead],
                        WorkProof(tuple(sorted(packed[rest[c]] for c in chosen)))))
    return out

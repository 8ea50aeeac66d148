"""The one problem form: a frozen Ising model.

An ``IsingModel`` holds linear fields ``h`` (one per variable), couplings ``J`` on index pairs
``i < j`` stored as an edge array in canonical (sorted, unique) order, and a constant ``offset``.
The energy of a spin vector ``s`` in {-1, +1}^n is

    E(s) = offset + sum_i h_i s_i + sum_{(i,j)} J_ij s_i s_j.

Arrays are read-only, so a model can be shared between threads, hashed and cached safely.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from poqw.errors import InvalidProblem

__all__ = ["CANONICAL_VERSION", "FloatArray", "IntArray", "IsingModel", "SpinArray"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
SpinArray = npt.NDArray[np.int8]

CANONICAL_VERSION = b"poqw/ising/v1"
MAX_VARIABLES = 1 << 24


def _readonly(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class IsingModel:
    """A frozen Ising model over variables ``0..n-1``.

    Build one with :meth:`from_dicts`, :meth:`from_arrays` or a generator in
    :mod:`poqw.problems`; the constructor validates and canonicalises its inputs.
    """

    h: FloatArray
    edges: IntArray
    J: FloatArray
    offset: float = 0.0
    _hash: bytes = field(default=b"", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        h = np.asarray(self.h, dtype=np.float64)
        if h.ndim != 1:
            raise InvalidProblem(f"h must be one-dimensional, got shape {h.shape}")
        n = h.shape[0]
        if n > MAX_VARIABLES:
            raise InvalidProblem(f"{n} variables is more than the limit of {MAX_VARIABLES}")
        edges = np.asarray(self.edges, dtype=np.int64)
        if edges.size == 0:
            edges = np.zeros((0, 2), dtype=np.int64)
        if edges.ndim != 2 or edges.shape[1] != 2:
            raise InvalidProblem(f"edges must have shape (m, 2), got {edges.shape}")
        J = np.asarray(self.J, dtype=np.float64).reshape(-1)
        if J.shape[0] != edges.shape[0]:
            raise InvalidProblem(f"{edges.shape[0]} edges but {J.shape[0]} couplings")
        if not np.all(np.isfinite(h)):
            bad = int(np.flatnonzero(~np.isfinite(h))[0])
            raise InvalidProblem(f"field h[{bad}] is {h[bad]}: fields must be finite")
        if not np.all(np.isfinite(J)):
            bad = int(np.flatnonzero(~np.isfinite(J))[0])
            i, j = edges[bad]
            raise InvalidProblem(f"coupling J[{i},{j}] is {J[bad]}: couplings must be finite")
        offset = float(self.offset)
        if not math.isfinite(offset):
            raise InvalidProblem(f"offset is {offset}: it must be finite")
        if edges.shape[0]:
            if int(edges.min()) < 0 or int(edges.max()) >= n:
                bad = int(np.flatnonzero((edges < 0).any(1) | (edges >= n).any(1))[0])
                raise InvalidProblem(
                    f"edge {tuple(int(x) for x in edges[bad])} is out of range for {n} variables"
                )
            loops = edges[:, 0] == edges[:, 1]
            if loops.any():
                v = int(edges[np.flatnonzero(loops)[0], 0])
                raise InvalidProblem(f"self-loop on variable {v}: a coupling needs two variables")
            edges = np.sort(edges, axis=1)
            order = np.lexsort((edges[:, 1], edges[:, 0]))
            edges, J = edges[order], J[order]
            dup = np.all(edges[1:] == edges[:-1], axis=1)
            if dup.any():
                i, j = edges[np.flatnonzero(dup)[0]]
                raise InvalidProblem(f"duplicate coupling between {i} and {j}")
        object.__setattr__(self, "h", _readonly(h))
        object.__setattr__(self, "edges", _readonly(edges))
        object.__setattr__(self, "J", _readonly(J))
        object.__setattr__(self, "offset", offset)

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_dicts(
        cls,
        h: Mapping[int, float] | Iterable[float],
        J: Mapping[tuple[int, int], float],
        offset: float = 0.0,
        num_variables: int | None = None,
    ) -> IsingModel:
        """Build from ``h`` (a mapping or a sequence) and ``J`` keyed by pairs.

        Couplings given as both ``(i, j)`` and ``(j, i)`` are summed; zero couplings are kept.
        """
        if isinstance(h, Mapping):
            keys = [int(k) for k in h]
            for k in keys:
                if k < 0:
                    raise InvalidProblem(f"variable {k} is negative")
            n_h = max(keys, default=-1) + 1
            h_items: list[tuple[int, float]] = [(int(k), float(v)) for k, v in h.items()]
        else:
            hv = [float(v) for v in h]
            n_h = len(hv)
            h_items = list(enumerate(hv))
        merged: dict[tuple[int, int], float] = {}
        for (a, b), w in J.items():
            a, b = int(a), int(b)
            if a == b:
                raise InvalidProblem(f"self-loop on variable {a}: a coupling needs two variables")
            if a < 0 or b < 0:
                raise InvalidProblem(f"edge ({a}, {b}) has a negative variable index")
            key = (a, b) if a < b else (b, a)
            merged[key] = merged.get(key, 0.0) + float(w)
        n_j = max((b for _, b in merged), default=-1) + 1
        n = max(n_h, n_j) if num_variables is None else int(num_variables)
        if n < max(n_h, n_j):
            raise InvalidProblem(f"num_variables={n} but indices reach {max(n_h, n_j) - 1}")
        hv_arr = np.zeros(n, dtype=np.float64)
        for k, v in h_items:
            hv_arr[k] += v
        edges = np.array(list(merged), dtype=np.int64).reshape(-1, 2)
        return cls(hv_arr, edges, np.array(list(merged.values()), dtype=np.float64), offset)

    @classmethod
    def from_arrays(
        cls, h: npt.ArrayLike, edges: npt.ArrayLike, J: npt.ArrayLike, offset: float = 0.0
    ) -> IsingModel:
        """Build from arrays (validated; duplicates rejected)."""
        return cls(np.asarray(h), np.asarray(edges), np.asarray(J), offset)

    @classmethod
    def from_bqm(cls, bqm: Any) -> IsingModel:
        """Build from a dimod ``BinaryQuadraticModel`` (converted to SPIN if needed).

        Variables must be the integers ``0..n-1``; relabel others first
        (``bqm.relabel_variables_as_integers()``).
        """
        import dimod

        if bqm.vartype is not dimod.SPIN:
            bqm = bqm.change_vartype(dimod.SPIN, inplace=False)
        labels = list(bqm.variables)
        n = len(labels)
        if set(labels) != set(range(n)):
            raise InvalidProblem(
                "BQM variables must be the integers 0..n-1; "
                "use bqm.relabel_variables_as_integers() first"
            )
        lin, quad, off = bqm.to_ising()
        return cls.from_dicts({int(k): v for k, v in lin.items()},
                              {(int(a), int(b)): w for (a, b), w in quad.items()},
                              offset=off, num_variables=n)

    def to_bqm(self) -> Any:
        """A dimod ``BinaryQuadraticModel`` in SPIN form, variables 0..n-1 in order.

        Built from the arrays, so there is no per-term Python loop.
        """
        import dimod

        return dimod.BinaryQuadraticModel.from_numpy_vectors(
            self.h, (self.edges[:, 0], self.edges[:, 1], self.J), self.offset, dimod.SPIN)

    # ---- properties ---------------------------------------------------------------------

    @property
    def num_variables(self) -> int:
        return int(self.h.shape[0])

    @property
    def num_interactions(self) -> int:
        return int(self.edges.shape[0])

    @property
    def is_integer(self) -> bool:
        """True when every field, coupling and the offset is an integer."""
        return bool(
            np.all(self.h == np.round(self.h))
            and np.all(self.J == np.round(self.J))
            and self.offset == round(self.offset)
        )

    def degrees(self) -> IntArray:
        """Number of couplings on each variable."""
        return np.bincount(self.edges.reshape(-1), minlength=self.num_variables).astype(np.int64)

    def adjacency(self) -> Any:
        """Symmetric CSR matrix of the couplings (scipy.sparse), zero diagonal."""
        import scipy.sparse as sp

        n = self.num_variables
        rows = np.concatenate([self.edges[:, 0], self.edges[:, 1]])
        cols = np.concatenate([self.edges[:, 1], self.edges[:, 0]])
        data = np.concatenate([self.J, self.J])
        return sp.csr_matrix((data, (rows, cols)), shape=(n, n))

    # ---- energies -----------------------------------------------------------------------

    def energies(self, spins: npt.ArrayLike) -> FloatArray:
        """Energies of a batch of spin vectors: ``spins`` is (shots, n) or (n,) of +-1."""
        s = np.asarray(spins)
        single = s.ndim == 1
        s2 = np.atleast_2d(s)
        if s2.ndim != 2 or s2.shape[1] != self.num_variables:
            raise InvalidProblem(
                f"spins must have shape (shots, {self.num_variables}), got {s.shape}"
            )
        sf = s2.astype(np.float64, copy=False)
        if not np.all(np.abs(sf) == 1.0):
            raise InvalidProblem("spins must be +1 or -1")
        e = sf @ self.h + self.offset
        if self.num_interactions:
            e += (sf[:, self.edges[:, 0]] * sf[:, self.edges[:, 1]]) @ self.J
        return e[0:1] if single else e  # type: ignore[no-any-return]

    def energy(self, spins: npt.ArrayLike) -> float:
        """Energy of one spin vector."""
        return float(self.energies(np.asarray(spins).reshape(1, -1))[0])

    def local_fields(self, spins: npt.ArrayLike) -> FloatArray:
        """Effective field on each variable: ``h_i + sum_j J_ij s_j`` for a (shots, n) batch."""
        s = np.atleast_2d(np.asarray(spins, dtype=np.float64))
        f: FloatArray = np.asarray(self.adjacency() @ s.T).T + self.h
        return f

    # ---- identity -----------------------------------------------------------------------

    def canonical_bytes(self) -> bytes:
        """A byte string that identifies the model exactly (independent of input order).

        Layout: ``b"poqw/ising/v1"``, n and m as big-endian u32, the offset, each h_i, then each
        (i, j, J_ij) in sorted order; indices as big-endian u32, reals as IEEE-754 big-endian
        binary64 (``-0.0`` written as ``0.0``).
        """
        n, m = self.num_variables, self.num_interactions
        parts = [CANONICAL_VERSION, struct.pack(">II", n, m), struct.pack(">d", self.offset + 0.0)]
        parts.append((self.h + 0.0).astype(">f8").tobytes())
        rec = np.zeros(m, dtype=[("i", ">u4"), ("j", ">u4"), ("w", ">f8")])
        rec["i"], rec["j"], rec["w"] = self.edges[:, 0], self.edges[:, 1], self.J + 0.0
        parts.append(rec.tobytes())
        return b"".join(parts)

    def content_hash(self) -> bytes:
        """SHA-256 of the canonical bytes, with domain separation (32 bytes)."""
        if not self._hash:
            object.__setattr__(
                self, "_hash", hashlib.sha256(b"poqw/ising-hash/v1\x00" + self.canonical_bytes())
                .digest()
            )
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IsingModel):
            return NotImplemented
        return self.canonical_bytes() == other.canonical_bytes()

    def __hash__(self) -> int:
        return int.from_bytes(self.content_hash()[:8], "big")

    def __repr__(self) -> str:
        return (f"IsingModel(num_variables={self.num_variables}, "
                f"num_interactions={self.num_interactions}, offset={self.offset})")

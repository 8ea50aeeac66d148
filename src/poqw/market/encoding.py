"""The market contract's calldata form of an Ising problem, its spins and its commitments.

On chain a problem on n <= 1024 spins is ``fields`` (n int8 bytes, h_i in [-127, 127]) and
``couplings`` (3 bytes each: the big-endian word ``(i << 14) | (j << 4) | (J & 15)``, J in
[-7, 7]); spins are ceil(n / 8) bytes, bit i % 8 of byte i // 8 set meaning -1. A poqw model
with fractional terms (MaxCut's J = w / 2) is scaled by the smallest integer that makes every
term integral; the chain's energy is then ``scale * (E - offset)``.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from poqw.errors import InvalidProblem
from poqw.problems import IsingModel

__all__ = ["MAX_COUPLINGS", "MAX_SCALE", "MAX_VARIABLES", "ChainProblem", "commitment_digest",
           "decode_problem", "encode_problem", "new_salt", "pack_spins", "unpack_spins"]

MAX_VARIABLES = 1024
MAX_COUPLINGS = 65_536
MAX_FIELD, MAX_COUPLING = 127, 7
MAX_SCALE = 64
_TOL = 1e-9


@dataclass(frozen=True)
class ChainProblem:
    """A problem as the market stores it, plus how its energies map back to the model's."""

    num_variables: int
    fields: bytes
    couplings: bytes
    scale: int = 1
    offset: float = 0.0

    def model(self) -> IsingModel:
        """The problem in chain units (integer terms, no offset): what a solver minimises."""
        return decode_problem(self.num_variables, self.fields, self.couplings)

    def chain_energy(self, spins: npt.ArrayLike) -> int:
        """The integer energy the contract computes for ``spins`` (+-1 values)."""
        return round(self.model().energy(np.asarray(spins)))

    def to_chain_target(self, model_energy: float) -> int:
        """The chain's target for "model energy at most ``model_energy``"."""
        return math.floor(self.scale * (model_energy - self.offset) + _TOL)

    def to_model_energy(self, chain_energy: int) -> float:
        """The model's energy of a solution whose chain energy is ``chain_energy``."""
        return chain_energy / self.scale + self.offset


def _scale_of(model: IsingModel) -> int:
    terms = np.concatenate([model.h, model.J])
    for scale in range(1, MAX_SCALE + 1):
        scaled = terms * scale
        if np.all(np.abs(scaled - np.round(scaled)) <= _TOL):
            return scale
    raise InvalidProblem(f"the market takes integer terms: no scale up to {MAX_SCALE} makes "
                         "every field and coupling of this model an integer")


def encode_problem(model: IsingModel) -> ChainProblem:
    """The calldata form of ``model``, or an :class:`InvalidProblem` naming the term that does
    not fit (too many variables or couplings, a field or coupling out of range once scaled)."""
    n, m = model.num_variables, model.num_interactions
    if not 1 <= n <= MAX_VARIABLES:
        raise InvalidProblem(f"the market takes 1 to {MAX_VARIABLES} variables, got {n}")
    if m > MAX_COUPLINGS:
        raise InvalidProblem(f"the market takes at most {MAX_COUPLINGS} couplings, got {m}")
    scale = _scale_of(model)
    h = np.round(model.h * scale).astype(np.int64)
    J = np.round(model.J * scale).astype(np.int64)
    bad = np.flatnonzero(np.abs(h) > MAX_FIELD)
    if bad.size:
        i = int(bad[0])
        raise InvalidProblem(f"field h[{i}] = {model.h[i]:g} (x{scale} = {h[i]}) is outside the "
                             f"market's range [-{MAX_FIELD}, {MAX_FIELD}]")
    bad = np.flatnonzero(np.abs(J) > MAX_COUPLING)
    if bad.size:
        k = int(bad[0])
        i, j = (int(v) for v in model.edges[k])
        raise InvalidProblem(f"coupling J[{i},{j}] = {model.J[k]:g} (x{scale} = {J[k]}) is "
                             f"outside the market's range [-{MAX_COUPLING}, {MAX_COUPLING}]")
    fields = h.astype(np.int8).tobytes()
    words = (model.edges[:, 0].astype(np.int64) << 14) | (model.edges[:, 1].astype(np.int64) << 4)
    words |= J & 15
    couplings = b"".join(int(w).to_bytes(3, "big") for w in words)
    return ChainProblem(n, fields, couplings, scale, float(model.offset))


def decode_problem(num_variables: int, fields: bytes, couplings: bytes) -> IsingModel:
    """The model (chain units) of calldata terms, checked as the contract checks them."""
    n = num_variables
    if not 1 <= n <= MAX_VARIABLES:
        raise InvalidProblem(f"a market problem has 1 to {MAX_VARIABLES} variables, got {n}")
    if len(fields) != n:
        raise InvalidProblem(f"fields are {len(fields)} bytes for {n} variables")
    if len(couplings) % 3:
        raise InvalidProblem(f"couplings are {len(couplings)} bytes, not whole 3-byte terms")
    h = np.frombuffer(fields, dtype=np.int8).astype(np.float64)
    raw = np.frombuffer(couplings, dtype=np.uint8).reshape(-1, 3).astype(np.int64)
    words = (raw[:, 0] << 16) | (raw[:, 1] << 8) | raw[:, 2]
    i, j = words >> 14, (words >> 4) & 0x3FF
    J = ((words & 15) ^ 8) - 8
    bad = np.flatnonzero((i >= n) | (j >= n) | (i == j) | (J == -8))
    if bad.size:
        k = int(bad[0])
        raise InvalidProblem(f"coupling {k} ({int(i[k])}, {int(j[k])}, {int(J[k])}) is not a "
                             f"valid term on {n} variables")
    couplings_map: dict[tuple[int, int], float] = {}
    for a, b, v in zip(i.tolist(), j.tolist(), J.tolist(), strict=True):
        key = (a, b) if a < b else (b, a)
        couplings_map[key] = couplings_map.get(key, 0.0) + float(v)
    return IsingModel.from_dicts(h.tolist(), couplings_map, num_variables=n)


def pack_spins(spins: npt.ArrayLike) -> bytes:
    """Bit-pack +-1 spins: bit i % 8 of byte i // 8 is set when spin i is -1."""
    s = np.asarray(spins).reshape(-1)
    if not np.all(np.abs(s) == 1):
        raise InvalidProblem("spins must be +1 or -1")
    return np.packbits((s < 0).astype(np.uint8), bitorder="little").tobytes()


def unpack_spins(packed: bytes, num_variables: int) -> npt.NDArray[np.int8]:
    """The +-1 spins of :func:`pack_spins`' bytes."""
    if len(packed) != (num_variables + 7) // 8:
        raise InvalidProblem(f"{len(packed)} bytes of spins for {num_variables} variables")
    bits = np.unpackbits(np.frombuffer(packed, dtype=np.uint8), bitorder="little")
    return (1 - 2 * bits[:num_variables].astype(np.int8)).astype(np.int8)


def new_salt() -> bytes:
    """A fresh 32-byte commitment salt from the operating system's generator."""
    return secrets.token_bytes(32)


def commitment_digest(problem_id: int, spins: bytes, salt: bytes, solver: str) -> bytes:
    """``keccak256(abi.encode(problemId, spins, salt, solver))``, what ``commit`` takes."""
    return keccak(abi_encode(["uint256", "bytes", "bytes32", "address"],
                             [problem_id, spins, salt, solver]))

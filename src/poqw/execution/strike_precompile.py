"""The strike precompile: the PoQW chain re-runs one small QAOA strike inside the EVM.

At :data:`STRIKE_PRECOMPILE_ADDRESS` (0x...504f5157), active from genesis on every PoQW chain, a
call re-runs a verifiable strike with :class:`poqw.compute.exact_strike.ExactStrike` (integer
arithmetic only, so every node returns the same bytes) and answers the canonical basis index of
the shots it was asked about, each with an "ambiguous" flag. Input, all big-endian::

    u16 model_len | model canonical bytes | u16 spec_len | spec bytes | u16 count | count x u32

(the model is ``IsingModel.canonical_bytes()``, hashed by the precompile and compared with the
spec's model hash; the spec is ``StrikeSpec.to_bytes()``, angles as IEEE-754 binary64 bit
patterns that are converted to 2**-60 fixed point by exact integer rules; the u32s are shot
numbers). Output: the 32-byte samples digest of all canonical shots, a word counting the
ambiguous shots, then one word per asked shot: ``ambiguous << 32 | index``. Gas is charged
before any simulation from the sizes alone; a malformed or oversized input is an ordinary
failed call (all gas spent), never an exception in the node.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from poqw.compute.exact_strike import MAX_ENERGY_SPREAD, ExactStrike, strike_work
from poqw.compute.fixed_point import MAX_EXACT_QUBITS
from poqw.compute.strike_spec import StrikeSpec, samples_digest
from poqw.errors import InvalidProblem, InvalidStrikeCall, JobRejected
from poqw.problems import IsingModel
from poqw.problems.model import CANONICAL_VERSION

__all__ = [
    "GAS_PER_WORK",
    "MAX_ASKED_SHOTS",
    "MAX_INPUT_BYTES",
    "STRIKE_BASE_GAS",
    "STRIKE_PRECOMPILE_ADDRESS",
    "StrikeAnswer",
    "StrikeCall",
    "decode_strike_answer",
    "decode_strike_call",
    "encode_strike_call",
    "run_strike_call",
    "strike_call_gas",
    "strike_precompile",
]

#: "PoQW" in ASCII: far from Ethereum's precompiles (0x01..0x11) and from 0x0100, which
#: RIP-7212 and EIP-7951 give to P256VERIFY on other chains.
STRIKE_PRECOMPILE_ADDRESS = (0x504F5157).to_bytes(20, "big")
#: The largest input: a 20-variable model with every coupling is 3,069 bytes.
MAX_INPUT_BYTES = 8192
MAX_ASKED_SHOTS = 256
#: Decoding, hashing the model and spec, and drawing the uniforms.
STRIKE_BASE_GAS = 30_000
#: Gas per unit of :func:`poqw.compute.exact_strike.strike_work` (about one amplitude update).
#: bench/bench_strike_precompile.py measured 19-41 ns a unit at n = 14..20 (numba kernel, 2-core
#: EPYC under load): one gas a unit charges 25-53 Mgas per second of re-run, dozens of times the
#: gas per second of py-evm's own opcodes there, and one n=20 depth-1 re-run fits a 30M-gas block.
GAS_PER_WORK = 1
_MODEL_HASH_PREFIX = b"poqw/ising-hash/v1\x00"
_MODEL_HEAD = struct.Struct(">II")


@dataclass(frozen=True)
class StrikeCall:
    """A decoded call: the model, the spec and the shot numbers asked about."""

    model: IsingModel
    spec: StrikeSpec
    asked: tuple[int, ...]


@dataclass(frozen=True)
class StrikeAnswer:
    """A decoded answer: the digest of all canonical shots, how many were ambiguous, and
    (index, ambiguous) for each asked shot."""

    samples_digest: bytes
    ambiguous_count: int
    shots: tuple[tuple[int, bool], ...]


def encode_strike_call(model: IsingModel, spec: StrikeSpec, asked: Sequence[int]) -> bytes:
    """The precompile's input for ``asked`` shot numbers of ``spec`` over ``model``."""
    model_bytes, spec_bytes = model.canonical_bytes(), spec.to_bytes()
    return (struct.pack(">H", len(model_bytes)) + model_bytes
            + struct.pack(">H", len(spec_bytes)) + spec_bytes
            + struct.pack(f">H{len(asked)}I", len(asked), *asked))


def _take(data: bytes, at: int, size: int, what: str) -> bytes:
    if at + size > len(data):
        raise InvalidStrikeCall(f"the strike call ends inside its {what}")
    return data[at:at + size]


def decode_model(data: bytes) -> IsingModel:
    """An :class:`IsingModel` from its canonical bytes (sizes checked before reading)."""
    head = len(CANONICAL_VERSION)
    if not data.startswith(CANONICAL_VERSION) or len(data) < head + _MODEL_HEAD.size + 8:
        raise InvalidStrikeCall("the model is not canonical Ising bytes (poqw/ising/v1)")
    n, m = _MODEL_HEAD.unpack_from(data, head)
    if not 1 <= n <= MAX_EXACT_QUBITS or m > n * (n - 1) // 2:
        raise InvalidStrikeCall(f"the strike precompile takes 1..{MAX_EXACT_QUBITS} variables "
                                f"and at most n(n-1)/2 couplings, got n={n}, m={m}")
    want = head + _MODEL_HEAD.size + 8 + 8 * n + 16 * m
    if len(data) != want:
        raise InvalidStrikeCall(f"a model of {n} variables and {m} couplings is {want} bytes, "
                                f"got {len(data)}")
    at = head + _MODEL_HEAD.size
    (offset,) = struct.unpack_from(">d", data, at)
    h = np.frombuffer(data, dtype=">f8", count=n, offset=at + 8).astype(np.float64)
    rec = np.frombuffer(data, dtype=[("i", ">u4"), ("j", ">u4"), ("w", ">f8")], count=m,
                        offset=at + 8 + 8 * n)
    edges = np.stack([rec["i"], rec["j"]], axis=1).astype(np.int64).reshape(-1, 2)
    try:
        model = IsingModel.from_arrays(h, edges, rec["w"].astype(np.float64), offset)
    except (InvalidProblem, ValueError) as exc:
        raise InvalidStrikeCall(f"the model does not decode: {exc}") from exc
    if model.canonical_bytes() != data:
        raise InvalidStrikeCall("the model bytes are not in canonical order")
    return model


def decode_strike_call(data: bytes) -> StrikeCall:
    """Decode and check an input; raise :class:`InvalidStrikeCall` naming what is wrong."""
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidStrikeCall(f"a strike call is at most {MAX_INPUT_BYTES} bytes, got "
                                f"{len(data)}")
    at = 0
    parts = []
    for what in ("model", "spec"):
        (size,) = struct.unpack(">H", _take(data, at, 2, f"{what} length"))
        parts.append(_take(data, at + 2, size, what))
        at += 2 + size
    (count,) = struct.unpack(">H", _take(data, at, 2, "shot count"))
    if not 1 <= count <= MAX_ASKED_SHOTS:
        raise InvalidStrikeCall(f"ask about 1..{MAX_ASKED_SHOTS} shots, got {count}")
    if len(data) != at + 2 + 4 * count:
        raise InvalidStrikeCall(f"{count} shot numbers take {4 * count} bytes, the call has "
                                f"{len(data) - at - 2} left")
    asked = struct.unpack_from(f">{count}I", data, at + 2)
    try:
        spec = StrikeSpec.from_bytes(parts[1])
    except JobRejected as exc:
        raise InvalidStrikeCall(f"the spec does not decode: {exc}") from exc
    if hashlib.sha256(_MODEL_HASH_PREFIX + parts[0]).digest() != spec.model_hash:
        raise InvalidStrikeCall("the model's hash is not the spec's model hash")
    if max(asked) >= spec.shots:
        raise InvalidStrikeCall(f"shot {max(asked)} asked of a strike of {spec.shots} shots")
    return StrikeCall(decode_model(parts[0]), spec, tuple(asked))


def _spread_bound(model: IsingModel) -> int:
    """An upper bound of 2 * (E_max - E_min) known without the 2**n levels."""
    bound = float(np.abs(model.h).sum() + np.abs(model.J).sum()) * 4
    if not bound <= MAX_ENERGY_SPREAD:
        raise InvalidStrikeCall(f"the model's weights spread its energies over more than "
                                f"{MAX_ENERGY_SPREAD // 2}")
    return int(bound)


def strike_call_gas(call: StrikeCall) -> int:
    """The gas of a decoded call, from its sizes alone (charged before the re-run)."""
    n = call.model.num_variables
    work = strike_work(n, n + call.model.num_interactions, call.spec.depth,
                       _spread_bound(call.model), call.spec.shots)
    return STRIKE_BASE_GAS + GAS_PER_WORK * work


def run_strike_call(call: StrikeCall) -> bytes:
    """The precompile's output for a decoded (and paid for) call."""
    try:
        draws = ExactStrike(call.model).draws(call.spec)
    except JobRejected as exc:
        raise InvalidStrikeCall(f"the strike cannot be re-run: {exc}") from exc
    words = [(int(draws.ambiguous[k]) << 32 | int(draws.indices[k])).to_bytes(32, "big")
             for k in call.asked]
    return (samples_digest(draws.indices) + int(draws.ambiguous.sum()).to_bytes(32, "big")
            + b"".join(words))


def decode_strike_answer(output: bytes) -> StrikeAnswer:
    if len(output) < 64 or len(output) % 32:
        raise InvalidStrikeCall(f"a strike answer is 64 + 32k bytes, got {len(output)}")
    shots = []
    for at in range(64, len(output), 32):
        word = int.from_bytes(output[at:at + 32], "big")
        shots.append((word & 0xFFFFFFFF, bool(word >> 32)))
    return StrikeAnswer(output[:32], int.from_bytes(output[32:64], "big"), tuple(shots))


def strike_precompile(computation: Any) -> Any:
    """py-evm adapter: decode, charge gas, re-run. Any refusal is a VMError (a failed call that
    spends its gas), so a hostile input cannot stop the node."""
    from eth.exceptions import VMError

    data = bytes(computation.msg.data)
    computation.consume_gas(STRIKE_BASE_GAS, reason="strike precompile")
    try:
        call = decode_strike_call(data)
        gas = strike_call_gas(call)
    except InvalidStrikeCall as exc:
        raise VMError(f"strike precompile: {exc}") from exc
    computation.consume_gas(gas - STRIKE_BASE_GAS, reason="strike precompile re-run")
    try:
        computation.output = run_strike_call(call)
    except InvalidStrikeCall as exc:
        raise VMError(f"strike precompile: {exc}") from exc
    return computation

"""Capability reports: what a node can do, measured here, signed with its node key, size-limited.

:func:`measure_capability` counts cores and memory, lists CUDA GPUs (name, memory), says whether
a D-Wave token or the mock is configured (never the token), and times two kernels: one QAOA
layer of a 20-qubit state vector and the CPU annealer's spin-flip attempts per second on the
genesis graph. A :class:`Capability` encodes as one RLP list of typed fields; a
:class:`SignedCapability` adds the node id (compressed secp256k1) and its signature over the
domain-separated hash, and :func:`decode_capability` checks the size before anything else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from poqw.crypto.ecdsa import EcdsaPrivateKey, EcdsaPublicKey, ecdsa_verify
from poqw.crypto.hashing import hash32
from poqw.encoding import rlp
from poqw.errors import DecodeError

__all__ = ["MAX_CAPABILITY_BYTES", "Capability", "GpuInfo", "SignedCapability",
           "decode_capability", "measure_capability", "sign_capability"]

MAX_CAPABILITY_BYTES = 2048
MAX_GPUS = 16
MAX_NAME_BYTES = 64
_DOMAIN = b"poqw/capability/v1"
QPU_KINDS = ("none", "mock", "d-wave")


@dataclass(frozen=True)
class GpuInfo:
    name: str
    memory_bytes: int


@dataclass(frozen=True)
class Capability:
    """A node's measured hardware; throughput figures are 0 where not measured."""

    chain_id: int
    measured_at: int  # unix seconds (passed in)
    cores: int
    memory_bytes: int
    gpus: tuple[GpuInfo, ...]
    qpu: str  # one of QPU_KINDS
    statevector_layer_ns: int  # one QAOA layer, 20 qubits, fast kernel
    anneal_flips_per_s: int  # CPU annealer, genesis graph
    gpu_flips_per_s: int = 0

    def encode(self) -> bytes:
        return rlp.encode(self._items())

    def _items(self) -> list[Any]:
        return [_uint(self.chain_id), _uint(self.measured_at), _uint(self.cores),
                _uint(self.memory_bytes),
                [[g.name.encode()[:MAX_NAME_BYTES], _uint(g.memory_bytes)]
                 for g in self.gpus[:MAX_GPUS]],
                self.qpu.encode(), _uint(self.statevector_layer_ns),
                _uint(self.anneal_flips_per_s), _uint(self.gpu_flips_per_s)]


@dataclass(frozen=True)
class SignedCapability:
    capability: Capability
    node_id: bytes  # 33-byte compressed public key
    signature: bytes

    def encode(self) -> bytes:
        return rlp.encode([rlp.encode(self.capability._items()), self.node_id, self.signature])


def _uint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"a capability field cannot be negative: {value}")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _digest(body: bytes) -> bytes:
    return hash32(_DOMAIN, body)


def sign_capability(capability: Capability, key: EcdsaPrivateKey) -> SignedCapability:
    body = capability.encode()
    if len(body) > MAX_CAPABILITY_BYTES - 200:
        raise ValueError(f"capability record of {len(body)} bytes is too large")
    return SignedCapability(capability, key.public_key().compressed, key.sign(_digest(body)))


_UINT = rlp.Uint(16)
_GPU = rlp.Fields((("name", rlp.Bytes(MAX_NAME_BYTES)), ("memory", _UINT)))
_BODY = rlp.Fields((
    ("chain_id", _UINT), ("measured_at", _UINT), ("cores", _UINT), ("memory", _UINT),
    ("gpus", rlp.ListOf(_GPU, MAX_GPUS, "GPUs")),
    ("qpu", rlp.Bytes(16)), ("statevector_layer_ns", _UINT), ("anneal_flips_per_s", _UINT),
    ("gpu_flips_per_s", _UINT)))
_SIGNED = rlp.Fields((("body", rlp.Bytes(MAX_CAPABILITY_BYTES)), ("node_id", rlp.Bytes(33, 33)),
                      ("signature", rlp.Bytes(65, 65))))


def decode_capability(data: bytes) -> SignedCapability:
    """A signed capability record, checked: size first, then shape, then the signature.
    ``DecodeError`` for malformed bytes, ``CryptoError`` for a bad signature."""
    if len(data) > MAX_CAPABILITY_BYTES:
        raise DecodeError(f"capability record of {len(data)} bytes is over "
                          f"{MAX_CAPABILITY_BYTES}")
    body, node_id, signature = rlp.decode(bytes(data), _SIGNED, "capability record")
    fields = rlp.decode(body, _BODY, "capability")
    gpus = []
    for name, memory in fields[4]:
        try:
            gpus.append(GpuInfo(name.decode(), int.from_bytes(memory, "big")))
        except UnicodeDecodeError:
            raise DecodeError("capability GPU name is not UTF-8") from None
    qpu = fields[5].decode(errors="replace")
    if qpu not in QPU_KINDS:
        raise DecodeError(f"capability qpu must be one of {QPU_KINDS}, got {qpu!r}")
    number = [int.from_bytes(fields[i], "big") for i in (0, 1, 2, 3, 6, 7, 8)]
    capability = Capability(number[0], number[1], number[2], number[3], tuple(gpus), qpu,
                            number[4], number[5], number[6])
    if capability.encode() != body:
        raise DecodeError("capability record is not in canonical form")
    ecdsa_verify(EcdsaPublicKey(node_id), _digest(body), signature)
    return SignedCapability(capability, node_id, signature)


def _memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def _gpus() -> tuple[GpuInfo, ...]:
    from poqw.samplers.gpu_annealing import gpu_status

    status = gpu_status()
    if not status.available:
        return ()
    from numba import cuda

    out = []
    for index, name in enumerate(status.devices[:MAX_GPUS]):
        try:
            with cuda.gpus[index]:
                total = int(cuda.current_context().get_memory_info()[1])
        except Exception:  # a device that cannot be queried still counts, memory unknown
            total = 0
        out.append(GpuInfo(name, total))
    return tuple(out)


def _time_statevector_layer() -> int:
    from poqw.problems import random_maxcut
    from poqw.sim.statevector import StateVectorQAOA

    engine = StateVectorQAOA(random_maxcut(3, 20, seed=1), kernel="fast", threads=1)
    engine.expectation([0.3], [0.2])  # compile
    start = time.perf_counter_ns()
    engine.expectation([0.3], [0.2])
    return time.perf_counter_ns() - start


def _time_annealer(edges: np.ndarray, num_nodes: int) -> int:
    from poqw.chain.instance import Instance
    from poqw.chain.types import Hash32
    from poqw.node.miner import make_solver

    rng = np.random.default_rng(0)
    instance = Instance(Hash32(bytes(32)), rng.integers(-1, 2, num_nodes),
                        rng.choice([-1, 1], len(edges)), edges)
    solve = make_solver(num_reads=64, num_sweeps=16)
    solve(instance, 0)
    start = time.perf_counter()
    solve(instance, 1)
    elapsed = time.perf_counter() - start
    return int(64 * 16 * num_nodes / elapsed) if elapsed > 0 else 0


def measure_capability(chain_id: int, now: int, edges: np.ndarray, num_nodes: int, *,
                       qpu: str = "none",
                       timers: Mapping[str, Callable[[], int]] | None = None) -> Capability:
    """Measure this machine (``timers`` may replace the two throughput measurements)."""
    if qpu not in QPU_KINDS:
        raise ValueError(f"qpu must be one of {QPU_KINDS}")
    timing = dict(timers or {})
    layer = timing.get("statevector", _time_statevector_layer)()
    flips = timing.get("anneal", lambda: _time_annealer(edges, num_nodes))()
    return Capability(chain_id, now, os.cpu_count() or 1, _memory_bytes(), _gpus(), qpu,
                      layer, flips)

"""Compiled state-vector kernels for QAOA: fused, cache-blocked, optionally multithreaded.

One QAOA layer is the cost phase ``exp(-i gamma E(x))`` followed by ``exp(-i beta X)`` on every
qubit. Done naively that is n + 1 sweeps over the whole vector. Here it is about two: pass A
walks blocks of ``2**low`` contiguous amplitudes (they stay in L2) applying the phase fused with
the mixers of qubits 0-2 (eight amplitudes in registers), then qubits ``3..low-1`` three at a
time (radix-8 butterflies); pass B walks tiles that hold, for a few contiguous low indices,
every combination of up to ``group`` higher qubits, and applies those mixers while the tile is
in cache. Indices are unsigned so LLVM vectorises the loops. Each kernel is compiled twice,
serial and with ``numba.prange``; the engine picks one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import prange
from numba import uint64 as u64

__all__ = [
    "KERNELS_PARALLEL",
    "KERNELS_SERIAL",
    "LOW_QUBITS",
    "MAX_LOW_QUBITS",
    "TILE_GROUP",
    "TILE_WIDTH",
    "apply_layers",
]

LOW_QUBITS = 13  # pass A block: at least 2**13 amplitudes = 128 KiB, resident in L2
MAX_LOW_QUBITS = 15  # grown up to 2**15 (512 KiB) when that saves a pass-B sweep
TILE_GROUP = 9  # pass B: up to 9 high qubits per sweep
TILE_WIDTH = 16  # pass B: contiguous amplitudes per tile row (256 bytes)
_U1, _U2, _U3, _U4, _U5, _U6, _U7, _U8 = (np.uint64(k) for k in range(1, 9))


@numba.njit(inline="always", fastmath=True, cache=True)
def _bf(a: complex, b: complex, c: float, s: float) -> tuple[complex, complex]:
    """exp(-i beta X) on the pair (a, b): (c a - i s b, c b - i s a)."""
    return (complex(c * a.real + s * b.imag, c * a.imag - s * b.real),
            complex(c * b.real + s * a.imag, c * b.imag - s * a.real))


@numba.njit(inline="always", fastmath=True, cache=True)
def _mix_at(psi: Any, i: Any, st: Any, width: int, c: float, s: float) -> None:
    """Mixers of ``width`` (1..3) qubits whose lowest has stride ``st``, on the amplitudes
    ``i + k * st`` (k < 2**width), held in registers between the butterflies. Indices are
    unsigned so numba emits no negative-index wraparound and LLVM can vectorise the callers."""
    if width == 3:
        a0, a1 = _bf(psi[i], psi[i + st], c, s)
        a2, a3 = _bf(psi[i + _U2 * st], psi[i + _U3 * st], c, s)
        a4, a5 = _bf(psi[i + _U4 * st], psi[i + _U5 * st], c, s)
        a6, a7 = _bf(psi[i + _U6 * st], psi[i + _U7 * st], c, s)
        a0, a2 = _bf(a0, a2, c, s)
        a1, a3 = _bf(a1, a3, c, s)
        a4, a6 = _bf(a4, a6, c, s)
        a5, a7 = _bf(a5, a7, c, s)
        psi[i], psi[i + _U4 * st] = _bf(a0, a4, c, s)
        psi[i + st], psi[i + _U5 * st] = _bf(a1, a5, c, s)
        psi[i + _U2 * st], psi[i + _U6 * st] = _bf(a2, a6, c, s)
        psi[i + _U3 * st], psi[i + _U7 * st] = _bf(a3, a7, c, s)
    elif width == 2:
        a0, a1 = _bf(psi[i], psi[i + st], c, s)
        a2, a3 = _bf(psi[i + _U2 * st], psi[i + _U3 * st], c, s)
        psi[i], psi[i + _U2 * st] = _bf(a0, a2, c, s)
        psi[i + st], psi[i + _U3 * st] = _bf(a1, a3, c, s)
    else:
        psi[i], psi[i + st] = _bf(psi[i], psi[i + st], c, s)


@numba.njit(inline="always", fastmath=True, cache=True)
def _phase_run(psi: Any, start: Any, stop: Any, lev: Any, table: Any, diag: Any, gamma: float,
               use_table: bool, init: bool, amp0: float) -> None:
    """Cost phase on psi[start:stop]: a table lookup by level, or exp(-i gamma E) directly."""
    if use_table:
        if init:
            for i in range(start, stop):
                psi[i] = amp0 * table[lev[i]]
        else:
            for i in range(start, stop):
                psi[i] = psi[i] * table[lev[i]]
    else:
        for i in range(start, stop):
            th = -gamma * diag[i]
            ph = complex(np.cos(th), np.sin(th))
            psi[i] = amp0 * ph if init else psi[i] * ph


def _pass_a(
    psi: Any, lev: Any, table: Any, diag: Any, gamma: float, c: float, s: float,
    low: int, init: bool, amp0: float,
) -> None:
    """Cost phase (table lookup when ``lev`` is non-empty) and mixers of qubits < low."""
    block = _U1 << u64(low)
    use_table = lev.shape[0] > 0
    for blk in prange(psi.shape[0] >> low):
        o = u64(blk) * block
        end = o + block
        first = 0
        if low >= 3:  # phase and the mixers of qubits 0-2 fused, eight amplitudes at a time
            first = 3
            for i in range(o, end, _U8):
                _phase_run(psi, i, i + _U8, lev, table, diag, gamma, use_table, init, amp0)
                _mix_at(psi, i, _U1, 3, c, s)
        else:
            _phase_run(psi, o, end, lev, table, diag, gamma, use_table, init, amp0)
        for q in range(first, low, 3):
            width = min(3, low - q)
            st = _U1 << u64(q)
            for base in range(o, end, st << u64(width)):
                for i in range(base, base + st):
                    _mix_at(psi, i, st, width, c, s)


def _pass_b(psi: Any, c: float, s: float, first: int, group: int, width: int) -> None:
    """Mixers of qubits first..first+group-1, tile by tile."""
    stride = _U1 << u64(first)
    w = min(u64(width), stride)
    chunks = stride // w
    rows = 1 << group
    top = u64(first + group)
    tiles = (psi.shape[0] >> (first + group)) * (int(chunks))
    for tile in prange(tiles):
        ut = u64(tile)
        origin = ((ut // chunks) << top) + (ut % chunks) * w
        for jj in range(0, group, 3):
            wq = min(3, group - jj)
            mask = ((1 << wq) - 1) << jj
            st = stride << u64(jj)
            for r in range(rows):
                if r & mask:
                    continue
                i0 = origin + u64(r) * stride
                for i in range(i0, i0 + w):
                    _mix_at(psi, i, st, wq, c, s)


def _expectation(psi: Any, lev: Any, values: Any, diag: Any) -> float:
    """<H>: energies from the level table when ``lev`` is non-empty, else from ``diag``."""
    total = 0.0
    use_table = lev.shape[0] > 0
    for i in prange(psi.shape[0]):
        a = psi[i]
        e = values[lev[i]] if use_table else diag[i]
        total += (a.real * a.real + a.imag * a.imag) * e
    return total


def _chunk_masses(psi: Any, lev: Any, values: Any, diag: Any, chunk: int, sums: Any) -> float:
    """Probability mass of each chunk of ``chunk`` amplitudes into ``sums``; returns <H>."""
    nchunks = sums.shape[0]
    energy = np.zeros(nchunks)
    use_table = lev.shape[0] > 0
    for k in prange(nchunks):
        acc = 0.0
        e = 0.0
        start = u64(k) * u64(chunk)
        for i in range(start, start + u64(chunk)):
            a = psi[i]
            p = a.real * a.real + a.imag * a.imag
            acc += p
            e += p * (values[lev[i]] if use_table else diag[i])
        sums[k] = acc
        energy[k] = e
    return float(energy.sum())


def _draw_indices(psi: Any, chunk_cdf: Any, u: Any, chunk: int, out: Any) -> None:
    """Inverse-CDF sampling in two levels: a chunk by binary search over chunk totals, then a
    linear scan inside it, so no cumulative array of the whole state is ever stored."""
    nchunks = chunk_cdf.shape[0]
    for r in range(u.shape[0]):
        k = min(np.searchsorted(chunk_cdf, u[r], side="right"), nchunks - 1)
        while k > 0 and chunk_cdf[k] == chunk_cdf[k - 1]:  # never land in an empty chunk
            k -= 1
        rest = u[r] - (chunk_cdf[k - 1] if k > 0 else 0.0)
        start = u64(k) * u64(chunk)
        stop = start + u64(chunk)
        pick = stop - u64(1)
        acc = 0.0
        for i in range(start, stop):
            a = psi[i]
            acc += a.real * a.real + a.imag * a.imag
            if acc > rest:
                pick = i
                break
        out[r] = pick


def _spins_from_indices(idx: Any, n: int, out: Any) -> None:
    for r in range(idx.shape[0]):
        x = idx[r]
        for j in range(n):
            out[r, j] = 1 - 2 * ((x >> j) & 1)


def _compile(parallel: bool) -> dict[str, Callable[..., Any]]:
    opts: dict[str, Any] = {"cache": True, "fastmath": True, "nogil": True}
    if parallel:
        opts["parallel"] = True
    return {
        "pass_a": numba.njit(**opts)(_pass_a),
        "pass_b": numba.njit(**opts)(_pass_b),
        "expectation": numba.njit(**opts)(_expectation),
        "chunk_masses": numba.njit(**opts)(_chunk_masses),
        "draw": numba.njit(cache=True, nogil=True)(_draw_indices),
        "spins": numba.njit(cache=True, nogil=True)(_spins_from_indices),
    }


KERNELS_SERIAL = _compile(parallel=False)
KERNELS_PARALLEL = _compile(parallel=True)


def apply_layers(
    kernels: dict[str, Callable[..., Any]], psi: Any, lev: Any, tables: list[Any], diag: Any,
    gammas: Any, betas: Any, n: int, init: bool = True,
) -> None:
    """Apply p QAOA layers in place; with ``init`` the input is taken to be |+>^n."""
    low = min(n, max(LOW_QUBITS, min(MAX_LOW_QUBITS, n - TILE_GROUP)))
    amp0 = 2.0 ** (-n / 2)
    for k in range(len(gammas)):
        c, s = float(np.cos(betas[k])), float(np.sin(betas[k]))
        first_init = init and k == 0
        kernels["pass_a"](psi, lev, tables[k], diag, float(gammas[k]), c, s, low, first_init,
                          amp0 if first_init else 1.0)
        q = low
        while q < n:
            g = min(TILE_GROUP, n - q)
            kernels["pass_b"](psi, c, s, q, g, TILE_WIDTH)
            q += g

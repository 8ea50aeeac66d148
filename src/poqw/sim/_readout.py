"""Compiled read-out of a state held as split real/imaginary buffers: <H>, probability mass per
chunk, and two-level inverse-CDF sampling (a chunk by binary search over chunk totals, then a
scan inside it), so no cumulative array of the whole state is ever stored. With ``reflect`` the
buffers are the first half of a spin-flip symmetric state whose second half is their mirror.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import prange
from numba import uint64 as u64

__all__ = ["compile_readout", "jit_options"]


def _expectation(re: Any, im: Any, lev: Any, values: Any, diag: Any) -> float:
    """sum |a|**2 E over the buffers: energies from the level table when ``lev`` is non-empty."""
    total = 0.0
    if lev.shape[0] > 0:
        for i in prange(re.shape[0]):
            total += (re[i] * re[i] + im[i] * im[i]) * values[lev[i]]
    else:
        for i in prange(re.shape[0]):
            total += (re[i] * re[i] + im[i] * im[i]) * diag[i]
    return total


def _chunk_masses(re: Any, im: Any, lev: Any, values: Any, diag: Any, chunk: int,
                  sums: Any) -> float:
    """Probability mass of each chunk of ``chunk`` amplitudes into ``sums``; returns
    sum |a|**2 E."""
    nchunks = sums.shape[0]
    energy = np.zeros(nchunks)
    use_table = lev.shape[0] > 0
    for k in prange(nchunks):
        acc = 0.0
        e = 0.0
        start = u64(k) * u64(chunk)
        for i in range(start, start + u64(chunk)):
            p = re[i] * re[i] + im[i] * im[i]
            acc += p
            e += p * (values[lev[i]] if use_table else diag[i])
        sums[k] = acc
        energy[k] = e
    return float(energy.sum())


def _draw_indices(re: Any, im: Any, chunk_cdf: Any, u: Any, chunk: int, reflect: bool,
                  out: Any) -> None:
    """Inverse-CDF sampling in two levels: a chunk by binary search over chunk totals, then a
    linear scan inside it, so no cumulative array of the whole state is ever stored. With
    ``reflect`` the buffers are the first half of a state whose second half is their mirror
    image, and ``u`` ranges over both halves' mass."""
    nchunks = chunk_cdf.shape[0]
    half = chunk_cdf[nchunks - 1]
    size = re.shape[0]
    for r in range(u.shape[0]):
        x = u[r]
        mirrored = reflect and x >= half
        if mirrored:  # second half, walked from its start == the first half from its end
            x = 2.0 * half - x
        k = min(np.searchsorted(chunk_cdf, x, side="right"), nchunks - 1)
        while k > 0 and chunk_cdf[k] == chunk_cdf[k - 1]:  # never land in an empty chunk
            k -= 1
        rest = x - (chunk_cdf[k - 1] if k > 0 else 0.0)
        start = u64(k) * u64(chunk)
        stop = start + u64(chunk)
        pick = stop - u64(1)
        acc = 0.0
        for i in range(start, stop):
            acc += re[i] * re[i] + im[i] * im[i]
            if acc > rest:
                pick = i
                break
        out[r] = 2 * size - 1 - np.int64(pick) if mirrored else np.int64(pick)


def _spins_from_indices(idx: Any, n: int, out: Any) -> None:
    for r in range(idx.shape[0]):
        x = idx[r]
        for j in range(n):
            out[r, j] = 1 - 2 * ((x >> j) & 1)


def jit_options(parallel: bool) -> dict[str, Any]:
    """``numba.njit`` options of the state-vector kernels (``parallel`` enables ``prange``)."""
    opts: dict[str, Any] = {"cache": True, "fastmath": True, "nogil": True}
    if parallel:
        opts["parallel"] = True
    return opts


def compile_readout(parallel: bool) -> dict[str, Callable[..., Any]]:
    """The read-out kernels, serial or with ``numba.prange`` over the state."""
    opts = jit_options(parallel)
    return {
        "expectation": numba.njit(**opts)(_expectation),
        "chunk_masses": numba.njit(**opts)(_chunk_masses),
        "draw": numba.njit(cache=True, nogil=True)(_draw_indices),
        "spins": numba.njit(cache=True, nogil=True)(_spins_from_indices),
    }

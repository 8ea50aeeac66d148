"""The CUDA kernel of :mod:`poqw.samplers.gpu_annealing`, imported on first use (numba.cuda).

It lives at module level because numba's CUDA simulator swaps the ``cuda`` name in a kernel's
module globals for its fake one; a kernel built inside a function would not run simulated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda  # the simulator replaces this name when NUMBA_ENABLE_CUDASIM=1

from poqw.samplers.colored_anneal import GOLDEN_GAMMA, MIX_1, MIX_2

__all__ = ["anneal_kernel"]

_ONE = np.uint64(1)
_S27, _S30, _S31, _S32, _S63 = (np.uint64(v) for v in (27, 30, 31, 32, 63))


@cuda.jit(device=True)  # type: ignore[untyped-decorator]
def _draw(key: Any, counter: Any) -> Any:
    """Draw ``counter`` of stream ``key`` (as :func:`colored_anneal.counter_draws`)."""
    z = key + (counter + _ONE) * GOLDEN_GAMMA
    z = (z ^ (z >> _S30)) * MIX_1
    z = (z ^ (z >> _S27)) * MIX_2
    return z ^ (z >> _S31)


@cuda.jit  # type: ignore[untyped-decorator]
def anneal_kernel(order: Any, row_ptr: Any, neighbors: Any, edge_index: Any, h: Any, J: Any,
                  keys: Any, reads_per_instance: Any, thresholds: Any, spins: Any) -> None:
    """Thread ``t`` anneals read ``t`` of instance ``t // reads_per_instance``: ``h`` (n, B),
    ``J`` (m, B), ``spins`` (n, T) int8, ``thresholds`` (sweeps, max_field + 1) int64."""
    t = cuda.grid(1)  # type: ignore[attr-defined]
    if t >= keys.shape[0]:
        return
    b = t // reads_per_instance
    key = keys[t]
    n = order.shape[0]
    for i in range(n):
        spins[i, t] = 1 if _draw(key, np.uint64(i)) >> _S63 else -1
    for sweep in range(thresholds.shape[0]):
        base = np.uint64((sweep + 1) * n)
        for p in range(n):
            i = order[p]
            field = np.int32(h[i, b])
            for e in range(row_ptr[i], row_ptr[i + 1]):
                field += J[edge_index[e], b] * spins[neighbors[e], t]
            rise = -spins[i, t] * field  # flipping spin i changes the energy by 2 * rise
            if rise <= 0 or (np.int64(_draw(key, base + np.uint64(i)) >> _S32)
                             < thresholds[sweep, rise]):
                spins[i, t] = -spins[i, t]

"""numba loops for the integer strike engine: the same limb formulas as the numpy path, in one
pass over the amplitudes per qubit instead of a dozen temporaries. Integer operations only
(arithmetic shifts, masks, products below 2**63), so the result is bit-identical to the numpy
path on every platform; tests compare the two."""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

LIMB = 30
MASK = (1 << LIMB) - 1

Words = npt.NDArray[np.int64]


@numba.njit(inline="always", cache=True)
def _fps(x1h: int, x1l: int, y1h: int, y1l: int, x2h: int, x2l: int, y2h: int,
         y2l: int) -> int:
    """floor((x1 * y1 + x2 * y2) / 2**60) from 30-bit limbs (see exact_strike)."""
    high = x1h * y1h + x2h * y2h
    middle = x1h * y1l + x1l * y1h + x2h * y2l + x2l * y2h
    low = x1l * y1l + x2l * y2l
    return high + ((middle + (low >> LIMB)) >> LIMB)  # type: ignore[no-any-return]


@numba.njit(cache=True)
def mix_all(re: Words, im: Words, n: int, c: int, s: int) -> None:  # pragma: no cover - jit
    """exp(-i beta X) on every qubit in order 0..n-1, in place."""
    ch, cl, sh, sl = c >> LIMB, c & MASK, s >> LIMB, s & MASK
    ns = -s
    nsh, nsl = ns >> LIMB, ns & MASK
    size = re.shape[0]
    for q in range(n):
        step = 1 << q
        for base in range(0, size, 2 * step):
            for a in range(base, base + step):
                b = a + step
                arh, arl = re[a] >> LIMB, re[a] & MASK
                brh, brl = re[b] >> LIMB, re[b] & MASK
                aih, ail = im[a] >> LIMB, im[a] & MASK
                bih, bil = im[b] >> LIMB, im[b] & MASK
                re[a] = _fps(ch, cl, arh, arl, sh, sl, bih, bil)
                im[a] = _fps(ch, cl, aih, ail, nsh, nsl, brh, brl)
                re[b] = _fps(ch, cl, brh, brl, sh, sl, aih, ail)
                im[b] = _fps(ch, cl, bih, bil, nsh, nsl, arh, arl)


@numba.njit(cache=True)
def phase(re: Words, im: Words, offsets: Words, table_re: Words,
          table_im: Words) -> None:  # pragma: no cover - jit
    """Amplitude x times table[offsets[x]], in place: (re, im)(pr + i pi), floored."""
    for x in range(re.shape[0]):
        pr, pi = table_re[offsets[x]], table_im[offsets[x]]
        prh, prl = pr >> LIMB, pr & MASK
        pih, pil = pi >> LIMB, pi & MASK
        npi = -pi
        npih, npil = npi >> LIMB, npi & MASK
        rh, rl = re[x] >> LIMB, re[x] & MASK
        ih, il = im[x] >> LIMB, im[x] & MASK
        re[x] = _fps(rh, rl, prh, prl, ih, il, npih, npil)
        im[x] = _fps(rh, rl, pih, pil, ih, il, prh, prl)

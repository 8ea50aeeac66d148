"""Compiled state-vector kernels for QAOA: split real/imaginary buffers, vectorised butterflies.

One QAOA layer is the cost phase ``exp(-i gamma E(x))`` then ``exp(-i beta X)`` on every qubit.
Each single-qubit mixer is written ``cos(beta) * (1 - i tan(beta) X)``: the scalar ``cos(beta)``
of every qubit is pulled out of the loops (folded into the next layer's phase table, or
returned as a global scale), so a butterfly is four fused multiply-adds on separate real and
imaginary arrays, which LLVM turns into AVX-512 code. Where ``|tan| > 1`` the mixer is written
``-i sin(beta) * X (1 + i cot(beta) X)`` instead and the butterfly stores its outputs swapped.
Pass A walks blocks of ``2**low`` amplitudes (resident in L2) applying the phase and the mixers
of qubits below ``low`` (and of up to three top qubits, taking the blocks that differ only in
those together); pass B walks tiles holding every combination of up to ``group`` middle qubits
for a few contiguous indices. With ``reflect`` the buffers hold only the half of a spin-flip
symmetric state with the top bit 0 (``psi(x) == psi(~x)``): the top qubit's mixer then pairs
``x`` with ``M - 1 - x``, done in pass A on a block and its mirror block, fused with the phase.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import prange
from numba import uint64 as u64

from poqw.sim._readout import compile_readout, jit_options

__all__ = [
    "KERNELS_PARALLEL",
    "KERNELS_SERIAL",
    "LOW_QUBITS",
    "MAX_LOW_QUBITS",
    "RESIDENT_QUBITS",
    "TILE_GROUP",
    "TILE_WIDTH",
    "apply_layers",
    "mixer_params",
]

LOW_QUBITS = 13  # pass A block: at least 2**13 amplitudes = 128 KiB, resident in L2
MAX_LOW_QUBITS = 14  # grown up to 2**14 (256 KiB) when that saves a pass-B sweep
RESIDENT_QUBITS = 15  # a state of up to 2**15 amplitudes (512 KiB) is one pass-A block
TILE_GROUP = 9  # pass B: up to 9 high qubits per sweep
TILE_WIDTH = 128  # pass B: contiguous amplitudes per tile row (1 KiB: fewer TLB misses)
_U1, _U2, _U3, _U4, _U5, _U6, _U7, _U8 = (np.uint64(k) for k in range(1, 9))


@numba.njit(cache=True)
def _mixer(beta: float, n: int) -> tuple[float, bool, float, float]:
    """Butterfly parameter ``t``, whether outputs are swapped, and the factor (real, imaginary)
    pulled out of the mixer ``exp(-i beta sum_j X_j)`` on ``n`` qubits."""
    c, s = np.cos(beta), np.sin(beta)
    if abs(c) >= abs(s):
        return s / c, False, c**n, 0.0
    mag = s**n  # (-i s)**n = s**n (-i)**n, and (-i)**n cycles through 1, -i, -1, i
    phase = n % 4
    if phase == 0:
        return -c / s, True, mag, 0.0
    if phase == 1:
        return -c / s, True, 0.0, -mag
    if phase == 2:
        return -c / s, True, -mag, 0.0
    return -c / s, True, 0.0, mag


def mixer_params(beta: float, n: int) -> tuple[float, bool, complex]:
    """``(t, swap, factor)``: ``exp(-i beta sum_j X_j) = factor * prod_j B_j`` where ``B_j``
    maps the pair (a, b) of qubit j to (a - i t b, b - i t a), then swaps the two if ``swap``."""
    t, swap, fr, fi = _mixer(float(beta), int(n))
    return float(t), bool(swap), complex(fr, fi)


@numba.njit(inline="always", fastmath=True, cache=True)
def _bf_values(re: Any, im: Any, i: Any, j: Any, ar: float, ai: float, br: float, bi: float,
               t: float, swap: bool) -> None:
    """(a, b) <- (a - i t b, b - i t a) on values a, b already in registers, stored at i and j
    (swapped with ``swap``)."""
    xr, xi = ar + t * bi, ai - t * br
    yr, yi = br + t * ai, bi - t * ar
    if swap:
        xr, yr = yr, xr
        xi, yi = yi, xi
    re[i], im[i], re[j], im[j] = xr, xi, yr, yi


@numba.njit(inline="always", fastmath=True, cache=True)
def _bf(re: Any, im: Any, i: Any, j: Any, t: float, swap: bool) -> None:
    """The butterfly of :func:`_bf_values` on amplitudes i and j in place."""
    _bf_values(re, im, i, j, re[i], im[i], re[j], im[j], t, swap)


@numba.njit(inline="always", fastmath=True, cache=True)
def _mix8(re: Any, im: Any, i: Any, st: Any, t: float, swap: bool) -> None:
    """Mixers of three qubits (strides st, 2 st, 4 st) on eight amplitudes held in registers;
    swapping at every level amounts to storing the eight results in reverse order."""
    s2, s3, s4 = _U2 * st, _U3 * st, _U4 * st
    s5, s6, s7 = _U5 * st, _U6 * st, _U7 * st
    r0, r1, r2, r3 = re[i], re[i + st], re[i + s2], re[i + s3]
    r4, r5, r6, r7 = re[i + s4], re[i + s5], re[i + s6], re[i + s7]
    m0, m1, m2, m3 = im[i], im[i + st], im[i + s2], im[i + s3]
    m4, m5, m6, m7 = im[i + s4], im[i + s5], im[i + s6], im[i + s7]
    r0, m0, r1, m1 = r0 + t * m1, m0 - t * r1, r1 + t * m0, m1 - t * r0
    r2, m2, r3, m3 = r2 + t * m3, m2 - t * r3, r3 + t * m2, m3 - t * r2
    r4, m4, r5, m5 = r4 + t * m5, m4 - t * r5, r5 + t * m4, m5 - t * r4
    r6, m6, r7, m7 = r6 + t * m7, m6 - t * r7, r7 + t * m6, m7 - t * r6
    r0, m0, r2, m2 = r0 + t * m2, m0 - t * r2, r2 + t * m0, m2 - t * r0
    r1, m1, r3, m3 = r1 + t * m3, m1 - t * r3, r3 + t * m1, m3 - t * r1
    r4, m4, r6, m6 = r4 + t * m6, m4 - t * r6, r6 + t * m4, m6 - t * r4
    r5, m5, r7, m7 = r5 + t * m7, m5 - t * r7, r7 + t * m5, m7 - t * r5
    r0, m0, r4, m4 = r0 + t * m4, m0 - t * r4, r4 + t * m0, m4 - t * r0
    r1, m1, r5, m5 = r1 + t * m5, m1 - t * r5, r5 + t * m1, m5 - t * r1
    r2, m2, r6, m6 = r2 + t * m6, m2 - t * r6, r6 + t * m2, m6 - t * r2
    r3, m3, r7, m7 = r3 + t * m7, m3 - t * r7, r7 + t * m3, m7 - t * r3
    if swap:
        r0, r1, r2, r3, r4, r5, r6, r7 = r7, r6, r5, r4, r3, r2, r1, r0
        m0, m1, m2, m3, m4, m5, m6, m7 = m7, m6, m5, m4, m3, m2, m1, m0
    re[i], re[i + st], re[i + s2], re[i + s3] = r0, r1, r2, r3
    re[i + s4], re[i + s5], re[i + s6], re[i + s7] = r4, r5, r6, r7
    im[i], im[i + st], im[i + s2], im[i + s3] = m0, m1, m2, m3
    im[i + s4], im[i + s5], im[i + s6], im[i + s7] = m4, m5, m6, m7


@numba.njit(inline="always", fastmath=True, cache=True)
def _mix_at(re: Any, im: Any, i: Any, st: Any, width: int, t: float, swap: bool) -> None:
    """Mixers of ``width`` (1..3) qubits whose lowest has stride ``st``, at amplitude ``i``."""
    if width == 3:
        _mix8(re, im, i, st, t, swap)
    elif width == 2:
        _bf(re, im, i, i + st, t, swap)
        _bf(re, im, i + _U2 * st, i + _U3 * st, t, swap)
        _bf(re, im, i, i + _U2 * st, t, swap)
        _bf(re, im, i + st, i + _U3 * st, t, swap)
    else:
        _bf(re, im, i, i + st, t, swap)


@numba.njit(inline="always", fastmath=True, cache=True)
def _phase_run(re: Any, im: Any, start: Any, stop: Any, lev: Any, tab_re: Any, tab_im: Any,
               diag: Any, gamma: float, pre_re: float, pre_im: float, init: bool) -> None:
    """Cost phase on [start, stop): a lookup in the (pre-scaled) level table, or
    ``pre * exp(-i gamma E)`` computed directly. With ``init`` the old amplitudes are ignored
    (the input is uniform and its amplitude is part of the table or of ``pre``)."""
    if lev.shape[0] > 0:
        if init:
            for i in range(start, stop):
                k = lev[i]
                re[i], im[i] = tab_re[k], tab_im[k]
        else:
            for i in range(start, stop):
                k = lev[i]
                pr, pi, ar, ai = tab_re[k], tab_im[k], re[i], im[i]
                re[i], im[i] = ar * pr - ai * pi, ar * pi + ai * pr
    else:
        for i in range(start, stop):
            th = -gamma * diag[i]
            cs, sn = np.cos(th), np.sin(th)
            pr, pi = pre_re * cs - pre_im * sn, pre_re * sn + pre_im * cs
            if init:
                re[i], im[i] = pr, pi
            else:
                ar, ai = re[i], im[i]
                re[i], im[i] = ar * pr - ai * pi, ar * pi + ai * pr


@numba.njit(inline="always", fastmath=True, cache=True)
def _phase_reflect_run(re: Any, im: Any, start: Any, stop: Any, top: Any, lev: Any, tab_re: Any,
                       tab_im: Any, init: bool, t: float, swap: bool) -> None:
    """Level-table phase on amplitudes i in [start, stop) and on their mirrors top - i, fused
    with the top qubit's butterfly between the two (one sweep instead of three)."""
    if init:
        for i in range(start, stop):
            j = top - i
            ki, kj = lev[i], lev[j]
            _bf_values(re, im, i, j, tab_re[ki], tab_im[ki], tab_re[kj], tab_im[kj], t, swap)
    else:
        for i in range(start, stop):
            j = top - i
            ki, kj = lev[i], lev[j]
            pr, pi, ar, ai = tab_re[ki], tab_im[ki], re[i], im[i]
            qr, qi, br, bi = tab_re[kj], tab_im[kj], re[j], im[j]
            _bf_values(re, im, i, j, ar * pr - ai * pi, ar * pi + ai * pr,
                        br * qr - bi * qi, br * qi + bi * qr, t, swap)


@numba.njit(inline="always", fastmath=True, cache=True)
def _phase_reflect_quad_run(re: Any, im: Any, start: Any, stop: Any, far: Any, top: Any,
                            lev: Any, tab_re: Any, tab_im: Any, init: bool, t: float,
                            swap: bool) -> None:
    """As ``_phase_reflect_run``, also fused with the mixer of the stored top qubit (stride
    ``far``): i, i + far and their mirrors form a closed quadruple, done in registers."""
    for i in range(start, stop):
        a, b = i, i + far
        c, d = top - i, top - i - far
        ka, kb, kc, kd = lev[a], lev[b], lev[c], lev[d]
        ar, ai = tab_re[ka], tab_im[ka]
        br, bi = tab_re[kb], tab_im[kb]
        cr, ci = tab_re[kc], tab_im[kc]
        dr, di = tab_re[kd], tab_im[kd]
        if not init:
            ar, ai = re[a] * ar - im[a] * ai, re[a] * ai + im[a] * ar
            br, bi = re[b] * br - im[b] * bi, re[b] * bi + im[b] * br
            cr, ci = re[c] * cr - im[c] * ci, re[c] * ci + im[c] * cr
            dr, di = re[d] * dr - im[d] * di, re[d] * di + im[d] * dr
        # the butterfly is symmetric in its two inputs, so pair order does not matter
        ar, ai, cr, ci = ar + t * ci, ai - t * cr, cr + t * ai, ci - t * ar
        br, bi, dr, di = br + t * di, bi - t * dr, dr + t * bi, di - t * br
        if swap:
            ar, ai, cr, ci = cr, ci, ar, ai
            br, bi, dr, di = dr, di, br, bi
        ar, ai, br, bi = ar + t * bi, ai - t * br, br + t * ai, bi - t * ar
        cr, ci, dr, di = cr + t * di, ci - t * dr, dr + t * ci, di - t * cr
        if swap:
            ar, ai, br, bi = br, bi, ar, ai
            cr, ci, dr, di = dr, di, cr, ci
        re[a], im[a], re[b], im[b] = ar, ai, br, bi
        re[c], im[c], re[d], im[d] = cr, ci, dr, di


@numba.njit(inline="always", fastmath=True, cache=True)
def _mix_block(re: Any, im: Any, o: Any, end: Any, low: int, t: float, swap: bool) -> None:
    """Mixers of qubits 0..low-1 inside the block [o, end) of 2**low amplitudes."""
    if low == 1:
        for i in range(o, end, _U2):
            _bf(re, im, i, i + _U1, t, swap)
    if low < 2:
        return
    for i in range(o, end, _U4):  # qubits 0 and 1 on runs of four (LLVM de-interleaves them)
        _bf(re, im, i, i + _U1, t, swap)
        _bf(re, im, i + _U2, i + _U3, t, swap)
        _bf(re, im, i, i + _U2, t, swap)
        _bf(re, im, i + _U1, i + _U3, t, swap)
    for q in range(2, low, 3):
        width = min(3, low - q)
        st = _U1 << u64(q)
        for base in range(o, end, st << u64(width)):
            for i in range(base, base + st):
                _mix_at(re, im, i, st, width, t, swap)


def _pass_a(
    re: Any, im: Any, lev: Any, tab_re: Any, tab_im: Any, diag: Any, gamma: float,
    pre_re: float, pre_im: float, t: float, swap: bool, low: int, hi: int, init: bool,
    reflect: bool,
) -> None:
    """Cost phase, the mixers of qubits < low and those of the ``hi`` (0..3) top qubits, unit by
    unit: a unit is the 2**hi blocks that differ only in the top qubits (they are in cache
    together, which saves a sweep). With ``reflect`` a unit and its mirror unit are done
    together, starting with the phase fused with the mirrored butterflies."""
    size = u64(re.shape[0])
    block = _U1 << u64(low)
    far = size >> u64(hi)  # stride of the lowest of the top qubits
    nunits = int(far >> u64(low))
    # branch-free: numba 0.67-0.68 miscompiles a prange bound chosen by a branch (an LLVM
    # 'sext double to i64' error with parallel=True)
    units = nunits + int(reflect) * (max(nunits // 2, 1) - nunits)
    top = size - _U1
    for unit in prange(units):
        o = u64(unit) * block
        mirror = far - block - o
        paired = reflect and mirror != o
        span = block if paired or not reflect else block >> _U1
        quad = reflect and hi == 1 and lev.shape[0] > 0
        if quad:  # phase, the mirrored butterflies and the top qubit's, in one sweep
            _phase_reflect_quad_run(re, im, o, o + span, far, top, lev, tab_re, tab_im, init, t,
                                    swap)
        for c in range(0 if quad else 1 << hi):
            oc = o + u64(c) * far
            if not reflect:
                _phase_run(re, im, oc, oc + block, lev, tab_re, tab_im, diag, gamma, pre_re,
                           pre_im, init)
            elif lev.shape[0] > 0:
                _phase_reflect_run(re, im, oc, oc + span, top, lev, tab_re, tab_im, init, t,
                                   swap)
            else:
                _phase_run(re, im, oc, oc + span, lev, tab_re, tab_im, diag, gamma, pre_re,
                           pre_im, init)
                _phase_run(re, im, top + _U1 - oc - span, top + _U1 - oc, lev, tab_re, tab_im,
                           diag, gamma, pre_re, pre_im, init)
                for i in range(oc, oc + span):
                    _bf(re, im, i, top - i, t, swap)
        if hi > 0 and not quad:
            for i in range(o, o + block):
                _mix_at(re, im, i, far, hi, t, swap)
            if paired:
                for i in range(mirror, mirror + block):
                    _mix_at(re, im, i, far, hi, t, swap)
        for c in range(1 << hi):
            oc = o + u64(c) * far
            _mix_block(re, im, oc, oc + block, low, t, swap)
            if paired:
                oc = mirror + u64(c) * far
                _mix_block(re, im, oc, oc + block, low, t, swap)


def _pass_b(re: Any, im: Any, t: float, swap: bool, first: int, group: int, width: int) -> None:
    """Mixers of qubits first..first+group-1, tile by tile."""
    stride = _U1 << u64(first)
    w = min(u64(width), stride)
    chunks = stride // w
    rows = 1 << group
    top = u64(first + group)
    tiles = (re.shape[0] >> (first + group)) * (int(chunks))
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
                    _mix_at(re, im, i, st, wq, t, swap)


@numba.njit(cache=True)
def _layer_table(values: Any, gamma: float, pre_re: float, pre_im: float, tab_re: Any,
                 tab_im: Any) -> None:
    """The phase ``pre * exp(-i gamma E)`` of each energy level."""
    for lv in range(values.shape[0]):
        th = -gamma * values[lv]
        cs, sn = np.cos(th), np.sin(th)
        tab_re[lv], tab_im[lv] = pre_re * cs - pre_im * sn, pre_re * sn + pre_im * cs


def _compile(parallel: bool) -> dict[str, Callable[..., Any]]:
    opts = jit_options(parallel)
    return {
        "pass_a": numba.njit(**opts)(_pass_a),
        "pass_b": numba.njit(**opts)(_pass_b),
        **compile_readout(parallel),
    }


KERNELS_SERIAL = _compile(parallel=False)
KERNELS_PARALLEL = _compile(parallel=True)


def apply_layers(
    kernels: dict[str, Callable[..., Any]], re: Any, im: Any, lev: Any, values: Any, diag: Any,
    gammas: Any, betas: Any, n: int, reflect: bool = False,
) -> complex:
    """Apply p QAOA layers to |+>^n into (re, im) and return the global factor the buffers must
    be multiplied by. ``values`` are the level energies (empty when ``lev`` is, and then the
    phase comes from ``diag``); ``n`` counts all qubits, the buffers hold 2**(n-1) amplitudes
    with ``reflect``."""
    stored = n - 1 if reflect else n
    low, hi = stored, 0
    if reflect and stored >= 2:  # the top stored qubit goes with the fused mirror sweep
        low, hi = stored - 1, 1
    if stored > RESIDENT_QUBITS:
        low = max(LOW_QUBITS, min(MAX_LOW_QUBITS, stored - TILE_GROUP))
        hi = min(3, max(0, stored - low - TILE_GROUP))  # else a short last pass-B sweep
    pass_a, pass_b = kernels["pass_a"], kernels["pass_b"]
    pre_re, pre_im = 2.0 ** (-n / 2), 0.0
    tab_re, tab_im = np.empty(values.shape[0]), np.empty(values.shape[0])
    for k in range(len(gammas)):
        gamma = float(gammas[k])
        t, swap, f_re, f_im = _mixer(float(betas[k]), n)
        if values.shape[0]:
            _layer_table(values, gamma, pre_re, pre_im, tab_re, tab_im)
        pass_a(re, im, lev, tab_re, tab_im, diag, gamma, pre_re, pre_im, t, swap, low, hi,
               k == 0, reflect)
        q = low
        while q < stored - hi:
            g = min(TILE_GROUP, stored - hi - q)
            pass_b(re, im, t, swap, q, g, TILE_WIDTH)
            q += g
        pre_re, pre_im = f_re, f_im  # this layer's factor goes into the next phase table
    return complex(pre_re, pre_im)

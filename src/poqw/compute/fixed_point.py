"""The strike re-run in integer arithmetic: identical on every machine, for on-chain settlement.

A precompiled contract must give the same bytes on every node, so this engine uses no floating
point and no platform sine: amplitudes are integers scaled by 2**60 (Python's exact integers
hold the 121-bit products), every product is floored by a right shift, sines and cosines are
Taylor series in the same fixed point after an exact reduction modulo 2*pi (pi is an integer
constant), and the cost phase of a model whose energies sit on a half-integer grid is a table of
integer powers of exp(-i gamma / 2). The probabilities are integers, their cumulative sum is
exact, and a shot is the first index whose cumulative sum exceeds ``(u * total) >> 53`` for the
spec's 53-bit uniform ``u``: the float backends' rule without its rounding. The claim check
widens each interval by ``total >> 30`` (about ``CDF_TOLERANCE``). Cost: about
``8 * n * 2**(n - 1) * p`` integer products, which is what a precompile's gas is priced from.
"""

from __future__ import annotations

import bisect
import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from poqw.compute.strike_spec import StrikeSpec, uniform_words
from poqw.crypto.hashing import Hash32, hash32
from poqw.errors import JobRejected
from poqw.problems import IsingModel

__all__ = [
    "FRACTION_BITS",
    "MAX_EXACT_QUBITS",
    "TOLERANCE_SHIFT",
    "FixedPointStrike",
    "fixed_cos_sin",
    "strike_gas",
]

FRACTION_BITS = 60
ONE = 1 << FRACTION_BITS
PI = 3622009729038561421  # round(pi * 2**60)
TWO_PI = 7244019458077122842  # round(2 * pi * 2**60)
MAX_EXACT_QUBITS = 20
TOLERANCE_SHIFT = 30
ObjectArray = npt.NDArray[np.object_]


def strike_gas(num_qubits: int, depth: int, shots: int) -> int:
    """Integer products of one re-run (mixer and phase for every amplitude and layer) plus the
    draws: the basis of a precompile's gas price."""
    return 8 * num_qubits * (1 << max(num_qubits - 1, 0)) * depth + 6 * (1 << num_qubits) \
        * depth + shots * num_qubits


def _to_fixed(value: float) -> int:
    """round(value * 2**60), exactly (a float is a dyadic rational)."""
    return round(Fraction(value) * ONE)


def fixed_cos_sin(angle: float) -> tuple[int, int]:
    """(cos, sin) of ``angle`` in 2**-60 fixed point, by Taylor series on the reduced angle."""
    x = _to_fixed(angle) % TWO_PI
    if x > PI:
        x -= TWO_PI  # now in (-pi, pi]
    cos, sin, term, k = 0, 0, ONE, 0
    while term:
        if k % 4 == 0:
            cos += term
        elif k % 4 == 1:
            sin += term
        elif k % 4 == 2:
            cos -= term
        else:
            sin -= term
        k += 1
        term = _toward_zero(term * x, ONE * k)
    return cos, sin


def _toward_zero(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded toward zero (so a shrinking series reaches 0)."""
    q = abs(numerator) // denominator
    return q if numerator >= 0 else -q


def _half_grid(model: IsingModel) -> tuple[npt.NDArray[np.int64], int]:
    """2 * (E(x) - offset) for every basis index x, as integers (refused off the grid)."""
    h2, j2 = np.asarray(model.h) * 2, np.asarray(model.J) * 2
    if not (np.array_equal(h2, np.round(h2)) and np.array_equal(j2, np.round(j2))):
        raise JobRejected("the integer re-run needs fields and couplings that are multiples "
                          "of 1/2")
    n = model.num_variables
    x = np.arange(1 << n, dtype=np.int64)
    spins = 1 - 2 * ((x[:, None] >> np.arange(n)) & 1)
    levels = spins @ h2.astype(np.int64)
    for (i, j), w in zip(model.edges.tolist(), j2.astype(np.int64).tolist(), strict=True):
        levels += w * spins[:, i] * spins[:, j]
    return levels, n


class FixedPointStrike:
    """Deterministic strikes of one model (up to ``MAX_EXACT_QUBITS`` variables)."""

    def __init__(self, model: IsingModel) -> None:
        if model.num_variables > MAX_EXACT_QUBITS:
            raise JobRejected(f"the integer re-run takes at most {MAX_EXACT_QUBITS} variables, "
                              f"got {model.num_variables}")
        self.model_hash = model.content_hash()
        self.levels, self.n = _half_grid(model)
        self.low = int(self.levels.min())

    def _check(self, spec: StrikeSpec) -> None:
        if spec.model_hash != self.model_hash:
            raise JobRejected("the spec is for another model", spec)

    def probabilities(self, spec: StrikeSpec) -> list[int]:
        """|amplitude|**2 of every basis state, in 2**-120 units (exact integers)."""
        self._check(spec)
        size = 1 << self.n
        # |+>^n: 2**(-n/2) = isqrt(2**(120 - n)) / 2**60, exactly the same everywhere
        start = 1 << (FRACTION_BITS - self.n // 2) if self.n % 2 == 0 else \
            math.isqrt(1 << (2 * FRACTION_BITS - self.n))
        re: ObjectArray = np.full(size, start, dtype=object)
        im: ObjectArray = np.zeros(size, dtype=object)
        offsets = (self.levels - self.low).tolist()
        for gamma, beta in zip(spec.gammas, spec.betas, strict=True):
            re, im = self._phase(re, im, gamma, offsets)
            c, s = fixed_cos_sin(beta)
            for j in range(self.n):
                re, im = _mix(re, im, j, c, s)
        return [int(v) for v in re * re + im * im]

    def _phase(self, re: ObjectArray, im: ObjectArray, gamma: float,
               offsets: list[int]) -> tuple[ObjectArray, ObjectArray]:
        """Multiply amplitude x by exp(-i gamma (E(x) - E_min)), from powers of exp(-i gamma/2)
        (the global phase exp(-i gamma E_min) does not change a probability)."""
        c, s = fixed_cos_sin(gamma / 2)
        table_re, table_im = [ONE], [0]
        for _ in range(max(offsets)):
            a, b = table_re[-1], table_im[-1]
            table_re.append((a * c + b * s) >> FRACTION_BITS)  # (a + ib)(c - is)
            table_im.append((b * c - a * s) >> FRACTION_BITS)
        pr = np.array([table_re[k] for k in offsets], dtype=object)
        pi = np.array([table_im[k] for k in offsets], dtype=object)
        return (re * pr - im * pi) >> FRACTION_BITS, (re * pi + im * pr) >> FRACTION_BITS

    def draws(self, spec: StrikeSpec) -> tuple[list[int], list[int], int]:
        """The spec's shots as indices, the cumulative sums, and the total."""
        cdf = list(np.cumsum(np.array(self.probabilities(spec), dtype=object)))
        total = int(cdf[-1])
        targets = [(u * total) >> 53 for u in uniform_words(spec)]
        last = len(cdf) - 1
        return [min(bisect.bisect_right(cdf, t), last) for t in targets], cdf, total

    def run(self, spec: StrikeSpec) -> list[int]:
        return self.draws(spec)[0]

    def check(self, spec: StrikeSpec, claimed: list[int]) -> int:
        """How many claimed indices lie outside their interval widened by ``total >> 30``."""
        _, cdf, total = self.draws(spec)
        if len(claimed) != spec.shots:
            return spec.shots
        slack = total >> TOLERANCE_SHIFT
        bad = 0
        for u, k in zip(uniform_words(spec), claimed, strict=True):
            target = (u * total) >> 53
            if not 0 <= k < len(cdf):
                bad += 1
                continue
            lower = int(cdf[k - 1]) if k else 0
            bad += not lower - slack <= target <= int(cdf[k]) + slack
        return bad

    def digest(self, spec: StrikeSpec) -> Hash32:
        """The hash of the shots' indices: what the precompile returns."""
        return hash32(b"poqw/compute/fixed-strike/v1",
                      np.asarray(self.run(spec), dtype=">u4").tobytes())


def _mix(re: ObjectArray, im: ObjectArray, qubit: int, c: int,
         s: int) -> tuple[ObjectArray, ObjectArray]:
    """exp(-i beta X) on ``qubit``: (a, b) -> (c a - i s b, c b - i s a), floored products."""
    shaped_re = re.reshape(-1, 2, 1 << qubit)
    shaped_im = im.reshape(-1, 2, 1 << qubit)
    ar, br = shaped_re[:, 0], shaped_re[:, 1]
    ai, bi = shaped_im[:, 0], shaped_im[:, 1]
    out_re = np.empty_like(shaped_re)
    out_im = np.empty_like(shaped_im)
    out_re[:, 0] = (c * ar + s * bi) >> FRACTION_BITS
    out_im[:, 0] = (c * ai - s * br) >> FRACTION_BITS
    out_re[:, 1] = (c * br + s * ai) >> FRACTION_BITS
    out_im[:, 1] = (c * bi - s * ar) >> FRACTION_BITS
    return out_re.reshape(-1), out_im.reshape(-1)



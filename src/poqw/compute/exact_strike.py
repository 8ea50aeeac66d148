"""The integer strike re-run on 64-bit words: the on-chain precompile's engine.

It computes, bit for bit, what :class:`poqw.compute.fixed_point.FixedPointStrike` computes
(amplitudes in 2**-60 fixed point, every product floored, Taylor sines of exactly reduced
angles, the energy phase as integer powers of exp(-i gamma / 2)), but on numpy int64 arrays
instead of Python integers: each 2**-60 number is split into a signed high and an unsigned low
30-bit limb, the four partial products of two limbs stay below 2**62, and the floor of a
121-bit sum of products is rebuilt from them exactly (:func:`floor_product_sum`). Integer
elementwise operations are exact on every platform, so every node gets the same bytes; there
is no floating point operation and no platform sine anywhere on the path.

The probabilities stay exact (three 30-bit limbs each) and so does their cumulative sum, kept
as ``hi * 2**60 + lo``. Shot ``k`` is the first index whose cumulative sum exceeds
``t_k = (u_k * total) >> 53`` for the spec's 53-bit uniform ``u_k``, and it is *ambiguous* when
``t_k`` lies within ``total >> 30`` of an inner edge of its interval. A float backend (whose
cumulative sums differ from these by far less than ``total >> 30``) draws the same index for
every shot that is not ambiguous; an ambiguous one may legitimately be drawn as the neighbour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from poqw.compute.fixed_point import FRACTION_BITS, MAX_EXACT_QUBITS, TOLERANCE_SHIFT, fixed_cos_sin
from poqw.compute.strike_spec import StrikeSpec, uniform_words
from poqw.errors import JobRejected
from poqw.problems import IsingModel

__all__ = [
    "KERNELS",
    "MAX_ENERGY_SPREAD",
    "ExactDraws",
    "ExactStrike",
    "floor_product_sum",
    "strike_work",
]

Words = npt.NDArray[np.int64]
LIMB = 30
MASK = (1 << LIMB) - 1
#: The widest range of 2 * (E(x) - E_min) the engine takes: the phase table has one entry per
#: level, so an unbounded spread (huge weights) would be unbounded work.
MAX_ENERGY_SPREAD = 1 << 16
#: "numba" (one pass per qubit, the default) and "numpy" (the readable reference) give the same
#: bits; the numba loops are in poqw.compute._exact_kernels.
KERNELS = ("numba", "numpy")


def strike_work(num_qubits: int, num_terms: int, depth: int, spread: int, shots: int) -> int:
    """The engine's work in amplitude updates: a mixer per qubit and a phase per layer over the
    2**n amplitudes, the phase table, the exact cumulative sum and one search per shot, plus the
    energy levels (``num_terms`` fields and couplings over 2**n states, measured at about 1/16
    of an amplitude update each). Gas is this times a measured constant
    (:data:`poqw.execution.strike_precompile.GAS_PER_WORK`)."""
    size = 1 << num_qubits
    return depth * (size * (num_qubits + 1) + spread) + 2 * size + shots * (num_qubits + 1) \
        + size * num_terms // 16


def _split(x: Words | int) -> tuple[Words, Words]:
    """(high, low) with x = high * 2**30 + low, 0 <= low < 2**30 (high floored)."""
    arr = np.asarray(x, dtype=np.int64)
    return arr >> LIMB, arr & MASK


def floor_product_sum(x1: tuple[Words, Words], y1: tuple[Words, Words],
                      x2: tuple[Words, Words], y2: tuple[Words, Words]) -> Words:
    """floor((x1 * y1 + x2 * y2) / 2**60) for split operands of magnitude at most ~2**60.

    With S = H * 2**60 + M * 2**30 + L (H, M, L sums of limb products, each below 2**63),
    floor(S / 2**60) = H + ((M + (L >> 30)) >> 30): the nested floor of an integer sum."""
    high = x1[0] * y1[0] + x2[0] * y2[0]
    middle = x1[0] * y1[1] + x1[1] * y1[0] + x2[0] * y2[1] + x2[1] * y2[0]
    low = x1[1] * y1[1] + x2[1] * y2[1]
    return high + ((middle + (low >> LIMB)) >> LIMB)  # type: ignore[no-any-return]


@dataclass(frozen=True, eq=False)
class ExactDraws:
    """A strike's canonical shots, which of them are ambiguous, and the exact cumulative sums
    (``hi * 2**60 + lo``)."""

    indices: npt.NDArray[np.int64]
    ambiguous: npt.NDArray[np.bool_]
    hi: Words
    lo: Words

    @property
    def total(self) -> int:
        return (int(self.hi[-1]) << FRACTION_BITS) + int(self.lo[-1])

    def cumulative(self, index: int) -> int:
        """The exact cumulative sum up to and including ``index`` (0 for ``index < 0``)."""
        return 0 if index < 0 else (int(self.hi[index]) << FRACTION_BITS) + int(self.lo[index])


def half_grid_levels(model: IsingModel) -> Words:
    """2 * (E(x) - offset) for every basis index x, refused off the half-integer grid or when
    the weights could make the spread wider than :data:`MAX_ENERGY_SPREAD`."""
    h2, j2 = np.asarray(model.h, dtype=np.float64) * 2, np.asarray(model.J, dtype=np.float64) * 2
    bound = float(np.abs(h2).sum() + np.abs(j2).sum())  # exact: small integers in float64
    if not bound <= MAX_ENERGY_SPREAD // 2:
        raise JobRejected(f"the integer re-run takes weights whose doubled absolute sum is at "
                          f"most {MAX_ENERGY_SPREAD // 2}, got {bound:g}")
    if not (np.array_equal(h2, np.round(h2)) and np.array_equal(j2, np.round(j2))):
        raise JobRejected("the integer re-run needs fields and couplings that are multiples "
                          "of 1/2")
    x = np.arange(1 << model.num_variables, dtype=np.int64)
    spins = [(1 - 2 * ((x >> i) & 1)).astype(np.int8) for i in range(model.num_variables)]
    levels: Words = np.zeros(x.shape[0], dtype=np.int64)
    for spin, w in zip(spins, h2.astype(np.int64).tolist(), strict=True):
        if w:
            levels += w * spin
    for (i, j), w in zip(model.edges.tolist(), j2.astype(np.int64).tolist(), strict=True):
        if w:
            levels += w * (spins[i] * spins[j])
    return levels


class ExactStrike:
    """Deterministic strikes of one model of up to ``MAX_EXACT_QUBITS`` variables."""

    def __init__(self, model: IsingModel, kernel: str = "numba") -> None:
        if kernel not in KERNELS:
            raise JobRejected(f"unknown integer kernel {kernel!r}; choose one of "
                              f"{', '.join(KERNELS)}")
        self.kernel = kernel
        if model.num_variables > MAX_EXACT_QUBITS:
            raise JobRejected(f"the integer re-run takes at most {MAX_EXACT_QUBITS} variables, "
                              f"got {model.num_variables}")
        if model.num_variables < 1:
            raise JobRejected("the integer re-run needs at least one variable")
        self.model_hash = model.content_hash()
        self.n = model.num_variables
        self.terms = model.num_variables + model.num_interactions
        levels = half_grid_levels(model)
        self.offsets: Words = levels - levels.min()
        self.spread = int(self.offsets.max())

    def work(self, spec: StrikeSpec) -> int:
        return strike_work(self.n, self.terms, spec.depth, self.spread, spec.shots)

    def amplitudes(self, spec: StrikeSpec) -> tuple[Words, Words]:
        """Real and imaginary parts of the final state in 2**-60 units."""
        if spec.model_hash != self.model_hash:
            raise JobRejected("the spec is for another model", spec)
        n = self.n
        start = 1 << (FRACTION_BITS - n // 2) if n % 2 == 0 else \
            math.isqrt(1 << (2 * FRACTION_BITS - n))
        re: Words = np.full(1 << n, start, dtype=np.int64)
        im: Words = np.zeros(1 << n, dtype=np.int64)
        for gamma, beta in zip(spec.gammas, spec.betas, strict=True):
            table_re, table_im = self._phase_table(gamma)
            c, s = fixed_cos_sin(beta)
            if self.kernel == "numba":
                from poqw.compute import _exact_kernels

                _exact_kernels.phase(re, im, self.offsets, table_re, table_im)
                _exact_kernels.mix_all(re, im, n, c, s)
                continue
            re, im = self._phase(re, im, table_re[self.offsets], table_im[self.offsets])
            cs, ss, neg_ss = _split(c), _split(s), _split(-s)
            for qubit in range(n):
                re, im = _mix(re, im, qubit, cs, ss, neg_ss)
        return re, im

    def _phase_table(self, gamma: float) -> tuple[Words, Words]:
        """exp(-i gamma k / 2) for k = 0 .. spread, as integer powers built exactly as the
        reference builds them (the phase of level k above the minimum energy)."""
        c, s = fixed_cos_sin(gamma / 2)
        table_re, table_im = [1 << FRACTION_BITS], [0]
        for _ in range(self.spread):
            a, b = table_re[-1], table_im[-1]
            table_re.append((a * c + b * s) >> FRACTION_BITS)  # (a + ib)(c - is)
            table_im.append((b * c - a * s) >> FRACTION_BITS)
        return np.array(table_re, dtype=np.int64), np.array(table_im, dtype=np.int64)

    @staticmethod
    def _phase(re: Words, im: Words, pr: Words, pi: Words) -> tuple[Words, Words]:
        """Amplitude x times pr[x] + i pi[x] (the global phase exp(-i gamma E_min) is dropped:
        it changes no probability)."""
        rs, is_, prs, pis = _split(re), _split(im), _split(pr), _split(pi)
        return (floor_product_sum(rs, prs, is_, _split(-pi)),
                floor_product_sum(rs, pis, is_, prs))

    def cumulative(self, spec: StrikeSpec) -> tuple[Words, Words]:
        """The exact cumulative probabilities (2**-120 units) as ``hi * 2**60 + lo``."""
        re, im = self.amplitudes(spec)
        (rh, rl), (ih, il) = _split(re), _split(im)
        high = rh * rh + ih * ih  # p = high * 2**60 + middle * 2**30 + low, exactly
        middle = 2 * (rh * rl + ih * il)
        low = rl * rl + il * il
        middle = middle + (low >> LIMB)
        p0, p1, p2 = low & MASK, middle & MASK, high + (middle >> LIMB)
        c0, c1, c2 = np.cumsum(p0), np.cumsum(p1), np.cumsum(p2)  # below 2**51, 2**51, 2**61
        c1 = c1 + (c0 >> LIMB)
        return c2 + (c1 >> LIMB), ((c1 & MASK) << LIMB) | (c0 & MASK)

    def probabilities(self, spec: StrikeSpec) -> list[int]:
        """|amplitude|**2 of every basis state in 2**-120 units (as the reference returns)."""
        hi, lo = self.cumulative(spec)
        cdf = (hi.astype(object) << FRACTION_BITS) + lo.astype(object)
        return [int(v) for v in np.diff(cdf, prepend=0)]

    def draws(self, spec: StrikeSpec, tolerance_shift: int = TOLERANCE_SHIFT) -> ExactDraws:
        """Every shot of ``spec``: canonical index and ambiguity (within ``total >>
        tolerance_shift`` of an inner edge; the consensus rule is the default)."""
        hi, lo = self.cumulative(spec)
        total = (int(hi[-1]) << FRACTION_BITS) + int(lo[-1])
        slack = total >> tolerance_shift
        targets = [(u * total) >> 53 for u in uniform_words(spec)]
        t_hi = np.array([t >> FRACTION_BITS for t in targets], dtype=np.int64)
        t_lo = np.array([t & ((1 << FRACTION_BITS) - 1) for t in targets], dtype=np.int64)
        # the first index whose (hi, lo) exceeds (t_hi, t_lo): past every hi below t_hi, then
        # past the lo <= t_lo among the (almost always zero or one) entries whose hi is t_hi
        first = np.searchsorted(hi, t_hi, side="left")
        past = np.searchsorted(hi, t_hi, side="right")
        indices = first.astype(np.int64)
        last = hi.shape[0] - 1
        single = past - first == 1
        indices[single] += lo[first[single]] <= t_lo[single]
        for k in np.flatnonzero(past - first > 1).tolist():
            a, b = int(first[k]), int(past[k])
            indices[k] = a + int(np.searchsorted(lo[a:b], t_lo[k], side="right"))
        np.minimum(indices, last, out=indices)
        ambiguous = np.zeros(len(targets), dtype=np.bool_)
        for k, (target, index) in enumerate(zip(targets, indices.tolist(), strict=True)):
            lower = 0 if index == 0 else (int(hi[index - 1]) << FRACTION_BITS) + int(lo[index - 1])
            upper = (int(hi[index]) << FRACTION_BITS) + int(lo[index])
            ambiguous[k] = (index > 0 and target - lower <= slack) or \
                (index < last and upper - target <= slack)
        return ExactDraws(indices, ambiguous, hi, lo)

    def run(self, spec: StrikeSpec) -> list[int]:
        return [int(x) for x in self.draws(spec).indices]


def _mix(re: Words, im: Words, qubit: int, cs: tuple[Words, Words], ss: tuple[Words, Words],
         neg_ss: tuple[Words, Words]) -> tuple[Words, Words]:
    """exp(-i beta X) on ``qubit``: (a, b) -> (c a - i s b, c b - i s a), floored products,
    in the reference's order of terms."""
    shaped_re = re.reshape(-1, 2, 1 << qubit)
    shaped_im = im.reshape(-1, 2, 1 << qubit)
    ar, br = _split(shaped_re[:, 0]), _split(shaped_re[:, 1])
    ai, bi = _split(shaped_im[:, 0]), _split(shaped_im[:, 1])
    out_re = np.empty_like(shaped_re)
    out_im = np.empty_like(shaped_im)
    out_re[:, 0] = floor_product_sum(cs, ar, ss, bi)
    out_im[:, 0] = floor_product_sum(cs, ai, neg_ss, br)
    out_re[:, 1] = floor_product_sum(cs, br, ss, ai)
    out_im[:, 1] = floor_product_sum(cs, bi, neg_ss, ar)
    return out_re.reshape(-1), out_im.reshape(-1)

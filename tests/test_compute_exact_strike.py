"""The int64-limb strike engine (the precompile's) against the Python-integer reference and the
float backends: bit-identical to the first; the second draws the same shot unless the integer
path flags it ambiguous."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from poqw.compute.exact_strike import ExactStrike, floor_product_sum
from poqw.compute.fixed_point import FixedPointStrike
from poqw.compute.strike_spec import StrikeRunner, StrikeSpec, strike_uniforms
from poqw.errors import JobRejected
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph

VECTORS = json.loads((Path(__file__).parent / "vectors" / "compute" /
                      "fixed_strikes.json").read_text())["vectors"]


def random_model(rng: np.random.Generator, n: int) -> IsingModel:
    """Half-integer fields and couplings on a random graph of n variables."""
    h = {i: float(rng.integers(-3, 4)) / 2 for i in range(n)}
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.5]
    return IsingModel.from_dicts(h, {e: float(rng.integers(-3, 4)) / 2 for e in pairs},
                                 num_variables=n)


def random_spec(rng: np.random.Generator, model: IsingModel, shots: int) -> StrikeSpec:
    depth = int(rng.integers(1, 4))
    return StrikeSpec.create(model.content_hash(), rng.uniform(-4, 4, depth),
                             rng.uniform(-4, 4, depth), shots, rng.bytes(32))


def test_floor_product_sum_is_the_exact_floor() -> None:
    rng = np.random.default_rng(0)
    big = 1 << 60
    xs = [int(v) for v in rng.integers(-big, big, 400)] + [big, -big, 0, 1, -1]
    ys = [int(v) for v in rng.integers(-big, big, 405)]
    split = [(np.int64(v >> 30), np.int64(v & ((1 << 30) - 1))) for v in xs + ys]
    for k in range(len(xs) - 1):
        a, b, c, d = split[k], split[len(xs) + k], split[k + 1], split[len(xs) + k + 1]
        got = int(floor_product_sum(a, b, c, d))  # type: ignore[arg-type]
        assert got == (xs[k] * ys[k] + xs[k + 1] * ys[k + 1]) >> 60


@pytest.mark.parametrize("kernel", ["numpy", "numba"])
def test_bit_identical_to_the_python_integer_reference(kernel: str) -> None:
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 5, 8, 9):
        model = random_model(rng, n)
        for _ in range(3):
            spec = random_spec(rng, model, 128)
            exact, reference = ExactStrike(model, kernel), FixedPointStrike(model)
            assert exact.probabilities(spec) == reference.probabilities(spec)
            assert exact.run(spec) == reference.run(spec)


def test_kernels_agree_bit_for_bit_on_a_larger_strike() -> None:
    model = maxcut_to_ising(random_regular_graph(3, 14, seed=3))
    spec = StrikeSpec.create(model.content_hash(), [0.3, -1.2, 2.5], [0.9, 0.1, -0.4], 512,
                             b"\x01" * 32)
    fast, slow = ExactStrike(model, "numba"), ExactStrike(model, "numpy")
    for mine, theirs in zip(fast.amplitudes(spec), slow.amplitudes(spec), strict=True):
        assert np.array_equal(mine, theirs)
    assert np.array_equal(fast.draws(spec).indices, slow.draws(spec).indices)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"n{v['n']}")
def test_stored_vectors(vector: dict[str, Any]) -> None:
    model = IsingModel.from_dicts(dict(enumerate(vector["fields"])),
                                  {(i, j): w for i, j, w in vector["couplings"]},
                                  vector["offset"], num_variables=vector["n"])
    spec = StrikeSpec.from_bytes(bytes.fromhex(vector["spec"]))
    engine = ExactStrike(model)
    probs = engine.probabilities(spec)
    digest = hashlib.sha256(b"".join(p.to_bytes(16, "big") for p in probs)).hexdigest()
    assert digest == vector["probabilities_sha256"]
    assert engine.run(spec) == vector["indices"]


def test_float_shots_equal_integer_shots_unless_flagged_ambiguous() -> None:
    """Over 120 random strikes (n = 2..11, depth 1..3, 256 shots) and both float kernels, every
    float shot is the integer path's shot or one it flags ambiguous (the benchmark
    bench/bench_strike_precompile.py runs the same check over many more)."""
    rng = np.random.default_rng(2026)
    checked = differing = flagged = 0
    for trial in range(120):
        model = random_model(rng, int(rng.integers(2, 12)))
        spec = random_spec(rng, model, 256)
        draws = ExactStrike(model).draws(spec)
        backend = "reference" if trial % 2 else "fast"
        floating = StrikeRunner(model, backend).run(spec).indices
        differs = floating != draws.indices
        assert not np.any(differs & ~draws.ambiguous), (trial, backend, spec)
        checked += spec.shots
        differing += int(differs.sum())
        flagged += int(draws.ambiguous.sum())
    print(f"{checked} shots, {differing} differ, {flagged} flagged ambiguous")
    assert checked == 120 * 256 and flagged < checked // 1000


def test_ambiguity_is_distance_to_an_inner_edge() -> None:
    """With the tolerance widened to 1/8 of the total, a uniform distribution over 4 states
    flags exactly the draws within 1/8 of 1/4, 1/2, 3/4 (an oracle in exact rationals)."""
    model = IsingModel.from_dicts([0.0, 0.0], {})
    spec = StrikeSpec.create(model.content_hash(), [0.0], [0.0], 4096, b"\x07" * 32)
    draws = ExactStrike(model).draws(spec, tolerance_shift=3)
    assert len(set(ExactStrike(model).probabilities(spec))) == 1
    u = strike_uniforms(spec)
    assert np.array_equal(draws.indices, np.floor(u * 4).astype(np.int64))
    inner = np.array([0.25, 0.5, 0.75])
    near = np.min(np.abs(u[:, None] - inner[None, :]), axis=1) <= 0.125
    assert np.array_equal(draws.ambiguous, near)
    assert 0 < int(near.sum()) < spec.shots


def test_limits() -> None:
    with pytest.raises(JobRejected, match="multiples of 1/2"):
        ExactStrike(IsingModel.from_dicts({0: 0.3}, {(0, 1): 1.0}))
    with pytest.raises(JobRejected, match="at most 20"):
        ExactStrike(maxcut_to_ising(random_regular_graph(3, 22, seed=1)))
    with pytest.raises(JobRejected, match="unknown integer kernel"):
        ExactStrike(IsingModel.from_dicts({0: 1.0}, {}), "float")
    with pytest.raises(JobRejected, match="doubled absolute sum"):
        ExactStrike(IsingModel.from_dicts({0: 1e6}, {(0, 1): 1.0}))

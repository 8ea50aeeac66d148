"""The integer strike re-run (what a precompile runs): it draws what the float backends draw,
its claims pass their checks and theirs pass its, and its bytes match stored vectors."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from poqw.compute.fixed_point import FixedPointStrike, fixed_cos_sin, strike_gas
from poqw.compute.strike_spec import StrikeRunner, StrikeSpec
from poqw.errors import JobRejected
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph

VECTORS = json.loads((Path(__file__).parent / "vectors" / "compute" /
                      "fixed_strikes.json").read_text())["vectors"]


@pytest.mark.parametrize("angle", [0.0, 1e-9, 0.3, -2.9, math.pi, -math.pi, 3.2, 100.0, -1e3])
def test_fixed_point_sine_and_cosine(angle: float) -> None:
    c, s = fixed_cos_sin(angle)
    assert abs(c / 2**60 - math.cos(angle)) < 1e-14 and abs(s / 2**60 - math.sin(angle)) < 1e-14


def test_integer_draws_equal_the_float_backends() -> None:
    rng = np.random.default_rng(4)
    chain = IsingModel.from_dicts({0: 1.0, 3: -1.0}, {(i, i + 1): 1.0 for i in range(4)})
    for model in (maxcut_to_ising(random_regular_graph(3, 6, seed=2)), chain):
        exact, floating = FixedPointStrike(model), StrikeRunner(model, "fast")
        for _ in range(2):
            p = int(rng.integers(1, 4))
            spec = StrikeSpec.create(model.content_hash(), rng.uniform(-3, 3, p),
                                     rng.uniform(-3, 3, p), 64, rng.bytes(32))
            mine = exact.run(spec)
            theirs = floating.run(spec).indices
            assert mine == theirs.tolist()
            assert floating.check(spec, mine).honest and exact.check(spec, theirs.tolist()) == 0
            forged = list(mine)
            forged[0] = (forged[0] + 3) % 32
            assert exact.check(spec, forged) >= 1 or floating.check(spec, forged).honest


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"n{v['n']}")
def test_stored_vectors(vector: dict[str, Any]) -> None:
    model = IsingModel.from_dicts(dict(enumerate(vector["fields"])),
                                  {(i, j): w for i, j, w in vector["couplings"]},
                                  vector["offset"], num_variables=vector["n"])
    spec = StrikeSpec.from_bytes(bytes.fromhex(vector["spec"]))
    assert spec.model_hash == model.content_hash() and spec.seed.hex() == vector["job_seed"]
    engine = FixedPointStrike(model)
    probs = engine.probabilities(spec)
    digest = hashlib.sha256(b"".join(p.to_bytes(16, "big") for p in probs)).hexdigest()
    assert digest == vector["probabilities_sha256"]
    assert engine.run(spec) == vector["indices"]
    assert engine.digest(spec).hex() == vector["digest"]


def test_limits_and_gas() -> None:
    with pytest.raises(JobRejected, match="multiples of 1/2"):
        FixedPointStrike(IsingModel.from_dicts({0: 0.3}, {(0, 1): 1.0}))
    with pytest.raises(JobRejected, match="at most 20"):
        FixedPointStrike(maxcut_to_ising(random_regular_graph(3, 22, seed=1)))
    assert strike_gas(20, 2, 64) > 2 * strike_gas(19, 2, 64)

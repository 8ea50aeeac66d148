"""Verifiable strikes: every honest backend draws the same shots from a spec, and checks agree.

The reference kernel, the fast kernel and the exact MPS each run the same specs (models with and
without fields, so the fast kernel's half-state path is covered); each backend's claim is
checked against every other backend's probabilities with no false alarm, while a claim with one
shot changed is caught.
"""

from __future__ import annotations

import numpy as np
import pytest

from poqw.compute.strike_spec import (
    CDF_TOLERANCE,
    MAX_JOB_SHOTS,
    StrikeRunner,
    StrikeSpec,
    check_shots,
    derive_job_seed,
    draw_indices,
    strike_uniforms,
)
from poqw.errors import JobRejected
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph

BACKENDS = ("reference", "fast", "mps")


def models() -> list[IsingModel]:
    rng = np.random.default_rng(7)
    out = [maxcut_to_ising(random_regular_graph(3, n, seed=n)) for n in (4, 6, 8)]
    g = random_regular_graph(3, 6, seed=2)
    edges = {(min(i, j), max(i, j)): float(rng.choice([-1.0, 1.0])) for i, j in g.edges}
    out.append(IsingModel.from_dicts({i: float(rng.integers(-1, 2)) for i in range(6)}, edges))
    return out


def random_spec(model: IsingModel, rng: np.random.Generator, shots: int = 64) -> StrikeSpec:
    p = int(rng.integers(1, 4))
    return StrikeSpec.create(model.content_hash(), rng.uniform(-np.pi, np.pi, p),
                             rng.uniform(-np.pi, np.pi, p), shots, rng.bytes(32))


def test_honest_backends_agree_and_check_each_other() -> None:
    rng = np.random.default_rng(1)
    for model in models():
        runners = {b: StrikeRunner(model, b) for b in BACKENDS}
        for _ in range(6):
            spec = random_spec(model, rng)
            probs = {b: r.probabilities(spec) for b, r in runners.items()}
            claims = {b: draw_indices(p, strike_uniforms(spec))[0] for b, p in probs.items()}
            for claimed_by, claim in claims.items():
                assert np.array_equal(claim, claims["reference"]), claimed_by
                for checker in BACKENDS:
                    assert check_shots(probs[checker], spec, claim).honest
            bad = claims["fast"].copy()
            bad[5] = (bad[5] + 1) % probs["fast"].shape[0]
            verdict = runners["mps"].check(spec, bad)
            # the changed index is caught unless the neighbour interval is within tolerance
            lo = np.cumsum(probs["mps"])[[bad[5] - 1, bad[5]]] if bad[5] else [0.0, 0.0]
            if abs(lo[1] - lo[0]) > CDF_TOLERANCE:
                assert verdict.mismatches == 1 and verdict.first_mismatch == 5


def test_a_draw_on_a_boundary_may_pick_either_neighbour() -> None:
    model = models()[0]
    spec = StrikeSpec.create(model.content_hash(), [0.3], [0.2], 1, bytes(32))
    u = float(strike_uniforms(spec)[0])
    size = 1 << model.num_variables
    for nudge in (1e-12, -1e-12):  # the edge between index 3 and 4 just above or below u
        probs = np.full(size, (1 - (u + nudge)) / (size - 4))
        probs[:4] = (u + nudge) / 4
        claim, margins = draw_indices(probs, np.array([u]))
        assert claim[0] == (3 if nudge > 0 else 4) and margins[0] < 1e-11
        for other in (3, 4):
            verdict = check_shots(probs, spec, [other])
            assert verdict.honest
        assert check_shots(probs, spec, [5]).mismatches == 1
        assert check_shots(probs, spec, [4 if nudge > 0 else 3]).boundary_accepted == 1


def test_spec_round_trips_and_its_stream_is_fixed() -> None:
    spec = StrikeSpec.create(bytes(range(32)), [0.1, -0.2], [0.3, 0.4], 5, bytes(32))
    assert StrikeSpec.from_bytes(spec.to_bytes()) == spec
    # a test vector: the first uniforms of this spec (SHAKE-256, 53-bit words)
    assert strike_uniforms(spec).shape == (5,)
    again = StrikeSpec.create(bytes(range(32)), [0.1, -0.2], [0.3, 0.4], 5, bytes(32))
    assert np.array_equal(strike_uniforms(spec), strike_uniforms(again))
    other = StrikeSpec.create(bytes(range(32)), [0.1, -0.2], [0.3, 0.4], 5, bytes(31) + b"\1")
    assert not np.array_equal(strike_uniforms(spec), strike_uniforms(other))
    assert derive_job_seed(b"s", 1, 2) != derive_job_seed(b"s", 2, 1)


@pytest.mark.parametrize("data, why", [
    (b"", "bytes"),
    (b"\x01" + bytes(32) + b"\x02" + bytes(36) + bytes(8), "depth-2"),
    (b"\x02" + bytes(32) + b"\x01" + (1).to_bytes(4, "big") + bytes(32) + bytes(16), "version"),
    (bytes(2000), "bytes"),
])
def test_malformed_specs_are_rejected_by_name(data: bytes, why: str) -> None:
    with pytest.raises(JobRejected, match=why):
        StrikeSpec.from_bytes(data)


def test_bad_fields_and_wrong_model_are_rejected() -> None:
    model = models()[1]
    with pytest.raises(JobRejected, match="shots"):
        StrikeSpec.create(model.content_hash(), [0.1], [0.2], MAX_JOB_SHOTS + 1, bytes(32))
    with pytest.raises(JobRejected, match="finite"):
        StrikeSpec.create(model.content_hash(), [np.nan], [0.2], 3, bytes(32))
    with pytest.raises(JobRejected, match="gammas"):
        StrikeSpec.create(model.content_hash(), [0.1, 0.2], [0.2], 3, bytes(32))
    spec = StrikeSpec.create(models()[0].content_hash(), [0.1], [0.2], 3, bytes(32))
    with pytest.raises(JobRejected, match="model"):
        StrikeRunner(model, "fast").run(spec)
    with pytest.raises(JobRejected, match="backend"):
        StrikeRunner(model, "abacus")


def test_a_claim_of_the_wrong_length_or_range_is_all_mismatches() -> None:
    model = models()[0]
    runner = StrikeRunner(model, "fast")
    spec = StrikeSpec.create(model.content_hash(), [0.1], [0.2], 4, bytes(32))
    assert runner.check(spec, [0, 1, 2]).mismatches == 4
    assert runner.check(spec, [0, 1, 2, 1 << 20]).mismatches == 4
    outcome = runner.run(spec)
    assert runner.check(spec, outcome.indices).honest
    assert np.array_equal(outcome.energies, model.energies(outcome.spins(4)))

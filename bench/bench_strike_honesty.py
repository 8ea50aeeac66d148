"""False alarms of the strike verifier over many honest strikes (target: none in 100,000).

Run ``.venv/bin/python bench/bench_strike_honesty.py --strikes 100000``. Each strike is a random
spec (model of 4..12 variables with and without fields, depth 1..3, random angles, 64 shots, a
random seed) run on the numpy reference kernel, the numba fast kernel and the exact MPS; every
backend's shots are checked against every backend's probabilities (nine checks a strike). It
prints the false alarms (must be 0), the shots accepted only thanks to the tolerance, the
smallest draw margin seen and the largest CDF difference between two backends.
``--threads N`` (default 1) pins every thread pool; the header prints the machine and the load.
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session

# isort: split
import argparse
import time

import numpy as np

from poqw.compute.strike_spec import (
    CDF_TOLERANCE,
    StrikeRunner,
    StrikeSpec,
    check_shots,
    draw_indices,
    strike_uniforms,
)
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph

BACKENDS = ("reference", "fast", "mps")


def make_models(rng: np.random.Generator, count: int) -> list[IsingModel]:
    """MaxCut models (no fields: the fast kernel's half-state path) and spin glasses with
    fields, on 3-regular graphs of 4..12 variables."""
    out = []
    for k in range(count):
        n = int(rng.choice([4, 6, 8, 10, 12]))
        graph = random_regular_graph(3, n, seed=int(rng.integers(1 << 30)))
        if k % 2 == 0:
            out.append(maxcut_to_ising(graph))
            continue
        edges = {(min(i, j), max(i, j)): float(rng.choice([-1.0, 1.0])) for i, j in graph.edges}
        fields = {i: float(rng.integers(-1, 2)) for i in range(n)}
        out.append(IsingModel.from_dicts(fields, edges))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strikes", type=int, default=100_000)
    parser.add_argument("--shots", type=int, default=64)
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    add_threads_argument(parser)
    args = parser.parse_args()
    with bench_session("strike honesty", ["numba"]) as session:
        rng = np.random.default_rng(args.seed)
        print(f"seed {args.seed}: {args.strikes} honest strikes x {len(BACKENDS)} backends, "
              f"{args.shots} shots, tolerance {CDF_TOLERANCE:g}")
        models = make_models(rng, args.models)
        runners = [{b: StrikeRunner(m, b) for b in BACKENDS} for m in models]
        false_alarms = boundary = disagreements = shots = 0
        min_margin, max_cdf_gap = 1.0, 0.0
        t0 = time.perf_counter()
        for k in range(args.strikes):
            which = int(rng.integers(len(models)))
            model, group = models[which], runners[which]
            p = int(rng.integers(1, 4))
            spec = StrikeSpec.create(model.content_hash(), rng.uniform(-np.pi, np.pi, p),
                                     rng.uniform(-np.pi, np.pi, p), args.shots, rng.bytes(32))
            probs = {b: r.probabilities(spec) for b, r in group.items()}
            uniforms = strike_uniforms(spec)
            draws = {b: draw_indices(pr, uniforms) for b, pr in probs.items()}
            ref_cdf = np.cumsum(probs["reference"])
            for b in BACKENDS:
                idx, margins = draws[b]
                min_margin = min(min_margin, float(margins.min()))
                disagreements += int(np.count_nonzero(idx != draws["reference"][0]))
                max_cdf_gap = max(max_cdf_gap, float(np.abs(np.cumsum(probs[b]) - ref_cdf).max()))
                for checker in BACKENDS:
                    verdict = check_shots(probs[checker], spec, idx)
                    false_alarms += verdict.mismatches
                    boundary += verdict.boundary_accepted
            shots += args.shots
            if (k + 1) % max(1, args.strikes // 10) == 0:
                print(f"  {k + 1:>7} strikes, {false_alarms} false alarms, "
                      f"{time.perf_counter() - t0:.0f} s")
        seconds = time.perf_counter() - t0
        print(f"honest strikes: {args.strikes} ({args.shots} shots each, {shots} in all, on "
              f"{len(BACKENDS)} backends, {len(BACKENDS) ** 2} cross-checks per strike) "
              f"in {seconds:.1f} s")
        print(f"false alarms: {false_alarms}")
        print(f"shots accepted only within the tolerance: {boundary}; draws that differed "
              f"between backends: {disagreements}")
        print(f"smallest draw margin: {min_margin:.3g}; largest CDF gap between backends: "
              f"{max_cdf_gap:.3g} (tolerance {CDF_TOLERANCE:g})")
        session.notes.append(f"{args.strikes} strikes, {false_alarms} false alarms")
        if false_alarms:
            raise SystemExit(1)


if __name__ == "__main__":
    main()

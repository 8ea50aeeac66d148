"""The compute network's figures: scaling on Dask workers, job overhead, spot-check cost.

Run ``.venv/bin/python bench/bench_compute.py`` (``--quick`` for a short run). It prints:

* strong scaling: one coordinated solve (fixed strikes, same seeds, so the same answer) on a
  local Dask cluster of 1 and then ``--workers`` worker processes; the time to all strikes and
  to the run's best cut, and the efficiency ``T1 / (W * TW)``;
* the round trip of one Dask job against the strike time at several sizes, and the shots per
  job below which splitting a strike over workers does not pay (the coordinator's
  ``job_shots`` keeps smaller strikes whole);
* spot checks: the detection rate of a solver faking a fraction f, measured over many
  commitments against the bound ``1 - (1 - f)**k``, and the verification / solving cost ratio
  at 99% detection of f = 10% for several batch sizes.

``--threads N`` (default 1) pins every thread pool (workers included); the header prints the
machine and the load. This machine's share of cores bounds the scaling figure: say so.
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session, strike_times

# isort: split
import argparse
import logging
import statistics
import time
from typing import Any

import numpy as np

from poqw.compute.commitment import StrikeLeaf, batch_id, commit_leaves
from poqw.compute.coordinator import Coordinator, SolveSettings
from poqw.compute.jobs import Job
from poqw.compute.slicing import local_cluster
from poqw.compute.strike_spec import StrikeRunner, StrikeSpec, derive_job_seed, spins_from_indices
from poqw.compute.transport import DaskTransport, run_job, run_solve
from poqw.compute.verifier import (
    Verifier,
    challenge_from_block_hash,
    checks_for_detection,
)
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph

KEY = EcdsaPrivateKey(bytes(31) + b"\x01")


def timed_solve(client: Any, model: IsingModel, settings: SolveSettings) -> dict[str, Any]:
    """One coordinated solve on the cluster; seconds to the end and to each round."""
    transport = DaskTransport(client, model)
    # warm up every worker's engine and this process's polish and controller: a short solve
    warm = SolveSettings(p=settings.p, shots=settings.shots, rounds=2,
                         job_shots=settings.job_shots, seed=settings.seed + 1)
    run_solve(Coordinator(model, warm, transport.workers), transport)
    coordinator = Coordinator(model, settings, transport.workers)
    marks: list[tuple[float, float]] = []
    start = time.perf_counter()
    run_solve(coordinator, transport,
              on_round=lambda c: marks.append((time.perf_counter() - start, c.best_energy)))
    transport.close()
    return {"seconds": time.perf_counter() - start, "marks": marks,
            "energy": coordinator.best_energy}


def scaling(args: argparse.Namespace) -> None:
    model = maxcut_to_ising(random_regular_graph(3, args.n, seed=1))
    settings = SolveSettings(p=2, shots=args.shots, rounds=args.strikes, seed=0,
                             controller="bayes", job_shots=args.shots // (2 * args.workers))
    print(f"\n== strong scaling: {args.n} variables, p=2, {args.strikes} strikes of "
          f"{args.shots} shots, {len(settings.job_sizes())} jobs a strike ==")
    runs = {}
    for workers in (1, args.workers):
        with local_cluster(n_workers=workers, threads_per_worker=1, processes=True) as client:
            runs[workers] = timed_solve(client, model, settings)
    target = runs[1]["energy"]
    t1 = runs[1]["seconds"]
    for workers, run in runs.items():
        to_target = next(t for t, e in run["marks"] if e <= target)
        print(f"  {workers} worker(s): {run['seconds']:.2f} s to {args.strikes} strikes, "
              f"{to_target:.2f} s to the best cut {-run['energy']:g}; "
              f"efficiency {t1 / (workers * run['seconds']):.0%}")
    assert runs[1]["energy"] == runs[args.workers]["energy"]


def overhead(args: argparse.Namespace) -> None:
    print("\n== job round trip vs strike time ==")
    with local_cluster(n_workers=1, threads_per_worker=1, processes=True) as client:
        tiny = maxcut_to_ising(random_regular_graph(3, 4, seed=1))
        job = Job(0, 0, bytes(32), StrikeSpec.create(tiny.content_hash(), [0.1], [0.2], 1,
                                                     bytes(32))).to_bytes()
        scattered = client.scatter(tiny, broadcast=True)
        client.submit(run_job, scattered, job, pure=False).result()
        trips = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            client.submit(run_job, scattered, job, pure=False).result()
            trips.append(time.perf_counter() - t0)
    trip = statistics.median(trips)
    print(f"  Dask round trip of an almost empty job (local worker process): {trip * 1e3:.2f} ms")
    print(f"  {'n':>3} {'state (ms)':>11} {'per shot (us)':>14} {'strike 256 (ms)':>16} "
          f"{'shots for 1 trip':>17}")
    for n in args.sizes:
        one, many = strike_times(n, 32768)
        per_shot = max(many - one, 0.0) / 32767 or float("nan")
        print(f"  {n:>3} {one * 1e3:>11.3f} {per_shot * 1e6:>14.2f} "
              f"{(one + 256 * per_shot) * 1e3:>16.3f} {trip / per_shot:>17.0f}")
    print("  a job re-builds the state, so a strike split into J jobs costs J states + its "
          "shots; it pays only when the shots of a job take longer than a round trip plus "
          "a state: below that the coordinator keeps the strike one job (job_shots)")


def detection(args: argparse.Namespace) -> None:
    print("\n== spot checks: detection and cost ==")
    model = maxcut_to_ising(random_regular_graph(3, 10, seed=2))
    runner = StrikeRunner(model, "fast")
    rng = np.random.default_rng(0)
    leaves = []
    runner.run(StrikeSpec.create(model.content_hash(), [0.1], [0.2], 1, bytes(32)))  # compile
    t0 = time.perf_counter()
    for k in range(args.batch):
        spec = StrikeSpec.create(model.content_hash(), [0.3, 0.5], [0.4, 0.2], 64,
                                 derive_job_seed(b"bench", 0, k))
        outcome = runner.run(spec)
        leaves.append(StrikeLeaf(spec, outcome.indices, outcome.energies))
    solve_per_strike = (time.perf_counter() - t0) / args.batch
    verifier = Verifier(model, "reference")  # detection: re-run on another kernel
    for f, k in ((0.05, 20), (0.1, 44), (0.2, 10)):
        fakes, caught = round(f * args.batch), 0
        for _ in range(args.trials):
            batch = list(leaves)
            for i in rng.choice(args.batch, fakes, replace=False):
                idx = rng.integers(0, 1 << 10, 64)
                energies = model.energies(spins_from_indices(idx, 10))
                batch[i] = StrikeLeaf(batch[i].spec, idx, energies)
            signed, tree = commit_leaves(KEY, batch_id([x.spec for x in batch]), batch)
            check = verifier.spot_check(signed, challenge_from_block_hash(rng.bytes(32), signed),
                                        k, lambda i, b=batch, t=tree: (b[i], t.proof(i)))
            caught += not check.passed
        print(f"  f={f:.2f}, k={k:>2}: caught {caught}/{args.trials} = {caught / args.trials:.3f}"
              f" (bound 1-(1-f)^k = {1 - (1 - f) ** k:.3f})")
    signed, tree = commit_leaves(KEY, batch_id([x.spec for x in leaves]), leaves)
    verifier = Verifier(model, "fast")  # the cost figure: the verifier's best kernel
    verifier.check_leaf(leaves[0])
    k = checks_for_detection(0.1, 0.99)
    t0 = time.perf_counter()
    for _ in range(args.repeats // 10 + 1):
        verifier.spot_check(signed, challenge_from_block_hash(rng.bytes(32), signed), k,
                            lambda i: (leaves[i], tree.proof(i)))
    verify_per_check = (time.perf_counter() - t0) / (k * (args.repeats // 10 + 1))
    print(f"  solving a strike (n=10, p=2, 64 shots): {solve_per_strike * 1e3:.3f} ms; "
          f"checking one (path + re-run, fast kernel): {verify_per_check * 1e3:.3f} ms")
    print(f"  99% detection of f=10% needs k={k} checks a commitment; verification / solving:")
    for strikes in (100, 1000, 4400, 10000, 100000):
        ratio = k * verify_per_check / (strikes * solve_per_strike)
        print(f"    {strikes:>6} strikes a commitment: {ratio:.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n", type=int, default=18)
    parser.add_argument("--shots", type=int, default=16384)
    parser.add_argument("--strikes", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 14, 18, 20])
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--only", choices=("scaling", "overhead", "detection"))
    add_threads_argument(parser)
    args = parser.parse_args()
    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # worker shutdown chatter
    if args.quick:
        args.n, args.shots, args.strikes, args.repeats = 14, 4096, 4, 20
        args.sizes, args.batch, args.trials = [10, 14], 100, 100
    with bench_session("compute", ["distributed", "numba"]):
        for name, section in (("scaling", scaling), ("overhead", overhead),
                              ("detection", detection)):
            if args.only in (None, name):
                section(args)


if __name__ == "__main__":
    main()

"""`poqw solve` as it ships (match-strike QAOA + annealing) against simulated annealing alone.

Both get the same time limit (a hard limit since issue 9) on the same instance: random 3-regular
graphs and Erdős–Rényi graphs of mean degree 4, n = 50, 300 and 2000, a few seeds. The default
solve is :func:`poqw.strike.solve` with the CLI's defaults (p=2, 64 shots, Bayesian controller,
CVaR, backend auto, bond 64, samplers qaoa + simulated-annealing); annealing alone is the same
loop with ``samplers=("simulated-annealing",)``, so both anneal with the same schedule (1000
sweeps, one thread) and, by the name-keyed seeds, the same random draws. Columns: the cuts,
their ratio (default / annealing; >= 1 means the default solve is at least as good), the
seconds each really took, and what QAOA did. Strikes are sized by measured time, so two runs
of the same thing differ a little under load: "again" is annealing alone run a second time, the
size of that noise. The header and footer print the machine, the threads in force
(``--threads N``) and the load.

    .venv/bin/python bench/bench_solve.py [--time-limit 10] [--seeds 0 1 2] [--sizes 50 300 2000]
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session

# isort: split
import argparse
import statistics
import time
from typing import Any

from poqw.problems import IsingModel, erdos_renyi_graph, maxcut_to_ising, random_regular_graph
from poqw.strike import solve

FAMILIES = ("3-regular", "erdos-renyi")
ER_MEAN_DEGREE = 4.0


def instance(family: str, n: int, seed: int) -> IsingModel:
    if family == "3-regular":
        return maxcut_to_ising(random_regular_graph(3, n, seed=seed))
    return maxcut_to_ising(erdos_renyi_graph(n, ER_MEAN_DEGREE / (n - 1), seed=seed))


def run(model: IsingModel, seed: int, time_limit: float, alone: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"seed": seed, "time_limit": time_limit}
    if alone:
        kwargs["samplers"] = ("simulated-annealing",)
    else:  # the defaults of `poqw solve`
        kwargs.update(p=2, shots=64, controller="bayes", objective="cvar", backend="auto",
                      max_bond=64)
    wall = time.perf_counter()
    result = solve(model, **kwargs)
    wall = time.perf_counter() - wall
    qaoa = result.allocation.get("qaoa")
    if qaoa is None:
        what = "-"
    elif qaoa.strikes:
        what = f"{qaoa.strikes} strikes, {qaoa.seconds:.1f} s"
    else:
        skipped = [note for note in result.notes if note.startswith("QAOA skipped")]
        what = "skipped (preparation does not fit its share)" if skipped else "0 strikes"
    return {"cut": -result.energy, "seconds": result.seconds, "wall": wall, "qaoa": what,
            "found_by": result.found_by, "strikes": result.strikes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 300, 2000])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: n=50 and 300, one seed, 2 s each")
    add_threads_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.time_limit, args.seeds, args.sizes = 2.0, [0], [50, 300]
    with bench_session("bench_solve" + (" quick" if args.quick else "")):
        return compare(args)


def compare(args: argparse.Namespace) -> int:
    warm = instance("3-regular", 20, 0)  # imports and kernel compilation, not timed
    run(warm, 0, 0.2, alone=False)
    print(f"time limit {args.time_limit:g} s each; ER mean degree {ER_MEAN_DEGREE:g}\n")
    print("| family | n | seed | default cut | annealing cut | ratio | again | default s | "
          "annealing s | QAOA in the default |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ratios: dict[tuple[str, int], list[float]] = {}
    for family in FAMILIES:
        for n in args.sizes:
            for seed in args.seeds:
                model = instance(family, n, seed)
                default = run(model, seed, args.time_limit, alone=False)
                alone = run(model, seed, args.time_limit, alone=True)
                again = run(model, seed, args.time_limit, alone=True)
                ratio = default["cut"] / alone["cut"]
                ratios.setdefault((family, n), []).append(ratio)
                print(f"| {family} | {n} | {seed} | {default['cut']:g} | {alone['cut']:g} | "
                      f"{ratio:.4f} | {again['cut']:g} | {default['seconds']:.2f} | "
                      f"{alone['seconds']:.2f} | {default['qaoa']} |", flush=True)
    print("\n| family | n | mean ratio | worst ratio |")
    print("|---|---|---|---|")
    for (family, n), values in ratios.items():
        print(f"| {family} | {n} | {statistics.fmean(values):.4f} | {min(values):.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

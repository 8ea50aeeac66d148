"""Quality benchmark: match-strike against naive QAOA and classical baselines on small MaxCut.

For each graph (random 3-regular and Erdős–Rényi p=0.5, n of 10-20, many seeds) the exact optimum
comes from brute force, and each method gets the same budget of strikes of ``shots`` samples:
match-strike (Bayesian controller, QAOA stream alone; and sharing time with simulated annealing
through the allocator), QAOA with Nelder–Mead on the mean energy, uniformly random bitstrings (no
polish), steepest descent from random starts, and simulated annealing. Reported: approximation
ratio (cut found / optimal cut), probability that a sample is optimal before and after polish,
time to reach the optimum (unsolved runs censored at their budget), and for QAOA the ratio
<cut>/cut_opt of the state itself; means carry standard errors over the seeds. The Markdown
report says where classical methods win; at these sizes they do.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from poqw.errors import ConfigError
from poqw.problems import (
    IsingModel,
    erdos_renyi_graph,
    maxcut_to_ising,
    random_regular_graph,
    solve_exact,
)
from poqw.strike.bench_plots import make_plots
from poqw.strike.loop import SolveResult, solve
from poqw.strike.survival import CensoredTime, censored_median, mean_and_error

__all__ = [
    "FAMILIES",
    "METHODS",
    "PUBLISHED_QAOA_RATIOS",
    "QUICK",
    "MethodRun",
    "make_instance",
    "run_benchmark",
    "run_method",
]

FAMILIES: tuple[str, ...] = ("3-regular", "erdos-renyi")
METHODS: tuple[str, ...] = (
    "match-strike", "match-strike+sa", "qaoa-nelder-mead", "random", "steepest-descent",
    "simulated-annealing",
)
#: Large-girth 3-regular fixed-angle ratios (Farhi et al.; Wurtz & Love), for the report.
PUBLISHED_QAOA_RATIOS = {1: 0.6925, 2: 0.7559, 3: 0.7923, 4: 0.8167, 5: 0.8364}
#: Quick still runs enough seeds for error bars (the means are over seeds).
QUICK: dict[str, Any] = {"sizes": (8, 10), "seeds": tuple(range(6)), "families": FAMILIES,
                         "budget": 6, "shots": 32, "p": 1}
Progress = Callable[[str, int, int], None]


def make_instance(family: str, n: int, seed: int) -> IsingModel:
    """The MaxCut model of one benchmark graph (energy = -cut)."""
    if family == "3-regular":
        if n % 2:
            raise ConfigError(f"a 3-regular graph needs an even number of nodes, got {n}")
        return maxcut_to_ising(random_regular_graph(3, n, seed=seed))
    if family == "erdos-renyi":
        return maxcut_to_ising(erdos_renyi_graph(n, 0.5, seed=seed))
    raise ConfigError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")


@dataclass(frozen=True)
class MethodRun:
    """One method on one instance."""

    family: str
    n: int
    seed: int
    method: str
    optimum: float
    energy: float
    ratio: float
    raw_optimal_fraction: float
    polished_optimal_fraction: float
    time_to_target: float | None
    seconds: float
    samples: int
    state_ratio: float | None


def _is_optimal(energies: np.ndarray, optimum: float) -> np.ndarray:
    return np.asarray(energies <= optimum + 1e-9 * max(1.0, abs(optimum)))


def _from_result(result: SolveResult, optimum: float) -> dict[str, Any]:
    raw = np.concatenate([r.sampled_energies for r in result.history])
    polished = np.concatenate([r.polished_energies for r in result.history])
    ttt = next((r.time for r in result.history if _is_optimal(np.array([r.best_energy]),
                                                                 optimum)[0]), None)
    expectations = [r.expectation for r in result.history if r.expectation is not None]
    return {
        "energy": result.energy,
        "raw_optimal_fraction": float(_is_optimal(raw, optimum).mean()),
        "polished_optimal_fraction": float(_is_optimal(polished, optimum).mean()),
        "time_to_target": ttt,
        "seconds": result.seconds,
        "samples": int(raw.size),
        "state_ratio": min(expectations) / optimum if expectations and optimum else None,
    }


def run_method(method: str, model: IsingModel, optimum: float, budget: int, shots: int, p: int,
               seed: int) -> dict[str, Any]:
    """Run one method with ``budget`` strikes of ``shots`` samples; metrics as a dict."""
    common: dict[str, Any] = {"max_strikes": budget, "shots": shots, "seed": seed, "p": p}
    if method == "match-strike":
        return _from_result(solve(model, samplers=("qaoa",), **common), optimum)
    if method == "match-strike+sa":
        return _from_result(solve(model, samplers=("qaoa", "simulated-annealing"), **common),
                            optimum)
    if method == "qaoa-nelder-mead":
        return _from_result(solve(model, samplers=("qaoa",), controller="nelder-mead",
                                  objective="mean", **common), optimum)
    if method in ("steepest-descent", "simulated-annealing"):
        return _from_result(solve(model, samplers=(method,), **common), optimum)
    if method == "random":
        from poqw.samplers import get_sampler, spins_and_energies

        start = time.perf_counter()
        sampleset = get_sampler("random").sample(model, num_reads=budget * shots, seed=seed)
        seconds = time.perf_counter() - start
        energies = spins_and_energies(sampleset, model)[1]
        hits = np.flatnonzero(_is_optimal(energies, optimum))
        fraction = float(hits.size / energies.size)
        return {
            "energy": float(energies.min()), "raw_optimal_fraction": fraction,
            "polished_optimal_fraction": fraction,
            "time_to_target": seconds * (hits[0] + 1) / energies.size if hits.size else None,
            "seconds": seconds, "samples": int(energies.size), "state_ratio": None,
        }
    raise ConfigError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def _summarise(runs: Sequence[MethodRun]) -> dict[str, Any]:
    """Means over the seeds, with standard errors, and the censored median time to target."""
    states = [r.state_ratio for r in runs if r.state_ratio is not None]
    ratio, ratio_error = mean_and_error([r.ratio for r in runs])
    times = [CensoredTime.of_run(r.time_to_target, r.seconds) for r in runs]
    return {
        "instances": len(runs),
        "mean_ratio": ratio,
        "ratio_stderr": ratio_error,
        "solved": sum(r.ratio >= 1 - 1e-9 for r in runs) / len(runs),
        "raw_optimal_fraction": statistics.fmean(r.raw_optimal_fraction for r in runs),
        "polished_optimal_fraction": statistics.fmean(r.polished_optimal_fraction for r in runs),
        "median_time_to_target": censored_median(times),
        "unsolved_censored": sum(not t.solved for t in times),
        "mean_seconds": statistics.fmean(r.seconds for r in runs),
        "state_ratio": statistics.fmean(states) if states else None,
    }


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else format(value, spec)


def _ttt(value: float | None) -> str:
    return "> budget" if value is None else format(value, ".4f")


def _report(config: dict[str, Any], summary: dict[str, dict[int, dict[str, dict[str, Any]]]],
            plots: list[str]) -> str:
    lines = [
        "# match-strike quality benchmark", "",
        f"MaxCut, families {', '.join(config['families'])}, n in {list(config['sizes'])}, "
        f"{len(config['seeds'])} seeds each; every method gets {config['budget']} strikes of "
        f"{config['shots']} samples; QAOA depth p={config['p']}. Exact optimum by brute force. "
        "Times are wall-clock seconds on this machine (shared; treat as rough).", "",
        "Columns: ratio = mean cut found / optimal cut; solved = fraction of instances where the "
        "optimum was found; P(opt) raw / polished = fraction of all samples that are optimal "
        "as the sampler returned them / after local search (steepest descent and annealing "
        "already return local minima); TTT = median seconds to reach the optimum over all "
        "instances, unsolved ones counted as censored at their budget (Kaplan–Meier; '> budget' "
        "when fewer than half are solved); ⟨cut⟩ ratio = best QAOA state's expected cut / "
        "optimal cut. ± is the standard error over seeds.", "",
    ]
    for family, by_size in summary.items():
        lines += [f"## {family}", "",
                  "| n | method | ratio | solved | P(opt) raw | P(opt) polished | TTT s | "
                  "run s | ⟨cut⟩ ratio |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for n, by_method in sorted(by_size.items()):
            for method, s in by_method.items():
                lines.append(
                    f"| {n} | {method} | {s['mean_ratio']:.4f} ± {s['ratio_stderr']:.4f} | "
                    f"{s['solved']:.2f} | "
                    f"{s['raw_optimal_fraction']:.4f} | {s['polished_optimal_fraction']:.4f} | "
                    f"{_ttt(s['median_time_to_target'])} | {s['mean_seconds']:.3f} | "
                    f"{_fmt(s['state_ratio'], '.4f')} |")
        lines.append("")
    lines += ["## What this shows", "", *_conclusions(config, summary), ""]
    lines += [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    return "\n".join(lines) + "\n"


def _pooled(summary: dict[str, dict[int, dict[str, dict[str, Any]]]], method: str,
            key: str) -> float | None:
    values = [m[method][key] for by in summary.values() for m in by.values()
              if method in m and m[method][key] is not None]
    return statistics.fmean(values) if values else None


def _conclusions(config: dict[str, Any],
                 summary: dict[str, dict[int, dict[str, dict[str, Any]]]]) -> list[str]:
    out = []
    ms_solved = _pooled(summary, "match-strike", "solved")
    ms_ttt = _pooled(summary, "match-strike", "median_time_to_target")
    classical = [
        (m, _pooled(summary, m, "solved"), _pooled(summary, m, "median_time_to_target"))
        for m in ("simulated-annealing", "steepest-descent", "random")
    ]
    classical = [c for c in classical if c[1] is not None]
    if ms_solved is not None and classical:
        name, solved, ttt = max(classical, key=lambda c: (c[1], -(c[2] or math.inf)))
        assert solved is not None
        wins = solved >= ms_solved and ttt is not None and (ms_ttt is None or ttt <= ms_ttt)
        verdict = "Classical methods win here" if wins else \
            "At this budget match-strike was not beaten on both success and time to target"
        out.append(f"- {verdict}: the best classical method, {name}, solved {solved:.0%} of "
                   f"instances (median time to target {_ttt(ttt)} s); match-strike "
                   f"solved {ms_solved:.0%} ({_ttt(ms_ttt)} s).")
    sa = _pooled(summary, "simulated-annealing", "solved")
    sa_reads = _pooled(summary, "simulated-annealing", "raw_optimal_fraction")
    if sa is not None and sa_reads is not None:
        out.append(f"- Simulated annealing solved {sa:.0%} of instances and {sa_reads:.1%} of "
                   "its reads were optimal: at these sizes classical annealing is the method to "
                   "beat, and QAOA on a simulated state vector does not beat it.")
    raw = _pooled(summary, "match-strike", "raw_optimal_fraction")
    pol = _pooled(summary, "match-strike", "polished_optimal_fraction")
    rnd = _pooled(summary, "random", "raw_optimal_fraction")
    sd = _pooled(summary, "steepest-descent", "polished_optimal_fraction")
    if raw is not None and pol is not None and rnd is not None:
        out.append(f"- QAOA raises the probability that a raw sample is optimal from "
                   f"{rnd:.4f} (uniform random) to {raw:.4f}; polish by local search lifts it to "
                   f"{pol:.4f} (steepest descent from random starts: {_fmt(sd, '.4f')}). Much of "
                   "the solving is done by the polish.")
    state = _pooled(summary, "match-strike", "state_ratio")
    nm_state = _pooled(summary, "qaoa-nelder-mead", "state_ratio")
    published = PUBLISHED_QAOA_RATIOS.get(int(config["p"]))
    if state is not None:
        out.append(f"- The best QAOA state's ⟨cut⟩/cut_opt is {state:.4f} under the Bayesian "
                   f"controller and {_fmt(nm_state, '.4f')} under Nelder–Mead on the mean "
                   f"(published large-girth 3-regular value at p={config['p']}: "
                   f"{_fmt(published, '.4f')}; small graphs have short cycles and do better). "
                   "Goemans–Williamson and annealing exceed these ratios.")
    return out


def run_benchmark(
    sizes: Sequence[int] = (10, 12, 14, 16, 18, 20),
    seeds: Sequence[int] = tuple(range(10)),
    families: Sequence[str] = FAMILIES,
    budget: int = 30,
    out_dir: str | Path = "bench-out/strike",
    progress: Progress | None = None,
    *,
    shots: int = 64,
    p: int = 2,
    methods: Sequence[str] = METHODS,
) -> dict[str, Any]:
    """Run every method on every instance; write ``report.md``, ``results.json`` and PNG plots.

    Returns ``{"config", "runs", "summary", "report", "plots"}``. ``progress(label, done,
    total)`` is called after each method run.
    """
    for family in families:
        if family not in FAMILIES:
            raise ConfigError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    for method in methods:
        if method not in METHODS:
            raise ConfigError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if not sizes or not seeds:
        raise ConfigError("sizes and seeds must not be empty")
    if budget < 1:
        raise ConfigError(f"budget must be a positive number of strikes, got {budget}")
    if max(sizes) > 24:
        raise ConfigError(f"sizes up to 24 (brute force and state vector), got {max(sizes)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    warm = make_instance("3-regular", 6, 0)  # compile the kernels before anything is timed
    for method in methods:
        run_method(method, warm, solve_exact(warm).energy, 2, 8, 1, 0)
    runs: list[MethodRun] = []
    total = len(families) * len(sizes) * len(seeds) * len(methods)
    for family in families:
        for n in sizes:
            for seed in seeds:
                model = make_instance(family, n, seed)
                optimum = solve_exact(model).energy
                for method in methods:
                    metrics = run_method(method, model, optimum, budget, shots, p, seed)
                    ratio = metrics["energy"] / optimum if optimum else 1.0
                    runs.append(MethodRun(family, n, seed, method, optimum, ratio=ratio,
                                          **metrics))
                    if progress is not None:
                        progress(f"{family} n={n} seed={seed} {method}", len(runs), total)
    summary: dict[str, dict[int, dict[str, dict[str, Any]]]] = {}
    for family in families:
        summary[family] = {}
        for n in sizes:
            summary[family][n] = {
                m: _summarise([r for r in runs if (r.family, r.n, r.method) == (family, n, m)])
                for m in methods
            }
    config = {"sizes": list(sizes), "seeds": list(seeds), "families": list(families),
              "budget": budget, "shots": shots, "p": p, "methods": list(methods)}
    runs_doc = [asdict(r) for r in runs]
    plots = make_plots(summary, runs_doc, methods, out, len(seeds))
    report = _report(config, summary, plots)
    (out / "report.md").write_text(report)
    doc = {"config": config, "runs": runs_doc, "summary": summary,
           "report": str(out / "report.md"), "plots": plots}
    (out / "results.json").write_text(json.dumps(doc, indent=1))
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m poqw.strike.benchmark [--quick] [--out DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--out", default="bench-out/strike")
    args = parser.parse_args(argv)
    kwargs: dict[str, Any] = dict(QUICK) if args.quick else {}
    doc = run_benchmark(out_dir=args.out, progress=lambda label, i, k: print(f"[{i}/{k}] {label}"),
                        **kwargs)
    print(Path(doc["report"]).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

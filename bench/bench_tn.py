"""Tensor-network benchmark: poqw's MPS and light-cone engines against quimb, same run.

Runs quimb's defaults (``CircuitMPS`` with swap+split; ``Circuit.local_expectation`` per edge)
and ours on the same random 3-regular MaxCut instances and prints times, ratios, fidelities and
energy errors. The exact ⟨H⟩ at p=1 comes from the closed form; the MPS fidelity of a χ-capped
state is its overlap with a large-χ MPS of ours. ``--quick`` runs small sizes and extrapolates
quimb's slowest parts from a subset (said so in the output).

    .venv/bin/python bench/bench_tn.py --quick
    .venv/bin/python bench/bench_tn.py            # n=40 MPS, n=1000 light cones (minutes)

Every engine runs with the same ``--threads N`` (default 1) for BLAS, OpenMP and numba, pinned
before numpy and quimb load (quimb's ``CircuitMPS`` build is very sensitive to BLAS threads on a
busy machine); the header prints the settings in force and the load before and after. Times are
of the public calls a user makes: ``MPSQAOA.state``, ``MPSState.sample``,
``LightconeQAOA.expectation``; quimb's ``CircuitMPS`` gates, ``sample`` and ``local_expectation``
(``normalized=True`` on the truncated MPS).
"""

from __future__ import annotations

from _common import THREADS, add_threads_argument, bench_session, limit_threads

# isort: split
import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from poqw.compute.slicing import contract_sliced, local_cluster, plan_sliced
from poqw.problems import IsingModel, pm_j_spin_glass, random_maxcut, random_regular_graph
from poqw.sim.lightcone import LightconeQAOA
from poqw.sim.mps import MPSQAOA, blas_threads


def angles(p: int) -> tuple[list[float], list[float]]:
    """Fixed angles for 3-regular MaxCut in poqw's sign convention."""
    from poqw.sim.angles import fixed_angles

    g, b = fixed_angles(p)
    return g.tolist(), b.tolist()


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def quimb_circuit(model: IsingModel, gammas: list[float], betas: list[float], mps: bool,
                  max_bond: int, qubit_of: np.ndarray | None = None) -> Any:
    """The QAOA circuit in quimb; ``qubit_of[var]`` relabels variables (default: identity)."""
    import quimb.tensor as qtn

    n = model.num_variables
    place = np.arange(n) if qubit_of is None else qubit_of
    circ = qtn.CircuitMPS(n, max_bond=max_bond) if mps else qtn.Circuit(n)
    for q in range(n):
        circ.apply_gate("H", q)
    for g, b in zip(gammas, betas, strict=True):
        for (u, v), w in zip(model.edges.tolist(), model.J.tolist(), strict=True):
            circ.apply_gate("RZZ", 2 * g * w, int(place[u]), int(place[v]))
        for q, hq in enumerate(model.h.tolist()):
            if hq != 0.0:
                circ.apply_gate("RZ", 2 * g * hq, int(place[q]))
        for q in range(n):
            circ.apply_gate("RX", 2 * b, q)
    return circ


def quimb_mps_run(model: IsingModel, gammas: list[float], betas: list[float], chi: int,
                  shots: int, quimb_shots: int, qubit_of: np.ndarray | None = None
                  ) -> dict[str, float]:
    """quimb's CircuitMPS build, its fidelity estimate and its sampling time scaled to
    ``shots`` (measured on ``quimb_shots``)."""
    circ, build = timed(lambda: quimb_circuit(model, gammas, betas, True, chi, qubit_of))
    _, sample = timed(lambda: list(circ.sample(quimb_shots, seed=1)))
    out = {"build": build, "sample": sample * shots / quimb_shots,
           "fidelity": float(circ.fidelity_estimate())}
    n = model.num_variables
    if n <= 60:
        place = np.arange(n) if qubit_of is None else qubit_of
        zz_op = np.diag([1.0, -1.0, -1.0, 1.0]).reshape(4, 4)
        zz = [float(np.real(circ.local_expectation(
            zz_op, (int(place[u]), int(place[v])), normalized=True))) for u, v in model.edges]
        out["energy"] = model.offset + float(model.J @ np.asarray(zz))
    return out


def bench_mps(n: int, p: int, chi: int, shots: int, quimb_shots: int,
              quimb_our_order: bool = False) -> None:
    model = random_maxcut(3, n, seed=0)
    gammas, betas = angles(p)
    print(f"\n== MPS: n={n} 3-regular MaxCut, p={p}, max_bond={chi}, {THREADS} thread(s) ==")
    exact = LightconeQAOA(model).expectation(gammas, betas)
    engine = MPSQAOA(model, max_bond=chi, blas_thread_limit=THREADS)
    ours, t_build = timed(lambda: engine.state(gammas, betas))
    samples, t_sample = timed(lambda: ours.sample(shots, seed=1))
    energy = ours.expectation(model)
    reference = MPSQAOA(model, max_bond=4 * chi, blas_thread_limit=THREADS).state(gammas, betas)
    true_fid = abs(ours.overlap(reference)) ** 2
    print(f"ordering {engine.ordering_name} {engine.ordering_score}")
    print(f"poqw  build {t_build:7.2f} s   {shots} samples {t_sample:6.3f} s   "
          f"fidelity estimate {ours.fidelity:.4f}   overlap with chi={4 * chi}: {true_fid:.4f}   "
          f"<H> {energy:.3f} (exact {exact:.3f}, error {abs(energy - exact):.3f}; "
          f"sample mean {model.energies(samples).mean():.3f})   "
          f"reference fidelity estimate {reference.fidelity:.4f}")
    note = "" if quimb_shots == shots else f" (extrapolated from {quimb_shots})"
    orders: list[tuple[str, np.ndarray | None]] = [("natural order", None)]
    if quimb_our_order:
        site = np.empty(n, dtype=np.int64)
        site[engine.order] = np.arange(n)
        orders.append(("poqw's qubit order", site))
    for label, qubit_of in orders:
        q = quimb_mps_run(model, gammas, betas, chi, shots, quimb_shots, qubit_of)
        error = (f"<H> {q['energy']:.3f} (error {abs(q['energy'] - exact):.3f})"
                 if "energy" in q else "<H> not computed (n > 60)")
        print(f"quimb, {label}: build {q['build']:7.2f} s   {shots} samples {q['sample']:6.2f} s"
              f"{note}   fidelity estimate {q['fidelity']:.4f}   {error}")
        print(f"ratio quimb ({label})/poqw: build {q['build'] / t_build:.1f}x, sampling "
              f"{q['sample'] / t_sample:.0f}x, build + {shots} samples "
              f"{(q['build'] + q['sample']) / (t_build + t_sample):.0f}x")


def bench_lightcone(n: int, p: int, quimb_edges: int, glass: bool = False) -> None:
    if glass:
        model = pm_j_spin_glass(random_regular_graph(3, n, seed=0), seed=1, field=True)
        gammas, betas = [0.4, 0.7, 0.2][:p], [0.5, 0.3, 0.1][:p]
        print(f"\n== light cones: n={n} 3-regular +-1 spin glass with +-1/0 fields, p={p}, "
              f"{THREADS} thread(s) ==")
    else:
        model = random_maxcut(3, n, seed=0)
        gammas, betas = angles(p)
        print(f"\n== light cones: n={n} 3-regular MaxCut, p={p}, {THREADS} thread(s) ==")
    engine = LightconeQAOA(model)
    ours, t_ours = timed(lambda: engine.expectation(gammas, betas))
    cones = LightconeQAOA(model, closed_form_p1=False)
    via_cones, t_cones = timed(lambda: cones.expectation(gammas, betas))
    print(f"poqw  {t_ours:7.3f} s  <H> {ours:.6f}  ({engine.last_stats}); all by cones "
          f"{t_cones:.3f} s ({cones.last_stats}), difference {abs(via_cones - ours):.1e}")
    import quimb as qu

    circ = quimb_circuit(model, gammas, betas, False, 0)
    zz_op = qu.pauli("Z") & qu.pauli("Z")
    edges = model.edges[: min(quimb_edges, model.num_interactions)]
    vals, t_q = timed(lambda: [float(np.real(circ.local_expectation(
        zz_op, (int(u), int(v)), optimize="greedy"))) for u, v in edges])
    _, zz = cones.correlations(gammas, betas)
    err = float(np.max(np.abs(np.asarray(vals) - zz[: len(vals)])))
    t_full = t_q * model.num_interactions / len(edges)
    note = "" if len(edges) == model.num_interactions else (
        f" (extrapolated from {len(edges)} of {model.num_interactions} edges)")
    print(f"quimb {t_full:7.2f} s{note}; max |ZZ difference| {err:.1e}")
    print(f"ratio quimb/poqw: {t_full / t_ours:.0f}x")


def grid_network(side: int, bond: int, seed: int) -> tuple[list[tuple[str, ...]],
                                                            dict[str, int], list[np.ndarray]]:
    """A side x side lattice of random positive tensors (a closed 2D network)."""
    rng = np.random.default_rng(seed)
    names: dict[tuple[int, int], str] = {}

    def index(a: int, b: int) -> str:
        return names.setdefault((min(a, b), max(a, b)), f"b{len(names)}")

    inputs: list[tuple[str, ...]] = []
    for r in range(side):
        for c in range(side):
            inputs.append(tuple(
                index(r * side + c, (r + dr) * side + c + dc)
                for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))
                if 0 <= r + dr < side and 0 <= c + dc < side
            ))
    arrays = [rng.uniform(0.0, 1.0, size=[bond] * len(t)) / bond for t in inputs]
    return inputs, {ix: bond for t in inputs for ix in t}, arrays


def bench_slicing(side: int, bond: int, slices: int) -> None:
    inputs, sizes, arrays = grid_network(side, bond, seed=0)
    plan = plan_sliced(inputs, (), sizes, target_slices=slices)
    print(f"\n== sliced contraction: {side}x{side} lattice, bond {bond}: {plan.nslices} slices, "
          f"largest piece 2^{np.log2(plan.max_size):.1f}, flops 10^{np.log10(plan.flops):.1f}, "
          f"slicing overhead {plan.overhead:.2f}x ==")
    with blas_threads(THREADS):
        local, t_local = timed(partial(contract_sliced, plan, arrays))
    print(f"one process, {THREADS} BLAS thread(s), slices in sequence: {t_local:.2f} s  "
          f"value {local:.6e}")
    for workers, processes in ((2, False), (1, True), (2, True)):
        kind = "processes on 127.0.0.1" if processes else "threads, in-process"
        with local_cluster(n_workers=workers, processes=processes) as client:
            value, t = timed(partial(contract_sliced, plan, arrays, client=client))
        print(f"dask, {workers} worker {kind}: {t:.2f} s  speed-up {t_local / t:.2f}x  "
              f"relative difference {abs(value - local) / abs(local):.1e}")


def warm_up() -> None:
    """Compile the numba kernels and load BLAS before anything is timed."""
    tiny = random_maxcut(3, 8, seed=0)
    LightconeQAOA(tiny, closed_form_p1=False).expectation([0.1, 0.2], [0.3, 0.4])
    MPSQAOA(tiny, max_bond=4).state([0.1], [0.2]).sample(4, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, seconds not minutes")
    add_threads_argument(parser)
    args = parser.parse_args()
    import quimb.tensor  # noqa: F401  (loaded before the header so its thread pools are listed)

    warm_up()
    limit_threads()
    with bench_session("bench_tn " + ("quick" if args.quick else "full"),
                       packages=("numba", "quimb", "cotengra", "dask")):
        run(args.quick)


def run(quick: bool) -> None:
    if quick:
        bench_mps(n=24, p=1, chi=32, shots=1000, quimb_shots=50, quimb_our_order=True)
        bench_lightcone(n=200, p=1, quimb_edges=20)
        bench_lightcone(n=200, p=2, quimb_edges=10)
        bench_slicing(side=7, bond=4, slices=16)
    else:
        bench_mps(n=40, p=1, chi=64, shots=1000, quimb_shots=100, quimb_our_order=True)
        bench_mps(n=40, p=2, chi=64, shots=1000, quimb_shots=50)
        bench_lightcone(n=1000, p=1, quimb_edges=100)
        bench_lightcone(n=1000, p=2, quimb_edges=50)
        bench_lightcone(n=1000, p=2, quimb_edges=20, glass=True)
        bench_lightcone(n=1000, p=3, quimb_edges=10)
        bench_slicing(side=9, bond=4, slices=64)


if __name__ == "__main__":
    main()

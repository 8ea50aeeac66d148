"""Engine-speed benchmark: poqw's state-vector QAOA against Qiskit Aer and QOKit's C kernel.

Usage: ``python bench/bench_engine.py [--quick] [--no-qokit] [--threads N]``. Every engine runs
with the same N threads (default 1: one core), pinned before any library loads and printed with
the results. On one random 3-regular graph (networkx, seed 0) it times (a) one QAOA layer at
several n through the call a user makes, ``StateVectorQAOA.expectation`` (state and <H>), against
each peer's state plus the same dot product with the cost diagonal; (b) strikes per second
(state, 64 samples, their energies and <H>) at n=16, p=2; (c) the peak memory of a strike at
n=26 relative to one state vector, in a fresh subprocess. Every figure is the best of at least
five repeats (the least disturbed one: the machine may be shared), the same for every engine;
trust ratios from one run more than absolute times. MaxCut models have no fields, so poqw
simulates half the state by spin-flip symmetry; ``nosym`` rows switch that off, and ``fields``
rows use the same graph with random real-valued fields and weights (no symmetry, no integer
energy levels). QOKit is installed into ``bench/.venv-peers`` on demand (never into the project
environment: it pins older numpy), and its C sources are compiled with -O3 -march=native.
Results are printed and written to ``bench/out/engine.json``.
"""

from __future__ import annotations

from _common import THREADS, add_threads_argument, bench_session, limit_threads

# isort: split
import argparse
import ctypes
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from poqw.problems import index_to_spins, maxcut_to_ising, random_regular_graph
from poqw.problems.model import IsingModel
from poqw.sim import StateVectorQAOA, fixed_angles
from poqw.sim._diagonal import build_diagonal

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
PEERS_VENV = ROOT / ".venv-peers"
SHOTS = 64


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    """Least wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def rates(fns: dict[str, Callable[[], Any]], seconds: float, repeats: int) -> dict[str, float]:
    """Best calls per second of each function over ``repeats`` windows of about ``seconds``;
    the engines take their windows in turn, so a burst of load on a shared machine hits them
    alike instead of one engine's whole measurement."""
    best = dict.fromkeys(fns, 0.0)
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            count, t0 = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - t0) < seconds:
                fn()
                count += 1
            best[name] = max(best[name], count / elapsed)
    return best


def graph_model(n: int) -> IsingModel:
    return maxcut_to_ising(random_regular_graph(3, n, seed=0))


def sample_numpy(probs: np.ndarray, diag: np.ndarray, n: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """What a peer's strike does after its state: cumsum + searchsorted, energies, <H>."""
    cdf = np.cumsum(probs)
    idx = np.minimum(np.searchsorted(cdf, rng.random(SHOTS) * cdf[-1], side="right"),
                     probs.shape[0] - 1)
    return index_to_spins(idx, n), diag[idx], float(probs @ diag)


# ---- QOKit (C kernel, compiled here) ---------------------------------------------------------


def build_qokit() -> tuple[Path | None, str]:
    """Install qokit (no deps) into bench/.venv-peers and compile its C simulator."""
    try:
        if not (PEERS_VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True,
                           capture_output=True)
        found = list(PEERS_VENV.glob("lib/python*/site-packages/qokit/fur/c/csim/src"))
        if not found:
            subprocess.run([str(PEERS_VENV / "bin" / "pip"), "install", "-q", "--no-deps",
                            "qokit"], check=True, capture_output=True, timeout=300)
            found = list(PEERS_VENV.glob("lib/python*/site-packages/qokit/fur/c/csim/src"))
        if not found:
            return None, "qokit installed but its C sources (fur/c/csim/src) are missing"
        src = found[0]
        build = OUT / "qokit_build"
        include = build / "include"
        include.mkdir(parents=True, exist_ok=True)
        lib = build / "libqokit_csim.so"
        sources = sorted(src.glob("*.c"))
        if lib.exists() and lib.stat().st_mtime > max(s.stat().st_mtime for s in sources):
            return lib, f"reused {lib}"
        # the wheel ships no headers: declare every function the .c files define
        protos = []
        for s in sources:
            text = s.read_text()
            protos += [m.group(1).strip() + ";" for m in
                       re.finditer(r"^\s*(void\s+\w+\s*\([^)]*\))\s*\{?", text, re.M)]
        header = "#include <stddef.h>\n" + "\n".join(protos) + "\n"
        for s in sources:
            (include / (s.stem + ".h")).write_text(header)
        cmd = ["gcc", "-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-I",
               str(include), *map(str, sources), "-o", str(lib), "-lm"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            return None, "gcc failed: " + done.stderr[-500:]
        return lib, " ".join(cmd[:6])
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"could not set up qokit: {exc}"


class QokitC:
    """ctypes wrapper of QOKit's ``apply_qaoa_furx`` (state as separate real/imag arrays).

    QOKit applies ``exp(-i gamma/2 H)`` and ``exp(-i beta X)``: it gets ``2 gamma`` to match us.
    """

    def __init__(self, lib_path: Path) -> None:
        self.lib = ctypes.CDLL(str(lib_path))
        dp = ctypes.POINTER(ctypes.c_double)
        self.fn = self.lib.apply_qaoa_furx
        self.fn.argtypes = [dp, dp, dp, dp, dp, ctypes.c_uint, ctypes.c_size_t, ctypes.c_size_t]
        self.fn.restype = None
        try:
            self.gomp: Any = ctypes.CDLL("libgomp.so.1")
        except OSError:
            self.gomp = None

    def threads(self, k: int) -> None:
        if self.gomp is not None:
            self.gomp.omp_set_num_threads(int(k))

    def state(self, diag: np.ndarray, gammas: np.ndarray, betas: np.ndarray,
              re_buf: np.ndarray, im_buf: np.ndarray) -> None:
        n = int(diag.shape[0]).bit_length() - 1
        re_buf.fill(2.0 ** (-n / 2))
        im_buf.fill(0.0)
        g = np.ascontiguousarray(2.0 * gammas)
        b = np.ascontiguousarray(betas, dtype=np.float64)

        def ptr(a: np.ndarray) -> Any:
            return a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))

        self.fn(ptr(re_buf), ptr(im_buf), ptr(g), ptr(b), ptr(diag), n, diag.shape[0], len(g))

    def expectation(self, diag: np.ndarray, gammas: np.ndarray, betas: np.ndarray,
                    re_buf: np.ndarray, im_buf: np.ndarray) -> float:
        """The state, then <H> as QOKit's own ``get_expectation`` takes it: probabilities
        dotted with the cost diagonal."""
        self.state(diag, gammas, betas, re_buf, im_buf)
        return float((re_buf * re_buf + im_buf * im_buf) @ diag)


# ---- Qiskit Aer --------------------------------------------------------------------------


class AerQAOA:
    """A parameterised QAOA circuit transpiled once; ``parameter_binds`` per call."""

    def __init__(self, model: IsingModel, p: int, threads: int) -> None:
        from qiskit import QuantumCircuit, transpile
        from qiskit.circuit import ParameterVector
        from qiskit_aer import AerSimulator

        n = model.num_variables
        self.g, self.b = ParameterVector("g", p), ParameterVector("b", p)
        qc = QuantumCircuit(n)
        qc.h(range(n))
        for k in range(p):
            for (i, j), w in zip(model.edges, model.J, strict=True):
                qc.rzz(2 * float(w) * self.g[k], int(i), int(j))
            for q in range(n):
                qc.rx(2 * self.b[k], q)
        qc.save_statevector()
        self.sim = AerSimulator(method="statevector", max_parallel_threads=threads)
        self.circuit = transpile(qc, self.sim)

    def state(self, gammas: np.ndarray, betas: np.ndarray) -> np.ndarray:
        binds = {**{self.g[k]: [float(v)] for k, v in enumerate(gammas)},
                 **{self.b[k]: [float(v)] for k, v in enumerate(betas)}}
        result = self.sim.run(self.circuit, parameter_binds=[binds]).result()
        return np.asarray(result.get_statevector(0))

    def expectation(self, gammas: np.ndarray, betas: np.ndarray, diag: np.ndarray) -> float:
        sv = self.state(gammas, betas)
        return float((sv.real**2 + sv.imag**2) @ diag)


# ---- measurements ------------------------------------------------------------------------


def fields_model(n: int) -> IsingModel:
    """The same graph with random real-valued fields and weights: no spin-flip symmetry and no
    integer energy levels (what a customer's general model costs)."""
    base = graph_model(n)
    rng = np.random.default_rng(1)
    return IsingModel(h=rng.normal(size=n), edges=base.edges, J=rng.normal(size=base.J.shape[0]))


def measure_layers(sizes: list[int], repeats: int, qokit: QokitC | None,
                   aer_max_n: int) -> list[dict[str, Any]]:
    rows = []
    g, b = fixed_angles(1)
    for n in sizes:
        row: dict[str, Any] = {"n": n, "threads": THREADS}
        cases = (("", graph_model(n), {}), ("_nosym", graph_model(n), {"use_symmetry": False}),
                 ("_fields", fields_model(n), {}))
        for suffix, model, options in cases:
            eng = StateVectorQAOA(model, threads=THREADS, **options)
            row[f"poqw{suffix}"] = best_time(partial(eng.expectation, g, b), repeats)
            if suffix == "_nosym":
                continue  # the peers' cost does not depend on our symmetry switch
            energy = eng.expectation(g, b)
            diag = build_diagonal(model)
            if qokit is not None:
                re_buf, im_buf = np.empty(1 << n), np.empty(1 << n)
                run = partial(qokit.expectation, diag, g, b, re_buf, im_buf)
                row[f"qokit{suffix}"] = best_time(run, repeats)
                row[f"qokit{suffix}_energy_error"] = abs(run() - energy)
            if n <= aer_max_n and suffix == "":
                aer = AerQAOA(model, 1, threads=THREADS)
                row["aer"] = best_time(partial(aer.expectation, g, b, diag),
                                       max(1, repeats // 2))
                row["aer_energy_error"] = abs(aer.expectation(g, b, diag) - energy)
        rows.append(row)
        print_row(row)
    return rows


RATIOS = (("qokit", "poqw"), ("aer", "poqw"), ("qokit", "poqw_nosym"),
          ("qokit_fields", "poqw_fields"))


def print_row(row: dict[str, Any]) -> None:
    parts = [f"n={row['n']:2d}"]
    for key in ("poqw", "poqw_nosym", "poqw_fields", "qokit", "qokit_fields", "aer"):
        if key in row:
            parts.append(f"{key} {row[key]:.4f}s")
    for peer, ours in RATIOS:
        if peer in row:
            parts.append(f"{peer}/{ours} {row[peer] / row[ours]:.1f}x")
    for key in ("qokit_energy_error", "qokit_fields_energy_error", "aer_energy_error"):
        if key in row:
            parts.append(f"{key} {row[key]:.1e}")
    print("  " + "  ".join(parts), flush=True)


def measure_strikes(seconds: float, repeats: int, qokit: QokitC | None) -> dict[str, float]:
    n, p = 16, 2
    model = graph_model(n)
    g, b = fixed_angles(p)
    rng = np.random.default_rng(0)
    eng = StateVectorQAOA(model, threads=THREADS)
    nosym = StateVectorQAOA(model, threads=THREADS, use_symmetry=False)
    fns: dict[str, Callable[[], Any]] = {
        "poqw": lambda: eng.strike(g, b, SHOTS, rng),
        "poqw_nosym": lambda: nosym.strike(g, b, SHOTS, rng),
    }
    diag = build_diagonal(model)
    if qokit is not None:
        re_buf, im_buf = np.empty(1 << n), np.empty(1 << n)

        def qokit_strike() -> None:
            qokit.state(diag, g, b, re_buf, im_buf)
            sample_numpy(re_buf**2 + im_buf**2, diag, n, rng)

        fns["qokit"] = qokit_strike
    aer = AerQAOA(model, p, threads=THREADS)

    def aer_strike() -> None:
        sv = aer.state(g, b)
        sample_numpy(np.abs(sv) ** 2, diag, n, rng)

    fns["aer"] = aer_strike
    ref = StateVectorQAOA(model, kernel="reference")
    fns["numpy_reference"] = lambda: ref.strike(g, b, SHOTS, rng)
    return rates(fns, seconds, repeats)


_MEMORY_PROBE = """
import numpy as np
from poqw.problems import maxcut_to_ising, random_regular_graph
from poqw.sim import StateVectorQAOA, fixed_angles

def high_water():  # VmHWM belongs to this process image (ru_maxrss survives fork+exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no VmHWM in /proc/self/status")

model = maxcut_to_ising(random_regular_graph(3, {n}, seed=0))
small = StateVectorQAOA(maxcut_to_ising(random_regular_graph(3, 8, seed=0)), threads={threads})
small.strike(*fixed_angles(2), 64, np.random.default_rng(0))  # JIT and imports first
base = high_water()
eng = StateVectorQAOA(model, threads={threads})
g, b = fixed_angles(2)
eng.strike(g, b, 64, np.random.default_rng(0))
print(base, high_water())
"""


def measure_memory(n: int) -> dict[str, float]:
    probe = _MEMORY_PROBE.format(n=n, threads=THREADS)  # the thread variables are inherited
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    base, peak = (int(x) for x in done.stdout.split())
    state = 16 * (1 << n)
    return {"n": n, "state_bytes": state, "peak_minus_imports_bytes": peak - base,
            "ratio_to_state": (peak - base) / state}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats (~1 min)")
    parser.add_argument("--no-qokit", action="store_true", help="skip building/running QOKit")
    add_threads_argument(parser)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    sizes = [20, 22] if args.quick else [16, 20, 22, 24]
    repeats = 5 if args.quick else 9
    seconds = 0.3 if args.quick else 1.0

    qokit = None
    qokit_note = "skipped (--no-qokit)"
    if not args.no_qokit:
        lib, qokit_note = build_qokit()
        if lib is None:
            print(f"QOKit C kernel NOT available: {qokit_note}; continuing with the other peers")
        else:
            qokit = QokitC(lib)
            qokit.threads(THREADS)
    import qiskit_aer  # noqa: F401  (loaded before the header so its thread pool is listed)

    limit_threads()
    with bench_session("bench_engine " + ("quick" if args.quick else "full"),
                       packages=("numba", "qiskit", "qiskit-aer")) as session:
        print(f"QOKit: {qokit_note}")
        print(f"(a) one QAOA layer, random 3-regular MaxCut, {THREADS} thread(s) for every "
              "engine: public expectation() vs peer state + <H> (best of repeats, seconds)")
        layers = measure_layers(sizes, repeats, qokit, aer_max_n=20 if args.quick else 24)
        print(f"(b) strikes/s, n=16, p=2, {SHOTS} shots, {THREADS} thread(s) for every engine")
        strikes = measure_strikes(seconds, repeats, qokit)
        for name, value in strikes.items():
            print(f"  {name:16s} {value:9.1f} strikes/s   poqw/{name} "
                  f"{strikes['poqw'] / value:.1f}x")
        print("(c) peak memory of a strike at n=26 (fresh subprocess)")
        memory = measure_memory(26)
        mib = 2**20
        print(f"  {memory['peak_minus_imports_bytes'] / mib:.0f} MiB above imports = "
              f"{memory['ratio_to_state']:.2f} state vectors of {memory['state_bytes'] / mib:.0f}"
              " MiB")
    result = {"quick": args.quick, "session": session.as_dict(), "qokit": qokit_note,
              "layers": layers, "strikes_per_s": strikes, "memory": memory}
    path = OUT / "engine.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

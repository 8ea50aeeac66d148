"""What every benchmark script shares: one thread count for every engine, and a printed header.

Import this module before numpy, numba, quimb or any peer library: on import it reads
``--threads N`` from the command line (default 1) and exports the OpenMP, BLAS and numba thread
variables, so every library in this process and every subprocess it starts (peers in another
venv, node processes, Dask workers) runs with the same count. ``limit_threads`` repeats the limit
at run time through threadpoolctl for libraries loaded later, and ``bench_session`` prints the
machine, the thread settings actually in force, the load before and after, and the versions.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)
# libraries that read their thread count once, when they are loaded
_EARLY_MODULES = ("numpy", "scipy", "numba", "quimb", "qiskit_aer", "torch")
BUSY_LOAD_PER_CPU = 0.25


def threads_from_argv(argv: Sequence[str]) -> int:
    """The value of ``--threads N`` or ``--threads=N`` in ``argv``; 1 when absent."""
    value: str | None = None
    for k, arg in enumerate(argv):
        if arg == "--threads":
            value = argv[k + 1] if k + 1 < len(argv) else ""
        elif arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
    if value is None:
        return 1
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"--threads must be a positive integer, got {value!r}")
    return int(value)


def pin_threads(threads: int) -> None:
    """Export every thread variable as ``threads``; refuse once a threaded library is loaded
    (it would already have read its own default)."""
    loaded = [name for name in _EARLY_MODULES if name in sys.modules]
    if loaded:
        raise RuntimeError(f"bench/_common.py must be imported before {', '.join(loaded)}: "
                           "their thread pools are sized when they load")
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


THREADS = threads_from_argv(sys.argv[1:])
pin_threads(THREADS)
LOAD_AT_START = os.getloadavg()[0]  # before this script's own imports and compilation


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """Declare ``--threads`` (already read on import) so that it shows in ``--help``."""
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="threads for every engine and peer: OpenMP, BLAS, numba and the "
                             "engines' own options (default 1, set before any library loads)")


def limit_threads() -> None:
    """Limit every thread pool loaded so far to ``THREADS`` (BLAS and OpenMP through
    threadpoolctl, numba's pool directly); call again after loading a peer library."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=THREADS)
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(THREADS)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or what the platform module knows)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def physical_cores() -> int | None:
    """Distinct (socket, core) pairs in /proc/cpuinfo; None where it does not say."""
    cores: set[tuple[str, str]] = set()
    socket = core = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            key, _, value = line.partition(":")
            if key.strip() == "physical id":
                socket = value.strip()
            elif key.strip() == "core id":
                core = value.strip()
                cores.add((socket, core))
    return len(cores) or None


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_pools() -> list[dict[str, Any]]:
    """Every thread pool loaded in this process and its current size."""
    from threadpoolctl import threadpool_info

    pools = [{"api": str(lib.get("user_api")), "library": str(lib.get("internal_api")),
              "version": str(lib.get("version")), "threads": int(lib.get("num_threads", 0)),
              "file": os.path.basename(str(lib.get("filepath", ""))),
              "single_threaded_build": lib.get("threading_layer") == "disabled"}
             for lib in threadpool_info()]
    if "numba" in sys.modules:
        import numba

        pools.append({"api": "numba", "library": "numba", "version": numba.__version__,
                      "threads": int(numba.get_num_threads()), "file": "",
                      "single_threaded_build": False})
    return pools


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _load() -> float:
    return os.getloadavg()[0]


@dataclass
class Session:
    """What a run prints in its header and footer (also written into JSON results)."""

    name: str
    threads: int
    machine: dict[str, Any]
    versions: dict[str, str]
    load_before: float
    started: float = field(default_factory=time.time)
    load_after: float | None = None
    pools_before: list[dict[str, Any]] = field(default_factory=list)
    pools_after: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"benchmark": self.name, "threads": self.threads, "machine": self.machine,
                "versions": self.versions, "load_1min_before": self.load_before,
                "load_1min_after": self.load_after, "thread_pools_before": self.pools_before,
                "thread_pools_after": self.pools_after, "notes": self.notes,
                "unix_time": self.started}


def _pool_text(pool: dict[str, Any]) -> str:
    where = f"{pool['api']}, {pool['file']}" if pool["file"] else pool["api"]
    fixed = " (single-threaded build)" if pool["single_threaded_build"] else ""
    return f"{pool['library']}({where})={pool['threads']}{fixed}"


def _pools_line(pools: list[dict[str, Any]]) -> str:
    return ", ".join(_pool_text(pool) for pool in pools) or "none loaded"


def mismatched(pools: list[dict[str, Any]], threads: int) -> list[str]:
    """Thread pools whose size is not ``threads`` (each as 'library=size'); a library built
    without threads (Aer's bundled OpenBLAS) cannot follow and is not counted."""
    return [f"{p['library']}({p['file'] or p['api']})={p['threads']}" for p in pools
            if p["threads"] != threads and not p["single_threaded_build"]]


@contextlib.contextmanager
def bench_session(name: str, packages: Sequence[str] = ()) -> Iterator[Session]:
    """Print the header (machine, threads in force, load, versions), run the body, then the
    footer (load after, the thread pools loaded meanwhile, any pool not at ``THREADS``)."""
    limit_threads()
    cpus = usable_cpus()
    machine: dict[str, Any] = {"cpu": cpu_model(), "logical_cpus": os.cpu_count(),
                               "usable_cpus": cpus, "physical_cores": physical_cores(),
                               "platform": platform.platform()}
    versions = {"python": platform.python_version(), "numpy": _version("numpy"),
                **{package: _version(package) for package in packages}}
    session = Session(name, THREADS, machine, versions, LOAD_AT_START,
                      pools_before=thread_pools())
    print(f"== {name} | threads={THREADS} for every engine | {machine['cpu']}, "
          f"{machine['physical_cores'] or '?'} cores / {cpus} usable cpus ==")
    print("thread variables: " + " ".join(f"{v}={os.environ[v]}" for v in THREAD_VARIABLES))
    print(f"thread pools in force: {_pools_line(session.pools_before)}")
    print("versions: " + " ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"load (1 min) before the script started: {session.load_before:.2f}"
          + (" -- BUSY machine: do not publish these figures"
             if session.load_before > BUSY_LOAD_PER_CPU * cpus else ""), flush=True)
    try:
        yield session
    finally:
        session.load_after = _load()
        session.pools_after = thread_pools()
        print(f"== end of {name} | load (1 min) before {session.load_before:.2f}, after "
              f"{session.load_after:.2f} | thread pools: {_pools_line(session.pools_after)}")
        wrong = mismatched(session.pools_after, THREADS)
        if wrong:
            note = f"WARNING: not at {THREADS} thread(s): {', '.join(wrong)}"
            session.notes.append(note)
            print(note)
        print(flush=True)


def strike_times(n: int, shots: int, repeats: int = 5) -> tuple[float, float]:
    """Median seconds of a verifiable p=2 strike of 1 shot and of ``shots`` shots on the fast
    kernel (each timed ``repeats`` times after a warm-up run), for MaxCut on a random 3-regular
    graph of ``n`` nodes: the state's cost, and the state's plus the shots'."""
    from poqw.compute.strike_spec import StrikeRunner, StrikeSpec
    from poqw.problems import maxcut_to_ising, random_regular_graph

    model = maxcut_to_ising(random_regular_graph(3, n, seed=1))
    runner = StrikeRunner(model, "fast")

    def median_seconds(count: int) -> float:
        spec = StrikeSpec.create(model.content_hash(), [0.3, 0.5], [0.4, 0.2], count, bytes(32))
        runner.run(spec)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            runner.run(spec)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    return median_seconds(1), median_seconds(shots)

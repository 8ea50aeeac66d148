"""The layer-2 network's overhead: a job's round trip over QUIC against the strike it carries.

Run ``.venv/bin/python bench/bench_l2.py`` (``--quick`` for a short run). A coordinator
transport in this process and one ``poqw solver`` process on 127.0.0.1 (the real protocol:
handshake, framing, TLS, the solver's worker thread) exchange an almost empty job ``--repeats``
times; the median is the round trip. Beside it, the in-process transport's trip (the same
encode/decode, no network) and the strike time at several sizes, as the shots a job must carry
before a round trip costs less than the work it moves. Last, one coordinated solve with spot
checks over QUIC and in process (same settings, same answer), as a wall-time ratio.
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session, strike_times

# isort: split
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from poqw.compute.coordinator import Coordinator, SolveSettings
from poqw.compute.jobs import Job, SolverNode
from poqw.compute.network import QuicCoordinatorTransport
from poqw.compute.strike_spec import StrikeSpec
from poqw.compute.transport import InProcessTransport, Reply, run_solve
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.p2p.quic import ensure_tls_identity
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph

_MAIN = "from poqw.cli.main import main; main()"


def _job(model: IsingModel, k: int, shots: int = 1) -> bytes:
    spec = StrikeSpec.create(model.content_hash(), [0.1], [0.2], shots, k.to_bytes(32, "big"))
    return Job(0, k, bytes(32), spec).to_bytes()


def _trip(transport: QuicCoordinatorTransport | InProcessTransport, solver: str, job: bytes
          ) -> float:
    t0 = time.perf_counter()
    transport.send_job(solver, job)
    replies: list[Reply] = []
    while not replies:
        replies = transport.wait(5.0)
    assert replies[0].kind == "result", replies[0]
    return time.perf_counter() - t0


def _with_solver(root: Path, model: IsingModel, work: object) -> None:
    transport = QuicCoordinatorTransport(EcdsaPrivateKey.generate(),
                                         ensure_tls_identity(root / "coord"), model)
    port = transport.start()
    process = subprocess.Popen([sys.executable, "-c", _MAIN, "solver", "--coordinator",
                                f"127.0.0.1:{port}", "--key", str(root / "solver.key")],
                               stderr=subprocess.DEVNULL)
    try:
        name = transport.wait_for_solvers(1, 60)[0]
        work(transport, name)  # type: ignore[operator]
    finally:
        transport.close()
        process.wait(30)


def round_trips(args: argparse.Namespace, root: Path) -> float:
    print("\n== job round trip: QUIC vs in process ==")
    tiny = maxcut_to_ising(random_regular_graph(3, 4, seed=1))
    trips: list[float] = []

    def work(transport: QuicCoordinatorTransport, name: str) -> None:
        for k in range(args.repeats + 5):
            trip = _trip(transport, name, _job(tiny, k))
            if k >= 5:  # the first jobs build the solver's engine
                trips.append(trip)

    _with_solver(root / "trips", tiny, work)
    local = InProcessTransport({"solo": SolverNode(EcdsaPrivateKey.generate(), [tiny])})
    local_trips = [_trip(local, "solo", _job(tiny, k)) for k in range(args.repeats)]
    quic, inproc = statistics.median(trips), statistics.median(local_trips)
    q1, q3 = statistics.quantiles(trips, n=4)[0], statistics.quantiles(trips, n=4)[2]
    print(f"  QUIC round trip of an almost empty job (solver process): {quic * 1e3:.2f} ms "
          f"(quartiles {q1 * 1e3:.2f} .. {q3 * 1e3:.2f}, {len(trips)} jobs)")
    print(f"  in-process transport, same job: {inproc * 1e3:.3f} ms  -> the network adds "
          f"{(quic - inproc) * 1e3:.2f} ms a job")
    return quic


def strike_costs(args: argparse.Namespace, trip: float) -> None:
    print(f"  {'n':>3} {'state (ms)':>11} {'per shot (us)':>14} {'strike 256 (ms)':>16} "
          f"{'trip / strike 256':>18} {'shots for 1 trip':>17}")
    for n in args.sizes:
        one, many = strike_times(n, 4096)
        per_shot = max((many - one) / 4095, 1e-9)
        s256 = one + 256 * per_shot
        print(f"  {n:>3} {one * 1e3:>11.3f} {per_shot * 1e6:>14.2f} {s256 * 1e3:>16.3f} "
              f"{trip / s256:>18.2f} {trip / per_shot:>17.0f}")


def solve_ratio(args: argparse.Namespace, root: Path) -> None:
    print("\n== one coordinated solve with spot checks: QUIC (1 solver process) vs in process ==")
    model = maxcut_to_ising(random_regular_graph(3, args.n, seed=2))
    settings = SolveSettings(p=2, shots=args.shots, rounds=args.strikes, seed=1,
                             job_shots=args.job_shots, verify_every=2, checks=16)
    node = SolverNode(EcdsaPrivateKey.generate(), [model])
    t0 = time.perf_counter()
    local = run_solve(Coordinator(model, settings, ["solo"]), InProcessTransport({"solo": node}))
    t_local = time.perf_counter() - t0
    out: dict[str, float] = {}

    def work(transport: QuicCoordinatorTransport, name: str) -> None:
        coordinator = Coordinator(model, settings, [name])
        t0 = time.perf_counter()
        doc = run_solve(coordinator, transport)
        out["t"] = time.perf_counter() - t0
        assert doc["energy"] == local["energy"] and doc["solution"] == local["solution"]

    _with_solver(root / "solve", model, work)
    jobs = args.strikes * len(settings.job_sizes())
    print(f"  n={args.n}, {args.strikes} strikes x {args.shots} shots, {jobs} jobs of "
          f"{settings.job_sizes()[0]} shots: in process {t_local:.2f} s, over QUIC "
          f"{out['t']:.2f} s, ratio {out['t'] / t_local:.2f} (same answer {local['energy']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 14, 18])
    parser.add_argument("--n", type=int, default=14)
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--job-shots", type=int, default=256)
    parser.add_argument("--strikes", type=int, default=8)
    add_threads_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.sizes, args.n, args.strikes = 50, [10, 14], 12, 4
    with bench_session("l2", ["aioquic", "numba"]), \
            tempfile.TemporaryDirectory(prefix="poqw-bench-l2-") as tmp:
        trip = round_trips(args, Path(tmp))
        strike_costs(args, trip)
        solve_ratio(args, Path(tmp))


if __name__ == "__main__":
    main()

"""The demo's compute-network act: a distributed solve over untrusted solver processes.

A coordinator listens on loopback (QUIC, the layer-2 protocol) and three ``poqw solver``
processes join with their own node keys; one fakes a share of its strikes. Every two rounds the
solvers commit to their results and the coordinator spot-checks them: the cheater is caught,
banned and its rounds re-run by the honest two, and only verified samples are paid. A table
shows each solver's throughput, verified work and pay, and the answer is set beside the same
solve in one process. The coordinator is the one ``poqw coordinator`` runs, here in the demo's
process so that it can time each solver's jobs; every solver process is stopped when the act
ends, on Ctrl-C too.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from rich.table import Table

from poqw.cli.common import console
from poqw.compute.coordinator import Coordinator, SolveSettings
from poqw.compute.metering import MeteredTransport, SolverMeter
from poqw.errors import ComputeError
from poqw.problems import IsingModel

__all__ = ["compute_act"]

_MAIN = "from poqw.cli.main import main; main()"
CHEAT_FRACTION = 0.2
CHEAT_SEED = 3  # the cheater's first strike is one it fakes: the first spot check catches it
SOLVERS = ("honest-1", "honest-2", "cheater")


def _settings(seed: int) -> SolveSettings:
    # a strike of 256 shots is cut into 4 jobs; an epoch is 2 rounds, and 44 checks cover every
    # leaf a solver commits to in one, so any faked strike is caught at its epoch's end
    return SolveSettings(p=2, shots=256, rounds=6, seed=seed, job_shots=64, timeout=30.0,
                         verify_every=2, checks=44)


def compute_act(nodes: int, seed: int) -> None:
    """Run the act (see the module docstring); raises a :class:`ComputeError` when it fails."""
    from poqw.p2p.identity import load_key_file
    from poqw.problems import maxcut_to_ising, random_regular_graph, solve_exact

    settings = _settings(seed)
    console.rule(f"[bold]the compute network: {len(SOLVERS)} solver processes, one faking "
                 f"{CHEAT_FRACTION:.0%} of its strikes[/]")
    model = maxcut_to_ising(random_regular_graph(3, nodes, seed=seed))
    folder = Path(tempfile.mkdtemp(prefix="poqw-compute-demo-"))
    names = {load_key_file(folder / f"{name}.key").public_key().compressed.hex(): name
             for name in SOLVERS}
    doc, seconds, meters = _network_solve(model, settings, folder, names)
    for note in doc["notes"]:
        console.print(f"[dim]note: {_named(note, names)}[/]", highlight=False)
    single, single_meter = _single_process(model, settings)
    console.print(_throughput_table(meters, doc, names, seconds, single_meter))
    optimum = solve_exact(model).energy
    same = doc["energy"] == single["energy"] and doc["solution"] == single["solution"]
    console.print(f"network answer: cut {-doc['energy']:g} (optimum {-optimum:g}); the same "
                  f"solve in one process: cut {-single['energy']:g} — "
                  + ("the same cut and assignment: the cheater changed nothing" if same else
                     "[bold red]a different answer[/]"), highlight=False)
    fastest = max(meters[s].strikes_per_second for s in names if s in meters)
    if fastest > 0 and single_meter.strikes_per_second > 0:
        console.print(f"A job takes {1e3 / single_meter.strikes_per_second:.1f} ms in one process "
                      f"and {1e3 / fastest:.1f} ms at the fastest solver, its QUIC round trip "
                      f"included: at {nodes} variables the network adds machines and checks "
                      "on strangers, not speed (bench/bench_l2.py measures where distribution "
                      "pays).", highlight=False)
    if not same:
        raise ComputeError("the distributed solve did not reproduce the single-process answer")


def _network_solve(model: IsingModel, settings: SolveSettings, folder: Path,
                   names: dict[str, str]) -> tuple[dict[str, Any], float, dict[str, SolverMeter]]:
    """The solve over QUIC with the solver processes: its answer, seconds and meters."""
    from poqw.compute.ledger import Ledger
    from poqw.compute.network import QuicCoordinatorTransport
    from poqw.compute.transport import run_solve
    from poqw.p2p.identity import load_key_file
    from poqw.p2p.quic import ensure_tls_identity

    transport = QuicCoordinatorTransport(load_key_file(folder / "coordinator.key"),
                                         ensure_tls_identity(folder / "coordinator-tls"), model)
    metered = MeteredTransport(transport)
    port = transport.start("127.0.0.1", 0)
    try:
        console.print(f"A coordinator and {len(SOLVERS)} `poqw solver` processes on loopback "
                      f"(QUIC). MaxCut on a random 3-regular graph of {model.num_variables} "
                      f"nodes; match-strike p={settings.p}, {settings.rounds} rounds of "
                      f"{settings.shots} shots, each cut into {len(settings.job_sizes())} jobs; "
                      f"spot checks every {settings.verify_every} rounds. Coordinator on "
                      f"127.0.0.1:{port}, run directory {folder}", highlight=False)
        with _solver_processes(folder, port) as procs:
            console.print("solver processes: " + ", ".join(
                f"{name} (pid {proc.pid})" for name, proc in zip(SOLVERS, procs, strict=True)),
                highlight=False)
            joined = _join(transport, procs, folder)
            coordinator = Coordinator(model, settings, joined, ledger=Ledger(10**9))
            transport.banned_source = lambda: set(coordinator.banned)
            console.print("joined, each proving its node key: " + ", ".join(
                names.get(s, s[:16]) for s in joined), highlight=False)

            def on_round(c: Coordinator) -> None:
                console.print(f"  round {c.round}/{settings.rounds}: best cut "
                              f"{-c.best_energy:g}, banned {len(c.banned)}", highlight=False)

            started = time.perf_counter()
            doc = run_solve(coordinator, metered, on_round=on_round)
            seconds = time.perf_counter() - started
            transport.close()  # the solvers hear that the solve is finished and exit
            _wait_for_exit(procs, 20.0)
            for name, proc in zip(SOLVERS, procs, strict=True):
                lines = (folder / f"{name}.out").read_text(errors="replace").splitlines()
                console.print(f"  {name} exited ({proc.returncode}): "
                              f"{lines[-1] if lines else 'no output'}", highlight=False)
    finally:
        transport.close()
    return doc, seconds, metered.meters


def _solver_processes(folder: Path, port: int
                      ) -> AbstractContextManager[list[subprocess.Popen[bytes]]]:
    """``poqw solver`` processes for :data:`SOLVERS`, stopped on exit (see devnet's
    ``_running``: a process group each, SIGTERM then SIGKILL)."""
    from poqw.cli.devnet import NodePlan, _running

    plans = []
    for index, name in enumerate(SOLVERS):
        cheat = ("--cheat-fraction", str(CHEAT_FRACTION), "--cheat-seed", str(CHEAT_SEED)) \
            if name == "cheater" else ()
        command = (sys.executable, "-c", _MAIN, "solver", "--coordinator", f"127.0.0.1:{port}",
                   "--key", str(folder / f"{name}.key"), *cheat)
        plans.append(NodePlan(index, name, "solver", "qaoa", "", port, folder / name, command))
    return _running(plans)


def _join(transport: Any, procs: list[subprocess.Popen[bytes]], folder: Path,
          timeout: float = 120.0) -> list[str]:
    """The solvers' names as they join, or a :class:`ComputeError` naming a solver process that
    exited first (with its last line) or the timeout."""
    joined: list[str] = []
    deadline = time.monotonic() + timeout
    while len(joined) < len(SOLVERS):
        for name, proc in zip(SOLVERS, procs, strict=True):
            if proc.poll() is not None:
                lines = (folder / f"{name}.out").read_text(errors="replace").splitlines()
                raise ComputeError(f"solver {name} exited ({proc.returncode}) before joining: "
                                   f"{lines[-1] if lines else 'no output'}")
        if time.monotonic() > deadline:
            raise ComputeError(f"only {len(joined)} of {len(SOLVERS)} solvers joined in "
                               f"{timeout:g} s; see {folder}")
        joined += transport.new_solvers()
        time.sleep(0.1)
    return joined


def _wait_for_exit(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """Give the solvers ``timeout`` seconds to see the coordinator close and exit by themselves
    (the caller stops any still running)."""
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return


def _named(text: str, names: dict[str, str]) -> str:
    """``text`` with each solver's node id replaced by its name in this act."""
    for node_id, name in names.items():
        text = text.replace(node_id, name)
    return text


def _single_process(model: IsingModel, settings: SolveSettings
                    ) -> tuple[dict[str, Any], SolverMeter]:
    """The same solve with one honest solver node in this process (no network): the answer
    the network must reproduce, and that node's throughput."""
    from poqw.compute.jobs import SolverNode
    from poqw.compute.transport import InProcessTransport, run_solve
    from poqw.crypto.ecdsa import EcdsaPrivateKey

    node = SolverNode(EcdsaPrivateKey.generate(), [model])
    metered = MeteredTransport(InProcessTransport({"solo": node}))
    doc = run_solve(Coordinator(model, settings, ["solo"]), metered)
    return doc, metered.meters["solo"]


def _throughput_table(meters: dict[str, SolverMeter], doc: dict[str, Any],
                      names: dict[str, str], seconds: float, single: SolverMeter) -> Table:
    table = Table(title="per-solver throughput and pay", title_justify="left",
                  caption="a job is one seeded strike; rates are over the time a solver held "
                          "work, each job's QUIC round trip included (all three: over the "
                          "solve's wall time); verified: jobs in epochs that passed their spot "
                          "check; paid: ledger units, 1 a verified sample", caption_justify="left")
    for col in ("solver", "jobs done", "strikes/s", "samples/s", "verified", "paid", "status"):
        table.add_column(col, justify="left" if col in ("solver", "status") else "right")

    def row(name: str, meter: SolverMeter, verified: str, paid: str, status: str) -> None:
        table.add_row(name, str(meter.jobs), f"{meter.strikes_per_second:,.0f}",
                      f"{meter.samples_per_second:,.0f}", verified, paid, status)

    for node_id, name in names.items():
        row(name, meters.get(node_id, SolverMeter()), str(doc["solvers"].get(node_id, 0)),
            f"{doc['payments'].get(node_id, 0):,}",
            "[bold red]banned[/]" if node_id in doc["banned"] else "honest")
    network = SolverMeter(sum(m.jobs for m in meters.values()),
                          sum(m.shots for m in meters.values()), seconds)
    row("all three", network, str(sum(doc["solvers"].values())),
        f"{sum(doc['payments'].get(s, 0) for s in names):,}", f"{seconds:.2f} s")
    row("1 process", single, "-", "-", "reference")
    return table

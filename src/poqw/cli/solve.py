"""``poqw solve``: solve one problem with a named sampler and print the result."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from poqw.cli.common import (
    LoadedProblem,
    ProblemFileArgument,
    RandomRegularOption,
    command,
    console,
    dask_client,
    load_problem,
    print_json,
)
from poqw.cli.logoptions import LogFormatOption, LogLevelOption, setup_cli_logging
from poqw.errors import ConfigError

__all__ = ["DEFAULT_STRIKES", "solve"]

log = logging.getLogger("poqw.cli.solve")

#: The strike budget of ``poqw solve`` when neither --strikes nor --time-limit is given.
DEFAULT_STRIKES = 60


def _solve_with_strike(problem: LoadedProblem, *, seed: int, p: int, shots: int,
                       strikes: int | None,
                       time_limit: float | None, controller: str, objective: str,
                       backend: str, max_bond: int, show_progress: bool,
                       client: Any = None) -> dict[str, Any]:
    from poqw.strike import solve as strike_solve
    from poqw.strike.progress import RichProgress

    kwargs: dict[str, Any] = {"p": p, "shots": shots, "max_strikes": strikes,
                              "time_limit": time_limit, "seed": seed, "controller": controller,
                              "objective": objective, "backend": backend, "max_bond": max_bond,
                              "client": client}
    if not show_progress:
        return strike_solve(problem.model, **kwargs).to_dict()
    with RichProgress(console=console, transient=True) as view:
        return strike_solve(problem.model, progress=view, **kwargs).to_dict()


def _strikes_on_state_vector(problem: LoadedProblem, backend: str) -> bool:
    """Whether match-strike would run QAOA on the state vector (then a Dask cluster runs its
    strikes through the coordinator; above it, the cluster contracts light cones)."""
    from poqw.strike.assembly import DEFAULT_MAX_QUBITS

    n = problem.model.num_variables
    return backend == "statevector" or (backend == "auto" and n <= DEFAULT_MAX_QUBITS)


def _solve_distributed(problem: LoadedProblem, client: Any, *, seed: int, p: int, shots: int,
                       strikes: int | None, time_limit: float | None, controller: str,
                       objective: str, job_shots: int) -> dict[str, Any]:
    from poqw.compute.coordinator import SolveSettings
    from poqw.compute.transport import solve_on_cluster

    del time_limit  # refused before the cluster started
    settings = SolveSettings(p=p, shots=shots, rounds=strikes or DEFAULT_STRIKES, seed=seed,
                             controller=controller, objective=objective, job_shots=job_shots)
    with console.status("striking on the Dask cluster…", spinner="dots"):
        doc = solve_on_cluster(problem.model, settings, client)
    doc["found_by"] = "qaoa"
    doc["notes"].append(f"{doc['strikes']} strikes of {shots} shots on {doc['dask']['workers']} "
                        f"Dask workers, {doc['dask']['jobs_per_strike']} job(s) a strike")
    return doc


def _solve_with_sampler(problem: LoadedProblem, name: str, *, seed: int,
                        num_reads: int) -> dict[str, Any]:
    from poqw.samplers import get_sampler, spins_and_energies

    sampler = get_sampler(name)
    start = time.perf_counter()
    with console.status(f"sampling with {name}…", spinner="dots"):
        sampleset = sampler.sample(problem.model, num_reads=num_reads, seed=seed)
    seconds = time.perf_counter() - start
    spins, energies = spins_and_energies(sampleset, problem.model)
    best = int(np.argmin(energies))
    return {"energy": float(energies[best]), "solution": spins[best].tolist(),
            "seconds": seconds, "num_reads": len(energies)}


@command
def solve(
    problem_file: ProblemFileArgument = None,
    random_regular: RandomRegularOption = None,
    sampler: Annotated[str, typer.Option(
        help="qaoa (match-strike), simulated-annealing, steepest-descent, random or exact.")
    ] = "qaoa",
    seed: Annotated[int, typer.Option(help="Seed for the instance and the solver.")] = 0,
    p: Annotated[int, typer.Option(help="QAOA depth (qaoa only).")] = 2,
    shots: Annotated[int, typer.Option(help="Shots per strike (qaoa only).")] = 64,
    strikes: Annotated[int | None, typer.Option(
        help=f"Strike budget (qaoa only; default {DEFAULT_STRIKES} when no --time-limit).")
    ] = None,
    time_limit: Annotated[float | None, typer.Option(
        help="Seconds budget, a hard limit (qaoa only): strikes are sized to end by it, and the "
             "best answer so far is returned.")] = None,
    controller: Annotated[str, typer.Option(
        help="Angle controller (qaoa only): bayes, fixed, random, nelder-mead or spsa.")
    ] = "bayes",
    objective: Annotated[str, typer.Option(help="cvar or mean (qaoa only).")] = "cvar",
    backend: Annotated[str, typer.Option(
        help="auto (state vector up to 24 qubits, tensor networks above), statevector, mps, "
             "lightcone, ibm (IBM Quantum, token in QISKIT_IBM_TOKEN) or ibm-fake (a fake IBM "
             "device with its noise model) (qaoa only).")] = "auto",
    max_bond: Annotated[int, typer.Option(help="MPS bond dimension (tensor networks).")] = 64,
    num_reads: Annotated[int, typer.Option(help="Reads (other samplers).")] = 64,
    dask_scheduler: Annotated[str | None, typer.Option(
        "--dask-scheduler", metavar="ADDRESS",
        help="Run QAOA strikes on your Dask cluster (state vector), or contract the "
             "tensor-network QAOA arm's wide light cones there (qaoa only).")] = None,
    dask_workers: Annotated[int | None, typer.Option(
        "--dask-workers", metavar="N", min=1,
        help="The same on a local Dask cluster of N worker processes bound to 127.0.0.1 "
             "(qaoa only; stopped at the end).")] = None,
    job_shots: Annotated[int, typer.Option(
        "--job-shots", min=1, help="With a Dask cluster and QAOA on the state vector: shots per "
        "job (a strike of fewer shots is one job; more are split over the workers).")] = 256,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Solve an Ising / MaxCut problem and print the best energy, cut and solution."""
    setup_cli_logging(log_level, log_format)
    problem = load_problem(problem_file, random_regular, seed)
    log.info("solving %s with %s", problem.source, sampler,
             extra={"sampler": sampler, "num_variables": problem.model.num_variables})
    if strikes is None and time_limit is None:
        strikes = DEFAULT_STRIKES
    if sampler != "qaoa" and (dask_scheduler is not None or dask_workers is not None):
        raise ConfigError("--dask-scheduler and --dask-workers are for --sampler qaoa (its "
                          "tensor-network arm)")
    distributed = dask_scheduler is not None or dask_workers is not None
    if sampler == "qaoa" and distributed and _strikes_on_state_vector(problem, backend):
        if time_limit is not None:
            raise ConfigError("--time-limit is not supported when strikes run on a Dask "
                              "cluster; give --strikes")
        with dask_client(dask_scheduler, dask_workers) as client:
            doc = _solve_distributed(problem, client, seed=seed, p=p, shots=shots,
                                     strikes=strikes, time_limit=time_limit,
                                     controller=controller, objective=objective,
                                     job_shots=job_shots)
    elif sampler == "qaoa":
        if distributed:
            from poqw.strike.loop import check_dask_use

            check_dask_use(problem.model, ("qaoa",), backend)
        with dask_client(dask_scheduler, dask_workers) as client:
            doc = _solve_with_strike(problem, seed=seed, p=p, shots=shots, strikes=strikes,
                                     time_limit=time_limit, controller=controller,
                                     objective=objective, backend=backend, max_bond=max_bond,
                                     show_progress=not as_json, client=client)
    else:
        doc = _solve_with_sampler(problem, sampler, seed=seed, num_reads=num_reads)
    doc["sampler"] = sampler
    doc["problem"] = problem.source
    doc["num_variables"] = problem.model.num_variables
    if problem.is_maxcut:
        doc["cut"] = None if doc["energy"] is None else -doc["energy"]
    log.info("solved: energy %s in %.3f s", doc["energy"], doc["seconds"],
             extra={"energy": doc["energy"], "seconds": doc["seconds"]})
    if as_json:
        print_json(doc)
        return
    table = Table(title=f"poqw solve — {problem.source}", show_header=False)
    table.add_row("sampler", sampler)
    table.add_row("energy", f"{doc['energy']:g}")
    if problem.is_maxcut:
        table.add_row("cut", f"{doc['cut']:g}")
    table.add_row("seconds", f"{doc['seconds']:.3f}")
    if "found_by" in doc:
        table.add_row("found by", str(doc["found_by"]))
    bits = "".join("0" if s > 0 else "1" for s in doc["solution"])
    table.add_row("solution", bits if len(bits) <= 80 else bits[:77] + "…")
    for note in doc.get("notes", []):
        table.add_row("note", str(note))
    console.print(table)

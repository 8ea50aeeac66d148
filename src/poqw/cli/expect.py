"""``poqw expect``: the QAOA energy ⟨γ,β|H|γ,β⟩ of one problem, locally or on a Dask cluster."""

from __future__ import annotations

import contextlib
import math
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
from poqw.errors import ConfigError, InvalidProblem

__all__ = ["default_angles", "expect", "parse_angles"]

# Brute-force maximum cuts up to this many variables for the approximation ratio (~0.2 s).
EXACT_CUT_MAX_VARIABLES = 22


def parse_angles(text: str, name: str) -> list[float]:
    """Comma-separated finite floats (``--gammas 0.1,0.2``)."""
    values: list[float] = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise ConfigError(f"{name} must be comma-separated numbers, got {part.strip()!r} "
                              f"in {text!r}") from None
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be finite, got {part.strip()!r}")
        values.append(value)
    return values


def default_angles(problem: LoadedProblem, p: int) -> tuple[list[float], list[float]]:
    """The published fixed angles for MaxCut on a regular unit-weight graph, else a
    :class:`ConfigError` asking for ``--gammas``/``--betas``."""
    from poqw.sim import fixed_angles

    model = problem.model
    degrees = model.degrees()
    ask = "give the angles with --gammas and --betas"
    if not problem.is_maxcut or not np.all(model.h == 0) or not np.allclose(model.J, 0.5):
        raise ConfigError(f"fixed angles are published only for MaxCut with unit weights; {ask}")
    if degrees.size == 0 or int(degrees.min()) != int(degrees.max()):
        raise ConfigError(f"fixed angles are published only for regular graphs; {ask}")
    try:
        gammas, betas = fixed_angles(p, int(degrees[0]))
    except InvalidProblem as exc:
        raise ConfigError(f"{exc}; {ask}") from None
    return gammas.tolist(), betas.tolist()


def _angles(problem: LoadedProblem, p: int | None, gammas: str | None,
            betas: str | None) -> tuple[int, list[float], list[float]]:
    if (gammas is None) != (betas is None):
        raise ConfigError("give both --gammas and --betas, or neither (fixed angles)")
    if gammas is None or betas is None:
        depth = 1 if p is None else p
        if depth < 1:
            raise ConfigError(f"--p must be at least 1, got {depth}")
        return (depth, *default_angles(problem, depth))
    g, b = parse_angles(gammas, "--gammas"), parse_angles(betas, "--betas")
    if len(g) != len(b):
        raise ConfigError(f"--gammas has {len(g)} values and --betas {len(b)}: one of each per "
                          f"layer")
    if p is not None and p != len(g):
        raise ConfigError(f"--p {p} but {len(g)} gammas and betas were given")
    return len(g), g, b


@command
def expect(
    problem_file: ProblemFileArgument = None,
    random_regular: RandomRegularOption = None,
    seed: Annotated[int, typer.Option(help="Seed for the random instance.")] = 0,
    p: Annotated[int | None, typer.Option(
        help="QAOA depth (default: the number of --gammas, else 1).")] = None,
    gammas: Annotated[str | None, typer.Option(
        help="Comma-separated cost angles, one per layer (default: published fixed angles for "
             "the graph's degree).")] = None,
    betas: Annotated[str | None, typer.Option(
        help="Comma-separated mixer angles, one per layer.")] = None,
    backend: Annotated[str, typer.Option(
        help="auto (state vector up to 26 qubits, light cones or an MPS above), statevector, "
             "mps or lightcone.")] = "auto",
    max_bond: Annotated[int | None, typer.Option(
        help="MPS bond dimension (mps backend).", min=1)] = None,
    dask_scheduler: Annotated[str | None, typer.Option(
        "--dask-scheduler", metavar="ADDRESS",
        help="Contract wide light cones on your Dask cluster (e.g. tcp://10.0.0.5:8786).")
    ] = None,
    dask_workers: Annotated[int | None, typer.Option(
        "--dask-workers", metavar="N", min=1,
        help="Contract wide light cones on a local Dask cluster of N worker processes bound to "
             "127.0.0.1 (stopped at the end).")] = None,
    slice_target_size: Annotated[int | None, typer.Option(
        help="Slice light-cone networks so no intermediate tensor has more entries.", min=1)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """The QAOA energy <γ,β|H|γ,β> of a problem (and for MaxCut the expected cut)."""
    from poqw.sim import qaoa_expectation
    from poqw.sim.backends import check_dask_options, resolve_backend, supports_dask

    problem = load_problem(problem_file, random_regular, seed)
    model = problem.model
    depth, gs, bs = _angles(problem, p, gammas, betas)
    degrees = model.degrees()
    name = resolve_backend(backend, model.num_variables,
                           int(degrees.max()) if degrees.size else 0)
    wants_cluster = dask_scheduler is not None or dask_workers is not None
    if wants_cluster and not supports_dask(name):
        why = f"'auto' chose {name!r} for {model.num_variables} variables" if (
            backend == "auto") else f"--backend {name}"
        raise ConfigError(f"a Dask cluster is only used by the lightcone backend, but {why}; "
                          f"pass --backend lightcone or drop --dask-scheduler/--dask-workers")
    check_dask_options(backend, name, model.num_variables, slice_target_size=slice_target_size)
    where = "here"
    if dask_scheduler is not None:
        where = f"on {dask_scheduler}"
    elif dask_workers is not None:
        where = f"on {dask_workers} local Dask workers"
    with dask_client(dask_scheduler, dask_workers) as client:
        threads = None
        if client is not None:
            from poqw.compute.slicing import cluster_threads

            threads = cluster_threads(client)
        start = time.perf_counter()
        status = (contextlib.nullcontext() if as_json else
                  console.status(f"computing <H> at p={depth} with {name} {where}…",
                                 spinner="dots"))
        with status:
            run = qaoa_expectation(model, gs, bs, backend=backend, max_bond=max_bond,
                                   client=client, slice_target_size=slice_target_size,
                                   return_info=True)
        seconds = time.perf_counter() - start
    doc: dict[str, Any] = {
        "value": float(run.value), "backend": run.backend, "fidelity": run.fidelity,
        "seconds": seconds, "n": model.num_variables, "p": depth,
        "angles": {"gammas": gs, "betas": bs}, "problem": problem.source,
    }
    if client is not None:
        doc["dask"] = {"scheduler": dask_scheduler or "local", "threads": threads}
    if problem.is_maxcut:
        doc["expected_cut"] = -float(run.value)
        if model.num_variables <= EXACT_CUT_MAX_VARIABLES:
            from poqw.problems import solve_exact

            best = -solve_exact(model).energy
            doc["max_cut"] = best
            doc["ratio"] = doc["expected_cut"] / best if best > 0 else None
    if as_json:
        print_json(doc)
        return
    table = Table(title=f"poqw expect — {problem.source}", show_header=False)
    table.add_row("<H>", f"{doc['value']:.10g}")
    if problem.is_maxcut:
        table.add_row("expected cut", f"{doc['expected_cut']:.10g}")
        if "max_cut" in doc:
            table.add_row("maximum cut", f"{doc['max_cut']:g}")
            if doc["ratio"] is not None:
                table.add_row("ratio", f"{doc['ratio']:.6f}")
    table.add_row("backend", run.backend + (f" (fidelity {run.fidelity:.6f})"
                                            if run.fidelity < 1.0 else ""))
    table.add_row("variables, p", f"{model.num_variables}, {depth}")
    table.add_row("gammas", ", ".join(f"{x:.6g}" for x in gs))
    table.add_row("betas", ", ".join(f"{x:.6g}" for x in bs))
    if client is not None:
        table.add_row("dask", f"{doc['dask']['scheduler']}, {threads} worker threads")
    table.add_row("seconds", f"{seconds:.3f}")
    console.print(table)

"""``poqw shards``: solve a QAOA angle search through the shard marketplace, on local worker
processes or on simulated nodes, and compare with one node."""

from __future__ import annotations

import time
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from poqw.cli.common import (
    ProblemFileArgument,
    RandomRegularOption,
    command,
    console,
    load_problem,
    print_json,
)
from poqw.errors import ConfigError

__all__ = ["shards"]


def _node_table(title: str, bids: list[Any], awards: list[Any], payments: dict[str, int],
                cheaters: set[str], limit: int) -> Table:
    table = Table(title=title)
    for col in ("node", "bids", "mean ask", "units won", "paid", "note"):
        table.add_column(col, justify="left" if col in ("node", "note") else "right")
    names = sorted({b.node for b in bids}, key=lambda n: (-sum(a.node == n for a in awards), n))
    for name in names[:limit]:
        mine = [b.price for b in bids if b.node == name]
        won = sum(a.node == name for a in awards)
        table.add_row(name, str(len(mine)), f"{np.mean(mine):.1f}", str(won),
                      str(payments.get(name, 0)), "caught cheating, unpaid"
                      if name in cheaters else "")
    if len(names) > limit:
        table.add_row(f"... {len(names) - limit} more", "", "", "", "", "")
    return table


@command
def shards(
    problem_file: ProblemFileArgument = None,
    random_regular: RandomRegularOption = None,
    seed: Annotated[int, typer.Option(help="Seed for the random instance and the market.")] = 0,
    p: Annotated[int, typer.Option(help="QAOA depth.", min=1)] = 2,
    grid: Annotated[int, typer.Option(
        help="Angle grid points a side (grid² expectations are computed).", min=1)] = 3,
    units: Annotated[int | None, typer.Option(
        help="Work units (default: 4 per worker or simulated node, at most one per cone).",
        min=1)] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", metavar="N", min=1,
        help="Run the market on N local worker processes (127.0.0.1, pipes).")] = None,
    simulate_nodes: Annotated[int | None, typer.Option(
        "--simulate-nodes", metavar="N", min=1,
        help="Run the market on N simulated nodes (modelled speed, cores, price, latency).")
    ] = None,
    latency: Annotated[str, typer.Option(
        help="Simulated latency model: constant:MS, uniform:LO-HI, lognormal:MEDIAN,SIGMA or "
             "geo.")] = "geo",
    node_speed: Annotated[float, typer.Option(
        help="Simulated nodes' median operations per second per core.", min=1.0)] = 1e9,
    cheaters: Annotated[int, typer.Option(
        help="How many nodes return wrong unit results (the cheapest ones).", min=0)] = 0,
    check_share: Annotated[float, typer.Option(
        help="Share of results re-run by the coordinator (every node's first always).",
        min=0.0, max=1.0)] = 0.25,
    reserve: Annotated[float, typer.Option(
        help="Reserve price: most base units paid per 10^6 operations.", min=0.0)] = 5000.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Cut a QAOA angle search into light-cone work units, let nodes bid, verify and pay."""
    from poqw.compute.shards import (
        angle_grid,
        decompose,
        single_node_energies,
        unit_values,
        warm_up,
    )

    if (workers is None) == (simulate_nodes is None):
        raise ConfigError("give exactly one of --workers N or --simulate-nodes N")
    count = workers if workers is not None else simulate_nodes
    assert count is not None
    if cheaters >= count:
        raise ConfigError(f"--cheaters {cheaters} leaves no honest node of {count}")
    problem = load_problem(problem_file, random_regular, seed)
    model = problem.model
    points = angle_grid(model, p, grid)
    job = decompose(model, p, points, units if units is not None else 4 * count)
    reference = single_node_energies(job)
    # one node: the same units, engine and plans in this process (kernels compiled first)
    warm_up()
    started = time.perf_counter()
    values = unit_values(job)
    one_real = time.perf_counter() - started
    mode: dict[str, Any]
    if workers is not None:
        from poqw.compute.shards_loopback import run_loopback

        asks = [1000.0 * (1 + k / workers) for k in range(workers)]
        out: Any = run_loopback(job, workers, prices=asks, cheaters=range(cheaters),
                                reserve_per_mop=reserve, check_share=check_share, seed=seed)
        market_s, one_s = out.seconds, one_real
        mode = {"mode": "loopback", "workers": workers, "startup_s": out.startup_seconds}
    else:
        from poqw.compute.shards_sim import SimNode, random_nodes, simulate_market

        assert simulate_nodes is not None
        nodes = random_nodes(simulate_nodes, seed=seed, ops_per_s=node_speed, latency=latency)
        cheap = {n.name for n in sorted(nodes, key=lambda n: n.price_per_mop)[:cheaters]}
        nodes = [SimNode(n.name, n.ops_per_s, n.cores, n.price_per_mop, n.latency_s,
                         n.name in cheap) for n in nodes]
        out = simulate_market(job, nodes, values,
                              coordinator_ops_per_s=node_speed, reserve_per_mop=reserve,
                              check_share=check_share, seed=seed)
        market_s, one_s = out.seconds, out.one_node_seconds
        mode = {"mode": "simulated", "nodes": simulate_nodes, "latency": latency,
                "answer_seconds": out.answer_seconds,
                "rounds": out.rounds, "modelled": True}
    best = int(np.argmin(out.energies))
    doc = {
        **mode, "problem": problem.source, "variables": model.num_variables, "p": p,
        "points": len(points), "units": len(job.units), "estimated_ops": job.total_ops,
        "market_seconds": market_s, "one_node_seconds": one_s,
        "speedup": one_s / market_s if market_s > 0 else None,
        "one_node_measured_here_seconds": one_real,
        "max_abs_difference": float(np.max(np.abs(out.energies - reference))),
        "best_energy": float(out.energies[best]),
        "best_gammas": list(points[best][0]), "best_betas": list(points[best][1]),
        "checks": out.checks, "cheaters_caught": sorted(out.cheaters),
        "payments": out.payments,
    }
    if as_json:
        print_json(doc)
        return
    console.print(f"{problem.source}: {model.num_variables} variables, p={p}, {len(points)} "
                  f"angle points, {len(job.units)} work units, "
                  f"{job.total_ops / 1e6:.0f}x10^6 operations (estimated)")
    console.print(_node_table("bids and awards", out.bids, out.awards, out.payments,
                              out.cheaters, 20))
    assign = Table(title="assignments (first 12)")
    for col in ("unit", "node", "price", "promised finish s"):
        assign.add_column(col, justify="right")
    for a in out.awards[:12]:
        assign.add_row(str(a.unit), a.node, str(a.price), f"{a.finish:.3f}")
    console.print(assign)
    where = "simulated time (modelled)" if simulate_nodes is not None else "wall time"
    console.print(f"market: {market_s:.3f} s {where}; one node: {one_s:.3f} s; speedup "
                  f"{doc['speedup']:.2f}x; {out.checks} spot checks; caught: "
                  f"{', '.join(sorted(out.cheaters)) or 'none'}")
    console.print(f"answer equals the single-node answer to {doc['max_abs_difference']:.1e}; "
                  f"best <H> = {doc['best_energy']:.4f} at gammas {doc['best_gammas']}, "
                  f"betas {doc['best_betas']}")

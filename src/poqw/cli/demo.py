"""``poqw demo``: the main job, end to end on one machine.

A random MaxCut instance is solved three ways: exactly (the oracle), by match-strike (shallow QAOA
steered by the Bayesian controller, sharing its budget with classical samplers) with live progress,
and by simulated annealing alone; a table compares cut, approximation ratio and time. Then the
solve is spread over three solver processes, one of them faking strikes (caught by spot checks
and banned), with each solver's throughput and pay. Then a local network of three node processes
on loopback mines Proof-of-Quantum-Work blocks with a live view to the asked height, then waits
until every node is on the same tip (or says plainly that they did not agree in time). Last, the
problem market: a customer posts a MaxCut problem with a bounty on a one-node PoQW chain, two
solver daemons compete, the contract pays the best.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from poqw.cli.common import command, console

__all__ = ["demo"]


@command
def demo(
    nodes: Annotated[int, typer.Option(help="Graph size (state-vector sized: 8..24).")] = 16,
    degree: Annotated[int, typer.Option(help="Graph degree.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed for the graph and the solvers.")] = 7,
    strikes: Annotated[int, typer.Option(help="Match-strike budget.")] = 60,
    blocks: Annotated[int, typer.Option(help="Height the local devnet mines to (0: no devnet).")
                      ] = 8,
    compute: Annotated[bool, typer.Option(help="Run the compute-network act: a solve spread "
                                          "over 3 solver processes, one of them cheating.")
                       ] = True,
    market: Annotated[bool, typer.Option(help="End with the problem market act: post, solve, "
                                         "settle on a one-node PoQW chain.")] = True,
) -> None:
    """Solve a random MaxCut instance by match-strike, annealing and brute force, and compare."""
    from poqw.problems import maxcut_to_ising, random_regular_graph, solve_exact
    from poqw.samplers import get_sampler, spins_and_energies
    from poqw.strike import SolveResult, solve
    from poqw.strike.progress import RichProgress

    graph = random_regular_graph(degree, nodes, seed=seed)
    model = maxcut_to_ising(graph)
    console.rule(f"[bold]poqw demo[/] — MaxCut on a random {degree}-regular graph, "
                 f"{nodes} nodes, {graph.number_of_edges()} edges, seed {seed}")

    start = time.perf_counter()
    exact = solve_exact(model)
    exact_s = time.perf_counter() - start
    best_cut = -exact.energy
    console.print(f"exact optimum (brute force over 2^{nodes} cuts): cut [bold]{best_cut:g}[/] "
                  f"in {exact_s:.3f} s, {exact.num_ground_states} optimal assignments")

    with RichProgress(description="match-strike", console=console) as view:
        strike = solve(model, p=2, shots=64, max_strikes=strikes, seed=seed, progress=view)

    annealer = get_sampler("simulated-annealing")
    start = time.perf_counter()
    sampleset = annealer.sample(model, num_reads=64, num_sweeps=1000, seed=seed)
    sa_s = time.perf_counter() - start
    _, sa_energies = spins_and_energies(sampleset, model)

    only_qaoa = solve(model, p=2, shots=64, max_strikes=strikes, seed=seed, samplers=("qaoa",))

    def reached(result: SolveResult) -> str:
        hits = [r.time for r in result.history if r.best_energy <= exact.energy + 1e-9]
        return f"optimum after {hits[0]:.3f} s" if hits else "optimum not reached"

    table = Table(title="results", title_justify="left")
    for col in ("method", "cut", "ratio", "seconds", "notes"):
        table.add_column(col, justify="right" if col in {"cut", "ratio", "seconds"} else "left")
    rows = [
        ("exact (brute force)", best_cut, exact_s, "the oracle"),
        ("match-strike + classical arms", -strike.energy, strike.seconds,
         f"found by {strike.found_by}; {reached(strike)}"),
        ("match-strike QAOA only", -only_qaoa.energy, only_qaoa.seconds,
         f"p=2, polished samples; {reached(only_qaoa)}"),
        ("simulated annealing", -float(sa_energies.min()), sa_s, "64 reads x 1000 sweeps"),
    ]
    for name, cut, seconds, notes in rows:
        table.add_row(name, f"{cut:g}", f"{cut / best_cut:.3f}", f"{seconds:.3f}", notes)
    console.print(table)
    for note in strike.notes:
        console.print(f"[dim]note: {note}[/]")
    console.print("At this size classical annealing finds the optimum almost at once; match-strike "
                  "earns its place only by matching it. See `poqw bench` for the full comparison.")
    if compute:
        from poqw.cli.demo_compute import compute_act

        compute_act(nodes, seed)
    if blocks > 0:
        _run_devnet(blocks)
    if market:
        from poqw.cli.demo_market import market_act

        market_act(seed)


def _run_devnet(blocks: int) -> None:
    """A local network of node processes on loopback mines to ``blocks`` and converges."""
    from poqw.cli.devnet import start_network

    console.rule(f"[bold]a local devnet: 3 node processes (2 annealing miners, 1 match-strike "
                 f"QAOA miner) on loopback, to height {blocks}[/]")
    console.print("The first seconds: the genesis is stamped with the current time, three node "
                  "processes start (loading their libraries and creating miner keys), dial each "
                  "other over QUIC, then race to solve their puzzles; the caption under the table "
                  "says which step the network is in.", highlight=False)
    start_network(["cpu", "cpu", "qvm"], blocks, as_json=False, base_port=None, run_dir=None,
                  drift=None, timeout=300.0, print_only=False)
    console.print(f"All three nodes agree on one tip at height {blocks} or more: mining stopped "
                  f"there and every node took the chain with the most work.", highlight=False)
    console.print("Each block's proof is k spin vectors under the energy bound, pairwise far apart,"
                  " on a puzzle derived from the parent hash and the miner's address; every node "
                  "re-checks it. 'mined here' counts a node's own blocks, 'on chain' those that "
                  "stayed on the chain with the most work.", highlight=False)

"""``poqw netsim``: simulate block propagation over N nodes and report (and plot) it."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from poqw.cli.common import command, console, ensure_folder, print_json
from poqw.cli.logoptions import LogFormatOption, LogLevelOption, setup_cli_logging

__all__ = ["netsim"]

log = logging.getLogger("poqw.cli.netsim")


def _table(doc: dict[str, Any], png: Path | None) -> Table:
    table = Table(title=f"poqw netsim — {doc['config']['nodes']} nodes, latency "
                  f"{doc['config']['latency']}, seed {doc['config']['seed']}", show_header=False)
    ms = 1000.0
    for q in ("p50", "p90", "p100"):
        row = doc["propagation_s"][f"{q}_of_nodes"]
        if row["median"] is None:
            table.add_row(f"time to {q[1:]} % of nodes", "not reached")
            continue
        table.add_row(f"time to {q[1:]} % of nodes",
                      f"median {row['median'] * ms:.0f} ms, mean {row['mean'] * ms:.0f} ms, "
                      f"max {row['max'] * ms:.0f} ms")
    lat = doc["receive_latency_s"]
    table.add_row("per-node receive latency",
                  f"p50 {lat['p50'] * ms:.0f} ms, p95 {lat['p95'] * ms:.0f} ms, "
                  f"p99 {lat['p99'] * ms:.0f} ms")
    blocks = doc["blocks"]
    table.add_row("blocks", f"{blocks['mined']} mined, {blocks['main_chain']} on the best chain, "
                  f"stale rate {blocks['stale_rate']:.2%}")
    table.add_row("converged", "yes" if blocks["converged"] else "NO")
    interval = doc["interval_s"]
    if interval["mean"] is not None:
        table.add_row("block interval", f"mean {interval['mean']:.2f} s "
                      f"(target {interval['target']} s)")
    if doc["difficulty"]:
        last = doc["difficulty"][-1]
        table.add_row("difficulty at the tip", f"{last['relative_work']:.3f} x initial work "
                      f"(energy bound {last['energy_bound']})")
    miners = doc.get("miners", [])
    if len(miners) <= 12:
        for m in miners:
            table.add_row(f"miner node {m['node']}", f"{m['power_share']:.1%} of the power, "
                          f"{m['blocks']} blocks = {m['block_share']:.1%} of the best chain")
    sent = doc["bytes_sent_per_node"]
    table.add_row("bytes sent per node", f"mean {sent['mean'] / 1024:.0f} KiB "
                  f"({sent['mean_per_s'] / 1024:.1f} KiB/s), max {sent['max'] / 1024:.0f} KiB")
    net = doc["network"]
    table.add_row("connections", f"{net['connections_ready']}/{net['connections']} ready, "
                  f"{net['connections_closed']} closed")
    if png is not None:
        table.add_row("plot", str(png))
    return table


@command
def netsim(
    nodes: Annotated[int, typer.Option(help="Number of simulated nodes.")] = 100,
    latency: Annotated[str, typer.Option(
        help="constant:MS, uniform:LO-HI, lognormal:MEDIAN,SIGMA (ms) or geo.")] = "geo",
    blocks: Annotated[int, typer.Option(help="Blocks to mine before stopping.")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of every random choice in the run.")] = 0,
    degree: Annotated[int, typer.Option(help="Peers each node dials at start.")] = 8,
    bandwidth: Annotated[float, typer.Option(help="Per-link bandwidth, Mbit/s.")] = 50.0,
    uplink: Annotated[float | None, typer.Option(
        help="Per-node upload bandwidth shared by its links, Mbit/s (default: unlimited).")
    ] = None,
    block_size: Annotated[int, typer.Option(help="Simulated block size, bytes.")] = 8192,
    interval: Annotated[int, typer.Option(help="Target block interval, s.")] = 10,
    halflife: Annotated[int, typer.Option(help="Difficulty (ASERT) halflife, s.")] = 600,
    power: Annotated[str, typer.Option(help="Solver power shares: equal or exponential.")
                     ] = "equal",
    miners: Annotated[int | None, typer.Option(
        help="Only nodes 0..MINERS-1 mine (default: every node).")] = None,
    power_scale: Annotated[float, typer.Option(
        help="Network solver power relative to the calibration (2 = blocks twice as fast "
             "until difficulty adjusts).")] = 1.0,
    out: Annotated[Path | None, typer.Option(
        help="Directory for netsim.png and netsim.json.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Simulate block propagation over a peer network with the real protocol objects."""
    from poqw.netsim import SimConfig, Simulation, summarize, write_plot

    setup_cli_logging(log_level, log_format)
    config = SimConfig(nodes=nodes, degree=degree, latency=latency, blocks=blocks, seed=seed,
                       bandwidth_mbps=bandwidth,
                       uplink_mbps=math.inf if uplink is None else uplink,
                       block_bytes=block_size,
                       target_interval=interval, halflife=halflife, power=power,
                       power_scale=power_scale,
                       miners=tuple(range(miners)) if miners is not None else ())
    if miners is not None and not 1 <= miners <= nodes:
        raise typer.BadParameter(f"--miners must be in 1..{nodes}, got {miners}")
    config.check()
    if out is not None:
        ensure_folder(out, "--out")  # before the simulation, not after it
    log.info("simulating %d nodes, %d blocks, seed %d", nodes, blocks, seed,
             extra={"nodes": nodes, "blocks": blocks, "seed": seed})
    if as_json:
        record = Simulation(config).run()
    else:
        with console.status(f"creating {nodes} nodes and their connections…", spinner="dots"):
            sim = Simulation(config)
        with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("blocks"), TimeElapsedColumn(), console=console,
                      transient=True) as bar:
            task = bar.add_task("blocks", total=blocks)
            sim.progress = lambda done, _total: bar.update(task, completed=done)
            record = sim.run()
    doc = summarize(record)
    log.info("simulated %d blocks", doc["blocks"]["mined"],
             extra={"converged": doc["blocks"]["converged"]})
    png = None
    if out is not None:
        png = write_plot(record, out / "netsim.png")
        (out / "netsim.json").write_text(_dumps(doc))
        doc["plot"] = str(png)
    if as_json:
        print_json(doc)
        return
    console.print(_table(doc, png))


def _dumps(doc: dict[str, Any]) -> str:
    import json

    return json.dumps(doc, indent=2, sort_keys=True) + "\n"

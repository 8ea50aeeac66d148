"""``poqw chain``: look at a node's chain (read-only; works while the node runs), and calibrate
a puzzle topology into a genesis file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from poqw.cli.common import command, console, print_json
from poqw.errors import ConfigError

if TYPE_CHECKING:
    from poqw.chain.calibrate import Calibration

__all__ = ["app", "calibrate", "info"]

app = typer.Typer(help="Inspect a node's chain; calibrate a topology into a genesis.",
                  no_args_is_help=True)


@app.command("info")
@command
def info(
    datadir: Annotated[Path, typer.Option(help="The node's data directory.", exists=True,
                                          file_okay=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Height, tip, cumulative work, energy bound and per-miner statistics."""
    from poqw.node.info import chain_info

    doc = chain_info(datadir)
    if as_json:
        print_json(doc)
        return
    table = Table(title=f"poqw chain — {doc['genesis']} (chain id {doc['chain_id']})",
                  show_header=False)
    for key in ("height", "tip", "total_work", "tip_energy_bound", "next_energy_bound", "next_work",
                "tip_miner", "blocks_stored"):
        table.add_row(key.replace("_", " "), str(doc[key]))
    console.print(table)
    miners = Table(title="miners")
    for column in ("address", "blocks won", "best energy", "current streak", "last block"):
        miners.add_column(column)
    for m in doc["miners"]:
        miners.add_row(m["address"], str(m["blocks_won"]), str(m["best_energy"]),
                       str(m["current_streak"]), str(m["last_block"]))
    console.print(miners)


def _parse_budgets(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise ConfigError(f"--budgets must be comma-separated sweep counts, got {text!r}"
                          ) from None


def _write_genesis(path: Path, doc: dict[str, Any], force: bool) -> None:
    """Write ``doc`` to ``path``; an existing file is replaced only with ``force`` (atomically)."""
    data = json.dumps(doc, indent=1) + "\n"
    try:
        if not force:
            with path.open("x", encoding="utf-8") as f:  # exclusive: never clobbers
                f.write(data)
            return
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(data, encoding="utf-8")
        os.replace(tmp, path)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise ConfigError(f"cannot write the genesis file {path}: {exc}") from exc


def _calibration_table(cal: Calibration, title: str) -> Table:
    table = Table(title=title)
    table.add_column("bound", justify="right")
    table.add_column("work", justify="right")
    for budget in cal.budgets:
        table.add_column(f"p({budget} sweeps)", justify="right")
    for bound, work in zip(range(cal.hardest_bound, cal.easiest_bound + 1), cal.work,
                           strict=True):
        label = f"{bound} (initial)" if bound == cal.initial_bound else str(bound)
        rates = (f"{cal.success_rate(i, bound):.0%}" for i in range(len(cal.budgets)))
        table.add_row(label, f"{work:,}", *rates)
    return table


@app.command("calibrate")
@command
def calibrate(
    family: Annotated[str, typer.Option(help="Topology family: regular3, chimera, pegasus or "
                                             "zephyr.")] = "regular3",
    size: Annotated[int, typer.Option(help="Topology size (nodes for regular3).")] = 24,
    k: Annotated[int, typer.Option("--k", help="Solutions per proof.")] = 4,
    d_min: Annotated[int, typer.Option(help="Minimum Hamming distance between them.")] = 3,
    budgets: Annotated[str, typer.Option(
        help="Annealing sweep budgets, increasing, comma-separated.")] = "1,4,16,64,256",
    instances: Annotated[int, typer.Option(help="Random block puzzles to measure.")] = 32,
    reads: Annotated[int, typer.Option(help="Annealing reads per puzzle and budget.")] = 64,
    min_success: Annotated[float, typer.Option(
        help="Success rate at which a bound counts as reachable (hardest bound).")] = 0.125,
    seed: Annotated[int, typer.Option(help="Seed of the puzzles and the annealer.")] = 0,
    policy: Annotated[str, typer.Option(help="Difficulty policy: target-time or inverted.")
                      ] = "target-time",
    chain_id: Annotated[int, typer.Option(help="Chain id of the genesis.")] = 7357,
    name: Annotated[str, typer.Option(help="Chain name in the genesis.")] = "calibrated",
    out: Annotated[Path | None, typer.Option(help="Write the genesis JSON to this file.",
                                             dir_okay=False)] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing --out file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the genesis JSON only.")
                       ] = False,
) -> None:
    """Measure which energy bounds simulated annealing reaches on a topology, and at what cost.

    Makes a genesis (range, work table, method); start nodes with poqw node cpu --genesis FILE.
    """
    from poqw.chain.calibrate import calibrate_topology, genesis_document
    from poqw.chain.genesis import POLICIES, parse_genesis
    from poqw.chain.topology import build_topology

    if policy not in POLICIES:
        raise ConfigError(f"unknown difficulty policy {policy!r}; choose one of {POLICIES}")
    if out is not None and out.exists() and not force:  # fail before the long part
        raise ConfigError(f"{out} already exists; pass --force to overwrite it")
    if out is not None and not out.parent.is_dir():
        raise ConfigError(f"--out {out}: the folder {out.parent} does not exist")
    topology = build_topology(family, size)
    budget_list = _parse_budgets(budgets)
    kwargs: dict[str, Any] = {"budgets": budget_list, "num_instances": instances,
                              "num_reads": reads, "min_success": min_success, "seed": seed}
    if as_json:
        cal = calibrate_topology(topology, k, d_min, **kwargs)
    else:
        with Progress(TextColumn("[bold]calibrating"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("calibrating", total=instances * len(budget_list))

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            cal = calibrate_topology(topology, k, d_min, progress=progress, **kwargs)
    doc = genesis_document(name, chain_id, cal, policy)
    parse_genesis(doc)  # what a node will check when it loads the file
    if out is not None:
        _write_genesis(out, doc, force)
    if as_json:
        print_json(doc)
        return
    console.print(_calibration_table(cal, f"{family}-{size} ({topology.num_nodes} nodes), "
                                          f"k={k}, d_min={d_min}: work and success rate"))
    console.print(f"range {cal.hardest_bound} .. {cal.easiest_bound}, initial bound "
                  f"{cal.initial_bound}; {instances} puzzles x {reads} reads per budget",
                  highlight=False)
    if out is not None:
        console.print(f"wrote {out}; start a node on it with: poqw node cpu --genesis {out} "
                      "--datadir DIR", highlight=False)

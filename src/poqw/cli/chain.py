"""``poqw chain``: look at a node's chain (read-only; works while the node runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from poqw.cli.common import command, console, print_json

__all__ = ["app", "info"]

app = typer.Typer(help="Inspect a node's chain.", no_args_is_help=True)


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
    for key in ("height", "tip", "total_work", "tip_energy_bound", "next_energy_bound",
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

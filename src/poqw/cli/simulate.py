"""``poqw simulate``: run (or print) a named mix of miners as a local network of processes.

A scenario is a list of miner kinds: ``mixed`` is three CPU, two GPU and one QPU node; ``cpu``
four CPU nodes; ``gpu`` three GPU nodes. Without the hardware, GPU and QPU nodes run the CPU
annealer and the command says so. ``--print-only`` prints the node command lines; otherwise the
nodes run exactly as ``poqw devnet`` runs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from poqw.cli.common import command
from poqw.cli.devnet import start_network
from poqw.cli.logoptions import LogFormatOption, LogLevelOption, log_args, setup_cli_logging

__all__ = ["SCENARIOS", "simulate"]

SCENARIOS: dict[str, tuple[str, ...]] = {
    "mixed": ("cpu", "cpu", "cpu", "gpu", "gpu", "qpu"),
    "cpu": ("cpu", "cpu", "cpu", "cpu"),
    "gpu": ("gpu", "gpu", "gpu"),
}


@command
def simulate(
    scenario: Annotated[str, typer.Option(help="mixed (3 cpu, 2 gpu, 1 qpu), cpu or gpu.")
                        ] = "mixed",
    base_port: Annotated[int | None, typer.Option(
        help="Node i listens on BASE+i (default: free ports).")] = None,
    print_only: Annotated[bool, typer.Option("--print-only",
                                             help="Print the node commands, start nothing.")
                          ] = False,
    blocks: Annotated[int | None, typer.Option(
        help="Stop once every node reached this height.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="No live view; print JSON at the end."
                                          )] = False,
    run_dir: Annotated[Path | None, typer.Option(help="Where data directories and logs go.")
                       ] = None,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Run a named mix of miners as local node processes (or print their commands)."""
    setup_cli_logging(log_level, log_format)
    if scenario not in SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {scenario!r}; known: "
                                 f"{', '.join(SCENARIOS)}")
    start_network(SCENARIOS[scenario], blocks, as_json, base_port, run_dir, None, 600.0,
                  print_only, node_args=log_args(log_level, log_format))

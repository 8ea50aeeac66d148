"""``poqw simulate``: run (or print) a named mix of miners as a local network of processes.

A scenario is a list of miner kinds: ``mixed`` is three CPU, two GPU and one QPU node (or
``--num-cpu/--num-gpu/--num-qpu/--num-qvm`` nodes of each kind); ``cpu`` four CPU nodes; ``gpu``
three GPU nodes. Each node runs what this machine supports and the command says what fell back:
GPU nodes without a GPU run the CPU annealer, QPU nodes without ``DWAVE_API_TOKEN`` run the QPU
path on dwave-system's mock sampler (see :func:`poqw.cli.devnet.hardware_plan`).
``--print-only`` prints the node command lines; otherwise the nodes run exactly as
``poqw devnet`` runs them.
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
    num_cpu: Annotated[int | None, typer.Option(help="CPU nodes (mixed scenario).")] = None,
    num_gpu: Annotated[int | None, typer.Option(help="GPU nodes (mixed scenario).")] = None,
    num_qpu: Annotated[int | None, typer.Option(help="QPU nodes (mixed scenario).")] = None,
    num_qvm: Annotated[int | None, typer.Option(help="QVM (match-strike) nodes (mixed).")
                       ] = None,
    timeout: Annotated[float, typer.Option(help="Give up on --blocks after this many s.")
                       ] = 600.0,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Run a named mix of miners as local node processes (or print their commands)."""
    setup_cli_logging(log_level, log_format)
    if scenario not in SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {scenario!r}; known: "
                                 f"{', '.join(SCENARIOS)}")
    counts = {"cpu": num_cpu, "gpu": num_gpu, "qpu": num_qpu, "qvm": num_qvm}
    kinds = SCENARIOS[scenario]
    if any(n is not None for n in counts.values()):
        if scenario != "mixed":
            raise typer.BadParameter("--num-cpu/--num-gpu/--num-qpu/--num-qvm set the mixed "
                                     "scenario's counts")
        if any(n is not None and n < 0 for n in counts.values()):
            raise typer.BadParameter("node counts cannot be negative")
        default = {"cpu": 3, "gpu": 2, "qpu": 1, "qvm": 0}
        kinds = tuple(kind for kind, n in counts.items()
                      for _ in range(default[kind] if n is None else n))
        if not kinds:
            raise typer.BadParameter("the mix has no node")
    start_network(kinds, blocks, as_json, base_port, run_dir, None, timeout, print_only,
                  node_args=log_args(log_level, log_format))

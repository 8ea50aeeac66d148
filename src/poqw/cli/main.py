"""Entry point of the ``poqw`` command; each command group lives in its own module."""

from __future__ import annotations

import typer

from poqw import __version__
from poqw.cli import chain as chain_cli
from poqw.cli import keys as keys_cli
from poqw.cli import market as market_cli
from poqw.cli import node as node_cli
from poqw.cli import peers as peers_cli
from poqw.cli.bench import bench
from poqw.cli.compute import coordinator, solver
from poqw.cli.demo import demo
from poqw.cli.devnet import devnet
from poqw.cli.econ import econ
from poqw.cli.expect import expect
from poqw.cli.netsim import netsim
from poqw.cli.shards import shards
from poqw.cli.simulate import simulate
from poqw.cli.solve import solve

__all__ = ["app", "main"]

app = typer.Typer(
    name="poqw",
    help="Proof of Quantum Work: solve Ising/MaxCut problems, benchmark, run a chain.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, pwsh)
    pretty_exceptions_enable=False,
)
app.command()(solve)
app.command()(expect)
app.command()(demo)
app.command()(netsim)
app.command()(bench)
app.command()(devnet)
app.command()(simulate)
app.command()(econ)
app.command()(coordinator)
app.command()(solver)
app.command()(shards)
app.add_typer(node_cli.app, name="node")
app.add_typer(chain_cli.app, name="chain")
app.add_typer(keys_cli.app, name="keys")
app.add_typer(peers_cli.app, name="peers")
app.add_typer(market_cli.app, name="market")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"poqw {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Proof of Quantum Work."""


def main() -> None:
    # the name, not argv[0]: completion scripts and usage lines say "poqw" even when it runs as
    # ``python -c`` or ``python -m`` (devnet's nodes, tests)
    app(prog_name="poqw")

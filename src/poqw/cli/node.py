"""``poqw node``: run a node. ``poqw node cpu`` mines on this machine's CPU.

The command only translates flags into a :class:`~poqw.node.NodeConfig` and drives
:class:`~poqw.node.Node`; SIGINT and SIGTERM stop it cleanly between puzzle attempts.
"""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from poqw.cli.common import command, console
from poqw.errors import ConfigError

__all__ = ["app", "cpu"]

app = typer.Typer(help="Run a poqw node.", no_args_is_help=True)


def _reserve_port(host: str, port: int) -> socket.socket:
    """Bind the node's UDP port (QUIC) now, so ``--port 0`` yields a real free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind {host}:{port}: {exc}") from exc
    return sock


@app.command("cpu")
@command
def cpu(
    datadir: Annotated[Path | None, typer.Option(help="Data directory (chain, state, log, key).")
                       ] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config file; flags override it.",
                                                exists=True, dir_okay=False)] = None,
    genesis: Annotated[str | None, typer.Option(help="Genesis file or built-in name.")] = None,
    auto_mine: Annotated[bool | None, typer.Option("--auto-mine/--no-mine",
                                                   help="Mine blocks.")] = None,
    sampler: Annotated[str | None, typer.Option(
        help="simulated-annealing (default), qaoa (match-strike) or any sampler name.")] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")
                    ] = None,
    port: Annotated[int | None, typer.Option(help="Port; 0 picks a free one.")] = None,
    blocks: Annotated[int | None, typer.Option(help="Stop after mining this many blocks.")
                      ] = None,
    num_cpus: Annotated[int | None, typer.Option(help="CPU threads for the sampler.")] = None,
    key_file: Annotated[Path | None, typer.Option(help="Miner key file (default DATADIR/"
                                                  "miner.key, created if missing).")] = None,
    passphrase_file: Annotated[Path | None, typer.Option(
        help="File holding the key passphrase (else POQW_PASSPHRASE or the config).",
        exists=True, dir_okay=False)] = None,
    node_name: Annotated[str | None, typer.Option(help="Name shown in logs.")] = None,
    log_file: Annotated[str | None, typer.Option(help="Log file (relative: in DATADIR).")
                        ] = None,
) -> None:
    """Run a single node that mines with the CPU (no peers yet)."""
    from poqw.node import Node, Secret, load_config

    passphrase = None
    if passphrase_file is not None:
        passphrase = Secret(passphrase_file.read_text().rstrip("\n"))
    overrides: dict[str, Any] = {
        "global.datadir": None if datadir is None else str(datadir),
        "global.genesis": genesis, "global.auto_mine": auto_mine, "global.sampler": sampler,
        "global.host": host, "global.port": port, "global.node_name": node_name,
        "global.log_file": log_file, "global.key_file": None if key_file is None else
        str(key_file), "global.key_passphrase": passphrase, "cpu.num_cpus": num_cpus,
    }
    cfg = load_config(config, overrides)
    if blocks is not None and blocks < 1:
        raise typer.BadParameter("--blocks must be at least 1")
    sock = _reserve_port(cfg.global_.host, cfg.global_.port)
    try:
        with Node(cfg) as node:
            def stop(signum: int, frame: FrameType | None) -> None:
                node.stop()

            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
            tip = node.tip()
            console.print(f"node {cfg.global_.node_name}: {node.genesis.name}, height "
                          f"{tip.number}, port {sock.getsockname()[1]}, datadir {cfg.datadir}",
                          highlight=False)

            def on_block(block: Any, result: Any) -> None:
                # printed after the block is committed: a line here is a block on disk
                sys.stdout.write(f"block {int(block.header.number)} 0x{block.hash().hex()} "
                                 f"{result.status} work {result.tip.total_work}\n")
                sys.stdout.flush()

            try:
                mined = node.run(max_blocks=blocks, on_block=on_block)
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            console.print(f"stopped: mined {mined} blocks, height {node.tip().number}",
                          highlight=False)
    finally:
        sock.close()

"""The flags every ``poqw node`` command shares (cpu, gpu, qpu, capability), declared once.

Each flag is a Typer option type; :func:`node_config` turns the shared ones into the
:class:`~poqw.node.NodeConfig` overrides (flags override the TOML file, ``None`` leaves the
file's value) and loads the config, reading the passphrase file when one is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from poqw.node import NodeConfig

__all__ = ["AutoMine", "Blocks", "Config", "Datadir", "Discover", "Genesis", "Host",
           "KeepServing", "KeyFile", "LogFile", "Name", "NumCpus", "PassFile", "Peers", "Port",
           "Rpc", "RpcHost", "RpcPort", "StopAt", "node_config"]

Datadir = Annotated[Path | None, typer.Option(help="Data directory (chain, state, log, key).")]
Config = Annotated[Path | None, typer.Option(help="TOML config file; flags override it.",
                                             exists=True, dir_okay=False)]
Genesis = Annotated[str | None, typer.Option(help="Genesis file or built-in name.")]
AutoMine = Annotated[bool | None, typer.Option("--auto-mine/--no-mine", help="Mine blocks.")]
Host = Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")]
Port = Annotated[int | None, typer.Option(help="UDP port for QUIC peers (default 20049); 0 "
                                          "picks a free one.")]
Peers = Annotated[list[str] | None, typer.Option(
    help="Peer to join, HOST:PORT (repeat for several; adds to \\[global] peer).")]
Blocks = Annotated[int | None, typer.Option(help="Stop after mining this many blocks.")]
StopAt = Annotated[int | None, typer.Option(
    help="Stop mining once the chain reaches this height, but keep serving peers.")]
KeepServing = Annotated[bool, typer.Option(
    "--keep-serving", help="Mining is optional: if the miner fails (say its key is used up), "
    "say so and keep serving peers instead of stopping the node.")]
Discover = Annotated[bool, typer.Option("--discover/--no-discover",
                                        help="Also join peers that peers tell us about.")]
NumCpus = Annotated[int | None, typer.Option(
    help="CPU threads for the CPU sampler (gpu, qpu: when falling back to it).")]
KeyFile = Annotated[Path | None, typer.Option(
    help="Miner key file (default DATADIR/miner.key, created if missing).")]
PassFile = Annotated[Path | None, typer.Option(
    help="File holding the key passphrase (else POQW_PASSPHRASE or the config).",
    exists=True, dir_okay=False)]
Name = Annotated[str | None, typer.Option(help="Name shown in logs.")]
LogFile = Annotated[str | None, typer.Option(
    help="Log file (relative: in DATADIR; '-': standard error).")]
Rpc = Annotated[bool | None, typer.Option("--rpc/--no-rpc",
                                          help="Serve Ethereum JSON-RPC (default on).")]
RpcHost = Annotated[str | None, typer.Option(help="JSON-RPC address (default 127.0.0.1).")]
RpcPort = Annotated[int | None, typer.Option(help="JSON-RPC TCP port (default 8545); 0 picks "
                                             "a free one.")]


def node_config(config: Path | None, *, datadir: Path | None = None,
                genesis: str | None = None, auto_mine: bool | None = None,
                host: str | None = None, port: int | None = None,
                node_name: str | None = None, log_file: str | None = None,
                key_file: Path | None = None, passphrase_file: Path | None = None,
                num_cpus: int | None = None, rpc: bool | None = None,
                rpc_host: str | None = None, rpc_port: int | None = None,
                log_level: Any = None, log_format: Any = None,
                extra: dict[str, Any] | None = None) -> NodeConfig:
    """The config file ``config`` with the shared flags over it, and ``extra`` overrides of
    one command (``{"gpu.batch_size": 512}``)."""
    from poqw.node import Secret, load_config

    passphrase = None
    if passphrase_file is not None:
        passphrase = Secret(passphrase_file.read_text().rstrip("\n"))
    overrides: dict[str, Any] = {
        "global.datadir": None if datadir is None else str(datadir),
        "global.genesis": genesis, "global.auto_mine": auto_mine, "global.host": host,
        "global.port": port, "global.node_name": node_name, "global.log_file": log_file,
        "global.key_file": None if key_file is None else str(key_file),
        "global.key_passphrase": passphrase, "cpu.num_cpus": num_cpus,
        "global.rpc": rpc, "global.rpc_host": rpc_host, "global.rpc_port": rpc_port,
        "global.log_level": None if log_level is None else log_level.value,
        "global.log_format": None if log_format is None else log_format.value,
        **(extra or {}),
    }
    return load_config(config, overrides)

"""The flags every ``poqw node`` command shares (cpu, gpu, qpu, capability), declared once.

Each flag is a Typer option type, and :data:`SHARED` is the list of them that
:func:`node_command` adds to a command (after its own flags); the command gets their values as
:class:`NodeFlags`, which builds the :class:`~poqw.node.NodeConfig` (flags override the TOML
file, ``None`` leaves the file's value) and runs the node.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from poqw.cli.common import command, with_flags
from poqw.cli.logoptions import LogFormatOption, LogLevelOption

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


# flag -> the config key it overrides (the others steer the node's run, not its config)
CONFIG_KEYS = {"datadir": "global.datadir", "genesis": "global.genesis",
               "auto_mine": "global.auto_mine", "host": "global.host", "port": "global.port",
               "node_name": "global.node_name", "log_file": "global.log_file",
               "key_file": "global.key_file", "passphrase_file": "global.key_passphrase",
               "num_cpus": "cpu.num_cpus", "rpc": "global.rpc", "rpc_host": "global.rpc_host",
               "rpc_port": "global.rpc_port", "log_level": "global.log_level",
               "log_format": "global.log_format"}


def _secret(path: Path) -> Any:
    from poqw.node import Secret

    return Secret(path.read_text().rstrip("\n"))


_AS_CONFIG: dict[str, Callable[[Any], Any]] = {  # the others are taken as they are
    "datadir": str, "key_file": str, "passphrase_file": _secret,
    "log_level": lambda level: level.value, "log_format": lambda fmt: fmt.value}
SHARED = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                            annotation=flag) for name, flag, default in (
    ("datadir", Datadir, None), ("config", Config, None), ("genesis", Genesis, None),
    ("auto_mine", AutoMine, None), ("host", Host, None), ("port", Port, None),
    ("peer", Peers, None), ("blocks", Blocks, None), ("stop_mining_at", StopAt, None),
    ("keep_serving", KeepServing, False), ("discover", Discover, True),
    ("num_cpus", NumCpus, None), ("key_file", KeyFile, None),
    ("passphrase_file", PassFile, None), ("node_name", Name, None), ("log_file", LogFile, None),
    ("rpc", Rpc, None), ("rpc_host", RpcHost, None), ("rpc_port", RpcPort, None),
    ("log_level", LogLevelOption, None), ("log_format", LogFormatOption, None))]


@dataclass(frozen=True)
class NodeFlags:
    """The values of the shared flags one command was given."""

    values: dict[str, Any]

    def config(self, extra: dict[str, Any] | None = None) -> NodeConfig:
        """The ``--config`` file (or the defaults) under these flags and ``extra`` overrides
        of the command's own (``{"gpu.batch_size": 512}``)."""
        return node_config(self.values["config"], extra=extra, **{
            name: self.values[name] for name in CONFIG_KEYS})

    def run(self, cfg: NodeConfig, solver: Any = None, note: str = "") -> None:
        """Run the node (:func:`poqw.cli.node.run_node`) as these flags say."""
        from poqw.cli.node import run_node

        v = self.values
        run_node(cfg, v["peer"], v["blocks"], v["stop_mining_at"], v["discover"],
                 v["keep_serving"], solver, note)


def node_command(app: typer.Typer, name: str) -> Callable[[Callable[..., None]], Any]:
    """Register ``fn(node: NodeFlags, ...)`` as ``poqw node NAME`` taking the shared flags
    (declared once, in :data:`SHARED`) after its own."""
    def register(fn: Callable[..., None]) -> Any:
        return app.command(name)(command(with_flags(fn, SHARED, NodeFlags)))

    return register


def node_config(config: Path | None, extra: dict[str, Any] | None = None,
                **flags: Any) -> NodeConfig:
    """The config file ``config`` with ``flags`` (named as in :data:`CONFIG_KEYS`; ``None``
    leaves the file's value) and ``extra`` config keys over it."""
    from poqw.node import load_config

    overrides = {CONFIG_KEYS[name]: value if value is None or name not in _AS_CONFIG
                 else _AS_CONFIG[name](value) for name, value in flags.items()}
    return load_config(config, {**overrides, **(extra or {})})

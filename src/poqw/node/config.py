"""Node configuration: a TOML file (read with ``tomllib``) with CLI flags laid over it.

The layout is ``[global]`` (host, port, peer, auto_mine, node_name, log_file, log_level,
log_format, datadir, genesis, sampler, key settings, tls_cert_file/tls_key_file, and the
JSON-RPC's rpc, rpc_host, rpc_port, rpc_cors; market_address, the problem market the explorer
shows), ``[cpu]`` (num_cpus, sampler effort), ``[gpu]``
(devices, num_reads, num_sweeps, batch_size), ``[qpu]`` (api_token, token_file, solver,
num_reads) and ``[p2p]`` (dial_policy, dial_min_port, max_pins, new_keys_per_address). Unknown
keys and wrong types raise
:class:`ConfigError` naming the key and the file. Secrets (key passphrase, API tokens) are held
in :class:`Secret`, whose ``repr`` and ``str`` are ``'***'``: they can be passed around and
logged by mistake without leaking.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from poqw.errors import ConfigError
from poqw.logconfig import FORMATS, LEVELS

__all__ = [
    "DEFAULT_PORT",
    "MAX_CONFIG_BYTES",
    "PASSPHRASE_ENV",
    "CpuConfig",
    "GlobalConfig",
    "GpuConfig",
    "NodeConfig",
    "P2pConfig",
    "QpuConfig",
    "Secret",
    "load_config",
]

DEFAULT_PORT = 20049  # UDP: QUIC peer connections
PASSPHRASE_ENV = "POQW_PASSPHRASE"
"""The environment variable a key passphrase may come from (never logged or echoed)."""
MAX_CONFIG_BYTES = 1 << 20


class Secret:
    """A string that never shows itself: ``repr``/``str``/``format`` give ``'***'``.

    Call :meth:`reveal` at the one place the value is used (unlocking a key, calling a QPU)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise ConfigError(f"a secret must be a string, got {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class GlobalConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    peer: tuple[str, ...] = ()
    auto_mine: bool = False
    node_name: str = "poqw-node"
    log_file: str = "node.log"  # "-": standard error (for systemd's journal, containers)
    log_level: str = "info"
    log_format: str = "text"  # or "json": one object per line (poqw.logconfig)
    datadir: str = "poqw-data"
    genesis: str = "devnet"
    sampler: str = "simulated-annealing"
    key_file: str = ""
    key_passphrase: Secret | None = None
    key_scheme: str = "ecdsa+xmss"
    key_height: int = 14  # 16384 blocks: a devnet at 1 block/s runs 4.5 h on its default key
    tls_cert_file: str = ""  # empty: DATADIR/node.crt, self-signed on first start
    tls_key_file: str = ""
    rpc: bool = True  # JSON-RPC over HTTP/WebSocket (poqw.api)
    rpc_host: str = "127.0.0.1"
    rpc_port: int = 8545
    rpc_cors: tuple[str, ...] = ()  # origins allowed by CORS; empty: none
    market_address: str = ""  # the problem market the explorer shows (0x + 40 hex); empty: none


@dataclass(frozen=True)
class CpuConfig:
    num_cpus: int = 1
    num_reads: int = 64
    num_sweeps: int = 16


@dataclass(frozen=True)
class GpuConfig:
    """``poqw node gpu``: CUDA device indices (empty: device 0), reads and sweeps per puzzle,
    puzzles (salts) per kernel launch."""

    devices: tuple[int, ...] = ()
    num_reads: int = 64
    num_sweeps: int = 16
    batch_size: int = 256


@dataclass(frozen=True)
class QpuConfig:
    """``poqw node qpu``: the D-Wave API token (better: ``DWAVE_API_TOKEN`` or ``token_file``,
    a ``.env``-style file), the solver name (empty: the account's default QPU; ``mock``:
    dwave-system's MockDWaveSampler, a classical stand-in) and reads per puzzle."""

    api_token: Secret | None = None
    token_file: str = ""
    solver: str = ""
    num_reads: int = 100


@dataclass(frozen=True)
class P2pConfig:
    """Peer policy: which addresses from PEERS answers may be dialled (``auto``: loopback when
    listening on loopback, else public; or ``loopback``, ``private``, ``public``), the lowest port
    dialled, how many certificate pins ``trust.db`` keeps, and how many node keys never seen
    before one address may bring at once (then one a minute)."""

    dial_policy: str = "auto"
    dial_min_port: int = 1024
    max_pins: int = 4096
    new_keys_per_address: int = 12


@dataclass(frozen=True)
class NodeConfig:
    """Every setting of a node. ``source`` is the file it came from (for messages)."""

    global_: GlobalConfig = field(default_factory=GlobalConfig)
    cpu: CpuConfig = field(default_factory=CpuConfig)
    gpu: GpuConfig = field(default_factory=GpuConfig)
    qpu: QpuConfig = field(default_factory=QpuConfig)
    p2p: P2pConfig = field(default_factory=P2pConfig)
    source: str = "<defaults>"

    @property
    def datadir(self) -> Path:
        return Path(self.global_.datadir)

    @property
    def log_to_stderr(self) -> bool:
        """``log_file = "-"``: records go to standard error, not to a file."""
        return self.global_.log_file == "-"

    @property
    def log_path(self) -> Path:
        """The log file; a relative name lives in the data directory."""
        p = Path(self.global_.log_file)
        return p if p.is_absolute() else self.datadir / p

    @property
    def log_place(self) -> str:
        """Where the log goes, in words (for messages that point there)."""
        return "standard error" if self.log_to_stderr else str(self.log_path)

    def public_dict(self) -> dict[str, dict[str, Any]]:
        """The settings with every secret shown as ``'***'`` (safe to log or print)."""
        out: dict[str, dict[str, Any]] = {}
        for name, section in _SECTIONS.items():
            values = getattr(self, _ATTR[name])
            out[name] = {f.name: _public(getattr(values, f.name)) for f in fields(section)}
        return out


_SECTIONS: dict[str, type] = {
    "global": GlobalConfig, "cpu": CpuConfig, "gpu": GpuConfig, "qpu": QpuConfig,
    "p2p": P2pConfig,
}
_ATTR = {"global": "global_", "cpu": "cpu", "gpu": "gpu", "qpu": "qpu", "p2p": "p2p"}
_SECRET_KEYS = {("global", "key_passphrase"), ("qpu", "api_token")}
_POSITIVE = {("global", "key_height"), ("cpu", "num_cpus"), ("cpu", "num_reads"),
             ("cpu", "num_sweeps"), ("gpu", "num_reads"), ("gpu", "num_sweeps"),
             ("gpu", "batch_size"), ("qpu", "num_reads"), ("p2p", "max_pins"),
             ("p2p", "new_keys_per_address")}
_CHOICES = {("p2p", "dial_policy"): ("auto", "loopback", "private", "public"),
            ("global", "log_level"): LEVELS, ("global", "log_format"): FORMATS}


def _public(value: Any) -> Any:
    if isinstance(value, Secret):
        return "***"
    if isinstance(value, tuple):
        return list(value)
    return value


def _convert(section: str, key: str, value: Any, default: Any, where: str) -> Any:
    name = f"[{section}] {key} in {where}"
    if (section, key) in _SECRET_KEYS:
        if isinstance(value, Secret):
            return value
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string")
        return Secret(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {type(value).__name__}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {type(value).__name__}")
        if (section, key) in _POSITIVE and value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
        if key in ("port", "dial_min_port", "rpc_port") and not 0 <= value <= 65535:
            raise ConfigError(f"{name} must be a port number in [0, 65535], got {value}")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {type(value).__name__}")
        choices = _CHOICES.get((section, key))
        if choices is not None and value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        if key == "market_address" and value and not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
            raise ConfigError(f"{name} must be a contract address (0x and 40 hex digits), "
                              f"got {value[:60]!r}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{name} must be a list, got {type(value).__name__}")
        kind = int if key == "devices" else str
        for item in value:
            if isinstance(item, bool) or not isinstance(item, kind):
                raise ConfigError(f"{name} must list {kind.__name__}s, got {item!r}")
            if key == "devices" and isinstance(item, int) and not 0 <= item < 1024:
                raise ConfigError(f"{name} must list device indices in [0, 1024), got {item}")
        return tuple(value)
    raise ConfigError(f"{name} has an unsupported type")  # pragma: no cover


def _section(name: str, doc: Any, base: Any, where: str) -> Any:
    cls = _SECTIONS[name]
    if not isinstance(doc, Mapping):
        raise ConfigError(f"[{name}] in {where} must be a table")
    known = {f.name: f for f in fields(cls)}
    changes = {}
    for key, value in doc.items():
        if key not in known:
            raise ConfigError(f"unknown key {key!r} in [{name}] of {where}; known keys: "
                              f"{', '.join(sorted(known))}")
        changes[key] = _convert(name, key, value, getattr(cls(), key), where)
    return replace(base, **changes)


def load_config(path: str | Path | None = None,
                overrides: Mapping[str, Any] | None = None) -> NodeConfig:
    """The config from ``path`` (or defaults), then ``overrides`` such as ``{"global.port": 0}``
    (what CLI flags set; ``None`` values are ignored)."""
    config = NodeConfig()
    if path is not None:
        where = str(path)
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read config file {where}: {exc}") from exc
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {where} is over {MAX_CONFIG_BYTES} bytes")
        try:
            doc = tomllib.loads(raw.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {where} is not valid TOML: {exc}") from exc
        for name in doc:
            if name not in _SECTIONS:
                raise ConfigError(f"unknown section [{name}] in {where}; known sections: "
                                  f"{', '.join(_SECTIONS)}")
        sections = {name: _section(name, doc[name], getattr(config, _ATTR[name]), where)
                    for name in doc}
        config = replace(config, source=where,
                         **{_ATTR[name]: value for name, value in sections.items()})
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        name, _, key = dotted.partition(".")
        if name not in _SECTIONS:
            raise ConfigError(f"unknown config section in override {dotted!r}")
        section = _section(name, {key: value}, getattr(config, _ATTR[name]), "the command line")
        config = replace(config, **{_ATTR[name]: section})
    return config

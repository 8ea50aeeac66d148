"""``poqw peers``: the certificate pins and bans a node keeps in ``DATADIR/trust.db``.

A peer whose certificate changed is refused until its pin is forgotten; a peer banned for
misbehaviour stays banned (across restarts) until its ban expires or is lifted here. A running
node keeps its bans in memory too: lift a ban while the node is stopped, or restart it after.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from poqw.cli.common import command, console, print_json
from poqw.errors import ConfigError

if TYPE_CHECKING:
    from poqw.p2p.trust import TrustStore

__all__ = ["app"]

app = typer.Typer(help="Certificate pins and bans of a node (trust.db).", no_args_is_help=True)

DatadirOption = Annotated[Path, typer.Option(help="The node's data directory.", exists=True,
                                             file_okay=False)]


def _store(datadir: Path) -> TrustStore:
    from poqw.node.network import TRUST_FILE
    from poqw.p2p.trust import TrustStore

    path = datadir / TRUST_FILE
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: this node has not met any peer yet")
    return TrustStore(path)


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _node_id(text: str) -> bytes:
    try:
        value = bytes.fromhex(text.removeprefix("0x"))
    except ValueError as exc:
        raise ConfigError(f"node id {text!r} is not hexadecimal") from exc
    if not value:
        raise ConfigError("node id is empty")
    return value


@app.command("list")
@command
def list_(
    datadir: DatadirOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Pinned certificates and bans in force."""
    store = _store(datadir)
    with store:
        now = time.time()
        pins = store.pins()
        bans = store.load_bans(now)
    doc = {
        "pins": [{"node_id": n.hex(), "fingerprint": f.hex(), "first_seen": a, "last_seen": b}
                 for n, f, a, b in pins],
        "bans": [{"key": e.key, "until": e.until, "seconds_left": round(e.until - now, 1),
                  "reason": e.reason} for e in bans],
    }
    if as_json:
        print_json(doc)
        return
    table = Table(title=f"pinned certificates ({store.path})")
    for column in ("node id", "fingerprint", "first seen", "last seen"):
        table.add_column(column)
    for n, f, a, b in pins:
        table.add_row(n.hex(), f.hex()[:16] + "…", _when(a), _when(b))
    console.print(table)
    banned = Table(title="bans in force")
    for column in ("key", "until", "reason"):
        banned.add_column(column)
    for e in bans:
        banned.add_row(e.key, _when(e.until), e.reason)
    console.print(banned)


@app.command("forget")
@command
def forget(node_id: Annotated[str, typer.Argument(help="The peer's node id (hex).")],
           datadir: DatadirOption) -> None:
    """Forget a peer's pinned certificate, so its next certificate is pinned afresh."""
    key = _node_id(node_id)
    store = _store(datadir)
    with store:
        if not store.forget(key):
            raise ConfigError(f"no certificate is pinned for node {key.hex()} in {store.path}")
    console.print(f"forgot the certificate pinned for node {key.hex()}")


@app.command("unban")
@command
def unban(key: Annotated[str, typer.Argument(
              help="A ban key as `poqw peers list` shows it (node:<id> or host:<address>).")],
          datadir: DatadirOption) -> None:
    """Lift a ban (takes effect when the node next starts)."""
    store = _store(datadir)
    with store:
        now = time.time()
        if key not in {e.key for e in store.load_bans(now)}:
            raise ConfigError(f"no ban in force for {key!r} in {store.path}")
        store.save_bans([], [key], now)
    console.print(f"lifted the ban on {key}")

"""``poqw keys``: create, show and export hybrid (ECDSA + post-quantum) signing keys.

Passphrases come from ``--passphrase-file``, the ``POQW_PASSPHRASE`` variable or a hidden
prompt; they are never echoed or printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from poqw.cli.common import command, console, print_json
from poqw.errors import ConfigError
from poqw.node.config import PASSPHRASE_ENV

__all__ = ["app"]

app = typer.Typer(help="Create and inspect signing keys.", no_args_is_help=True)


def read_passphrase(passphrase_file: Path | None, *, confirm: bool) -> str:
    """From the file, else the environment, else a hidden prompt."""
    if passphrase_file is not None:
        return passphrase_file.read_text().rstrip("\n")
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    value: str = typer.prompt("passphrase", hide_input=True, confirmation_prompt=confirm,
                              err=True)
    return value


PassphraseFile = Annotated[Path | None, typer.Option(
    help=f"File holding the passphrase (else {PASSPHRASE_ENV}, else a prompt).", exists=True,
    dir_okay=False)]


@app.command("new")
@command
def new(
    path: Annotated[Path, typer.Argument(help="Key file to create (never overwritten).")],
    scheme: Annotated[str, typer.Option(help="ecdsa+xmss (one-time keys) or ecdsa+mldsa44.")
                      ] = "ecdsa+xmss",
    height: Annotated[int, typer.Option(
        help="XMSS tree height: 2**height signatures (14: 16384 blocks, built in about 3 s).")
                      ] = 14,
    passphrase_file: PassphraseFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Generate a key and write it encrypted with a passphrase."""
    from poqw.crypto import export_public, new_key

    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give the path of the key file to create")
    if not path.parent.is_dir():
        raise ConfigError(f"cannot create {path}: the folder {path.parent} does not exist")
    passphrase = read_passphrase(passphrase_file, confirm=True)
    try:
        new_key(path, passphrase, scheme, height=height)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    doc = export_public(path)
    if as_json:
        print_json(doc)
    else:
        console.print(f"created {path} for address {doc['address']} ({doc['scheme']})",
                      highlight=False)


@app.command("show")
@command
def show(
    path: Annotated[Path, typer.Argument(help="Key file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Public facts of a key and, for XMSS, one-time signatures used and left."""
    from poqw.crypto import show_key

    doc = show_key(path)
    if as_json:
        print_json(doc)
        return
    table = Table(title=str(path), show_header=False)
    for key, value in doc.items():
        if key != "public_key":
            table.add_row(key, str(value))
    console.print(table)


@app.command("export-public")
@command
def export_public_cmd(path: Annotated[Path, typer.Argument(help="Key file.")]) -> None:
    """Print what may be shared: scheme, address and public key (JSON)."""
    from poqw.crypto import export_public

    print_json(export_public(path))

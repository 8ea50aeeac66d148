"""``poqw econ``: run the token-economics model and write ``report.md`` with its figures.

The parameters come from one TOML file (``--params``; the shipped example by default); the run
is deterministic for a given seed, which ``--seed`` overrides.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from poqw.cli.common import command, console, ensure_folder, print_json

__all__ = ["econ"]


@command
def econ(
    out: Annotated[Path, typer.Option("--out", help="Folder for report.md and the PNGs.")
                   ] = Path("econ-report"),
    params_file: Annotated[Path | None, typer.Option(
        "--params", help="TOML parameter file (default: the shipped example).",
        dir_okay=False)] = None,
    seed: Annotated[int | None, typer.Option(help="Override the file's seed.")] = None,
    trials: Annotated[int | None, typer.Option(help="Override the file's Monte Carlo trials."
                                               )] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answers as JSON.")] = False,
) -> None:
    """Token economics: when solving pays, and the stake at which cheating never does."""
    from poqw.econ import load_params, write_report
    from poqw.errors import ConfigError

    params = load_params(params_file)
    if seed is not None:
        params = dataclasses.replace(params, seed=seed)
    if trials is not None:
        if trials < 100:
            raise ConfigError(f"--trials must be at least 100, got {trials}")
        params = dataclasses.replace(params, trials=trials)
    summary = write_report(params, ensure_folder(out, "--out"))
    if as_json:
        print_json(summary.as_dict())
        return
    for kind, row in summary.break_even.items():
        console.print(f"{kind}: solving pays above a bounty of {row['closed_race']:.4g} tokens")
    for detection, stake in summary.minimum_stake.items():
        console.print(f"detection {detection}: cheating never pays at a stake above {stake:.4g}")
    console.print(f"report: {out / 'report.md'}")

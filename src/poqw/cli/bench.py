"""``poqw bench``: the MaxCut quality benchmark (match-strike against classical baselines), and
``poqw bench miners``: time to a block proof for each miner kind (cpu, gpu, qpu, qvm).

Engine-speed benchmarks against peer libraries (QOKit, Qiskit Aer, quimb, dwave-samplers) are
scripts in ``bench/`` of a checkout, because they install peers in a separate environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markdown import Markdown
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from poqw.cli.common import command, console, ensure_folder, print_json
from poqw.cli.logoptions import LogFormatOption, LogLevelOption, setup_cli_logging

__all__ = ["bench"]


@command
def bench(
    mode: Annotated[str, typer.Argument(
        help="strike: match-strike against classical baselines; miners: time to a block proof "
             "per miner kind.")] = "strike",
    quick: Annotated[bool, typer.Option(help="Tiny sizes: seconds instead of minutes.")] = False,
    out: Annotated[Path | None, typer.Option(
        help="Folder for report.md, results.json and plots [default: bench-out/MODE].")
                   ] = None,
    budget: Annotated[int | None, typer.Option(help="Strikes per method and instance.")] = None,
    seeds: Annotated[int | None, typer.Option(
        min=2, help="Instances (seeds) per family and size; the plots' error bars are standard "
                    "errors over them (default 10, --quick 6).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    networks: Annotated[str | None, typer.Option(
        help="miners: genesis networks, comma-separated (default devnet,zephyr-testnet; "
             "--quick devnet).")] = None,
    kinds: Annotated[str, typer.Option(help="miners: miner kinds, comma-separated.")
                     ] = "cpu,gpu,qpu,qvm",
    seconds: Annotated[float | None, typer.Option(
        min=0.0, help="miners: solving seconds per miner and network (default 20, --quick "
                      "0.3); each runs at least one attempt.")] = None,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Compare match-strike with random sampling, greedy descent, annealing and the optimum.

    Ratios carry standard-error bars over the seeds; time to target counts unsolved runs as
    censored at their budget (a Kaplan–Meier curve), so a method that rarely solves cannot look
    fast.
    """
    setup_cli_logging(log_level, log_format)
    if mode not in ("strike", "miners"):
        raise typer.BadParameter(f"unknown mode {mode!r}: choose strike or miners",
                                 param_hint="MODE")
    out = out if out is not None else Path("bench-out") / mode
    ensure_folder(out, "--out")
    if mode == "miners":
        if budget is not None or seeds is not None:
            raise typer.BadParameter("--budget and --seeds are for the strike benchmark",
                                     param_hint="MODE")
        _bench_miners(quick, out, as_json, networks, kinds, seconds)
        return
    from poqw.strike.benchmark import QUICK, run_benchmark

    kwargs: dict[str, Any] = dict(QUICK) if quick else {}
    if budget is not None:
        kwargs["budget"] = budget
    if seeds is not None:
        kwargs["seeds"] = tuple(range(seeds))
    if as_json:
        doc = run_benchmark(out_dir=out, **kwargs)
        print_json({"summary": doc["summary"], "config": doc["config"], "report": doc["report"],
                    "plots": doc["plots"]})
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("benchmark", total=None)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        doc = run_benchmark(out_dir=out, progress=progress, **kwargs)
    console.print(Markdown(Path(doc["report"]).read_text(encoding="utf-8")))
    console.print(f"[dim]report: {doc['report']}; plots: {', '.join(doc['plots'])}[/]")


def _bench_miners(quick: bool, out: Path, as_json: bool, networks: str | None, kinds: str,
                  seconds: float | None) -> None:
    from poqw.node.minerbench import KINDS, NETWORKS, QUICK, run_miner_bench

    kwargs: dict[str, Any] = dict(QUICK) if quick else {}
    if networks is not None:
        kwargs["networks"] = tuple(n.strip() for n in networks.split(",") if n.strip())
    kwargs.setdefault("networks", NETWORKS)
    for network in kwargs["networks"]:
        if network not in NETWORKS:
            raise typer.BadParameter(f"unknown network {network!r}: choose from "
                                     f"{', '.join(NETWORKS)}", param_hint="--networks")
    kwargs["kinds"] = tuple(k.strip() for k in kinds.split(",") if k.strip())
    for kind in kwargs["kinds"]:
        if kind not in KINDS:
            raise typer.BadParameter(f"unknown miner kind {kind!r}: choose from "
                                     f"{', '.join(KINDS)}", param_hint="--kinds")
    if seconds is not None:
        kwargs["seconds"] = seconds
    if as_json:
        print_json(run_miner_bench(out, **kwargs))
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("miners", total=None)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        doc = run_miner_bench(out, progress=progress, **kwargs)
    console.print(Markdown(Path(doc["report"]).read_text(encoding="utf-8")))
    console.print(f"[dim]report: {doc['report']}; plots: {', '.join(doc['plots'])}[/]")

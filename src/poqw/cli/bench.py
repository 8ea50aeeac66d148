"""``poqw bench``: the MaxCut quality benchmark (match-strike against classical baselines).

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
    quick: Annotated[bool, typer.Option(help="Tiny sizes: seconds instead of minutes.")] = False,
    out: Annotated[Path, typer.Option(help="Folder for report.md, results.json and plots.")
                   ] = Path("bench-out/strike"),
    budget: Annotated[int | None, typer.Option(help="Strikes per method and instance.")] = None,
    seeds: Annotated[int | None, typer.Option(
        min=2, help="Instances (seeds) per family and size; the plots' error bars are standard "
                    "errors over them (default 10, --quick 6).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Compare match-strike with random sampling, greedy descent, annealing and the optimum.

    Ratios carry standard-error bars over the seeds; time to target counts unsolved runs as
    censored at their budget (a Kaplan–Meier curve), so a method that rarely solves cannot look
    fast.
    """
    from poqw.strike.benchmark import QUICK, run_benchmark

    setup_cli_logging(log_level, log_format)
    ensure_folder(out, "--out")
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

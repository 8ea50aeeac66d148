"""The report of ``poqw bench miners``: a Markdown table, the JSON results and two PNG plots.

The table gives, per network and miner kind, seconds per attempt, the winning chance per
attempt, the expected time to a block proof and the mean lowest Ising energy reached; rows that
could not run say why, and modelled figures (the QPU) are marked as such.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from poqw.node.minerbench import QPU_TIMING, MinerResult

__all__ = ["write_report"]

_COLORS = {"cpu": "tab:blue", "gpu": "tab:green", "qpu": "tab:purple", "qvm": "tab:orange"}


def _seconds(value: float | None) -> str:
    if value is None:
        return "none: no attempt gave k diverse spins under the bound"
    if value >= 100:
        return f"{value:,.0f} s"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.2f} ms"


def _machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"load average {load:.1f} at the end of the run")


def _table(results: list[MinerResult]) -> str:
    lines = ["| network | miner | runs on | timing | attempts | s / attempt | win chance / "
             "attempt | wins seen | expected time to a proof | mean lowest energy (bound) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r.status != "ok":
            lines.append(f"| {r.network} | {r.kind} | {r.runs_on} | - | - | - | - | - | "
                         f"not run: {r.status} | - |")
            continue
        energy = "-" if r.mean_best_energy is None else f"{r.mean_best_energy:.1f}"
        lines.append(
            f"| {r.network} | {r.kind} | {r.runs_on} | {r.timing} | {r.attempts} | "
            f"{_seconds(r.seconds_per_attempt)} | {r.win_chance_per_attempt:.2e} | {r.wins} | "
            f"{_seconds(r.expected_seconds_to_proof)} | {energy} ({r.energy_bound}) |")
    return "\n".join(lines)


def _plots(out_dir: Path, results: list[MinerResult]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ran = [r for r in results if r.status == "ok"]
    networks = list(dict.fromkeys(r.network for r in results))
    fig, ax = plt.subplots(figsize=(7, 4))
    labels, values, colors = [], [], []
    for r in ran:
        if r.expected_seconds_to_proof is not None:
            tag = " (model)" if r.timing == "modelled" else ""
            labels.append(f"{r.network}\n{r.kind}{tag}")
            values.append(r.expected_seconds_to_proof)
            colors.append(_COLORS.get(r.kind, "gray"))
    ax.bar(range(len(values)), values, color=colors)
    ax.set_xticks(range(len(values)), labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("expected seconds to a block proof")
    ax.set_title("Time to a valid block-1 proof by miner kind")
    paths = [_save(fig, out_dir / "time_to_proof.png")]

    fig, axes = plt.subplots(1, max(1, len(networks)), figsize=(5 * max(1, len(networks)), 4),
                             squeeze=False)
    for ax, network in zip(axes[0], networks, strict=False):
        for r in (r for r in ran if r.network == network and r.mean_best_energy is not None):
            assert r.mean_best_energy is not None
            ax.scatter([r.seconds_per_attempt], [r.mean_best_energy / r.num_variables],
                       color=_COLORS.get(r.kind, "gray"), s=60,
                       label=r.kind + (" (model)" if r.timing == "modelled" else ""))
            bound = r.energy_bound / r.num_variables
        if any(r.network == network for r in ran):
            ax.axhline(bound, color="red", linestyle="--", linewidth=1, label="energy bound")
        ax.set_xscale("log")
        ax.set_xlabel("seconds per puzzle")
        ax.set_ylabel("mean lowest energy per spin")
        ax.set_title(network)
        ax.legend(fontsize=7)
    fig.suptitle("Energy reached against time per puzzle")
    paths.append(_save(fig, out_dir / "energy_per_time.png"))
    return paths


def _save(fig: Any, path: Path) -> str:
    """Write ``fig`` to ``path`` and close it; the path, as text."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def write_report(out_dir: Path, results: list[MinerResult], config: dict[str, Any]
                 ) -> dict[str, Any]:
    """Write report.md, results.json and the plots; returns the results document."""
    plots = _plots(out_dir, results)
    model = ", ".join(f"{k.removesuffix('_us')} {v:g} us" for k, v in QPU_TIMING.items())
    report = out_dir / "report.md"
    text = "\n\n".join([
        "# Miner kinds: time to a block proof",
        f"Machine: {_machine()}. Solving budget about {config['seconds']:g} s per miner and "
        "network (at least one attempt). Puzzles are those of block 1 at the genesis "
        "difficulty; the expected time is seconds per attempt divided by the mean chance "
        "per attempt that one of its proof leads holds a winning ticket.",
        _table(results),
        "The **qpu** row runs dwave-system's MockDWaveSampler, a classical stand-in: its "
        "samples are not a QPU's and its time is a **model** of D-Wave's QPU access time "
        f"(programming + thermalization + reads x (anneal + readout + delay): {model}), "
        "without network latency, queueing or the host's embedding work.",
        "Plots: " + ", ".join(Path(p).name for p in plots)])
    report.write_text(text + "\n", encoding="utf-8")
    doc = {"config": config, "machine": _machine(), "results": [r.to_json() for r in results],
           "report": str(report), "plots": plots}
    (out_dir / "results.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return doc

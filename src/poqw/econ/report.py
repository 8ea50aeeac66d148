"""``report.md`` and its figures: the answers of the economics model for one parameter file.

``run_econ`` computes every number (closed forms and the seeded Monte Carlo beside them) and
returns them as an :class:`EconSummary`; ``write_report`` draws the PNGs with matplotlib's Agg
backend and writes the Markdown that cites the hardware prices.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from poqw.econ.model import (
    break_even_bounty,
    cheat_advantage,
    cheat_strategies,
    minimum_stake,
    mining_break_even_price,
    mining_profit_per_hour,
    reward_schedule,
)
from poqw.econ.params import EconParams
from poqw.econ.simulate import CheatResult, simulate_minimum_stake, simulate_race

__all__ = ["DETECTION_TABLE", "EconSummary", "run_econ", "write_report"]

DETECTION_TABLE = (0.01, 0.05, 0.1, 0.25, 0.5, 0.9, 1.0)


@dataclass(frozen=True)
class EconSummary:
    """Every answer of one run, as plain numbers (what ``--json`` prints)."""

    break_even: dict[str, dict[str, float]]   # kind -> {closed_alone, closed_race, simulated_race}
    minimum_stake: dict[str, float]           # detection -> closed-form least stake
    simulated_minimum_stake: float            # at the configured detection
    cheats: list[dict[str, Any]]              # per strategy at the configured stake, detection
    cheating_pays: bool                       # at the configured stake and detection
    mining_profit_usd_per_hour: dict[str, float]
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"break_even_bounty": self.break_even, "minimum_stake": self.minimum_stake,
                "simulated_minimum_stake": self.simulated_minimum_stake, "cheats": self.cheats,
                "cheating_pays": self.cheating_pays,
                "mining_profit_usd_per_hour": self.mining_profit_usd_per_hour,
                "files": self.files}


def run_econ(params: EconParams) -> tuple[EconSummary, list[CheatResult]]:
    """All the numbers of the report; the same ``params`` (seed included) give the same ones."""
    rng = np.random.default_rng(params.seed)
    n = params.market.solvers
    break_even: dict[str, dict[str, float]] = {}
    for hw in params.hardware:
        race = simulate_race(hw, params, n, rng)
        break_even[hw.name] = {"closed_alone": break_even_bounty(hw, params, 1),
                               "closed_race": break_even_bounty(hw, params, n),
                               "simulated_race": race.break_even}
    cheater = params.kind(params.cheats.hardware)
    stake, q = params.stake.stake, params.stake.detection
    least = {f"{d:g}": minimum_stake(cheater, params, d) for d in DETECTION_TABLE}
    least.setdefault(f"{q:g}", minimum_stake(cheater, params, q))
    simulated, results = simulate_minimum_stake(cheater, params, q, rng)
    cheats: list[dict[str, Any]] = [{"strategy": r.strategy.label, "caught_rate": r.caught_rate,
               "advantage_simulated": float(r.advantage(stake)),
               "advantage_closed": cheat_advantage(r.strategy, cheater, params, stake, q)}
              for r in results]
    mining = {hw.name: mining_profit_per_hour(hw, params, 0.0) for hw in params.hardware}
    return EconSummary(break_even=break_even, minimum_stake=least,
                       simulated_minimum_stake=simulated, cheats=cheats,
                       cheating_pays=any(float(r.advantage(stake)) >= 0 for r in results),
                       mining_profit_usd_per_hour=mining), results


def _plot_rewards(params: EconParams, out: Path) -> Path:
    import matplotlib.pyplot as plt

    years, reward, supply = reward_schedule(params.chain)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(years, reward, color="tab:blue", label="reward per block")
    ax.set_xlabel("years after genesis")
    ax.set_ylabel("tokens per block", color="tab:blue")
    twin = ax.twinx()
    twin.plot(years, supply / 1e6, color="tab:orange", label="supply")
    twin.set_ylabel("cumulative supply (million tokens)", color="tab:orange")
    ax.set_title("Block reward schedule")
    fig.tight_layout()
    path = out / "reward_schedule.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_break_even(params: EconParams, summary: EconSummary, out: Path) -> Path:
    import matplotlib.pyplot as plt

    from poqw.econ.model import honest_profit

    bounties = np.linspace(0.0, params.sweep.bounty_max, params.sweep.points)
    fig, ax = plt.subplots(figsize=(7, 4))
    for hw in params.hardware:
        profit = [honest_profit(float(b), hw, params, params.market.solvers) for b in bounties]
        line, = ax.plot(bounties, profit, label=hw.name)
        b_star = summary.break_even[hw.name]["closed_race"]
        if b_star <= params.sweep.bounty_max:
            ax.axvline(b_star, color=line.get_color(), linestyle=":")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("bounty (tokens)")
    ax.set_ylabel("expected profit per problem entered (tokens)")
    ax.set_title(f"Solving pays right of the dotted lines ({params.market.solvers} racers)")
    ax.legend()
    fig.tight_layout()
    path = out / "break_even.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_cheating_map(params: EconParams, out: Path) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.colors import SymLogNorm

    cheater = params.kind(params.cheats.hardware)
    stakes = np.linspace(0.0, params.sweep.stake_max, params.sweep.points)
    detections = np.linspace(0.0, 1.0, params.sweep.points)
    best = np.array([[max(cheat_advantage(s, cheater, params, float(stake), float(d))
                          for s in cheat_strategies(params)) for stake in stakes]
                     for d in detections])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    limit = float(np.max(np.abs(best))) or 1.0
    # A symmetric log scale: the sign matters, and gains span several orders of magnitude.
    norm = SymLogNorm(linthresh=1.0, vmin=-limit, vmax=limit)
    mesh = ax.pcolormesh(stakes, detections, best, cmap="RdBu_r", norm=norm, shading="auto")
    fig.colorbar(mesh, ax=ax, label="best cheat's gain over honesty (tokens)")
    ax.contour(stakes, detections, best, levels=[0.0], colors="black")
    ax.plot([params.stake.stake], [params.stake.detection], marker="*", color="gold",
            markersize=14, markeredgecolor="black", linestyle="none", label="configured")
    ax.set_xlabel("stake (tokens)")
    ax.set_ylabel("detection rate")
    ax.set_title("Cheating pays only in red; the black line is the least stake")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = out / "cheating_map.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


LOW_DETECTION = 0.1  # the second panel of the cheats figure: a sparsely audited network


def _plot_cheats_vs_stake(params: EconParams, results: list[CheatResult], out: Path) -> Path:
    import matplotlib.pyplot as plt

    cheater = params.kind(params.cheats.hardware)
    # Its own generator, so the figure never shifts the numbers of the report.
    _, low = simulate_minimum_stake(cheater, params, LOW_DETECTION,
                                    np.random.default_rng([params.seed, 1]))
    stakes = np.linspace(0.0, params.sweep.stake_max, 1001)  # gains are linear: cheap
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, rows, q in ((axes[0], low, LOW_DETECTION), (axes[1], results,
                                                        params.stake.detection)):
        for r in rows:
            ax.plot(stakes, r.advantage(stakes), label=r.strategy.label)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlabel("stake (tokens)")
        ax.set_title(f"detection rate {q:g}")
    axes[0].set_ylabel("gain over honesty (tokens, simulated)")
    axes[1].legend(fontsize=7)
    fig.suptitle("Each cheat against the stake: above zero it pays")
    fig.tight_layout()
    path = out / "cheats_vs_stake.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _markdown(params: EconParams, summary: EconSummary, figures: list[Path]) -> str:
    usd = params.token_price_usd
    lines: list[str] = ["# poqw token economics", "",
             f"Seed {params.seed}, {params.trials} simulated problems per point, token price "
             f"${usd:g} (assumed). Prices below are approximate public on-demand list prices, "
             "dated in their source; times to target are assumptions to replace with "
             "measurements.", "", "## Answers", ""]
    cheapest = min(summary.break_even, key=lambda k: summary.break_even[k]["closed_race"])
    b = summary.break_even[cheapest]["closed_race"]
    lines += [f"- **Solving pays** above a bounty of {b:.4g} tokens (${b * usd:.4g}) on "
              f"{cheapest}, the cheapest hardware for the reference problem; "
              + ", ".join(f"{k} {v['closed_race']:.4g}" for k, v in summary.break_even.items())
              + f" tokens with {params.market.solvers} racers.",
              "- **Cheating never pays** (every strategy tried loses against honesty) once the "
              "stake exceeds " + ", ".join(f"{s:.4g} at detection {d}" for d, s in
                                           summary.minimum_stake.items())
              + "; with no detection at all no stake suffices. On the PoQW chain the contract "
              "itself shows a false claim or a missing reveal, and every solver daemon reports "
              "it for the reporter's share of the slash, so claim cheats are detected with "
              "probability ~1; the lower rates model layer-2 jobs audited by sampling.",
              f"- At the configured stake {params.stake.stake:g} and detection "
              f"{params.stake.detection:g} cheating "
              + ("**pays**." if summary.cheating_pays else "never pays."),
              "", "## Hardware", "",
             "| kind | USD per hour | time to target (s) | source |", "|---|---|---|---|"]
    lines += [f"| {hw.name} | {hw.usd_per_hour:g} | {hw.time_to_target_s:g} | {hw.source} |"
              for hw in params.hardware]
    lines += ["", "## At what bounty does solving pay?", "",
              f"Protocol fee {params.market.protocol_fee:.1%}, deadline "
              f"{params.market.deadline_s:g} s, commit + reveal gas paid by the winner.", "",
              "| kind | alone (closed form) | racing "
              f"{params.market.solvers} (closed form) | racing (simulated) | in USD |",
              "|---|---|---|---|---|"]
    for name, row in summary.break_even.items():
        lines.append(f"| {name} | {row['closed_alone']:.4g} | {row['closed_race']:.4g} | "
                     f"{row['simulated_race']:.4g} | ${row['closed_race'] * usd:.4g} |")
    lines += ["", "Closed form: `B* = (c·τ + gas + K/p) / (1 − fee)`, with `c` the hardware's "
              "tokens per second, `τ` its mean time to target, `K` the stake's forgone yield "
              "over the deadline and `p = (1 − exp(−N·D/τ))/N` a racer's chance to win.", "",
              "## At what stake and detection rate does cheating never pay?", "",
              f"Cheater's hardware: {params.cheats.hardware}; reference bounty "
              f"{params.market.bounty:g} tokens; layer-2 job paying "
              f"{params.cheats.job_payment:g} tokens, {params.cheats.spot_checks} spot checks. "
              "An unexamined cheat is assumed paid in full (the worst case).", "",
              "| detection rate | least stake (tokens) |", "|---|---|"]
    lines += [f"| {d} | {s:.4g} |" for d, s in summary.minimum_stake.items()]
    verdict = "PAYS" if summary.cheating_pays else "never pays"
    lines += ["", f"At the configured stake {params.stake.stake:g} and detection rate "
              f"{params.stake.detection:g}, cheating **{verdict}** (simulated least stake "
              f"{summary.simulated_minimum_stake:.4g}).", "",
              "| strategy | caught | gain over honesty (simulated) | (closed form) |",
              "|---|---|---|---|"]
    lines += [f"| {c['strategy']} | {c['caught_rate']:.3f} | {c['advantage_simulated']:.4g} | "
              f"{c['advantage_closed']:.4g} |" for c in summary.cheats]
    lines += ["", "## Mining at genesis", "",
              f"Network: {', '.join(f'{hw.miners} {hw.name}' for hw in params.hardware)}; "
              f"{params.chain.initial_reward:g} tokens per {params.chain.block_time_s:g} s block.",
              "", "| kind | USD profit per device-hour | break-even token price (USD) |",
              "|---|---|---|"]
    lines += [f"| {hw.name} | {summary.mining_profit_usd_per_hour[hw.name]:.4g} | "
              f"{mining_break_even_price(hw, params, 0.0):.4g} |" for hw in params.hardware]
    lines += ["", "## Figures", ""] + [f"![{p.stem}]({p.name})" for p in figures]
    return "\n".join(lines) + "\n"


def write_report(params: EconParams, out: Path) -> EconSummary:
    """Compute everything, write the PNGs and ``report.md`` into ``out``; return the summary."""
    import matplotlib

    matplotlib.use("Agg")
    summary, results = run_econ(params)
    figures = [_plot_rewards(params, out), _plot_break_even(params, summary, out),
               _plot_cheating_map(params, out), _plot_cheats_vs_stake(params, results, out)]
    report = out / "report.md"
    report.write_text(_markdown(params, summary, figures), encoding="utf-8")
    files = [str(p) for p in [report, *figures]]
    return dataclasses.replace(summary, files=files)

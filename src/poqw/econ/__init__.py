"""Token economics of poqw: block rewards, bounties, fees, stakes, honest and cheating solvers.

Parameters come from one TOML file (``load_params``); ``model`` holds the closed forms,
``simulate`` a seeded Monte Carlo that checks them, and ``write_report`` turns both into
``report.md`` and figures (what ``poqw econ`` runs).
"""

from poqw.econ.model import (
    CheatStrategy,
    break_even_bounty,
    cheat_advantage,
    cheat_strategies,
    honest_profit,
    minimum_stake,
)
from poqw.econ.params import EconParams, default_params_path, load_params, parse_params
from poqw.econ.report import EconSummary, run_econ, write_report
from poqw.econ.simulate import simulate_cheat, simulate_minimum_stake, simulate_race

__all__ = ["CheatStrategy", "EconParams", "EconSummary", "break_even_bounty", "cheat_advantage",
           "cheat_strategies", "default_params_path", "honest_profit", "load_params",
           "minimum_stake", "parse_params", "run_econ", "simulate_cheat",
           "simulate_minimum_stake", "simulate_race", "write_report"]

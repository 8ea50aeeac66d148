"""The token-economics model: closed forms against the seeded Monte Carlo, and ``poqw econ``."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from poqw.cli.main import app
from poqw.econ import (
    CheatStrategy,
    break_even_bounty,
    cheat_advantage,
    cheat_strategies,
    default_params_path,
    honest_profit,
    load_params,
    minimum_stake,
    run_econ,
    simulate_cheat,
    simulate_minimum_stake,
    simulate_race,
)
from poqw.econ.model import block_reward, reward_schedule
from poqw.errors import ConfigError

runner = CliRunner()
PARAMS = load_params()


def test_break_even_bounty_matches_the_closed_form_for_a_lone_solver() -> None:
    # One solver, no gas, no carry: B* = c * tau * ... / (1 - fee) reduces to c * tau / (1 - fee).
    params = dataclasses.replace(
        PARAMS, trials=200_000,
        chain=dataclasses.replace(PARAMS.chain, gas_price_tokens=0.0),
        stake=dataclasses.replace(PARAMS.stake, capital_rate_per_year=0.0))
    hw = params.kind("cpu")
    cost_per_s = hw.usd_per_hour / 3600 / params.token_price_usd
    expected = cost_per_s * hw.time_to_target_s / (1 - params.market.protocol_fee)
    assert break_even_bounty(hw, params, 1) == pytest.approx(expected, rel=1e-12)
    assert honest_profit(expected, hw, params, 1) == pytest.approx(0.0, abs=1e-12)
    simulated = simulate_race(hw, params, 1, np.random.default_rng(1)).break_even
    assert simulated == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("kind", ["cpu", "gpu", "qpu"])
def test_simulated_race_agrees_with_the_closed_form(kind: str) -> None:
    hw = PARAMS.kind(kind)
    race = simulate_race(hw, PARAMS, PARAMS.market.solvers, np.random.default_rng(3))
    assert race.break_even == pytest.approx(break_even_bounty(hw, PARAMS, PARAMS.market.solvers),
                                            rel=0.03)
    # Above the break-even bounty solving pays, below it loses.
    b = race.break_even
    assert race.profit(1.5 * b) > 0 > race.profit(0.5 * b)


def test_gain_of_cheating_falls_as_the_stake_grows() -> None:
    hw = PARAMS.kind(PARAMS.cheats.hardware)
    stakes = np.linspace(0, 2000, 9)
    for strategy in cheat_strategies(PARAMS):
        result = simulate_cheat(strategy, hw, PARAMS, 0.3, 1.0, np.random.default_rng(5))
        gains = result.advantage(stakes)
        assert np.all(np.diff(gains) < 0), strategy.label
        closed = [cheat_advantage(strategy, hw, PARAMS, float(s), 0.3) for s in stakes]
        assert np.all(np.diff(closed) < 0), strategy.label


def test_fake_work_is_caught_as_often_as_spot_checks_predict() -> None:
    params = dataclasses.replace(PARAMS, trials=100_000)
    hw = params.kind(params.cheats.hardware)
    k, q, f = params.cheats.spot_checks, 0.6, 0.1
    result = simulate_cheat(CheatStrategy("fake", f), hw, params, q, 0.0,
                            np.random.default_rng(9))
    expected = q * (1 - (1 - f) ** k)
    sigma = math.sqrt(expected * (1 - expected) / params.trials)
    assert abs(result.caught_rate - expected) < 5 * sigma


@pytest.mark.parametrize("detection", [0.05, 0.1, 0.5])
def test_cheating_never_pays_above_the_minimum_stake(detection: float) -> None:
    hw = PARAMS.kind(PARAMS.cheats.hardware)
    least = minimum_stake(hw, PARAMS, detection)
    assert 0 < least < math.inf
    above = [cheat_advantage(s, hw, PARAMS, 1.01 * least, detection)
             for s in cheat_strategies(PARAMS)]
    below = [cheat_advantage(s, hw, PARAMS, 0.99 * least, detection)
             for s in cheat_strategies(PARAMS)]
    assert max(above) < 0 < max(below)
    simulated, _ = simulate_minimum_stake(hw, PARAMS, detection, np.random.default_rng(11))
    assert simulated == pytest.approx(least, rel=0.15)


def test_no_stake_stops_a_cheat_nobody_examines() -> None:
    assert minimum_stake(PARAMS.kind("gpu"), PARAMS, 0.0) == math.inf


def test_reward_halves_and_supply_adds_up() -> None:
    chain = PARAMS.chain
    interval = chain.halving_interval_blocks
    assert float(block_reward(interval - 1, chain)) == chain.initial_reward
    assert float(block_reward(interval, chain)) == chain.initial_reward / 2
    assert float(block_reward(10**12, chain)) == chain.tail_reward
    years, reward, supply = reward_schedule(chain)
    assert np.all(np.diff(supply) > 0) and np.all(np.diff(reward) <= 0)
    two_years = interval * chain.block_time_s / (365 * 24 * 3600)
    i = int(np.searchsorted(years, two_years))
    assert supply[i] >= chain.initial_reward * interval


def test_the_same_seed_gives_the_same_answers() -> None:
    params = dataclasses.replace(PARAMS, trials=2000)
    first, _ = run_econ(params)
    again, _ = run_econ(params)
    other, _ = run_econ(dataclasses.replace(params, seed=params.seed + 1))
    assert first.as_dict() == again.as_dict()
    assert first.break_even != other.break_even


@pytest.mark.slow  # importing matplotlib and drawing four figures takes seconds
def test_cli_writes_the_report_and_figures(tmp_path: Path) -> None:
    out = tmp_path / "econ"
    result = runner.invoke(app, ["econ", "--out", str(out), "--trials", "2000", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc["break_even_bounty"]) == {"cpu", "gpu", "qpu"}
    assert doc["cheating_pays"] is False
    report = (out / "report.md").read_text()
    assert "At what bounty does solving pay?" in report and "D-Wave Leap" in report
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["break_even.png", "cheating_map.png", "cheats_vs_stake.png",
                    "reward_schedule.png"]
    for name in pngs:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_bad_parameter_file_names_the_key(tmp_path: Path) -> None:
    text = default_params_path().read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("protocol_fee = 0.025", "protocol_fee = 1.5"))
    with pytest.raises(ConfigError, match=r"market\.protocol_fee"):
        load_params(bad)
    result = runner.invoke(app, ["econ", "--params", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "market.protocol_fee" in result.output and "Traceback" not in result.output
    bad.write_text("seed = [")
    result = runner.invoke(app, ["econ", "--params", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "not valid TOML" in result.output

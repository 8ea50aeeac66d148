"""The parameters of the token-economics model, read from one TOML file.

Every section of the file becomes a frozen dataclass; a missing key, a wrong type or a value out
of range is a :class:`ConfigError` naming the key. ``default_params_path`` is the example that
ships with poqw (``poqw/data/econ/default.toml``).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from poqw.errors import ConfigError

__all__ = [
    "ChainParams",
    "CheatParams",
    "EconParams",
    "Hardware",
    "MarketParams",
    "StakeParams",
    "SweepParams",
    "default_params_path",
    "load_params",
    "parse_params",
]

SECONDS_PER_YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class Hardware:
    """One kind of solving and mining hardware, priced per hour of use."""

    name: str
    usd_per_hour: float
    source: str
    time_to_target_s: float
    mining_rate: float
    miners: int


@dataclass(frozen=True)
class ChainParams:
    block_time_s: float
    initial_reward: float
    halving_interval_blocks: int
    tail_reward: float
    years: int
    gas_price_tokens: float


@dataclass(frozen=True)
class MarketParams:
    bounty: float
    protocol_fee: float
    deadline_s: float
    solvers: int
    commit_gas: int
    reveal_gas: int


@dataclass(frozen=True)
class StakeParams:
    stake: float
    slash_fraction: float
    reporter_share: float
    unbonding_s: float
    capital_rate_per_year: float
    detection: float


@dataclass(frozen=True)
class CheatParams:
    work_fractions: tuple[float, ...]
    fake_fractions: tuple[float, ...]
    spot_checks: int
    hardware: str
    job_seconds: float
    job_payment: float


@dataclass(frozen=True)
class SweepParams:
    bounty_max: float
    stake_max: float
    points: int


@dataclass(frozen=True)
class EconParams:
    """The whole model: token price, chain, market, stake, cheats, hardware and plot ranges."""

    seed: int
    trials: int
    token_price_usd: float
    chain: ChainParams
    market: MarketParams
    stake: StakeParams
    cheats: CheatParams
    sweep: SweepParams
    hardware: tuple[Hardware, ...]

    def kind(self, name: str) -> Hardware:
        """The hardware kind called ``name``."""
        for hw in self.hardware:
            if hw.name == name:
                return hw
        raise ConfigError(f"no hardware kind {name!r}; the file has "
                          f"{', '.join(h.name for h in self.hardware)}")


def default_params_path() -> Path:
    """The example parameter file shipped inside the package."""
    return Path(str(resources.files("poqw") / "data" / "econ" / "default.toml"))


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name)
    if not isinstance(value, dict):
        raise ConfigError(f"econ parameters: missing section [{name}]")
    return value


def _number(table: dict[str, Any], where: str, key: str, *, low: float = 0.0,
            high: float = math.inf, integer: bool = False, open_low: bool = False) -> Any:
    if key not in table:
        raise ConfigError(f"econ parameters: missing {where}.{key}")
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            integer and not isinstance(value, int)):
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"econ parameters: {where}.{key} must be {kind}, got {value!r}")
    if not math.isfinite(value) or value < low or value > high or (open_low and value == low):
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        upper = "" if high == math.inf else f" and <= {high:g}"
        raise ConfigError(f"econ parameters: {where}.{key} must be {bound}{upper}, got {value!r}")
    return value


def _fractions(table: dict[str, Any], where: str, key: str, *, open_low: bool) -> tuple[float, ...]:
    values = table.get(key)
    if not isinstance(values, list) or not values:
        raise ConfigError(f"econ parameters: {where}.{key} must be a non-empty list of fractions")
    return tuple(float(_number({key: v}, where, key, high=1.0, open_low=open_low))
                 for v in values)


def _hardware(doc: dict[str, Any]) -> tuple[Hardware, ...]:
    table = _section(doc, "hardware")
    kinds = []
    for name, hw in table.items():
        if not isinstance(hw, dict):
            raise ConfigError(f"econ parameters: [hardware.{name}] must be a table")
        where = f"hardware.{name}"
        source = hw.get("source")
        if not isinstance(source, str) or not source.strip():
            raise ConfigError(f"econ parameters: {where}.source must cite where the price is from")
        kinds.append(Hardware(
            name=name,
            usd_per_hour=float(_number(hw, where, "usd_per_hour", open_low=True)),
            source=source,
            time_to_target_s=float(_number(hw, where, "time_to_target_s", open_low=True)),
            mining_rate=float(_number(hw, where, "mining_rate")),
            miners=int(_number(hw, where, "miners", integer=True))))
    if not kinds:
        raise ConfigError("econ parameters: [hardware] lists no kind")
    return tuple(kinds)


def parse_params(doc: dict[str, Any]) -> EconParams:
    """Check a parsed TOML document and turn it into :class:`EconParams`."""
    chain, market = _section(doc, "chain"), _section(doc, "market")
    stake, cheats, sweep = _section(doc, "stake"), _section(doc, "cheats"), _section(doc, "sweep")
    token = _section(doc, "token")
    params = EconParams(
        seed=int(_number(doc, "top level", "seed", integer=True)),
        trials=int(_number(doc, "top level", "trials", low=100, integer=True)),
        token_price_usd=float(_number(token, "token", "price_usd", open_low=True)),
        chain=ChainParams(
            block_time_s=float(_number(chain, "chain", "block_time_s", open_low=True)),
            initial_reward=float(_number(chain, "chain", "initial_reward")),
            halving_interval_blocks=int(_number(chain, "chain", "halving_interval_blocks",
                                                low=1, integer=True)),
            tail_reward=float(_number(chain, "chain", "tail_reward")),
            years=int(_number(chain, "chain", "years", low=1, high=200, integer=True)),
            gas_price_tokens=float(_number(chain, "chain", "gas_price_tokens"))),
        market=MarketParams(
            bounty=float(_number(market, "market", "bounty")),
            protocol_fee=float(_number(market, "market", "protocol_fee", high=0.99)),
            deadline_s=float(_number(market, "market", "deadline_s", open_low=True)),
            solvers=int(_number(market, "market", "solvers", low=1, integer=True)),
            commit_gas=int(_number(market, "market", "commit_gas", integer=True)),
            reveal_gas=int(_number(market, "market", "reveal_gas", integer=True))),
        stake=StakeParams(
            stake=float(_number(stake, "stake", "stake")),
            slash_fraction=float(_number(stake, "stake", "slash_fraction", high=1.0)),
            reporter_share=float(_number(stake, "stake", "reporter_share", high=1.0)),
            unbonding_s=float(_number(stake, "stake", "unbonding_s")),
            capital_rate_per_year=float(_number(stake, "stake", "capital_rate_per_year")),
            detection=float(_number(stake, "stake", "detection", high=1.0))),
        cheats=CheatParams(
            work_fractions=_fractions(cheats, "cheats", "work_fractions", open_low=False),
            fake_fractions=_fractions(cheats, "cheats", "fake_fractions", open_low=True),
            spot_checks=int(_number(cheats, "cheats", "spot_checks", low=1, integer=True)),
            hardware=str(cheats.get("hardware", "")),
            job_seconds=float(_number(cheats, "cheats", "job_seconds", open_low=True)),
            job_payment=float(_number(cheats, "cheats", "job_payment"))),
        sweep=SweepParams(
            bounty_max=float(_number(sweep, "sweep", "bounty_max", open_low=True)),
            stake_max=float(_number(sweep, "sweep", "stake_max", open_low=True)),
            points=int(_number(sweep, "sweep", "points", low=3, high=400, integer=True))),
        hardware=_hardware(doc))
    params.kind(params.cheats.hardware)  # the job's hardware must be one of the kinds
    return params


def load_params(path: Path | str | None = None) -> EconParams:
    """Read and check the TOML parameter file at ``path`` (the shipped example when None)."""
    path = default_params_path() if path is None else Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"econ parameters: no file {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"econ parameters: {path} is not valid TOML: {exc}") from None
    return parse_params(doc)

"""Latency models for simulated links: how long one message takes to cross one link.

A model is parsed from a short text spec (``constant:MS``, ``uniform:LO-HI``,
``lognormal:MEDIAN,SIGMA`` or ``geo``; times in milliseconds). Each link draws its one-way
propagation delay once, from the simulation's seeded generator, so a link keeps its delay and
delivers its bytes in order, as a real stream does. ``geo`` places nodes in world regions and
uses half the published round-trip time between the regions' data centres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from poqw.errors import ConfigError

__all__ = [
    "GEO_REGIONS",
    "GEO_RTT_MS",
    "GEO_WEIGHTS",
    "LatencyModel",
    "parse_latency",
]

# Regions and the data centre standing for each (IBM Cloud VPC inter-region average latency,
# table of 18 Oct - 16 Nov 2025, https://cloud.ibm.com/docs/vpc?topic=vpc-network-latency-dashboard).
GEO_REGIONS: tuple[str, ...] = (
    "north-america",  # Washington DC
    "europe",  # Frankfurt
    "south-america",  # Sao Paulo
    "east-asia",  # Tokyo
    "oceania",  # Sydney
    "south-asia",  # Chennai
)
# Round-trip times in ms between those data centres. The diagonal (within a region) is not in
# the table: it is our assumption, close to the table's nearby pairs (Washington-Dallas 31 ms,
# Frankfurt-Madrid 29 ms, Tokyo-Osaka 9 ms).
GEO_RTT_MS: tuple[tuple[float, ...], ...] = (
    (30.0, 86.0, 116.0, 139.0, 215.0, 234.0),
    (86.0, 25.0, 194.0, 224.0, 249.0, 141.0),
    (116.0, 194.0, 30.0, 282.0, 323.0, 357.0),
    (139.0, 224.0, 282.0, 20.0, 117.0, 100.0),
    (215.0, 249.0, 323.0, 117.0, 20.0, 125.0),
    (234.0, 141.0, 357.0, 100.0, 125.0, 25.0),
)
# Share of nodes per region: an assumption loosely shaped like public node maps (most nodes
# in North America and Europe), not a measurement.
GEO_WEIGHTS: tuple[float, ...] = (0.35, 0.35, 0.05, 0.15, 0.05, 0.05)

_MAX_MS = 60_000.0


@dataclass(frozen=True)
class LatencyModel:
    """One of the latency families; ``spec`` is the text it was parsed from."""

    kind: str
    spec: str
    a: float = 0.0  # constant: ms; uniform: low; lognormal: median
    b: float = 0.0  # uniform: high; lognormal: sigma

    def place(self, rng: np.random.Generator, num_nodes: int) -> np.ndarray:
        """Region index per node (all zero for the non-geographic models)."""
        if self.kind != "geo":
            return np.zeros(num_nodes, dtype=np.int64)
        weights = np.asarray(GEO_WEIGHTS) / sum(GEO_WEIGHTS)
        return rng.choice(len(GEO_REGIONS), size=num_nodes, p=weights)

    def one_way(self, rng: np.random.Generator, region_a: int, region_b: int) -> float:
        """One link's one-way propagation delay in seconds."""
        if self.kind == "constant":
            ms = self.a
        elif self.kind == "uniform":
            ms = float(rng.uniform(self.a, self.b))
        elif self.kind == "lognormal":
            ms = float(self.a * math.exp(self.b * rng.standard_normal()))
        else:  # geo: half the RTT, with +-10 % per link for last-mile differences
            ms = GEO_RTT_MS[region_a][region_b] / 2.0 * float(rng.uniform(0.9, 1.1))
        return min(ms, _MAX_MS) / 1000.0


def _number(text: str, what: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"latency model {spec!r}: {what} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"latency model {spec!r}: {what} must be a finite number >= 0, "
                          f"got {text}")
    if value > _MAX_MS:
        raise ConfigError(f"latency model {spec!r}: {what} {value} ms is over {_MAX_MS:.0f} ms")
    return value


def parse_latency(spec: str) -> LatencyModel:
    """The model named by ``spec``; a ``ConfigError`` says what is wrong with a bad one."""
    text = spec.strip().lower()
    kind, _, args = text.partition(":")
    usage = "use constant:MS, uniform:LO-HI, lognormal:MEDIAN,SIGMA or geo"
    if kind == "geo":
        if args:
            raise ConfigError(f"latency model {spec!r}: geo takes no arguments")
        return LatencyModel("geo", spec)
    if kind == "constant":
        if not args:
            raise ConfigError(f"latency model {spec!r}: constant needs a delay, e.g. constant:50")
        return LatencyModel("constant", spec, _number(args, "delay", spec))
    if kind == "uniform":
        low, sep, high = args.partition("-")
        if not sep:
            raise ConfigError(f"latency model {spec!r}: uniform needs LO-HI, e.g. uniform:20-200")
        lo, hi = _number(low, "low end", spec), _number(high, "high end", spec)
        if lo > hi:
            raise ConfigError(f"latency model {spec!r}: low end {lo} is above high end {hi}")
        return LatencyModel("uniform", spec, lo, hi)
    if kind == "lognormal":
        median, sep, sigma = args.partition(",")
        if not sep:
            raise ConfigError(f"latency model {spec!r}: lognormal needs MEDIAN,SIGMA, "
                              "e.g. lognormal:80,0.5")
        m, s = _number(median, "median", spec), _number(sigma, "sigma", spec)
        if m <= 0:
            raise ConfigError(f"latency model {spec!r}: median must be > 0")
        if s > 5:
            raise ConfigError(f"latency model {spec!r}: sigma {s} is over 5")
        return LatencyModel("lognormal", spec, m, s)
    raise ConfigError(f"unknown latency model {spec!r}; {usage}")

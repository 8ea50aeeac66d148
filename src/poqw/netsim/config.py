"""What a simulation run depends on: network size and shape, links, blocks, mining, timers.

:class:`SimConfig` is a frozen value; :meth:`SimConfig.check` raises a ``ConfigError`` naming the
first bad field. The same config (seed included) always gives the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from poqw.errors import ConfigError
from poqw.netsim.chain import MIN_BLOCK_BYTES
from poqw.netsim.latency import parse_latency
from poqw.p2p.messages import MAX_BLOCK_BYTES

__all__ = ["TIE_BREAKS", "TOPOLOGIES", "SimConfig"]

TOPOLOGIES = ("random", "line", "ring")
TIE_BREAKS = ("first-seen", "lowest-hash")


@dataclass(frozen=True)
class SimConfig:
    """Everything a run depends on; the same config and seed give the same run."""

    nodes: int = 100
    degree: int = 8
    latency: str = "geo"
    blocks: int = 50
    seed: int = 0
    topology: str = "random"
    bandwidth_mbps: float = 50.0  # per link and direction; math.inf for no transmission delay
    uplink_mbps: float = math.inf  # per node, shared by all its links (math.inf: no limit)
    block_bytes: int = 8192
    target_interval: int = 10
    halflife: int = 600
    power: str = "equal"  # "equal" or "exponential" shares of solver power
    power_scale: float = 1.0  # network power relative to the genesis calibration
    miners: tuple[int, ...] = ()  # only these nodes mine (empty: every node)
    validate_base_ms: float = 1.0
    validate_per_kib_ms: float = 0.1
    warmup_s: float = 5.0  # handshakes before mining starts
    drain_s: float = 120.0  # after the last block, at most this long for it to spread
    settle_blocks: int = 10  # at most this many more blocks while equal-work forks remain
    heartbeat_s: float = 15.0
    # fork choice among equal work: "first-seen" is the consensus rule; "lowest-hash" is the
    # old rule, kept to show what a grinding miner gained from it
    tie_break: str = "first-seen"
    grinders: tuple[int, ...] = ()  # these miners grind a low block hash ...
    grind_attempts: int = 64  # ... over this many variants of what the puzzle does not cover

    def check(self) -> None:
        if self.nodes < 2:
            raise ConfigError(f"a network needs at least 2 nodes, got {self.nodes}")
        if self.topology not in TOPOLOGIES:
            raise ConfigError(f"unknown topology {self.topology!r}; choose one of {TOPOLOGIES}")
        if self.degree < 1:
            raise ConfigError(f"degree must be at least 1, got {self.degree}")
        if self.blocks < 1:
            raise ConfigError(f"blocks must be at least 1, got {self.blocks}")
        if not MIN_BLOCK_BYTES <= self.block_bytes <= MAX_BLOCK_BYTES:
            raise ConfigError(f"block size must be in {MIN_BLOCK_BYTES}..{MAX_BLOCK_BYTES} "
                              f"bytes, got {self.block_bytes}")
        if not self.bandwidth_mbps > 0:
            raise ConfigError(f"bandwidth must be > 0 Mbit/s, got {self.bandwidth_mbps}")
        if not self.uplink_mbps > 0:
            raise ConfigError(f"uplink must be > 0 Mbit/s, got {self.uplink_mbps}")
        if self.power not in ("equal", "exponential"):
            raise ConfigError(f"power distribution must be equal or exponential, "
                              f"got {self.power!r}")
        if not self.power_scale > 0:
            raise ConfigError(f"power scale must be > 0, got {self.power_scale}")
        if any(not 0 <= m < self.nodes for m in (*self.miners, *self.grinders)):
            raise ConfigError(f"miner and grinder indices must be in 0..{self.nodes - 1}")
        if self.tie_break not in TIE_BREAKS:
            raise ConfigError(f"unknown tie break {self.tie_break!r}; choose one of "
                              f"{TIE_BREAKS}")
        if self.grind_attempts < 1:
            raise ConfigError(f"grind attempts must be at least 1, got {self.grind_attempts}")
        if min(self.validate_base_ms, self.validate_per_kib_ms, self.warmup_s,
               self.drain_s) < 0 or self.heartbeat_s <= 0:
            raise ConfigError("delays and durations must be >= 0 (heartbeat > 0)")
        parse_latency(self.latency)

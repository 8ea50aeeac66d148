"""What a node reports as it works, for whoever watches it (Prometheus: :mod:`poqw.api.metrics`).

Each :class:`~poqw.node.blockchain.Blockchain` owns one :class:`Telemetry`; the chain, the miner
and the network call it at the moments worth counting (a block imported, a work proof checked, a
puzzle attempt, a peer banned). Watchers implement :class:`TelemetrySink` and :meth:`Telemetry.add`
themselves; with none, every call is a cheap no-op. Sinks are called on whatever thread did the
work (the miner's, an importer's, the event loop), so they must be thread-safe and quick.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Telemetry", "TelemetrySink"]


class TelemetrySink(Protocol):
    """One watcher of a node's :class:`Telemetry`."""

    def block_imported(self, seconds: float, status: str, reorg_depth: int) -> None:
        """A call to ``import_block`` ended: its ``status`` (``new-tip``, ``side``,
        ``duplicate``, ``orphan`` or ``invalid``) and how many canonical blocks it undid."""

    def proof_verified(self, seconds: float) -> None:
        """A block's header links, difficulty and work proof were checked (and held)."""

    def mining_attempt(self, kind: str, seconds: float, found: bool) -> None:
        """A miner of this ``kind`` (its sampler) tried one salt: solve time, proof found."""

    def peer_banned(self) -> None:
        """A peer was banned for misbehaving."""


class Telemetry:
    """Fans the node's observations out to its sinks (see the module docstring)."""

    def __init__(self) -> None:
        self.sinks: tuple[TelemetrySink, ...] = ()

    @property
    def watched(self) -> bool:
        return bool(self.sinks)

    def add(self, sink: TelemetrySink) -> None:
        self.sinks = (*self.sinks, sink)  # a new tuple: readers on other threads never see it torn

    def remove(self, sink: TelemetrySink) -> None:
        self.sinks = tuple(s for s in self.sinks if s is not sink)

    def block_imported(self, seconds: float, status: str, reorg_depth: int = 0) -> None:
        for sink in self.sinks:
            sink.block_imported(seconds, status, reorg_depth)

    def proof_verified(self, seconds: float) -> None:
        for sink in self.sinks:
            sink.proof_verified(seconds)

    def mining_attempt(self, kind: str, seconds: float, found: bool) -> None:
        for sink in self.sinks:
            sink.mining_attempt(kind, seconds, found)

    def peer_banned(self) -> None:
        for sink in self.sinks:
            sink.peer_banned()

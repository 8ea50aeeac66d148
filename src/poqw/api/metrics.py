"""Prometheus metrics of one node, served at ``/metrics`` in the text exposition format.

:class:`NodeMetrics` owns its own :class:`~prometheus_client.CollectorRegistry` (never the
process-global one, so several nodes or tests in one process keep separate numbers). Events are
counted as they happen: it is a :class:`~poqw.node.telemetry.TelemetrySink` of the node's chain
(imports, proof checks, mining attempts, bans) and the JSON-RPC dispatcher calls
:meth:`NodeMetrics.observe_rpc`. Levels (height, peers, mempool) are read when scraped, from a
``readings`` callable, so they are never stale. ``deploy/grafana-poqw.json`` charts all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from poqw.node.telemetry import Telemetry

if TYPE_CHECKING:
    from poqw.api.backend import NodeBackend

__all__ = ["CONTENT_TYPE", "MAX_RPC_METHOD_LABELS", "NodeMetrics", "NodeReadings", "metrics_route",
           "node_metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_RPC_METHOD_LABELS = 256
"""Distinct ``method`` label values kept when the registered methods are not given; further
names count as ``other`` (a client sending random method names must not grow the exposition
without bound)."""

_IMPORT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_VERIFY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                   1.0)
_ATTEMPT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_REORG_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128, 256)
_RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class NodeReadings:
    """The node's levels at one moment (what a scrape reports as gauges)."""

    height: int
    peers: int
    mempool_transactions: int
    mempool_bytes: int


_LEVELS = (
    ("poqw_chain_height", "Height of the canonical chain's tip.", "height"),
    ("poqw_peers", "Peers connected (handshake completed).", "peers"),
    ("poqw_mempool_transactions", "Transactions waiting in the mempool.",
     "mempool_transactions"),
    ("poqw_mempool_bytes", "Encoded bytes of the transactions in the mempool.",
     "mempool_bytes"),
)


class _LevelsCollector(Collector):
    """Gauges read at scrape time from ``readings()``."""

    def __init__(self, readings: Callable[[], NodeReadings]) -> None:
        self.readings = readings

    def collect(self) -> Iterable[Metric]:
        now = self.readings()
        for name, documentation, field in _LEVELS:
            yield GaugeMetricFamily(name, documentation, value=getattr(now, field))

    def describe(self) -> Iterable[Metric]:
        for name, documentation, _ in _LEVELS:
            yield GaugeMetricFamily(name, documentation)


class NodeMetrics:
    """One node's metrics (see the module docstring). Thread-safe."""

    def __init__(self, readings: Callable[[], NodeReadings],
                 rpc_methods: Iterable[str] | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.block_import_seconds = Histogram(
            "poqw_block_import_seconds", "Time to import one block (validation, execution, "
            "storage), by outcome: new-tip, side, duplicate, orphan or invalid.", ["status"],
            buckets=_IMPORT_BUCKETS, registry=r)
        self.proof_verification_seconds = Histogram(
            "poqw_proof_verification_seconds", "Time to check a block's header links, difficulty "
            "and work proof (before its signature).", buckets=_VERIFY_BUCKETS, registry=r)
        self.reorg_depth = Histogram(
            "poqw_reorg_depth", "Canonical blocks undone by each reorganisation.",
            buckets=_REORG_BUCKETS, registry=r)
        self.mining_attempts = Counter(
            "poqw_mining_attempts", "Puzzle attempts (one salt each), by miner kind.", ["kind"],
            registry=r)
        self.mining_proofs_found = Counter(
            "poqw_mining_proofs_found", "Attempts that found a winning proof, by miner kind.",
            ["kind"], registry=r)
        self.mining_attempt_seconds = Histogram(
            "poqw_mining_attempt_seconds", "Solver time per puzzle attempt, by miner kind.",
            ["kind"], buckets=_ATTEMPT_BUCKETS, registry=r)
        self.peers_banned = Counter(
            "poqw_peers_banned", "Peers banned for misbehaving.", registry=r)
        self.rpc_requests = Counter(
            "poqw_rpc_requests", "JSON-RPC calls answered, by method and outcome (ok, error).",
            ["method", "outcome"], registry=r)
        self.rpc_request_seconds = Histogram(
            "poqw_rpc_request_seconds", "Time to answer one JSON-RPC call, by method.",
            ["method"], buckets=_RPC_BUCKETS, registry=r)
        r.register(_LevelsCollector(readings))
        self._rpc_methods: set[str] = set()
        self._known_methods = None if rpc_methods is None else frozenset(rpc_methods)
        self._lock = threading.Lock()
        self._rpc_series: dict[tuple[str, bool], tuple[Any, Any]] = {}  # the labels() lookups

    # --- wiring --------------------------------------------------------------------------------

    def watch(self, telemetry: Telemetry) -> None:
        """Count what this node's chain, miner and network report from now on."""
        telemetry.add(self)

    def exposition(self) -> bytes:
        """The text exposition format of every metric (what ``/metrics`` answers)."""
        return generate_latest(self.registry)

    # --- TelemetrySink -------------------------------------------------------------------------

    def block_imported(self, seconds: float, status: str, reorg_depth: int) -> None:
        self.block_import_seconds.labels(status).observe(seconds)
        if reorg_depth > 0:
            self.reorg_depth.observe(reorg_depth)

    def proof_verified(self, seconds: float) -> None:
        self.proof_verification_seconds.observe(seconds)

    def mining_attempt(self, kind: str, seconds: float, found: bool) -> None:
        self.mining_attempts.labels(kind).inc()
        self.mining_attempt_seconds.labels(kind).observe(seconds)
        if found:
            self.mining_proofs_found.labels(kind).inc()
        else:
            self.mining_proofs_found.labels(kind)  # the series exists (at 0) from the start

    def peer_banned(self) -> None:
        self.peers_banned.inc()

    # --- JSON-RPC ------------------------------------------------------------------------------

    def observe_rpc(self, method: str, seconds: float, ok: bool) -> None:
        """One JSON-RPC call to ``method`` took ``seconds`` and succeeded (``ok``) or returned
        an error. Called by the dispatcher for every call, batched ones included."""
        series = self._rpc_series.get((method, ok))
        if series is None:  # bounded: the known methods (or the label cap) and "other", x 2
            label = self._method_label(method)
            series = (self.rpc_requests.labels(label, "ok" if ok else "error"),
                      self.rpc_request_seconds.labels(label))
            if label != "other":
                self._rpc_series[(method, ok)] = series
        series[0].inc()
        series[1].observe(seconds)

    def _method_label(self, method: str) -> str:
        if self._known_methods is not None:
            return method if method in self._known_methods else "other"
        with self._lock:
            if method in self._rpc_methods:
                return method
            if len(self._rpc_methods) >= MAX_RPC_METHOD_LABELS or len(method) > 64:
                return "other"
            self._rpc_methods.add(method)
            return method


def node_metrics(backend: NodeBackend, rpc_methods: Iterable[str] | None = None) -> NodeMetrics:
    """The metrics of the node behind ``backend``, counting from now on (create them before the
    miner starts, so every block is counted). Scrapes read the peers, so they must run on the
    event loop, as the ``/metrics`` route does."""
    node = backend.node

    def readings() -> NodeReadings:
        return NodeReadings(height=backend.tip().number, peers=len(backend.peers()),
                            mempool_transactions=len(node.mempool),
                            mempool_bytes=node.mempool.size_bytes)

    metrics = NodeMetrics(readings, rpc_methods)
    metrics.watch(node.chain.telemetry)
    return metrics


def metrics_route(metrics: NodeMetrics) -> Route:
    """``GET /metrics``: the Prometheus text exposition of ``metrics``."""

    async def scrape(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return Route("/metrics", scrape, methods=["GET"])

"""The shard marketplace on this machine: N worker processes, each a node with its own key,
measured capability record and bidding policy, talking to the coordinator over pipes.

A worker measures itself (:func:`poqw.node.capability.measure_capability`), signs the record
with a fresh key and sends it; the coordinator checks the signature. Then, whenever a worker is
idle, the coordinator offers it the open units, the worker's own policy bids, the market
awards, the worker runs its unit (:func:`~poqw.compute.shards.evaluate_unit`) and returns the
values; the coordinator re-runs the spot-checked ones itself. Workers are stopped at the end,
also on error.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np
import numpy.typing as npt

from poqw.compute.ledger import Ledger
from poqw.compute.shards import (
    Assignment,
    Bid,
    BiddingPolicy,
    ShardJob,
    ShardMarket,
    evaluate_unit,
)
from poqw.errors import ComputeError, ConfigError
from poqw.node.capability import Capability, decode_capability

__all__ = ["LoopbackOutcome", "run_loopback"]

FloatArray = npt.NDArray[np.float64]
REPLY_TIMEOUT_S = 600.0


@dataclass
class LoopbackOutcome:
    energies: FloatArray
    seconds: float  # first offer to settlement
    startup_seconds: float  # starting and measuring the workers
    capabilities: dict[str, Capability]
    awards: list[Assignment]
    payments: dict[str, int]
    cheaters: set[str]
    checks: int
    bids: list[Bid] = field(default_factory=list)


def _measure(chain_id: int, layer_ns: int | None) -> Capability:
    """This process's capability record (the annealer is not timed: units do not anneal)."""
    from poqw.node.capability import measure_capability

    timers = {"anneal": lambda: 0}
    if layer_ns is not None:
        timers["statevector"] = lambda: layer_ns
    edges = np.zeros((0, 2), dtype=np.int64)
    return measure_capability(chain_id, int(time.time()), edges, 1, timers=timers)


def _worker(conn: Connection, name: str, price_per_mop: float, cheat: bool,
            layer_ns: int | None) -> None:
    """A node: measure, sign, then answer offers and run units until told to stop."""
    from poqw.crypto.ecdsa import EcdsaPrivateKey
    from poqw.node.capability import sign_capability

    key = EcdsaPrivateKey.generate()
    capability = _measure(1, layer_ns)
    conn.send(("hello", sign_capability(capability, key).encode()))
    policy = BiddingPolicy.from_capability(name, capability, price_per_mop, slots=1)
    job: ShardJob | None = None
    while True:
        message = conn.recv()
        kind = message[0]
        if kind == "stop":
            return
        if kind == "job":
            job = message[1]
        elif kind == "offer" and job is not None:
            units = [job.units[k] for k in message[1]]
            conn.send(("bids", policy.bids(units, len(job.points), message[2])))
        elif kind == "run" and job is not None:
            values = evaluate_unit(job.model, job.units[message[1]], job.points)
            conn.send(("result", message[1], values + (1.0 if cheat else 0.0)))


def _recv(conn: Connection, name: str) -> Any:
    if not conn.poll(REPLY_TIMEOUT_S):
        raise ComputeError(f"worker {name} sent nothing for {REPLY_TIMEOUT_S:.0f} s")
    try:
        return conn.recv()
    except EOFError:
        raise ComputeError(f"worker {name} exited") from None


def run_loopback(job: ShardJob, workers: int, *, prices: Sequence[float] | None = None,
                 cheaters: Sequence[int] = (), reserve_per_mop: float = 5000.0,
                 deadline_s: float = 3600.0, check_share: float = 0.25,
                 seed: int = 0, layer_ns: int | None = None) -> LoopbackOutcome:
    """Solve ``job`` on ``workers`` local processes; worker k asks ``prices[k]`` per 10⁶
    operations (default 1000 (1 + k/workers)) and cheats when k is in ``cheaters``. ``layer_ns``
    replaces the workers' state-vector timing (tests: it takes seconds under load)."""
    if workers < 1:
        raise ConfigError(f"need at least one worker, got {workers}")
    asks = (list(prices) if prices is not None
            else [1000.0 * (1 + k / workers) for k in range(workers)])
    if len(asks) != workers:
        raise ConfigError(f"{len(asks)} prices for {workers} workers")
    context = multiprocessing.get_context("spawn")
    names = [f"worker{k}" for k in range(workers)]
    conns: dict[str, Connection] = {}
    processes = []
    started = time.perf_counter()
    try:
        for k, name in enumerate(names):
            ours, theirs = context.Pipe()
            proc = context.Process(target=_worker,
                                   args=(theirs, name, asks[k], k in cheaters, layer_ns),
                                   name=f"poqw-shards-{name}", daemon=True)
            proc.start()
            theirs.close()
            conns[name] = ours
            processes.append(proc)
        capabilities: dict[str, Capability] = {}
        for name, conn in conns.items():
            kind, record = _recv(conn, name)
            if kind != "hello":
                raise ComputeError(f"worker {name} did not introduce itself")
            capabilities[name] = decode_capability(record).capability  # checks the signature
            conn.send(("job", job))
        startup = time.perf_counter() - started
        return _drive(job, conns, capabilities, startup, reserve_per_mop, deadline_s,
                      check_share, seed)
    finally:
        for conn in conns.values():
            with contextlib.suppress(OSError, ValueError):
                conn.send(("stop",))
        for proc in processes:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)


def _drive(job: ShardJob, conns: dict[str, Connection], capabilities: dict[str, Capability],
           startup: float, reserve_per_mop: float, deadline_s: float, check_share: float,
           seed: int) -> LoopbackOutcome:
    t0 = time.perf_counter()
    points = len(job.points)
    budget = sum(max(1, int(np.ceil(u.ops * points / 1e6 * reserve_per_mop))) for u in job.units)
    market = ShardMarket(job, Ledger(2 * budget), deadline_s, reserve_per_mop, check_share,
                         seed=seed)
    idle = set(conns)
    busy: dict[Connection, str] = {}
    all_bids: list[Bid] = []
    while not market.done:
        now = time.perf_counter() - t0
        market.expire(now)
        offer = [u.index for u in market.open_units()]
        asked = sorted(n for n in idle if n not in market.cheaters)
        if offer and asked:
            bids: list[Bid] = []
            for name in asked:
                conns[name].send(("offer", offer, now))
            for name in asked:
                kind, got = _recv(conns[name], name)
                if kind != "bids":
                    raise ComputeError(f"worker {name} answered an offer with {kind!r}")
                bids += [b for b in got if isinstance(b, Bid) and b.node == name]
            all_bids += bids
            for award in market.clear(bids, now, dict.fromkeys(asked, 1)):
                conns[award.node].send(("run", award.unit))
                idle.discard(award.node)
                busy[conns[award.node]] = award.node
        if not busy:
            raise ComputeError("no worker bid under a unit's reserve and within the deadline "
                               f"for {len(market.open_units())} open units")
        due = min((market.overdue_at(a) for a in market.assigned.values()), default=now)
        timeout = min(REPLY_TIMEOUT_S, max(0.0, due - now) + 0.01)
        for conn in wait(list(busy), timeout=timeout):
            assert isinstance(conn, Connection)
            name = busy.pop(conn)
            _kind, unit, values = _recv(conn, name)
            idle.add(name)
            if market.holder(name, unit) is None:
                continue  # given to another node while overdue, or from a caught cheater
            if market.submit(name, unit, values):
                market.check(unit, evaluate_unit(job.model, job.units[unit], job.points))
    seconds = time.perf_counter() - t0
    return LoopbackOutcome(market.energies(), seconds, startup, capabilities,
                           list(market.awards), market.settle(), set(market.cheaters),
                           market.checks, all_bids)

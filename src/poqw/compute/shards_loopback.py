"""The shard marketplace on this machine: N worker processes, each a node with its own key,
measured capability record and bidding policy, talking to the coordinator over pipes.

A worker measures itself (:func:`poqw.node.capability.measure_capability`), warms its kernels,
signs the record with a fresh key and sends it; the coordinator checks the signature. Then,
whenever a worker is idle, it is given a due spot check (a unit another worker solved) or
offered the open units: its own policy bids, the market awards, the worker runs its unit
(:func:`~poqw.compute.shards.evaluate_unit`, from the unit's own contraction plans) and returns
the values with its compute time. The coordinator re-runs a unit itself only to settle a
dispute (or when there is one worker). Workers are stopped at the end, also on error.
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
from poqw.compute.shards import ShardJob, evaluate_unit, warm_up
from poqw.compute.shards_market import Assignment, Bid, BiddingPolicy, CheckTask, ShardMarket
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
    # where the time went: seconds summed over units (see run_loopback)
    profile: dict[str, float] = field(default_factory=dict)


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
    """A node: measure, warm up, sign, then answer offers, run units and re-run other nodes'
    units as checks until told to stop."""
    from poqw.crypto.ecdsa import EcdsaPrivateKey
    from poqw.node.capability import sign_capability

    key = EcdsaPrivateKey.generate()
    capability = _measure(1, layer_ns)
    warm_up()  # as a node that stays up would have: no unit pays for compiling
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
            conn.send(("bids", policy.bids(units, message[2])))
        elif kind in ("run", "check") and job is not None:
            started = time.perf_counter()
            values = evaluate_unit(job.model, job.units[message[1]], job.points)
            took = time.perf_counter() - started
            policy.learn(job.units[message[1]].ops, took)
            conn.send((kind, message[1], values + (1.0 if cheat else 0.0), took))


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
    replaces the workers' state-vector timing (tests: it takes seconds under load).

    The outcome's ``profile`` sums, in seconds: ``unit_compute`` and ``check_compute`` (the
    workers' own time in units and checks), ``transport`` (each unit's and check's round trip
    less its compute: pickling, pipes, waiting for the coordinator), ``coordinator_verify``
    (its own re-runs) and ``coordinator_market`` (offers, bids, awards, bookkeeping)."""
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
        return _Coordinator(job, conns, reserve_per_mop, deadline_s, check_share,
                            seed).drive(capabilities, startup)
    finally:
        for conn in conns.values():
            with contextlib.suppress(OSError, ValueError):
                conn.send(("stop",))
        for proc in processes:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)


class _Coordinator:
    """The market's driver over pipes: who is idle, who runs what, where the time goes."""

    def __init__(self, job: ShardJob, conns: dict[str, Connection], reserve_per_mop: float,
                 deadline_s: float, check_share: float, seed: int) -> None:
        budget = sum(max(1, int(np.ceil(u.ops / 1e6 * reserve_per_mop))) for u in job.units)
        self.job = job
        self.conns = conns
        self.market = ShardMarket(job, Ledger(4 * budget), deadline_s, reserve_per_mop,
                                  check_share, seed=seed)
        self.idle = set(conns)
        self.busy: dict[Connection, tuple[str, float, Assignment | CheckTask]] = {}
        self.bids: list[Bid] = []
        self.profile = dict.fromkeys(("unit_compute", "check_compute", "transport",
                                      "coordinator_verify", "coordinator_market"), 0.0)

    def _verify_here(self, unit: int, task: CheckTask | None = None,
                     checker_values: FloatArray | None = None) -> None:
        started = time.perf_counter()
        expected = evaluate_unit(self.job.model, self.job.units[unit], self.job.points)
        self.profile["coordinator_verify"] += time.perf_counter() - started
        self.market.check(unit, expected, task, checker_values)

    def _verify_due_here(self) -> int:
        """Checks no other node can run: the coordinator re-runs them (once the result is
        in); how many."""
        done = [u for u in self.market.due_checks if u in self.market.results]
        for unit in done:
            self.market.take_check(unit)
            self._verify_here(unit)
        return len(done)

    def _send(self, name: str, message: tuple[Any, ...], job: Assignment | CheckTask) -> None:
        self.conns[name].send(message)
        self.idle.discard(name)
        self.busy[self.conns[name]] = (name, time.perf_counter(), job)

    def _dispatch(self, now: float) -> None:
        market = self.market
        market.expire(now)
        for task, values in market.take_disputes():
            if task.unit in market.results:
                self._verify_here(task.unit, task, values)
        if len(self.conns) == 1:
            self._verify_due_here()
        for task in market.assign_checks(sorted(self.idle)):
            self._send(task.checker, ("check", task.unit), task)
        offer = [u.index for u in market.open_units()]
        asked = sorted(n for n in self.idle if market.may_win(n))
        if not (offer and asked):
            return
        bids: list[Bid] = []
        for name in asked:
            self.conns[name].send(("offer", offer, now))
        for name in asked:
            kind, got = _recv(self.conns[name], name)
            if kind != "bids":
                raise ComputeError(f"worker {name} answered an offer with {kind!r}")
            bids += [b for b in got if isinstance(b, Bid) and b.node == name]
        self.bids += bids
        for award in market.clear(bids, now, dict.fromkeys(asked, 1)):
            self._send(award.node, ("run", award.unit), award)

    def _receive(self, conn: Connection) -> None:
        name, sent, job = self.busy.pop(conn)
        kind, unit, values, compute_s = _recv(conn, name)
        self.idle.add(name)
        self.profile["check_compute" if kind == "check" else "unit_compute"] += compute_s
        self.profile["transport"] += time.perf_counter() - sent - compute_s
        if isinstance(job, CheckTask):
            if kind == "check" and unit == job.unit:
                self.market.report_check(job, values)  # disputes: see _dispatch
        elif kind == "run" and unit == job.unit and self.market.holder(name, unit) is not None:
            self.market.submit(name, unit, values)

    def drive(self, capabilities: dict[str, Capability], startup: float) -> LoopbackOutcome:
        t0 = time.perf_counter()
        market = self.market
        while not market.finished:
            started = time.perf_counter()
            verified = self.profile["coordinator_verify"]
            now = started - t0
            self._dispatch(now)
            if market.finished:
                break
            if not self.busy:
                if self._verify_due_here():  # only cheaters could check: do it here
                    continue
                raise ComputeError("no worker bid under a unit's reserve and within the "
                                   f"deadline for {len(market.open_units())} open units")
            due = min((market.overdue_at(a) for a in market.assigned.values()), default=now)
            timeout = min(REPLY_TIMEOUT_S, max(0.0, due - now) + 0.01)
            self.profile["coordinator_market"] += time.perf_counter() - started - (
                self.profile["coordinator_verify"] - verified)
            for conn in wait(list(self.busy), timeout=timeout):
                assert isinstance(conn, Connection)
                self._receive(conn)
        seconds = time.perf_counter() - t0
        return LoopbackOutcome(market.energies(), seconds, startup, capabilities,
                               list(market.awards), market.settle(), set(market.cheaters),
                               market.checks, self.bids, self.profile)

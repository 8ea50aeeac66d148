"""The shard marketplace in a discrete-event simulation: many modelled nodes, one coordinator.

Each simulated node has a throughput (operations per second per core), cores, an asking price
and a one-way latency to the coordinator (drawn from a :mod:`poqw.netsim.latency` model). The
coordinator's :class:`~poqw.compute.shards_market.ShardMarket` and each node's
:class:`~poqw.compute.shards_market.BiddingPolicy` run unchanged; only time is modelled: messages
take their link's latency, and a unit takes its measured time on this machine (or its estimated
operations over this machine's speed) scaled by the node's speed. Spot checks run on other
nodes with a free core; a dispute is settled by the coordinator's own re-run. Unit values are
computed for real once, so the answer is the real one; a cheating node returns them shifted
(as a solver and as a checker).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from poqw.compute.ledger import Ledger
from poqw.compute.shards import ShardJob
from poqw.compute.shards_market import Assignment, Bid, BiddingPolicy, CheckTask, ShardMarket
from poqw.errors import ComputeError, ConfigError
from poqw.netsim.latency import parse_latency

__all__ = ["SimNode", "SimOutcome", "default_deadline", "one_node_seconds", "random_nodes",
           "simulate_market"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SimNode:
    name: str
    ops_per_s: float  # one core
    cores: int
    price_per_mop: float
    latency_s: float  # one way, to the coordinator
    cheat: bool = False


@dataclass
class SimOutcome:
    energies: FloatArray
    seconds: float  # every unit in and every spot check done
    answer_seconds: float  # every unit in (checks may still run)
    one_node_seconds: float  # the median node alone, all its cores (see one_node_seconds)
    awards: list[Assignment]
    payments: dict[str, int]
    cheaters: set[str]
    checks: int
    rounds: int
    bids: list[Bid] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        return self.one_node_seconds / self.seconds if self.seconds > 0 else float("inf")


def random_nodes(count: int, *, seed: int = 0, ops_per_s: float = 2e8, latency: str = "geo",
                 cheaters: int = 0) -> list[SimNode]:
    """``count`` nodes: per-core speed lognormal around ``ops_per_s`` (sigma 0.5), 1-16 cores,
    asking 1,000-4,000 base units per 10⁶ operations, latencies from the model; the first
    ``cheaters`` cheat."""
    if count < 1:
        raise ConfigError(f"need at least one simulated node, got {count}")
    rng = np.random.default_rng(seed)
    model = parse_latency(latency)
    regions = model.place(rng, count + 1)
    return [SimNode(f"sim{k:03d}", float(ops_per_s * np.exp(0.5 * rng.standard_normal())),
                    int(rng.choice([1, 2, 4, 8, 16])), float(rng.uniform(1000.0, 4000.0)),
                    model.one_way(rng, int(regions[k]), int(regions[count])), k < cheaters)
            for k in range(count)]


def default_deadline(job: ShardJob, nodes: Sequence[SimNode]) -> float:
    """Twice the largest unit's time on a median core, plus twice the longest round trip and
    a second: tight enough that the big units go to fast nodes, loose enough for most."""
    speed = float(np.median([n.ops_per_s for n in nodes]))
    largest = max(u.ops for u in job.units) / speed
    return 2.0 * largest + 4.0 * max(n.latency_s for n in nodes) + 1.0


def one_node_seconds(job: ShardJob, ops_per_s: float, cores: int,
                     unit_seconds: Sequence[float] | None = None,
                     reference_ops_per_s: float | None = None) -> float:
    """The job alone on one node: its units spread over its cores, largest first, each to the
    core free soonest. A unit takes its estimated operations over ``ops_per_s``, or with
    ``unit_seconds`` its measured time scaled by ``reference_ops_per_s / ops_per_s``."""
    lanes = [0.0] * max(1, cores)
    times = _unit_times(job, unit_seconds, reference_ops_per_s)
    for t in sorted(times, reverse=True):
        heapq.heappush(lanes, heapq.heappop(lanes) + t / ops_per_s)
    return max(lanes)


def _unit_times(job: ShardJob, unit_seconds: Sequence[float] | None,
                reference_ops_per_s: float | None) -> list[float]:
    """Each unit's work in operations: estimated, or measured seconds times the speed of the
    machine that measured them."""
    if unit_seconds is None:
        return [u.ops for u in job.units]
    if len(unit_seconds) != len(job.units) or reference_ops_per_s is None:
        raise ConfigError("measured unit times need one time per unit and the speed of the "
                          "machine that measured them")
    return [float(t) * reference_ops_per_s for t in unit_seconds]


def simulate_market(job: ShardJob, nodes: Sequence[SimNode], unit_values: Sequence[FloatArray],
                    *, coordinator_ops_per_s: float = 2e8, reserve_per_mop: float = 5000.0,
                    deadline_s: float | None = None, check_share: float = 0.25,
                    verifier_cores: int = 8, seed: int = 0,
                    unit_seconds: Sequence[float] | None = None,
                    probation: bool = True) -> SimOutcome:
    """Run the market over simulated time; ``unit_values[k]`` is unit k's true result and
    ``unit_seconds[k]``, when given, its time measured on a core of the coordinator's speed
    ``coordinator_ops_per_s`` (else estimated operations over a node's speed are used). Checks
    run on random other nodes with a free core; the coordinator re-runs a disputed unit (or
    any check when only one node exists) on ``verifier_cores`` cores. The time to solve ends
    when every unit is in and every check is done. ``deadline_s`` (default
    :func:`default_deadline`) is the time bids must promise to finish by, counted again from
    when a caught cheater's units reopen. ``probation``: see
    :class:`~poqw.compute.shards_market.ShardMarket`."""
    if verifier_cores < 1:
        raise ConfigError(f"the verifier needs at least one core, got {verifier_cores}")
    if len(unit_values) != len(job.units):
        raise ConfigError(f"need one value vector per unit: {len(unit_values)} for "
                          f"{len(job.units)} units")
    work = _unit_times(job, unit_seconds, coordinator_ops_per_s)
    budget = sum(max(1, int(np.ceil(u.ops / 1e6 * reserve_per_mop))) for u in job.units)
    span = default_deadline(job, nodes) if deadline_s is None else float(deadline_s)
    market = ShardMarket(job, Ledger(budget * 4), span, reserve_per_mop, check_share,
                         seed=seed, probation=probation)
    by_name = {n.name: n for n in nodes}
    policies = {n.name: BiddingPolicy(n.name, n.ops_per_s, n.price_per_mop, n.cores,
                                      latency_s=n.latency_s) for n in nodes}
    free = {n.name: n.cores for n in nodes}
    order = itertools.count()
    events: list[tuple[float, int, str, tuple[object, ...]]] = []
    verifier_free = [0.0] * verifier_cores  # when each core is next free (a heap)
    rounds = 0
    all_bids: list[Bid] = []
    in_round = False
    now = 0.0
    answer: float | None = None

    def push(t: float, kind: str, *data: object) -> None:
        heapq.heappush(events, (t, next(order), kind, data))

    def verify_here(t: float, unit: int, task: CheckTask | None, values: object) -> None:
        ready = max(heapq.heappop(verifier_free), t) + work[unit] / coordinator_ops_per_s
        heapq.heappush(verifier_free, ready)
        push(ready, "verified", unit, task, values)

    def dispatch(t: float) -> None:
        """Due checks to free honest-looking nodes first, then a bidding round."""
        nonlocal in_round, rounds
        for task, values in market.take_disputes():
            verify_here(t, task.unit, task, values)
        if len(nodes) == 1:
            for unit in market.due_checks:
                if unit in market.results:
                    market.take_check(unit)
                    verify_here(t, unit, None, None)
        for task in market.assign_checks([n.name for n in nodes if free[n.name] > 0]):
            n = by_name[task.checker]
            free[n.name] -= 1
            push(t + 2 * n.latency_s + work[task.unit] / n.ops_per_s, "checked", task)
        open_units = market.open_units()
        asked = [n for n in nodes if free[n.name] > 0 and market.may_win(n.name)]
        if in_round or not open_units or not asked:
            return
        in_round = True
        rounds += 1
        bids: list[Bid] = []
        for n in asked:  # the offer reaches the node after its latency; its bids come back
            bids += policies[n.name].bids(open_units, t + n.latency_s)
        push(t + 2 * max(n.latency_s for n in asked), "clear", bids, {n.name: free[n.name]
                                                                     for n in asked})

    dispatch(0.0)
    while events:
        if market.done and answer is None:
            answer = now
        if market.finished:
            break
        now, _, kind, data = heapq.heappop(events)
        if kind == "clear":
            in_round = False
            bids, slots = data[0], data[1]
            assert isinstance(bids, list) and isinstance(slots, dict)
            all_bids += bids
            awards = market.clear(bids, now, slots)
            if not awards and not market.assigned and not market.results:
                raise ComputeError("no bid met a unit's reserve and the deadline")
            for a in awards:
                n = by_name[a.node]
                free[a.node] -= 1
                push(now + 2 * n.latency_s + work[a.unit] / n.ops_per_s, "result", a)
        elif kind == "result":
            done = data[0]
            assert isinstance(done, Assignment)
            a = done
            free[a.node] += 1
            if a.node not in market.cheaters and market.assigned.get(a.unit) == a:
                shift = 1.0 if by_name[a.node].cheat else 0.0
                market.submit(a.node, a.unit, unit_values[a.unit] + shift)
        elif kind == "checked":
            task = data[0]
            assert isinstance(task, CheckTask)
            free[task.checker] += 1
            values = unit_values[task.unit] + (1.0 if by_name[task.checker].cheat else 0.0)
            market.report_check(task, values)  # a dispute is re-run here (see dispatch)
        elif kind == "verified":
            unit, disputed, checker_values = data
            assert isinstance(unit, int)
            task = disputed if isinstance(disputed, CheckTask) else None
            if unit in market.results:
                was_done = market.done
                market.check(unit, unit_values[unit], task,
                             None if checker_values is None else np.asarray(checker_values))
                if was_done and not market.done:
                    market.deadline = max(market.deadline, now + span)
                    answer = None  # the units a caught cheater returned are open again
        if market.cheaters and not market.done:
            market.deadline = max(market.deadline, now + span)
        dispatch(now)
    if not market.finished:
        raise ComputeError("the simulated market stopped with units unsolved (no bids left)")
    median = sorted(nodes, key=lambda n: n.ops_per_s * n.cores)[len(nodes) // 2]
    one = one_node_seconds(job, median.ops_per_s, median.cores, unit_seconds,
                           coordinator_ops_per_s)
    return SimOutcome(market.energies(), now, now if answer is None else answer, one,
                      list(market.awards), market.settle(), set(market.cheaters),
                      market.checks, rounds, all_bids)

"""The shard marketplace's books: bids from each node's own policy, awards, results, spot
checks run by other nodes, disputes settled by the coordinator, and payment.

A node's :class:`BiddingPolicy` prices a unit from its measured throughput (its capability
record); :class:`ShardMarket` awards each open unit to the cheapest bid under the unit's reserve
that promises to finish by the deadline, takes results and has a random share of them (every
node's first always) re-run by another node. Matching re-runs accept the result; a mismatch is a
dispute that the coordinator settles by its own re-run, marking whoever was wrong a cheater.
Pure logic: time is passed in, transports live elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from poqw.compute.ledger import Ledger
from poqw.compute.shards import ShardJob, WorkUnit
from poqw.errors import ComputeError, ConfigError, ResultRejected
from poqw.node.capability import Capability

__all__ = ["Assignment", "Bid", "BiddingPolicy", "CheckTask", "ShardMarket", "ops_per_second"]

FloatArray = npt.NDArray[np.float64]
# One QAOA layer of a 20-qubit state vector, the capability record's benchmark: a phase and one
# mixer pass per qubit over 2**20 amplitudes.
LAYER20_OPS = 21 * (1 << 20)
DEFAULT_TOLERANCE = 1e-9


def ops_per_second(capability: Capability) -> float:
    """Single-thread amplitude updates per second from the record's 20-qubit layer time."""
    if capability.statevector_layer_ns <= 0:
        raise ConfigError("the capability record has no state-vector timing to bid from")
    return LAYER20_OPS / (capability.statevector_layer_ns * 1e-9)


@dataclass(frozen=True)
class Bid:
    """``node`` will run ``unit`` for ``price`` base units, finishing by ``finish`` (seconds)."""

    node: str
    unit: int
    price: int
    finish: float


@dataclass
class BiddingPolicy:
    """How a node bids, run by the node itself from its own measurements: it asks
    ``price_per_mop`` base units per 10⁶ operations (at least 1), and promises to finish
    ``latency_s`` after its estimated compute time. It bids on at most ``slots`` units at once
    (its free cores) and never on a unit whose largest cone does not fit ``memory_bytes``."""

    node: str
    ops_per_s: float
    price_per_mop: float
    slots: int = 1
    memory_bytes: int = 1 << 40
    latency_s: float = 0.0

    @classmethod
    def from_capability(cls, node: str, capability: Capability, price_per_mop: float, *,
                        slots: int | None = None, latency_s: float = 0.0) -> BiddingPolicy:
        return cls(node, ops_per_second(capability), price_per_mop,
                   capability.cores if slots is None else slots,
                   capability.memory_bytes or 1 << 40, latency_s)

    def seconds(self, unit: WorkUnit) -> float:
        return unit.ops / self.ops_per_s

    def learn(self, ops: float, seconds: float) -> None:
        """Correct the speed estimate by a unit just run (half the old, half the new): the
        capability benchmark's kernel is not the units' kernel, so promises would stay off."""
        if ops > 0 and seconds > 0:
            self.ops_per_s = 0.5 * (self.ops_per_s + ops / seconds)

    def bids(self, units: Sequence[WorkUnit], now: float) -> list[Bid]:
        return [Bid(self.node, u.index, max(1, math.ceil(u.ops / 1e6 * self.price_per_mop)),
                    now + self.seconds(u) + self.latency_s)
                for u in units if u.memory_bytes <= self.memory_bytes]


@dataclass(frozen=True)
class Assignment:
    node: str
    unit: int
    price: int
    finish: float
    awarded_at: float


@dataclass
class _Result:
    assignment: Assignment
    values: FloatArray
    checked: bool = False


@dataclass(frozen=True)
class CheckTask:
    """``checker`` re-runs ``unit`` (solved by ``solver``) for ``price``, the unit's award."""

    unit: int
    solver: str
    checker: str
    price: int


@dataclass
class ShardMarket:
    """The coordinator's books for one job. ``reserve_per_mop`` caps a unit's price (its
    reserve); ``deadline`` is the absolute time by which bids must promise to finish;
    ``check_share`` of results are re-run (and every node's first) by another node, matching
    within ``tolerance``. A winner may overrun its promised finish by its promised duration or
    ``grace_s``, whichever is longer, before its unit is taken back."""

    job: ShardJob
    ledger: Ledger
    deadline: float
    reserve_per_mop: float
    check_share: float = 0.25
    tolerance: float = DEFAULT_TOLERANCE
    seed: int = 0
    grace_s: float = 5.0
    probation: bool = True
    assigned: dict[int, Assignment] = field(default_factory=dict)
    results: dict[int, _Result] = field(default_factory=dict)
    cheaters: set[str] = field(default_factory=set)
    checks: int = 0
    awards: list[Assignment] = field(default_factory=list)
    pending: dict[int, CheckTask] = field(default_factory=dict)  # checks being re-run
    trusted: set[str] = field(default_factory=set)  # nodes with a result confirmed by a check
    paid_checks: list[CheckTask] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0.0 <= self.check_share <= 1.0:
            raise ConfigError(f"check_share must be within [0, 1], got {self.check_share}")
        self._rng = np.random.default_rng(self.seed)
        self._seen: set[str] = set()
        self._taken_back: dict[int, Assignment] = {}
        self._points = len(self.job.points)
        self._due: list[int] = []
        self._early: dict[int, tuple[CheckTask, FloatArray]] = {}
        self._disputes: list[tuple[CheckTask, FloatArray]] = []

    def reserve(self, unit: WorkUnit) -> int:
        return max(1, math.ceil(unit.ops / 1e6 * self.reserve_per_mop))

    def open_units(self) -> list[WorkUnit]:
        """Units neither assigned nor done, largest first."""
        return sorted((u for u in self.job.units
                       if u.index not in self.assigned and u.index not in self.results),
                      key=lambda u: (-u.ops, u.index))

    def clear(self, bids: Sequence[Bid], now: float, slots: dict[str, int]) -> list[Assignment]:
        """Award open units, largest first, each to the cheapest valid bid (then the earliest
        finish, then the node id) from a node with a free slot (``slots`` per node)."""
        free = dict(slots)
        by_unit: dict[int, list[Bid]] = {}
        for bid in bids:
            if bid.node not in self.cheaters:
                by_unit.setdefault(bid.unit, []).append(bid)
        for node in free:
            if not self.may_win(node):
                free[node] = 0
            elif self.probation and node not in self.trusted:
                free[node] = min(free[node], 1)
        out = []
        for unit in self.open_units():
            reserve = self.reserve(unit)
            valid = [b for b in by_unit.get(unit.index, ())
                     if b.price <= reserve and b.finish <= self.deadline
                     and free.get(b.node, 0) > 0]
            if not valid:
                continue
            best = min(valid, key=lambda b: (b.price, b.finish, b.node))
            free[best.node] -= 1
            award = Assignment(best.node, unit.index, best.price, best.finish, now)
            self.assigned[unit.index] = award
            self.awards.append(award)
            out.append(award)
            # Whether a unit is checked is decided now, unseen by its solver, so that the
            # re-run can start at once on another node instead of after the result.
            first = best.node not in self._seen
            self._seen.add(best.node)
            if (first or bool(self._rng.random() < self.check_share)) and \
                    unit.index not in self.pending and unit.index not in self._due:
                self._due.append(unit.index)
        return out

    def may_win(self, node: str) -> bool:
        """Whether ``node`` may be awarded a unit now: not a caught cheater, and with
        ``probation`` trusted or holding nothing unconfirmed."""
        if node in self.cheaters:
            return False
        if not self.probation or node in self.trusted:
            return True
        return not (any(a.node == node for a in self.assigned.values())
                    or any(r.assignment.node == node and not r.checked
                           for r in self.results.values()))

    def overdue_at(self, award: Assignment) -> float:
        return award.finish + max(self.grace_s, award.finish - award.awarded_at)

    def holder(self, node: str, unit: int) -> Assignment | None:
        """``node``'s award of ``unit`` if it may still deliver: the unit is assigned to it, or
        it was taken back from it as overdue and nobody else holds it yet."""
        if node in self.cheaters or unit in self.results:
            return None
        award = self.assigned.get(unit)
        if award is None:
            award = self._taken_back.get(unit)
        return award if award is not None and award.node == node else None

    def expire(self, now: float) -> list[Assignment]:
        """Reopen units whose winner is overdue (a late result is then refused, not paid)."""
        late = [a for a in self.assigned.values() if self.overdue_at(a) < now]
        for a in late:
            del self.assigned[a.unit]
            self._taken_back[a.unit] = a
        return late

    def submit(self, node: str, unit: int, values: npt.ArrayLike) -> bool:
        """Take a result; True when the unit is checked (a re-run is due, running or in)."""
        award = self.holder(node, unit)
        if award is None:
            raise ResultRejected(f"unit {unit} is not assigned to {node}", (node, unit))
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.size != self._points or not np.all(np.isfinite(v)):
            raise ResultRejected(f"unit {unit} from {node}: need {self._points} finite values",
                                 (node, unit))
        self.assigned.pop(unit, None)
        self.results[unit] = _Result(award, v)
        early = self._early.pop(unit, None)
        if early is not None:
            self._compare(*early)
        return unit in self.pending or unit in self._due

    @property
    def due_checks(self) -> list[int]:
        """Units due a check that no node re-runs yet."""
        return list(self._due)

    def _solver(self, unit: int) -> str | None:
        if unit in self.results:
            return self.results[unit].assignment.node
        award = self.assigned.get(unit)
        return award.node if award is not None else None

    def assign_checks(self, free: Sequence[str]) -> list[CheckTask]:
        """Give due checks to ``free`` nodes (one each), each to a random one that is not the
        unit's solver and was not caught cheating; checks with no such node stay due."""
        pool = [n for n in free if n not in self.cheaters]
        out = []
        for unit in list(self._due):
            solver = self._solver(unit)
            eligible = [n for n in pool if n != solver]
            if solver is None or not eligible:
                continue
            checker = eligible[int(self._rng.integers(len(eligible)))]
            pool.remove(checker)
            award = self.results[unit].assignment if unit in self.results \
                else self.assigned[unit]
            task = CheckTask(unit, solver, checker, award.price)
            self._due.remove(unit)
            self.pending[unit] = task
            out.append(task)
        return out

    def take_check(self, unit: int) -> None:
        """The coordinator re-runs ``unit`` itself (no other node can): no longer due."""
        if unit in self._due:
            self._due.remove(unit)

    def report_check(self, task: CheckTask, values: npt.ArrayLike) -> bool | None:
        """A checker's re-run of ``task.unit``. True: it matches the result, which is accepted
        (the checker will be paid). None: a mismatch, a dispute (see :meth:`take_disputes`).
        False: nothing decided now: the solver's result is not in yet (it is compared when it
        comes), or the task is stale (its solver or checker was caught; due again if needed)."""
        if self.pending.get(task.unit) != task:
            return False
        if task.checker in self.cheaters:
            del self.pending[task.unit]
            self._due.append(task.unit)
            return False
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if task.unit not in self.results:
            self._early[task.unit] = (task, v)
            return False
        return self._compare(task, v)

    def _compare(self, task: CheckTask, values: FloatArray) -> bool | None:
        result = self.results[task.unit]
        if values.size == self._points and self._close(result.values, values):
            del self.pending[task.unit]
            result.checked = True
            self.checks += 1
            self.paid_checks.append(task)
            self.trusted.update((task.solver, task.checker))
            return True
        self._disputes.append((task, values))
        return None

    def take_disputes(self) -> list[tuple[CheckTask, FloatArray]]:
        """Mismatches for the coordinator to settle with :meth:`check` and its own re-run."""
        out, self._disputes = self._disputes, []
        return out

    def _close(self, a: npt.ArrayLike, b: npt.ArrayLike) -> bool:
        return bool(np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64),
                                rtol=self.tolerance, atol=self.tolerance))

    def check(self, unit: int, expected: npt.ArrayLike, task: CheckTask | None = None,
              checker_values: npt.ArrayLike | None = None) -> bool:
        """Compare a result with the coordinator's own re-run ``expected``; with a disputed
        ``task``, also the checker's ``checker_values``. Whoever was wrong is marked a cheater:
        all its results are discarded and their units reopened."""
        if unit not in self.results:
            raise ComputeError(f"unit {unit} has no result to check")
        result = self.results[unit]
        self.checks += 1
        result.checked = True
        self.pending.pop(unit, None)
        self.take_check(unit)
        ok = self._close(result.values, expected)
        if task is not None and checker_values is not None:
            if np.asarray(checker_values).size == self._points and \
                    self._close(checker_values, expected):
                self.paid_checks.append(task)
            else:
                self._mark_cheater(task.checker)
        if not ok:
            self._mark_cheater(result.assignment.node)
        else:
            self.trusted.add(result.assignment.node)
        return ok

    def _mark_cheater(self, cheater: str) -> None:
        self.cheaters.add(cheater)
        self.trusted.discard(cheater)
        dropped = [k for k, r in self.results.items() if r.assignment.node == cheater]
        dropped += [k for k, a in self.assigned.items() if a.node == cheater]
        for k in dropped:  # reopened: checked again or not when next awarded
            self.results.pop(k, None)
            self.assigned.pop(k, None)
            self.pending.pop(k, None)
            self._early.pop(k, None)
            self.take_check(k)
        for k in [k for k, t in self.pending.items() if t.checker == cheater]:
            del self.pending[k]
            self._early.pop(k, None)
            self._due.append(k)
        self._disputes = [d for d in self._disputes
                          if d[0].checker != cheater and d[0].unit not in dropped]

    @property
    def finished(self) -> bool:
        """Every unit has a result and no check is due, running or disputed: ready to
        settle."""
        return self.done and not self.pending and not self._due and not self._disputes

    @property
    def done(self) -> bool:
        return len(self.results) == len(self.job.units)

    def energies(self) -> FloatArray:
        """⟨H⟩ at every point, once every unit has a result."""
        if not self.done:
            raise ComputeError(f"{len(self.job.units) - len(self.results)} units have no result")
        total = np.full(self._points, float(self.job.model.offset))
        for k in sorted(self.results):
            total += self.results[k].values
        return total

    def settle(self) -> dict[str, int]:
        """Pay every accepted unit's price and every honest checker the price of the unit it
        re-ran (never a cheater); the payees' totals."""
        if not self.done:
            raise ComputeError("cannot settle before every unit has a result")
        for k in sorted(self.results):
            a = self.results[k].assignment
            if a.node not in self.cheaters:
                self.ledger.credit_batch(a.node, k.to_bytes(4, "big"), a.price)
        for task in self.paid_checks:
            if task.checker not in self.cheaters:
                self.ledger.credit_batch(task.checker, b"check" + task.unit.to_bytes(4, "big"),
                                         task.price)
        return self.ledger.balances()



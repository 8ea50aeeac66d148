"""Which arm strikes next and how many reads it may take, so that a time limit is a hard limit.

The allocator ranks the arms; the scheduler checks the chosen one against the time budget. The
first strike of a run goes at once to the first arm (a classical one, so an answer exists
immediately). Later strikes are sized by each arm's measured cost to end before the deadline
(at most half the time left, in powers of two of reads, so they shrink towards it),
and a QAOA arm sharing the run with classical ones stays within its share of the time; an arm
that cannot afford even one read now is passed over, and when none can the run ends. An arm's
first timed strike is a probe of one read, which gives its cost model a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from poqw.strike.allocator import BudgetAllocator
from poqw.strike.arms import ClassicalArm, QaoaArm, TensorNetworkQaoaArm
from poqw.strike.budget import CostModel, TimeBudget

__all__ = ["Scheduler"]

Clock = Callable[[], float]


#: A strike takes at most this fraction of the time an arm may still use (the last one: what
#: fits in all of it), so the strikes shrink towards the deadline and a misjudged one can
#: overrun by little.
STRIKE_FRACTION = 0.5


def _sized(cost: CostModel, allowance: float, most: int) -> int:
    """Reads for a strike within ``allowance``: a power of two (so that runs at a slightly
    different speed still make the same strikes) at most ``most``, filling at most
    ``STRIKE_FRACTION`` of the allowance; 0 when not one read fits."""
    reads = cost.reads_within(STRIKE_FRACTION * allowance, most)
    if reads == 0:  # the last strike: whatever fits (all the shots, if reads cost nothing)
        return cost.reads_within(allowance, most)
    return reads if reads == most else 1 << (reads.bit_length() - 1)


class Scheduler:
    """Plans strikes for one run: ``next_strike`` gives ``(arm name, reads)`` or None (stop).

    ``arms`` is shared with the loop and may gain the ``fallback`` arm (simulated annealing)
    when the only arm asked for, QAOA on tensor networks, cannot be prepared in time.
    ``untimed_prepare`` caps that preparation when the run has no time limit.
    """

    def __init__(self, arms: dict[str, Any], allocator: BudgetAllocator, budget: TimeBudget,
                 *, shots: int, p: int, clock: Clock, notes: list[str],
                 fallback: Callable[[], ClassicalArm], untimed_prepare: float) -> None:
        self.arms = arms
        self.allocator = allocator
        self.budget = budget
        self.shots = shots
        self.p = p
        self.clock = clock
        self.notes = notes
        self.fallback = fallback
        self.untimed_prepare = untimed_prepare
        self.costs = {name: CostModel() for name in arms}

    def _allowance(self, name: str) -> float:
        return self.budget.allowance(name, self.allocator.arms[name].seconds, self.clock())

    def _add_fallback(self) -> None:
        arm = self.fallback()
        self.arms[arm.name] = arm
        self.costs[arm.name] = CostModel()
        self.allocator.add(arm.name)
        self.notes.append(f"no classical sampler was asked for: using {arm.name}")

    def _prepare(self, name: str, arm: TensorNetworkQaoaArm, allowance: float) -> bool:
        """Prepare a tensor-network arm within ``allowance``; False (and the arm disabled, with
        a note saying why) when it does not fit."""
        if not self.budget.timed:
            allowance = min(allowance, self.untimed_prepare)
        t0 = self.clock()
        reason = arm.prepare(allowance, self.clock)
        self.allocator.charge(name, self.clock() - t0)
        if reason is None:
            return True
        self.allocator.disable(name)
        limit = "the time limit" if self.budget.timed else "the untimed preparation cap"
        self.notes.append(f"QAOA skipped: {reason} (its share of {limit}); the classical "
                          "samplers had the time")
        return False

    def _reads(self, name: str, arm: Any, first: bool) -> int:
        # Untimed, an arm's first strike is not held back by what preparing it cost.
        first = first or (not self.budget.timed and self.allocator.arms[name].pulls == 0)
        allowance = math.inf if first else self._allowance(name)
        if allowance <= 0:
            return 0
        if not self.budget.timed:
            return self.shots
        cost = self.costs[name]
        if cost.known:
            return _sized(cost, allowance, self.shots)
        if isinstance(arm, QaoaArm):
            return self.shots if arm.first_strike_estimate(self.p) <= allowance else 0
        return 1

    def next_strike(self, first: bool) -> tuple[str, int] | None:
        """The arm to strike and its reads; None when no arm can strike before the deadline.
        ``first``: no strike has been made yet (it goes ahead whatever the budget)."""
        skip: set[str] = set()
        while True:
            if not any(a.enabled for a in self.allocator.arms.values()):
                self._add_fallback()
            name = self.allocator.choose(skip)
            if name is None:
                return None
            arm = self.arms[name]
            if isinstance(arm, TensorNetworkQaoaArm) and not arm.ready:
                allowance = self._allowance(name)
                if allowance <= 0:
                    skip.add(name)
                    continue
                if not self._prepare(name, arm, allowance):
                    continue
            reads = self._reads(name, arm, first)
            if reads == 0:
                skip.add(name)
                continue
            return name, reads

    def record(self, name: str, reads: int, seconds: float) -> None:
        """Feed a timed strike to the arm's cost model."""
        self.costs[name].observe(reads, seconds)

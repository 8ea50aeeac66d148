"""The budget allocator: which sampler gets the next slice of time.

Each sampler (the QAOA strike stream, simulated annealing, steepest descent, ...) is an arm of a
bandit. A pull runs one unit of work (a strike of S shots; one batch of annealing reads) and is
rewarded against the incumbent (the best energy any arm has found): 1 for a strict improvement,
else ``0.5 * 2**(-(e - incumbent) / unit)`` for its best energy ``e``, where ``unit`` is the
model's energy quantum; a tie scores 0.5, and each quantum worse halves it. The rule is
discounted UCB (Garivier & Moulines 2011) on the *reward rate*: with discounted sums of
rewards ``R``, pulls ``N`` and seconds ``T`` (every sum decays by ``discount`` each round, so the
allocator follows arms whose usefulness changes as the incumbent improves),

    index(a) = (R_a / N_a + c sqrt(2 ln(sum N) / N_a)) / (T_a / N_a)

an optimistic reward per pull divided by the seconds a pull takes. Every arm is pulled once
first (in the order given: the loop puts the classical arms first, so an answer exists after
the first strike); then the largest index wins. An arm that never helps still gets the
logarithmic trickle of exploration; the loop also caps the QAOA arm's share of the time
(:class:`poqw.strike.budget.TimeBudget`), so it can never starve annealing.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from poqw.errors import ConfigError

__all__ = ["ArmStats", "BudgetAllocator", "improvement_reward"]

_MIN_SECONDS = 1e-6


def improvement_reward(energy: float, incumbent: float | None, unit: float) -> float:
    """The reward of a pull whose best energy is ``energy`` against the incumbent before it."""
    if incumbent is None or energy < incumbent - 1e-9 * max(1.0, abs(incumbent)):
        return 1.0
    gap = max(0.0, energy - incumbent)
    return float(0.5 * 2.0 ** (-gap / unit))


@dataclass
class ArmStats:
    """What one arm has done: totals (undiscounted) and the discounted sums the index uses."""

    name: str
    pulls: int = 0
    seconds: float = 0.0
    improvements: int = 0
    best_energy: float = math.inf
    reward_sum: float = 0.0
    pull_sum: float = 0.0
    time_sum: float = 0.0
    enabled: bool = True


class BudgetAllocator:
    """Discounted UCB on reward per second over named arms (see the module docstring)."""

    def __init__(
        self, arms: Sequence[str], exploration: float = 0.5, discount: float = 0.97
    ) -> None:
        if not arms:
            raise ConfigError("the allocator needs at least one arm")
        if len(set(arms)) != len(arms):
            raise ConfigError(f"arm names must be distinct, got {list(arms)}")
        if not 0.0 < discount <= 1.0:
            raise ConfigError(f"discount must be in (0, 1], got {discount}")
        if exploration < 0:
            raise ConfigError(f"exploration must be non-negative, got {exploration}")
        self.arms = {name: ArmStats(name) for name in arms}
        self.exploration = exploration
        self.discount = discount

    def add(self, name: str) -> None:
        """A new arm, pulled before the others are (it has no pulls yet)."""
        if name in self.arms:
            raise ConfigError(f"arm {name!r} is already allocated")
        self.arms[name] = ArmStats(name)

    def disable(self, name: str) -> None:
        """Stop choosing ``name`` (its totals are kept for the record)."""
        self._arm(name).enabled = False

    def _arm(self, name: str) -> ArmStats:
        if name not in self.arms:
            raise ConfigError(f"unknown arm {name!r}; arms are {', '.join(self.arms)}")
        return self.arms[name]

    def index(self, name: str) -> float:
        """The arm's optimistic reward rate (inf before its first pull)."""
        arm = self._arm(name)
        if arm.pull_sum <= 0:
            return math.inf
        total = sum(a.pull_sum for a in self.arms.values() if a.enabled)
        mean = arm.reward_sum / arm.pull_sum
        bonus = self.exploration * math.sqrt(2.0 * math.log(max(total, 1.0)) / arm.pull_sum)
        seconds_per_pull = max(arm.time_sum / arm.pull_sum, _MIN_SECONDS)
        return (mean + bonus) / seconds_per_pull

    def choose(self, skip: Collection[str] = ()) -> str | None:
        """The arm to pull next: an unpulled arm first, else the largest index (ties: order).

        Arms in ``skip`` (those that cannot afford a strike now) are passed over; None when
        every enabled arm is skipped.
        """
        enabled = [a for a in self.arms.values() if a.enabled]
        if not enabled:
            raise ConfigError("every arm is disabled")
        live = [a for a in enabled if a.name not in skip]
        if not live:
            return None
        for arm in live:
            if arm.pulls == 0:
                return arm.name
        return max(live, key=lambda a: self.index(a.name)).name

    def charge(self, name: str, seconds: float) -> None:
        """Add one-off work of ``name`` that is not a pull (preparing a state) to its total
        seconds; the index, a rate per pull, is left alone."""
        if seconds < 0 or not math.isfinite(seconds):
            raise ConfigError(f"seconds must be finite and non-negative, got {seconds}")
        self._arm(name).seconds += seconds

    def update(self, name: str, seconds: float, reward: float, energy: float) -> None:
        """Record one pull of ``name``: its duration, reward in [0, 1] and best energy."""
        arm = self._arm(name)
        if not 0.0 <= reward <= 1.0:
            raise ConfigError(f"reward must be in [0, 1], got {reward}")
        if seconds < 0 or not math.isfinite(seconds):
            raise ConfigError(f"seconds must be finite and non-negative, got {seconds}")
        for other in self.arms.values():
            other.reward_sum *= self.discount
            other.pull_sum *= self.discount
            other.time_sum *= self.discount
        arm.pulls += 1
        arm.seconds += seconds
        arm.improvements += reward == 1.0
        arm.best_energy = min(arm.best_energy, energy)
        arm.reward_sum += reward
        arm.pull_sum += 1.0
        arm.time_sum += seconds

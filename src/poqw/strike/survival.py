"""Time to target with unsolved runs counted: right-censored times and their Kaplan–Meier curve.

A run that never reaches the target is not left out (that would make a method that rarely
solves anything look fast); it is *censored* at its budget: all we know is that its time to
target exceeds the seconds it ran. The Kaplan–Meier estimator (Kaplan & Meier 1958) turns such
data into the fraction of runs solved by time ``t``, and the median time to target is the first
time that fraction reaches one half (None when it never does: "more than the budget").
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from poqw.errors import ConfigError

__all__ = ["CensoredTime", "censored_median", "mean_and_error", "solved_fraction_curve"]


@dataclass(frozen=True)
class CensoredTime:
    """One run: ``time`` to target when ``solved``, else the budget it ran (censored there)."""

    time: float
    solved: bool

    @classmethod
    def of_run(cls, time_to_target: float | None, budget_seconds: float) -> CensoredTime:
        if time_to_target is None:
            return cls(float(budget_seconds), False)
        return cls(float(time_to_target), True)


def solved_fraction_curve(runs: Sequence[CensoredTime]) -> list[tuple[float, float]]:
    """The Kaplan–Meier fraction solved, as steps ``(t, fraction solved by t)`` at each solve
    time (ascending). At tied times solves count before censorings, the usual convention."""
    for run in runs:
        if not (math.isfinite(run.time) and run.time >= 0):
            raise ConfigError(f"a time to target must be finite and non-negative, got {run}")
    order = sorted(runs, key=lambda r: (r.time, not r.solved))
    at_risk = len(order)
    surviving = 1.0
    steps: list[tuple[float, float]] = []
    i = 0
    while i < len(order):
        t = order[i].time
        solved = censored = 0
        while i < len(order) and order[i].time == t:
            solved += order[i].solved
            censored += not order[i].solved
            i += 1
        if solved:
            surviving *= 1.0 - solved / at_risk
            steps.append((t, 1.0 - surviving))
        at_risk -= solved + censored
    return steps


def censored_median(runs: Sequence[CensoredTime]) -> float | None:
    """The first time the Kaplan–Meier fraction solved reaches 1/2; None if it never does
    (more than half the runs, as far as the data tell, need more than their budget)."""
    for t, fraction in solved_fraction_curve(runs):
        if fraction >= 0.5 - 1e-12:
            return t
    return None


def mean_and_error(values: Sequence[float]) -> tuple[float, float]:
    """The mean and its standard error (0 for a single value)."""
    if not values:
        raise ConfigError("no values to average")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, statistics.stdev(values) / math.sqrt(len(values))

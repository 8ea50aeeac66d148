"""The strike loop's time budget: a deadline read on an injected clock, and measured strike costs.

A :class:`CostModel` learns what one arm's strike costs from the strikes it has timed (a fixed
part plus a part per read, fitted to the recent strikes) and says how many reads fit in a given
number of seconds. A :class:`TimeBudget` holds the deadline and each capped arm's share of it, so
the loop can size every strike to the time that is left, and never start one that cannot end in
time. Neither reads a clock of its own: the loop passes ``now`` in.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from poqw.errors import ConfigError

__all__ = ["CostModel", "TimeBudget"]

#: How many recent strikes a cost model fits (older ones are forgotten as load changes).
RECENT_STRIKES = 8
#: Predictions are inflated by this factor, so a strike sized to the deadline ends before it.
SAFETY = 1.15


@dataclass
class CostModel:
    """Seconds per strike as ``fixed + per_read * reads``, fitted to recent timed strikes.

    With one observation the cost is taken as proportional to the reads above that size and
    flat below it, which over-estimates both ways; two sizes (the recent strikes and the latest
    one of another size) give a least-squares line with both parts clipped to be non-negative.
    """

    observations: deque[tuple[int, float]] = field(
        default_factory=lambda: deque(maxlen=RECENT_STRIKES))
    #: The latest strike of another size than the latest one's, kept for the fit when the
    #: recent strikes all have one size.
    anchor: tuple[int, float] | None = None

    @property
    def known(self) -> bool:
        return bool(self.observations)

    def observe(self, reads: int, seconds: float) -> None:
        if reads < 1:
            raise ConfigError(f"a timed strike has at least one read, got {reads}")
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ConfigError(f"strike seconds must be finite and non-negative, got {seconds}")
        if self.observations and self.observations[-1][0] != reads:
            self.anchor = self.observations[-1]
        self.observations.append((reads, seconds))

    def _line(self) -> tuple[float, float] | None:
        recent = list(self.observations)
        if self.anchor is not None and self.anchor not in recent:
            recent.append(self.anchor)
        reads = [float(r) for r, _ in recent]
        if len(set(reads)) < 2:
            return None
        secs = [s for _, s in recent]
        mean_r, mean_s = sum(reads) / len(reads), sum(secs) / len(secs)
        var = sum((r - mean_r) ** 2 for r in reads)
        slope = sum((r - mean_r) * (s - mean_s) for r, s in zip(reads, secs, strict=True)) / var
        slope = max(slope, 0.0)
        fixed = max(mean_s - slope * mean_r, 0.0)
        if slope == 0.0:
            # Cost does not grow with reads (as for a state-vector strike): charge the worst.
            fixed = max(secs)
        return fixed, slope

    def predict(self, reads: int) -> float:
        """Seconds a strike of ``reads`` reads is expected to take (inf before any strike)."""
        if not self.observations:
            return math.inf
        line = self._line()
        if line is not None:
            fixed, slope = line
            return SAFETY * (fixed + slope * reads)
        r_obs, s_obs = self.observations[-1]
        return SAFETY * s_obs * max(1.0, reads / r_obs)

    def reads_within(self, seconds: float, most: int) -> int:
        """The most reads (at most ``most``) whose predicted strike fits in ``seconds``; 0 if
        not even one read fits."""
        if self.predict(1) > seconds:
            return 0
        if self.predict(most) <= seconds:
            return most
        low, high = 1, most  # predict(low) fits, predict(high) does not
        while high - low > 1:
            mid = (low + high) // 2
            if self.predict(mid) <= seconds:
                low = mid
            else:
                high = mid
        return low


class TimeBudget:
    """The deadline of one run and the share of it each capped arm may spend.

    ``time_limit`` None means no deadline (a strike budget ends the run instead); capped arms
    then keep to their share of the time elapsed so far.
    """

    def __init__(self, start: float, time_limit: float | None,
                 shares: dict[str, float] | None = None) -> None:
        for name, share in (shares or {}).items():
            if not 0.0 < share <= 1.0:
                raise ConfigError(f"the time share of {name!r} must be in (0, 1], got {share}")
        self.start = start
        self.time_limit = time_limit
        self.shares = dict(shares or {})

    @property
    def timed(self) -> bool:
        return self.time_limit is not None

    def remaining(self, now: float) -> float:
        """Seconds left before the deadline (inf without one; never negative)."""
        if self.time_limit is None:
            return math.inf
        return max(0.0, self.start + self.time_limit - now)

    def expired(self, now: float) -> bool:
        return self.remaining(now) <= 0.0

    def allowance(self, name: str, spent: float, now: float) -> float:
        """Seconds arm ``name`` (having spent ``spent``) may use now: the time left, and for a
        capped arm no more than its share of the time limit. Untimed, a capped arm may strike
        (inf) while it has spent no more than its share of the time elapsed, else not (0)."""
        left = self.remaining(now)
        share = self.shares.get(name)
        if share is None:
            return left
        if self.time_limit is None:
            return math.inf if spent <= share * (now - self.start) or spent == 0 else 0.0
        return min(left, max(0.0, share * self.time_limit - spent))

"""Keeping peers honest: token-bucket rate limits, a misbehaviour score, and a ban list.

All three take the current time as an argument and never read a clock, so a test can replay any
sequence exactly. The score decays slowly, so an honest peer's rare mistake is forgotten while a
peer that keeps sending bad data crosses the threshold and is banned until the ban expires.
The ban list can export and import its entries and reports what changed since it was last asked,
so a node can keep bans across restarts (it stores them on the wall clock, see ``TrustStore``).
Only a node key a peer proved it holds is banned; what an address did before any key vouched for
it only drains that address's in-memory budgets (:class:`AddressLimits`), never outliving them.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "AddressLimits",
    "BanEntry",
    "BanList",
    "MisbehaviourScore",
    "Penalty",
    "TokenBucket",
    "TrafficClass",
]


class TrafficClass(enum.Enum):
    """Message classes that get a rate limit each; answers to our own requests are never limited."""

    CONTROL = "control"  # heartbeats, errors
    GOSSIP = "gossip"  # block and transaction announcements
    REQUEST = "request"  # every kind of request a peer makes of us
    PUSH = "push"  # blocks pushed unasked
    CAPABILITY = "capability"  # signed capability records (sent after the join and on change)


class Penalty(enum.IntEnum):
    """Misbehaviour points; the default ban threshold is 100."""

    RATE_LIMIT = 5
    UNSOLICITED = 10
    MALFORMED = 20
    INVALID_DATA = 25
    BAD_HANDSHAKE = 50
    FRAMING = 100


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; a message costs one token."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, got {rate}, {burst}")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._updated = now

    def tokens(self, now: float) -> float:
        elapsed = max(0.0, now - self._updated)
        return min(self.burst, self._tokens + elapsed * self.rate)

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are enough; ``False`` (and nothing spent) if not."""
        self._tokens = self.tokens(now)
        self._updated = max(self._updated, now)
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True

    def drain(self, now: float, cost: float) -> None:
        """Spend up to ``cost`` tokens, never below zero (a penalty, not a purchase)."""
        self._tokens = max(0.0, self.tokens(now) - cost)
        self._updated = max(self._updated, now)


class MisbehaviourScore:
    """Points that decay by ``decay_per_second``; ``add`` says whether the threshold is reached."""

    def __init__(self, threshold: float = 100.0, decay_per_second: float = 1.0 / 60.0) -> None:
        self.threshold = threshold
        self.decay_per_second = decay_per_second
        self._points = 0.0
        self._updated: float | None = None

    def value(self, now: float) -> float:
        if self._updated is None:
            return 0.0
        return max(0.0, self._points - (now - self._updated) * self.decay_per_second)

    def add(self, points: float, now: float) -> bool:
        self._points = self.value(now) + points
        self._updated = now
        return self._points >= self.threshold


@dataclass(frozen=True)
class BanEntry:
    """``key`` (``node:<id hex>`` or ``host:<address>``) is banned until ``until``, on the clock of
    whoever holds the entry (the protocol's ``now`` inside a :class:`BanList`)."""

    key: str
    until: float
    reason: str


class BanList:
    """Keys (node ids, hosts) banned until an expiry time; time is passed in."""

    def __init__(self) -> None:
        self._bans: dict[str, BanEntry] = {}
        self._changed: set[str] = set()

    def ban(self, key: str, now: float, duration: float, reason: str) -> None:
        current = self._bans.get(key)
        until = now + duration
        if current is None or current.until < until:
            self._bans[key] = BanEntry(key, until, reason)
            self._changed.add(key)

    def is_banned(self, key: str, now: float) -> bool:
        ban = self._bans.get(key)
        if ban is None:
            return False
        if ban.until <= now:
            del self._bans[key]
            return False
        return True

    def reason(self, key: str, now: float) -> str | None:
        return self._bans[key].reason if self.is_banned(key, now) else None

    def unban(self, key: str) -> None:
        if self._bans.pop(key, None) is not None:
            self._changed.add(key)

    def expire(self, now: float) -> None:
        for key in [k for k, b in self._bans.items() if b.until <= now]:
            del self._bans[key]

    def entries(self, now: float) -> list[BanEntry]:
        """Every ban still in force at ``now``, by key."""
        self.expire(now)
        return sorted(self._bans.values(), key=lambda e: e.key)

    def restore(self, entries: Iterable[BanEntry], now: float) -> int:
        """Take bans back (from storage, converted to this list's clock); a longer ban already
        held wins, expired ones are skipped, and nothing counts as a change. Returns how many
        were taken."""
        taken = 0
        for entry in entries:
            current = self._bans.get(entry.key)
            if entry.until > now and (current is None or current.until < entry.until):
                self._bans[entry.key] = entry
                taken += 1
        return taken

    def take_changes(self) -> tuple[list[BanEntry], list[str]]:
        """Bans made or lengthened, and keys unbanned, since the last call (then forgotten).

        A ban that ran out in between is reported as unbanned: storage may forget it too."""
        changed, self._changed = self._changed, set()
        banned = sorted((self._bans[k] for k in changed if k in self._bans), key=lambda e: e.key)
        return banned, sorted(k for k in changed if k not in self._bans)

    def __len__(self) -> int:
        return len(self._bans)


class AddressLimits:
    """Per-address budgets for what no node key vouches for: connections and new identities.

    Every incoming connection from an address spends one token of its connection bucket, and an
    unproven connection that misbehaved (a strike) drains ``strike_cost`` more, so garbage from an
    address slows that address down for a while instead of banning it. Every node key the node
    has not seen before spends one token of the address's identity bucket, and a ban of a proven
    key from the address drains ``ban_cost`` more, so a banned peer cannot come straight back under
    a fresh key. Nothing here is persisted, and at most ``max_addresses`` addresses are tracked
    (the least recently used is forgotten, that is, forgiven).
    """

    def __init__(self, connections: tuple[float, float] = (2.0, 40.0),
                 identities: tuple[float, float] = (1.0 / 60.0, 12.0), strike_cost: float = 10.0,
                 ban_cost: float = 2.0, max_addresses: int = 4096) -> None:
        self.connections = connections
        self.identities = identities
        self.strike_cost = strike_cost
        self.ban_cost = ban_cost
        self.max_addresses = max_addresses
        self._buckets: OrderedDict[str, tuple[TokenBucket, TokenBucket]] = OrderedDict()

    def _of(self, host: str, now: float) -> tuple[TokenBucket, TokenBucket]:
        pair = self._buckets.get(host)
        if pair is None:
            pair = (TokenBucket(*self.connections, now), TokenBucket(*self.identities, now))
            self._buckets[host] = pair
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(host)
        return pair

    def allow_connection(self, host: str, now: float) -> bool:
        """Spend one connection token of ``host``; ``False`` if it has none left."""
        return self._of(host, now)[0].take(now)

    def allow_new_identity(self, host: str, now: float) -> bool:
        """Spend one identity token of ``host`` for a node key never seen before."""
        return self._of(host, now)[1].take(now)

    def strike(self, host: str, now: float) -> None:
        """An unproven connection from ``host`` misbehaved."""
        self._of(host, now)[0].drain(now, self.strike_cost)

    def identity_banned(self, host: str, now: float) -> None:
        """A node key that connected from ``host`` was banned."""
        self._of(host, now)[1].drain(now, self.ban_cost)

    def __len__(self) -> int:
        return len(self._buckets)

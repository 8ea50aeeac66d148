"""How a node spends its request budget toward one peer, so the sync is never starved.

A peer enforces a request rate on us, and ``PeerConnection`` keeps what we ask under it. Three
kinds of request compete for that budget: the headers-first sync (one request fetches up to
eight blocks or 500 headers), fetches of announced blocks and of an orphan's missing parent (one
block each), and status requests. A peer that mines faster than it announces (one announcement
per 60 ms at most) turns nearly every announcement into an orphan whose parent and status are
asked too, three requests a block: spent that way, the budget ran out within seconds, and each
sync request refused for it backed the honest peer off, for 5 s and then longer. So fetches
only spend the budget above a reserve kept for the sync, status requests go at most one per
peer per ``status_interval`` (one put off is owed and asked when due, so the last blocks a
peer announced before it paused are not left to its heartbeat), and the sync defers a
request it has no budget for (``SyncManager.request_deferred``) instead of counting it as the
peer's failure.
"""

from __future__ import annotations

import contextlib
import weakref

from poqw.errors import LocalProtocolError
from poqw.p2p.peer import PeerConnection

__all__ = ["FETCH_RESERVE", "STATUS_INTERVAL", "RequestPacing"]

FETCH_RESERVE = 0.5  # the share of a peer's request burst that fetches leave to the sync
STATUS_INTERVAL = 0.5  # seconds between two status requests to one peer


class RequestPacing:
    """Decides which optional requests to a peer are worth a share of its request budget."""

    def __init__(self, reserve: float = FETCH_RESERVE,
                 status_interval: float = STATUS_INTERVAL) -> None:
        if not 0.0 <= reserve < 1.0 or status_interval < 0:
            raise ValueError(f"reserve must be in [0, 1) and the status interval >= 0, got "
                             f"{reserve}, {status_interval}")
        self.reserve = reserve
        self.status_interval = status_interval
        # when each peer was last asked for its status (forgotten with its connection)
        self._status_asked: weakref.WeakKeyDictionary[PeerConnection, float] = \
            weakref.WeakKeyDictionary()
        # peers whose status we wanted but did not ask yet (``ask_owed`` asks it later: else
        # the last blocks a peer announced before it paused would wait for its heartbeat)
        self._owed: weakref.WeakSet[PeerConnection] = weakref.WeakSet()

    def may_fetch(self, peer: PeerConnection, now: float) -> bool:
        """Whether fetching one announced block (or an orphan's parent) leaves the sync's
        reserve of the budget untouched."""
        return peer.can_request(now, keep=self.reserve)

    def ask_status(self, peer: PeerConnection, now: float) -> bool:
        """Ask the peer for its status (its tip starts or extends the sync) unless it was asked
        within ``status_interval`` or no budget is left, in which case it is owed (see
        ``ask_owed``); ``True`` when asked."""
        last = self._status_asked.get(peer)
        if (last is not None and now - last < self.status_interval) \
                or not peer.can_request(now):
            self._owed.add(peer)
            return False
        self._owed.discard(peer)
        with contextlib.suppress(LocalProtocolError):  # the peer is leaving
            peer.request_status(now)
            self._status_asked[peer] = now
            return True
        return False

    def ask_owed(self, peer: PeerConnection, now: float) -> bool:
        """Ask the status request put off for ``peer``, if there is one and it is due now
        (call it often for every peer); ``True`` when asked."""
        return peer in self._owed and self.ask_status(peer, now)

"""Bans of misbehaving peers kept across restarts in ``trust.db``.

The protocol's ban list runs on the event loop's monotonic clock; ``trust.db`` keeps each ban's
expiry on the wall clock. Loading converts wall to loop time and saving converts back, so a ban
survives a restart with the time it had left.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import replace

from poqw.errors import StorageError
from poqw.p2p.policing import BanList
from poqw.p2p.trust import TrustStore

__all__ = ["load_bans", "save_bans"]

log = logging.getLogger("poqw.node.network")  # one logger for the whole network glue


def load_bans(trust: TrustStore, bans: BanList, now: float) -> None:
    """Bans still in force from ``trust.db``, their wall-clock expiry moved to our clock
    (``now``, the event loop's). Address bans (``host:``, written by older versions) are
    dropped: an address is shared by honest peers, only a proven node key is banned."""
    wall = time.time()
    stored = trust.load_bans(wall)
    hosts = [e.key for e in stored if not e.key.startswith("node:")]
    if hosts:
        log.info("dropping %d address bans from %s: only node keys are banned now",
                 len(hosts), trust.path)
        with contextlib.suppress(StorageError):
            trust.save_bans([], hosts, wall)
        stored = [e for e in stored if e.key.startswith("node:")]
    taken = bans.restore([replace(e, until=e.until - wall + now) for e in stored], now)
    if taken:
        log.info("%d bans still in force from %s", taken, trust.path)


def save_bans(trust: TrustStore, bans: BanList, now: float) -> None:
    """Write bans made (or lifted) since the last call to ``trust.db``, on the wall clock."""
    banned, unbanned = bans.take_changes()
    if not banned and not unbanned:
        return
    wall = time.time()
    try:
        trust.save_bans([replace(e, until=e.until - now + wall) for e in banned],
                        unbanned, wall)
    except StorageError as exc:
        log.warning("bans not saved, a restart will forget them: %s", exc)

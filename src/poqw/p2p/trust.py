"""Trust on first use: the first certificate fingerprint a node id shows is pinned.

``TrustStore`` keeps node id -> certificate fingerprint in a SQLite file (``trust.db``). A node
that later shows a different certificate under the same key is refused with an error naming it,
until the operator deliberately forgets the pin. The same file keeps the node's bans (table
``bans``: key, expiry in wall-clock Unix seconds, reason) so a restarted node still refuses a peer
it banned; expired rows are pruned on every load and save. Times are passed in, never read here.
The pins are bounded (``max_pins``): a new pin evicts the least recently seen ones, except pins
the node was told to keep (its configured peers), so throwaway keys cannot grow the file forever.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from poqw.errors import StorageError, UntrustedPeer
from poqw.p2p.policing import BanEntry

__all__ = ["TrustStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pins (
    node_id BLOB PRIMARY KEY,
    fingerprint BLOB NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL
)
"""
_FINGERPRINT_INDEX = "CREATE INDEX IF NOT EXISTS pins_by_fingerprint ON pins (fingerprint)"
DEFAULT_MAX_PINS = 4096
_BANS_SCHEMA = """
CREATE TABLE IF NOT EXISTS bans (
    key TEXT PRIMARY KEY,
    until REAL NOT NULL,
    reason TEXT NOT NULL
)
"""


class TrustStore:
    """Pins of node id -> TLS certificate fingerprint (``":memory:"`` for a throwaway store)."""

    def __init__(self, path: str | Path, wall_offset: float = 0.0,
                 max_pins: int = DEFAULT_MAX_PINS) -> None:
        if max_pins < 1:
            raise ValueError(f"a trust store needs max_pins >= 1, got {max_pins}")
        self.path = str(path)
        # the protocol passes its own (monotonic) clock to check_and_pin; pins are stored on the
        # wall clock, ``now + wall_offset``, so ``poqw peers list`` shows real times
        self.wall_offset = wall_offset
        self.max_pins = max_pins
        try:
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(pins)")}
            if "kept" not in columns:  # a trust.db from before pins were bounded
                self._db.execute("ALTER TABLE pins ADD COLUMN kept INTEGER NOT NULL DEFAULT 0")
            self._db.execute(_FINGERPRINT_INDEX)
            self._db.execute(_BANS_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open trust store {self.path}: {exc}") from exc

    def pinned(self, node_id: bytes) -> bytes | None:
        row = self._db.execute(
            "SELECT fingerprint FROM pins WHERE node_id = ?", (node_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def check_and_pin(self, node_id: bytes, fingerprint: bytes, now: float) -> bool:
        """Pin on first sight (returns ``True``), accept a match, refuse a changed fingerprint."""
        with self._db:
            known = self.pinned(node_id)
            if known is None:
                wall = now + self.wall_offset
                self._db.execute("INSERT INTO pins (node_id, fingerprint, first_seen, last_seen)"
                                 " VALUES (?, ?, ?, ?)", (node_id, fingerprint, wall, wall))
                self._evict(keep=node_id)
                return True
            if known != fingerprint:
                raise UntrustedPeer(
                    f"peer {node_id.hex()} presented certificate {fingerprint.hex()[:16]}..., "
                    f"but {known.hex()[:16]}... is pinned for it in {self.path}; "
                    "if the peer really changed its certificate, run: poqw peers forget "
                    f"{node_id.hex()} --datadir <the node's datadir>")
            self._db.execute("UPDATE pins SET last_seen = ? WHERE node_id = ?",
                             (now + self.wall_offset, node_id))
            return False

    def _evict(self, keep: bytes) -> None:
        """Drop the least recently seen pins over ``max_pins`` (never a kept one, nor ``keep``)."""
        excess = len(self) - self.max_pins
        if excess > 0:
            self._db.execute(
                "DELETE FROM pins WHERE node_id IN (SELECT node_id FROM pins WHERE kept = 0 AND "
                "node_id != ? ORDER BY last_seen, node_id LIMIT ?)", (keep, excess))

    def keep(self, node_id: bytes) -> bool:
        """Never evict the pin of ``node_id`` (a configured peer); ``False`` if there is none."""
        with self._db:
            cur = self._db.execute("UPDATE pins SET kept = 1 WHERE node_id = ?", (node_id,))
        return cur.rowcount > 0

    def knows_fingerprint(self, fingerprint: bytes) -> bool:
        """Whether some node id has this certificate pinned (a peer we have met)."""
        row = self._db.execute("SELECT 1 FROM pins WHERE fingerprint = ? LIMIT 1",
                               (fingerprint,)).fetchone()
        return row is not None

    def forget(self, node_id: bytes) -> bool:
        """Drop the pin of ``node_id``; ``False`` if there was none."""
        with self._db:
            cur = self._db.execute("DELETE FROM pins WHERE node_id = ?", (node_id,))
        return cur.rowcount > 0

    def pins(self) -> list[tuple[bytes, bytes, float, float]]:
        """(node id, fingerprint, first seen, last seen) of every pin, by node id."""
        try:
            rows = self._db.execute("SELECT node_id, fingerprint, first_seen, last_seen FROM pins "
                                    "ORDER BY node_id").fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the pins of trust store {self.path}: {exc}") from exc
        return [(bytes(a), bytes(b), float(c), float(d)) for a, b, c, d in rows]

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM pins").fetchone()[0])

    # --- bans (wall-clock expiry) -------------------------------------------------------------

    def _bans_error(self, problem: str) -> StorageError:
        return StorageError(
            f"the bans table of trust store {self.path} is unreadable ({problem}); the pins are "
            f"untouched: to forget every ban, run: sqlite3 {self.path} 'DROP TABLE bans'")

    def load_bans(self, now: float) -> list[BanEntry]:
        """Bans in force at ``now`` (wall clock), expiry on the wall clock; prunes the rest."""
        try:
            with self._db:
                self._db.execute("DELETE FROM bans WHERE until <= ?", (now,))
                rows = self._db.execute("SELECT key, until, reason FROM bans ORDER BY key"
                                        ).fetchall()
        except sqlite3.Error as exc:
            raise self._bans_error(str(exc)) from exc
        entries = []
        for key, until, reason in rows:
            if not isinstance(key, str) or not key.startswith(("node:", "host:")) \
                    or isinstance(until, bool) or not isinstance(until, int | float) \
                    or not isinstance(reason, str):
                raise self._bans_error(f"bad row {key!r}, {until!r}, {reason!r}")
            entries.append(BanEntry(key, float(until), reason))
        return entries

    def save_bans(self, banned: Iterable[BanEntry], unbanned: Iterable[str], now: float) -> None:
        """Record new or lengthened bans (expiry on the wall clock) and lifted ones; prune those
        expired at ``now``."""
        try:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO bans VALUES (?, ?, ?)",
                                     [(e.key, e.until, e.reason) for e in banned])
                self._db.executemany("DELETE FROM bans WHERE key = ?",
                                     [(k,) for k in unbanned])
                self._db.execute("DELETE FROM bans WHERE until <= ?", (now,))
        except sqlite3.Error as exc:
            raise self._bans_error(str(exc)) from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TrustStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

"""Trust on first use: the first certificate fingerprint a node id shows is pinned.

``TrustStore`` keeps node id -> certificate fingerprint in a SQLite file (``trust.db``). A node
that later shows a different certificate under the same key is refused with an error naming it,
until the operator deliberately forgets the pin. Times are passed in, never read here.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import TracebackType

from poqw.errors import StorageError, UntrustedPeer

__all__ = ["TrustStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pins (
    node_id BLOB PRIMARY KEY,
    fingerprint BLOB NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL
)
"""


class TrustStore:
    """Pins of node id -> TLS certificate fingerprint (``":memory:"`` for a throwaway store)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
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
                self._db.execute("INSERT INTO pins VALUES (?, ?, ?, ?)",
                                 (node_id, fingerprint, now, now))
                return True
            if known != fingerprint:
                raise UntrustedPeer(
                    f"peer {node_id.hex()} presented certificate {fingerprint.hex()[:16]}..., "
                    f"but {known.hex()[:16]}... is pinned for it in {self.path}; "
                    "remove the pin if the peer really changed its certificate")
            self._db.execute("UPDATE pins SET last_seen = ? WHERE node_id = ?", (now, node_id))
            return False

    def forget(self, node_id: bytes) -> None:
        with self._db:
            self._db.execute("DELETE FROM pins WHERE node_id = ?", (node_id,))

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM pins").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TrustStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

"""Block storage: one SQLite file (WAL) holding blocks, the canonical index, the tip and stats.

Every imported block is written in ONE SQLite transaction together with the canonical-index
rewrite a reorg needs, the new tip and the affected miners' statistics, so a crash at any moment
leaves the database at a block boundary. The schema is versioned in ``meta``; opening a file that
is not a poqw chain database, is corrupt, or belongs to another genesis raises
:class:`StorageError`, and an older schema is migrated in place, in one transaction.
:meth:`ChainStore.open_read_only` serves readers while the node writes. The ``one_time_keys``
table records which block used which (key id, one-time index), for the reuse rule.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poqw.chain import BlockLimits, Header, decode_block, decode_header, load_genesis
from poqw.chain.signing import one_time_key_use
from poqw.errors import DecodeError, StorageError

__all__ = ["SCHEMA_VERSION", "ChainStore", "MinerStats", "OneTimeKeyUse", "StoreView",
           "StoredBlock"]

log = logging.getLogger("poqw.node.storage")

SCHEMA_VERSION = 2
"""1: blocks, canonical index, miner statistics; 2: adds ``one_time_keys``."""
_FORMAT = b"poqw-chain"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    hash BLOB PRIMARY KEY,
    parent BLOB NOT NULL,
    number INTEGER NOT NULL,
    miner BLOB NOT NULL,
    best_energy INTEGER NOT NULL,
    total_work BLOB NOT NULL,
    base_fee BLOB NOT NULL,
    state_root BLOB NOT NULL,
    header BLOB NOT NULL,
    body BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blocks_parent ON blocks (parent);
CREATE INDEX IF NOT EXISTS blocks_miner ON blocks (miner);
CREATE TABLE IF NOT EXISTS canonical (number INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS miner_stats (
    miner BLOB PRIMARY KEY,
    blocks_won INTEGER NOT NULL,
    best_energy INTEGER,
    current_streak INTEGER NOT NULL,
    last_block INTEGER
) WITHOUT ROWID;
""" + """
CREATE TABLE IF NOT EXISTS one_time_keys (
    key_id BLOB NOT NULL,
    idx INTEGER NOT NULL,
    block BLOB NOT NULL,
    number INTEGER NOT NULL,
    PRIMARY KEY (key_id, idx, block)
) WITHOUT ROWID;
"""


def _u256(v: int) -> bytes:
    return int(v).to_bytes(32, "big")


@dataclass(frozen=True)
class StoredBlock:
    """A validated, executed block with what the node derived for it."""

    block_hash: bytes
    parent_hash: bytes
    number: int
    miner: bytes
    best_energy: int
    total_work: int
    base_fee: int
    state_root: bytes
    header: bytes
    body: bytes
    one_time_key: tuple[bytes, int] | None = None
    """``(key id, index)`` of the one-time key the block's signature used, if stateful."""


@dataclass(frozen=True)
class OneTimeKeyUse:
    """A stored block that used one-time index ``index`` of the key ``key_id``."""

    key_id: bytes
    index: int
    block_hash: bytes
    number: int


@dataclass(frozen=True)
class MinerStats:
    """A miner's record on the canonical chain."""

    miner: bytes
    blocks_won: int
    best_energy: int | None
    current_streak: int
    last_block: int | None


_BLOCK_COLUMNS = ("hash, parent, number, miner, best_energy, total_work, base_fee, state_root, "
                  "header, body")


def _stored(row: Any) -> StoredBlock:
    return StoredBlock(bytes(row[0]), bytes(row[1]), int(row[2]), bytes(row[3]), int(row[4]),
                       int.from_bytes(row[5], "big"), int.from_bytes(row[6], "big"),
                       bytes(row[7]), bytes(row[8]), bytes(row[9]))


class ChainStore:
    """The node's block database; thread-safe (one connection behind a lock)."""

    def __init__(self, path: str | Path, genesis_id: bytes, *, read_only: bool = False,
                 genesis_raw: bytes | None = None) -> None:
        self.path = str(path)
        self.read_only = read_only
        self._lock = threading.RLock()
        try:
            if read_only:
                if not Path(self.path).is_file():
                    raise StorageError(f"no chain database at {self.path}")
                uri = f"file:{Path(self.path).resolve()}?mode=ro"
                self._conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                                             check_same_thread=False)
            else:
                self._conn = sqlite3.connect(self.path, isolation_level=None,
                                             check_same_thread=False)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=5000")
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path} is not a usable poqw chain database: {exc}") from exc
        try:
            self._check_identity(genesis_id, genesis_raw)
        except sqlite3.Error as exc:
            self._conn.close()
            raise StorageError(f"{self.path} is not a usable poqw chain database: {exc}") from exc
        except StorageError:
            self._conn.close()
            raise

    @classmethod
    def open_read_only(cls, path: str | Path) -> ChainStore:
        """Open for reading whatever genesis the file holds (``chain info`` while a node runs)."""
        return cls(path, b"", read_only=True)

    def _check_identity(self, genesis_id: bytes, genesis_raw: bytes | None) -> None:
        tables = {r[0] for r in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables and not self.read_only:
            with self._write() as conn:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                rows = [("format", _FORMAT), ("schema_version", _u256(SCHEMA_VERSION)),
                        ("genesis_id", bytes(genesis_id))]
                if genesis_raw is not None:  # in the same transaction: a crash leaves both or none
                    rows.append(("genesis", bytes(genesis_raw)))
                conn.executemany("INSERT INTO meta VALUES (?, ?)", rows)
            self.genesis_id = bytes(genesis_id)
            return
        if "meta" not in tables or self.get_meta("format") != _FORMAT:
            raise StorageError(f"{self.path} is not a poqw chain database (foreign tables: "
                               f"{', '.join(sorted(tables)) or 'none'})")
        version = int.from_bytes(self.get_meta("schema_version") or b"", "big")
        if not 1 <= version <= SCHEMA_VERSION:
            raise StorageError(f"{self.path} has schema version {version}; this poqw reads "
                               f"versions 1 to {SCHEMA_VERSION}")
        if version < SCHEMA_VERSION and not self.read_only:
            self._migrate(version, self.get_meta("genesis") or genesis_raw)
        stored = self.get_meta("genesis_id") or b""
        if genesis_id and stored != genesis_id:
            raise StorageError(f"{self.path} belongs to another chain: its genesis id is "
                               f"0x{stored.hex()}, this node's is 0x{bytes(genesis_id).hex()}")
        self.genesis_id = stored

    def _migrate(self, version: int, genesis_raw: bytes | None) -> None:
        """Bring an older schema up to :data:`SCHEMA_VERSION` in one transaction (a crash
        leaves the old version, which migrates again on the next open)."""
        if genesis_raw is None:
            raise StorageError(f"{self.path} has schema version {version} and no stored genesis: "
                               "open it with the genesis it was created with to migrate it")
        limits = load_genesis(genesis_raw).block_limits()
        with self._write() as conn:
            if version < 2:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                rows = conn.execute("SELECT hash, number, body FROM blocks WHERE number > 0")
                uses = []
                for block_hash, number, body in rows:
                    use = _one_time_key_of(bytes(body), limits)
                    if use is not None:
                        uses.append((use[0], use[1], bytes(block_hash), int(number)))
                conn.executemany("INSERT OR IGNORE INTO one_time_keys VALUES (?, ?, ?, ?)", uses)
                reused = conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM one_time_keys "
                                      "GROUP BY key_id, idx HAVING COUNT(*) > 1)").fetchone()[0]
                if reused:
                    log.warning("%s holds %d one-time key indices used by more than one block "
                                "(stored before the reuse rule was enforced); a node syncing "
                                "from scratch refuses the branch that reuses one", self.path,
                                reused)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                         (_u256(SCHEMA_VERSION),))

    # --- writes --------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise StorageError(f"{self.path} is open read-only")
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(f"chain database {self.path} refused a write: {exc}") from exc

    def put_meta(self, name: str, value: bytes) -> None:
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, bytes(value)))

    def store_block(self, block: StoredBlock, canonical_from: int | None = None,
                    canonical_hashes: Sequence[bytes] = (), tip: bytes | None = None) -> None:
        """Write ``block``; when ``tip`` is given also make it the head: the canonical index
        above ``canonical_from - 1`` is replaced by ``canonical_hashes`` (heights
        ``canonical_from, canonical_from + 1, ...``) and miner statistics are refreshed. All of
        it in one transaction."""
        with self._write() as conn:
            conn.execute(f"INSERT OR IGNORE INTO blocks ({_BLOCK_COLUMNS}) VALUES "
                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (block.block_hash, block.parent_hash, block.number, block.miner,
                          block.best_energy, _u256(block.total_work), _u256(block.base_fee),
                          block.state_root, block.header, block.body))
            if block.one_time_key is not None:
                conn.execute("INSERT OR IGNORE INTO one_time_keys VALUES (?, ?, ?, ?)",
                             (bytes(block.one_time_key[0]), int(block.one_time_key[1]),
                              block.block_hash, block.number))
            if tip is None:
                return
            if canonical_from is None:
                raise StorageError("a new tip needs the canonical index from the fork point")
            removed = [bytes(r[0]) for r in conn.execute(
                "SELECT b.miner FROM canonical c JOIN blocks b ON b.hash = c.hash "
                "WHERE c.number >= ?", (canonical_from,))]
            conn.execute("DELETE FROM canonical WHERE number >= ?", (canonical_from,))
            conn.executemany("INSERT INTO canonical VALUES (?, ?)",
                             [(canonical_from + i, h) for i, h in enumerate(canonical_hashes)])
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('tip', ?)", (tip,))
            if not removed and list(canonical_hashes) == [block.block_hash] and block.number > 0:
                self._extend_stats(conn, block)  # the common case: one block on the old tip
                return
            added = {bytes(r[0]) for r in conn.execute(
                "SELECT b.miner FROM canonical c JOIN blocks b ON b.hash = c.hash "
                "WHERE c.number >= ?", (canonical_from,))}
            self._refresh_stats(conn, set(removed) | added, tip)

    def _extend_stats(self, conn: sqlite3.Connection, block: StoredBlock) -> None:
        """Statistics after ``block`` extended the canonical chain by one (O(1))."""
        parent_miner = conn.execute("SELECT miner FROM blocks WHERE hash = ?",
                                    (block.parent_hash,)).fetchone()
        row = conn.execute("SELECT blocks_won, best_energy, current_streak FROM miner_stats "
                           "WHERE miner = ?", (block.miner,)).fetchone()
        won, best, streak = row if row is not None else (0, None, 0)
        continues = parent_miner is not None and bytes(parent_miner[0]) == block.miner
        streak = streak + 1 if continues and streak > 0 else 1
        best = block.best_energy if best is None else min(best, block.best_energy)
        conn.execute("UPDATE miner_stats SET current_streak = 0 WHERE current_streak != 0")
        conn.execute("INSERT OR REPLACE INTO miner_stats VALUES (?, ?, ?, ?, ?)",
                     (block.miner, won + 1, best, streak, block.number))

    def _refresh_stats(self, conn: sqlite3.Connection, miners: set[bytes], tip: bytes) -> None:
        for miner in sorted(miners):
            won, best, last = conn.execute(
                "SELECT COUNT(*), MIN(b.best_energy), MAX(b.number) FROM canonical c "
                "JOIN blocks b ON b.hash = c.hash WHERE b.miner = ? AND c.number > 0",
                (miner,)).fetchone()
            conn.execute("INSERT OR REPLACE INTO miner_stats VALUES (?, ?, ?, 0, ?)",
                         (miner, won, best, last))
        conn.execute("UPDATE miner_stats SET current_streak = 0 WHERE current_streak != 0")
        row = conn.execute("SELECT miner, number FROM blocks WHERE hash = ?", (tip,)).fetchone()
        if row is None or row[1] == 0:
            return
        tip_miner, number = bytes(row[0]), int(row[1])
        streak = 0
        cursor = conn.execute(
            "SELECT b.miner FROM canonical c JOIN blocks b ON b.hash = c.hash "
            "WHERE c.number BETWEEN 1 AND ? ORDER BY c.number DESC", (number,))
        for (miner,) in cursor:
            if bytes(miner) != tip_miner:
                break
            streak += 1
        cursor.close()
        conn.execute("UPDATE miner_stats SET current_streak = ? WHERE miner = ?",
                     (streak, tip_miner))

    # --- reads ---------------------------------------------------------------------------------

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                raise StorageError(f"chain database {self.path} refused a read: {exc}") from exc

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"chain database {self.path} refused a read: {exc}") from exc

    def get_meta(self, name: str) -> bytes | None:
        row = self._one("SELECT value FROM meta WHERE name = ?", (name,))
        return None if row is None else bytes(row[0])

    def tip_hash(self) -> bytes | None:
        return self.get_meta("tip")

    def get(self, block_hash: bytes) -> StoredBlock | None:
        row = self._one(f"SELECT {_BLOCK_COLUMNS} FROM blocks WHERE hash = ?",
                        (bytes(block_hash),))
        return None if row is None else _stored(row)

    def header_bytes(self, block_hash: bytes) -> bytes | None:
        row = self._one("SELECT header FROM blocks WHERE hash = ?", (bytes(block_hash),))
        return None if row is None else bytes(row[0])

    def has(self, block_hash: bytes) -> bool:
        return self._one("SELECT 1 FROM blocks WHERE hash = ?", (bytes(block_hash),)) is not None

    def canonical_hash(self, number: int) -> bytes | None:
        row = self._one("SELECT hash FROM canonical WHERE number = ?", (number,))
        return None if row is None else bytes(row[0])

    def canonical_range(self, start: int, count: int) -> list[bytes]:
        rows = self._all("SELECT hash FROM canonical WHERE number >= ? ORDER BY number LIMIT ?",
                         (start, count))
        return [bytes(r[0]) for r in rows]

    def children(self, block_hash: bytes) -> list[bytes]:
        return [bytes(r[0]) for r in self._all("SELECT hash FROM blocks WHERE parent = ?",
                                               (bytes(block_hash),))]

    def one_time_key_uses(self, key_id: bytes, index: int) -> list[OneTimeKeyUse]:
        """Every stored block (on any branch) whose signature used this one-time key: an
        index lookup, O(log n) plus one row per branch that used it."""
        rows = self._all("SELECT block, number FROM one_time_keys WHERE key_id = ? AND idx = ?",
                         (bytes(key_id), int(index)))
        return [OneTimeKeyUse(bytes(key_id), int(index), bytes(r[0]), int(r[1])) for r in rows]

    def highest_one_time_key_use(self, key_id: bytes) -> OneTimeKeyUse | None:
        """The stored block (any branch) that used the highest index of ``key_id``."""
        row = self._one("SELECT idx, block, number FROM one_time_keys WHERE key_id = ? "
                        "ORDER BY idx DESC LIMIT 1", (bytes(key_id),))
        return None if row is None else OneTimeKeyUse(bytes(key_id), int(row[0]),
                                                      bytes(row[1]), int(row[2]))

    def reused_one_time_keys(self, key_id: bytes) -> list[OneTimeKeyUse]:
        """Every stored block that shares its one-time index of ``key_id`` with another stored
        block (any branches), by index."""
        rows = self._all("SELECT k.idx, k.block, k.number FROM one_time_keys k JOIN ("
                         "SELECT idx FROM one_time_keys WHERE key_id = ? GROUP BY idx "
                         "HAVING COUNT(*) > 1) d ON d.idx = k.idx WHERE k.key_id = ? "
                         "ORDER BY k.idx, k.number", (bytes(key_id), bytes(key_id)))
        return [OneTimeKeyUse(bytes(key_id), int(r[0]), bytes(r[1]), int(r[2])) for r in rows]

    def block_count(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM blocks")[0])

    def miner_stats(self) -> list[MinerStats]:
        rows = self._all("SELECT miner, blocks_won, best_energy, current_streak, last_block "
                         "FROM miner_stats WHERE blocks_won > 0 "
                         "ORDER BY blocks_won DESC, miner")
        return [MinerStats(bytes(r[0]), int(r[1]), r[2], int(r[3]), r[4]) for r in rows]

    def integrity_check(self) -> None:
        """Raise :class:`StorageError` unless SQLite's own integrity check passes."""
        result = self._all("PRAGMA quick_check")
        if [r[0] for r in result] != ["ok"]:
            raise StorageError(f"chain database {self.path} is corrupt: {result[:3]}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _one_time_key_of(body: bytes, limits: BlockLimits) -> tuple[bytes, int] | None:
    """The one-time key a stored block body's signature used (for the migration)."""
    try:
        block = decode_block(body, limits)
    except DecodeError as exc:
        raise StorageError(f"a stored block does not decode during migration: {exc}") from exc
    return one_time_key_use(block.public_key, block.signature)


class StoreView:
    """A read-only :class:`~poqw.chain.ChainView` straight over a store (for tools such as
    ``chain info`` that do not run a node)."""

    def __init__(self, store: ChainStore) -> None:
        self.store = store

    def header(self, block_hash: bytes) -> Header | None:
        raw = self.store.header_bytes(block_hash)
        return None if raw is None else decode_header(raw)

"""EVM state storage: a py-evm ``AtomicDatabaseAPI`` over SQLite.

Every key py-evm writes for state is content-addressed (trie nodes and code, keyed by their
keccak hash), so nodes are never deleted and any state root ever persisted stays readable:
rolling back on a reorg is just reading the parent's root. Writes made inside
:meth:`SqliteStateDB.transaction` reach the file in one SQLite transaction (WAL mode), together
with the per-block records kept next to them, so a crash leaves either a whole block or none.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth.abc import AtomicWriteBatchAPI
from eth.db.backends.base import BaseAtomicDB, BaseDB

from poqw.errors import StorageError

__all__ = ["BlockRecord", "SqliteStateDB"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    block_hash BLOB PRIMARY KEY,
    parent_hash BLOB NOT NULL,
    number INTEGER NOT NULL,
    state_root BLOB NOT NULL,
    receipts BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tx_locations (
    tx_hash BLOB NOT NULL,
    block_hash BLOB NOT NULL,
    tx_index INTEGER NOT NULL,
    PRIMARY KEY (tx_hash, block_hash)
) WITHOUT ROWID;
"""

_DELETED = None  # marker in the pending map for a key deleted inside a transaction
READ_CACHE_BYTES = 32 << 20  # committed values kept in memory (trie nodes, code)


@dataclass(frozen=True)
class BlockRecord:
    """What the execution layer remembers about a stored block.

    ``receipts`` is an opaque encoding owned by :mod:`poqw.execution.receipts`.
    """

    block_hash: bytes
    parent_hash: bytes
    number: int
    state_root: bytes
    receipts: bytes
    tx_hashes: tuple[bytes, ...] = ()


class _WriteBatch(BaseDB, AtomicWriteBatchAPI):
    """The view py-evm writes into during ``atomic_batch``: reads fall through to the DB."""

    def __init__(self, db: SqliteStateDB) -> None:
        self._db = db
        self._writes: dict[bytes, bytes | None] = {}

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._writes:
            value = self._writes[key]
            if value is None:
                raise KeyError(key)
            return value
        return self._db[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._writes[bytes(key)] = bytes(value)

    def __delitem__(self, key: bytes) -> None:
        if key not in self:
            raise KeyError(key)
        self._writes[bytes(key)] = _DELETED

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True


class SqliteStateDB(BaseAtomicDB):
    """Key-value store for py-evm state in one SQLite file (``":memory:"`` for tests).

    Outside :meth:`transaction`, each ``atomic_batch`` is its own SQLite transaction; inside,
    every write is buffered and committed once when the block's context exits without error.
    The last ``cache_bytes`` of committed values read or written are kept in memory (an LRU):
    keys are content-addressed, so a cached value goes stale only if its key is deleted, and
    every delete (a prune) goes through :meth:`_commit`, which drops it from the cache.
    """

    def __init__(self, path: str | Path, cache_bytes: int = READ_CACHE_BYTES) -> None:
        self.path = str(path)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open state database {self.path!r}: {exc}") from exc
        self._lock = threading.RLock()
        self._pending: dict[bytes, bytes | None] | None = None
        self._pending_records: list[BlockRecord] = []
        self._pending_meta: dict[str, bytes] = {}
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = cache_bytes

    # --- DatabaseAPI -------------------------------------------------------------------------

    def __getitem__(self, key: bytes) -> bytes:
        with self._lock:
            if self._pending is not None and key in self._pending:
                value = self._pending[key]
                if value is None:
                    raise KeyError(key)
                return value
            key = bytes(key)
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            row = self._query_one("SELECT value FROM kv WHERE key = ?", (key,))
            if row is None:
                raise KeyError(key)
            value = bytes(row[0])
            self._remember(key, value)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._write({bytes(key): bytes(value)})

    def __delitem__(self, key: bytes) -> None:
        if key not in self:
            raise KeyError(key)
        self._write({bytes(key): _DELETED})

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        batch = _WriteBatch(self)
        yield batch
        self._write(batch._writes)

    # --- block transactions and records --------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Buffer every write (state and records) and commit them in one SQLite transaction."""
        with self._lock:
            if self._pending is not None:
                yield  # nested: the outer transaction commits
                return
            self._pending, self._pending_records, self._pending_meta = {}, [], {}
            try:
                yield
                self._commit(self._pending, self._pending_records, self._pending_meta)
            finally:
                self._pending, self._pending_records, self._pending_meta = None, [], {}

    def put_block_record(self, record: BlockRecord) -> None:
        """Store the record of a block (in the current transaction, if any)."""
        with self._lock:
            if self._pending is not None:
                self._pending_records.append(record)
            else:
                self._commit({}, [record], {})

    def get_block_record(self, block_hash: bytes) -> BlockRecord | None:
        with self._lock:
            for record in reversed(self._pending_records):
                if record.block_hash == block_hash:
                    return record
            row = self._query_one(
                "SELECT parent_hash, number, state_root, receipts FROM blocks WHERE block_hash = ?",
                (bytes(block_hash),),
            )
            if row is None:
                return None
            hashes = self._query_all(
                "SELECT tx_hash FROM tx_locations WHERE block_hash = ? ORDER BY tx_index",
                (bytes(block_hash),),
            )
        return BlockRecord(
            bytes(block_hash),
            bytes(row[0]),
            int(row[1]),
            bytes(row[2]),
            bytes(row[3]),
            tuple(bytes(h[0]) for h in hashes),
        )

    def find_transaction(self, tx_hash: bytes) -> list[tuple[bytes, int]]:
        """Every stored ``(block_hash, index)`` holding ``tx_hash`` (several across forks)."""
        with self._lock:
            rows = self._query_all(
                "SELECT block_hash, tx_index FROM tx_locations WHERE tx_hash = ?",
                (bytes(tx_hash),),
            )
        return [(bytes(r[0]), int(r[1])) for r in rows]

    def get_meta(self, name: str) -> bytes | None:
        with self._lock:
            if name in self._pending_meta:
                return self._pending_meta[name]
            row = self._query_one("SELECT value FROM meta WHERE name = ?", (name,))
        return None if row is None else bytes(row[0])

    def put_meta(self, name: str, value: bytes) -> None:
        with self._lock:
            if self._pending is not None:
                self._pending_meta[name] = bytes(value)
            else:
                self._commit({}, [], {name: bytes(value)})

    def delete_all_except(self, keep: set[bytes]) -> int:
        """Delete every state key not in ``keep`` (one transaction); return how many went."""
        with self._lock:
            if self._pending is not None:
                raise StorageError("cannot prune inside a block transaction")
            rows = self._query_all("SELECT key FROM kv", ())
            doomed = [bytes(r[0]) for r in rows if bytes(r[0]) not in keep]
            self._commit(dict.fromkeys(doomed), [], {})
        return len(doomed)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- internals -----------------------------------------------------------------------------

    def _write(self, writes: dict[bytes, bytes | None]) -> None:
        with self._lock:
            if self._pending is not None:
                self._pending.update(writes)
            elif writes:
                self._commit(writes, [], {})

    def _commit(
        self,
        writes: dict[bytes, bytes | None],
        records: list[BlockRecord],
        meta: dict[str, bytes],
    ) -> None:
        puts = [(k, v) for k, v in writes.items() if v is not None]
        deletes = [(k,) for k, v in writes.items() if v is None]
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", puts)
                conn.executemany("DELETE FROM kv WHERE key = ?", deletes)
                conn.executemany(
                    "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", meta.items()
                )
                for r in records:
                    conn.execute(
                        "INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, ?, ?)",
                        (r.block_hash, r.parent_hash, r.number, r.state_root, r.receipts),
                    )
                    conn.executemany(
                        "INSERT OR REPLACE INTO tx_locations VALUES (?, ?, ?)",
                        [(h, r.block_hash, i) for i, h in enumerate(r.tx_hashes)],
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"state database {self.path!r} refused a write: {exc}") from exc
        for (key,) in deletes:  # only once the commit stands: a failed one changed nothing
            self._forget(key)
        for key, value in puts:
            self._remember(key, value)

    def _remember(self, key: bytes, value: bytes) -> None:
        """Keep ``key``'s committed value in the LRU (caller holds the lock)."""
        self._forget(key)
        cache = self._cache
        cache[key] = value
        self._cache_bytes += len(key) + len(value)
        while self._cache_bytes > self._cache_limit and cache:
            old_key, old_value = cache.popitem(last=False)
            self._cache_bytes -= len(old_key) + len(old_value)

    def _forget(self, key: bytes) -> None:
        value = self._cache.pop(key, None)
        if value is not None:
            self._cache_bytes -= len(key) + len(value)

    def _query_one(self, sql: str, params: tuple[Any, ...]) -> Any:
        try:
            return self._conn.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise StorageError(f"state database {self.path!r} refused a read: {exc}") from exc

    def _query_all(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"state database {self.path!r} refused a read: {exc}") from exc

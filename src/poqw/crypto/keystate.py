"""Crash-safe state of a stateful (one-time-key) signing key: the next unused index.

``IndexCounter.reserve`` takes an exclusive lock, reads the state file, and durably writes
``next_index + 1`` (temp file, fsync, rename, fsync of the directory) before it returns the
index, so a signature can only be made with an index that is already marked used on disk. A
crash or ``kill -9`` at any moment therefore skips indices at worst and never repeats one.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from poqw.errors import KeyExhausted, KeyStoreError

__all__ = ["MAX_STATE_FILE_BYTES", "IndexCounter", "write_file_durably"]

MAX_STATE_FILE_BYTES = 4096
_FORMAT = "poqw-key-state"
_VERSION = 1


def write_file_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically: temp file, fsync, rename over, fsync the directory."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class IndexCounter:
    """The persisted next one-time index of the key ``key_id``, in a JSON file."""

    def __init__(self, path: Path | str, key_id: bytes, capacity: int) -> None:
        self.path = Path(path)
        self.key_id = key_id
        self.capacity = capacity

    @classmethod
    def create(cls, path: Path | str, key_id: bytes, capacity: int) -> IndexCounter:
        """Start a fresh counter at 0; refuses to overwrite an existing state file."""
        counter = cls(path, key_id, capacity)
        if counter.path.exists():
            raise KeyStoreError(f"state file {counter.path} already exists; not overwriting it")
        counter._write(0)
        return counter

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _write(self, next_index: int) -> None:
        doc = {
            "format": _FORMAT,
            "version": _VERSION,
            "key_id": self.key_id.hex(),
            "capacity": self.capacity,
            "next_index": next_index,
        }
        write_file_durably(self.path, json.dumps(doc, sort_keys=True).encode() + b"\n")

    def _read(self) -> int:
        try:
            with open(self.path, "rb") as f:
                raw = f.read(MAX_STATE_FILE_BYTES + 1)
        except FileNotFoundError:
            raise KeyStoreError(
                f"state file {self.path} is missing: refusing to sign, since one-time keys "
                "could be reused; restore it from a backup that is not older than the last use"
            ) from None
        except OSError as exc:
            raise KeyStoreError(f"cannot read state file {self.path}: {exc}") from exc
        if len(raw) > MAX_STATE_FILE_BYTES:
            raise KeyStoreError(f"state file {self.path} exceeds {MAX_STATE_FILE_BYTES} bytes")
        try:
            doc: Any = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise KeyStoreError(f"state file {self.path} is not valid JSON") from exc
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise KeyStoreError(f"{self.path} is not a poqw key state file")
        if doc.get("version") != _VERSION:
            raise KeyStoreError(
                f"state file {self.path} has unsupported version {doc.get('version')}"
            )
        if doc.get("key_id") != self.key_id.hex():
            raise KeyStoreError(f"state file {self.path} belongs to a different key")
        next_index = doc.get("next_index")
        if doc.get("capacity") != self.capacity or not isinstance(next_index, int):
            raise KeyStoreError(f"state file {self.path} is corrupt (capacity or index)")
        if isinstance(next_index, bool) or not 0 <= next_index <= self.capacity:
            raise KeyStoreError(f"state file {self.path} has index {next_index} out of range")
        return next_index

    def next_index(self) -> int:
        """The next index ``reserve`` would return (for display; not a reservation)."""
        with self._locked():
            return self._read()

    def remaining(self) -> int:
        return self.capacity - self.next_index()

    def reserve(self) -> int:
        """Mark the next index used on disk, durably, then return it."""
        with self._locked():
            index = self._read()
            if index >= self.capacity:
                raise KeyExhausted(
                    f"all {self.capacity} one-time keys have been used ({index} used, 0 left); "
                    "generate a new key"
                )
            self._write(index + 1)
            return index

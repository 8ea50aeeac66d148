"""Pruning: find every database key reachable from the state roots worth keeping.

A state root reaches the account trie's nodes; each account leaf reaches its storage trie and
its code (by hash). Anything else in the key-value table belongs only to states the node has
given up (old forks, blocks past the reorg horizon) and may be deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3

from poqw.errors import StorageError

__all__ = ["reachable_keys"]

_ACCOUNT, _STORAGE = 0, 1


class _KeyValue(Protocol):
    def __getitem__(self, key: bytes) -> bytes: ...


def reachable_keys(db: _KeyValue, roots: Iterable[bytes]) -> set[bytes]:
    """Every trie node and code hash reachable from ``roots`` (raises if one is missing)."""
    seen: set[bytes] = set()
    stack: list[tuple[bytes, int]] = [(bytes(root), _ACCOUNT) for root in roots]
    while stack:
        key, kind = stack.pop()
        if key == BLANK_ROOT_HASH or key in seen:
            continue
        try:
            encoded = db[key]
        except KeyError:
            raise StorageError(f"trie node {key.hex()} is missing: the state is damaged") from None
        seen.add(key)
        _visit(rlp.decode(encoded), kind, stack, seen)
    return seen


def _visit(node: Any, kind: int, stack: list[tuple[bytes, int]], seen: set[bytes]) -> None:
    if len(node) == 17:  # branch: 16 children and a value slot
        for child in node[:16]:
            _follow(child, kind, stack, seen)
        if node[16] and kind == _ACCOUNT:
            _account(node[16], stack, seen)
    elif len(node) == 2:  # leaf or extension, told apart by the hex-prefix flag
        is_leaf = bool(node[0][0] & 0x20) if node[0] else False
        if not is_leaf:
            _follow(node[1], kind, stack, seen)
        elif kind == _ACCOUNT:
            _account(node[1], stack, seen)
    else:
        raise StorageError(f"malformed trie node with {len(node)} items")


def _follow(child: Any, kind: int, stack: list[tuple[bytes, int]], seen: set[bytes]) -> None:
    if isinstance(child, list):  # a node under 32 bytes is embedded in its parent
        _visit(child, kind, stack, seen)
    elif len(child) == 32:
        stack.append((bytes(child), kind))


def _account(encoded: bytes, stack: list[tuple[bytes, int]], seen: set[bytes]) -> None:
    _nonce, _balance, storage_root, code_hash = rlp.decode(encoded)
    stack.append((bytes(storage_root), _STORAGE))
    if code_hash != EMPTY_SHA3:
        seen.add(bytes(code_hash))

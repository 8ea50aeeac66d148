"""The head a submitted transaction is checked against, looked up once per head instead of per call.

Admission needs the tip, the next block's environment (its base fee and gas limit: functions of
the parent alone) and the tip's state root; reading them costs a few SQLite reads and a header
hash on every ``eth_sendRawTransaction``. :class:`AdmissionHead` keeps them until the head
moves: the node calls :meth:`AdmissionHead.head_changed` first thing in its new-head listener,
and a lookup that raced with a head change is never kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from poqw.execution import BlockEnv
from poqw.node.blockchain import Blockchain

__all__ = ["AdmissionHead", "HeadContext"]


@dataclass(frozen=True)
class HeadContext:
    """What a transaction is admitted against: the tip, its state root and the next block's
    environment (the timestamp is the time of the lookup; admission reads only the base fee and
    gas limit)."""

    block_hash: bytes
    number: int
    state_root: bytes
    env: BlockEnv


class AdmissionHead:
    """The current :class:`HeadContext` of ``chain``, remembered until :meth:`head_changed`."""

    def __init__(self, chain: Blockchain, now: Callable[[], int]) -> None:
        self._chain = chain
        self._now = now
        self._lock = threading.Lock()
        self._current: HeadContext | None = None
        self._generation = 0  # head changes seen: a lookup older than the last one is not kept

    def current(self) -> HeadContext:
        """The tip's context, from memory unless the head moved since it was looked up."""
        with self._lock:
            found, generation = self._current, self._generation
        if found is not None:
            return found
        tip = self._chain.tip_header()
        block_hash = bytes(tip.hash())
        context = HeadContext(block_hash, int(tip.number), self._chain.state_root(block_hash),
                              self._chain.block_env(tip, self._now(), bytes(20)))
        with self._lock:
            if self._generation == generation:
                self._current = context
        return context

    def head_changed(self) -> None:
        """Forget the context: the next :meth:`current` reads the new tip."""
        with self._lock:
            self._current = None
            self._generation += 1

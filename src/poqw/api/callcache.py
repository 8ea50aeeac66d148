"""Results of read-only calls, remembered by the block they ran on and the exact message.

An ``eth_call`` is a pure function of the block it runs at (its hash fixes the state root and
the whole call environment: number, timestamp, coinbase, base fee, ancestor hashes) and of the
message the EVM executes (to, data, from, value, gas). :class:`CallResults` keys each successful
output by exactly that, so an entry can never answer for another state: a new head or a reorg
asks under another block hash. Failures are not kept (a timeout depends on the machine's load).
The cache is an LRU bounded in entries and in bytes of output.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["CallKey", "CallResults"]

CallKey = tuple[bytes, bytes | None, bytes, bytes | None, int, int]
"""(block hash, to (None: a creation), data, from (None: the zero address), value, gas)."""


class CallResults:
    """Call outputs by :data:`CallKey`; at most ``max_entries`` and ``max_bytes`` of output
    (an output over ``max_bytes // 64`` is not kept); thread-safe."""

    def __init__(self, max_entries: int = 8192, max_bytes: int = 16 << 20) -> None:
        self._outputs: OrderedDict[CallKey, bytes] = OrderedDict()
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._outputs)

    def get(self, key: CallKey) -> bytes | None:
        with self._lock:
            output = self._outputs.get(key)
            if output is None:
                self.misses += 1
                return None
            self._outputs.move_to_end(key)
            self.hits += 1
            return output

    def put(self, key: CallKey, output: bytes) -> None:
        size = len(output) + len(key[2])
        if size > self._max_bytes // 64:
            return
        with self._lock:
            old = self._outputs.pop(key, None)
            if old is not None:
                self._bytes -= len(old) + len(key[2])
            self._outputs[key] = output
            self._bytes += size
            while len(self._outputs) > self._max_entries or self._bytes > self._max_bytes:
                old_key, old_output = self._outputs.popitem(last=False)
                self._bytes -= len(old_output) + len(old_key[2])

"""SIGTERM and SIGINT as a stop request, the way service managers and terminals expect.

The first signal asks the command to stop cleanly (for a node: stop mining after the current
attempt, finish or roll back the current database write, close the databases, exit 0); a
signal that arrives before the command is ready to stop is remembered and honoured as soon as
it is. A second signal exits at once with status 128 + its number, without waiting: SQLite
rolls back an unfinished transaction when the database is next opened, and the one-time key
state is reserved on disk before each signature, so nothing stored is corrupted.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, NoReturn

__all__ = ["STOP_SIGNALS", "StopSignals"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _exit_now(status: int) -> NoReturn:
    os._exit(status)


class StopSignals:
    """Install on entry (main thread only), restore the previous handlers on exit.

    :meth:`on_stop` registers what the first signal does; callbacks run inside the signal
    handler, so they must only hand the request on (``loop.call_soon_threadsafe``,
    ``Event.set``), never block or log.
    """

    def __init__(self, exit_now: Callable[[int], NoReturn] = _exit_now) -> None:
        self.received: int | None = None
        """The first stop signal's number, once one arrived."""
        self._exit_now = exit_now
        self._callbacks: list[Callable[[], None]] = []
        self._previous: dict[int, Any] = {}

    @property
    def name(self) -> str:
        """The first signal's name (``SIGTERM``), or empty."""
        return "" if self.received is None else signal.Signals(self.received).name

    def __enter__(self) -> StopSignals:
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the first signal (at once if it already came)."""
        self._callbacks.append(callback)
        if self.received is not None:
            callback()

    def forget(self, callback: Callable[[], None]) -> None:
        """No longer call ``callback`` (its owner is gone)."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            # os.write, not print or logging: this may interrupt a write to the same stream
            os.write(2, f"{name} again: exiting at once (status {128 + signum})\n".encode())
            self._exit_now(128 + signum)
        self.received = signum
        for callback in list(self._callbacks):
            callback()

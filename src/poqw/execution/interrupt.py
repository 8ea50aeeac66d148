"""Read-only calls that stop when asked: a call's ``should_stop`` is asked every
:data:`STOP_CHECK_EVERY` opcodes (e.g. past a deadline), and True aborts the call.

py-evm looks up every opcode in its computation class's ``opcodes`` table; :func:`interruptible`
makes, once per computation class, a subclass whose table counts the lookups and asks the stop
check of the call running in this thread (set by :func:`stoppable`; py-evm runs a call and all
its sub-calls in the caller's thread).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from eth.exceptions import VMError

__all__ = ["CALL_INTERRUPTED", "STOP_CHECK_EVERY", "CallInterrupted", "StopCheck",
           "interruptible", "stoppable"]

StopCheck = Callable[[], bool]
"""Asked every :data:`STOP_CHECK_EVERY` opcodes of a read-only call: True aborts it."""
CALL_INTERRUPTED = "execution aborted: the call was stopped before it finished"
STOP_CHECK_EVERY = 1024


class CallInterrupted(VMError):
    """Raised inside py-evm when a read-only call's ``should_stop`` says so."""


class _StopCheck(threading.local):
    """The ``should_stop`` of the read-only call running in this thread, and its opcode count
    (py-evm runs a call and all its sub-calls in the caller's thread)."""

    should_stop: StopCheck | None = None
    count: int = 0


_RUNNING = _StopCheck()


class _CheckedOpcodes(dict[int, Any]):
    """py-evm's opcode table that asks the running call's ``should_stop`` every few lookups
    (one lookup per opcode)."""

    def __getitem__(self, opcode: int) -> Any:
        running = _RUNNING
        running.count += 1
        if running.count % STOP_CHECK_EVERY == 0:
            should_stop = running.should_stop
            if should_stop is not None and should_stop():
                raise CallInterrupted(CALL_INTERRUPTED)
        return super().__getitem__(opcode)


_INTERRUPTIBLE: dict[Any, Any] = {}


def interruptible(computation_class: Any) -> Any:
    """A subclass of ``computation_class`` whose opcode lookups ask the running call's
    ``should_stop`` (made once per class: building a class costs as much as a small call)."""
    made = _INTERRUPTIBLE.get(computation_class)
    if made is None:
        made = type("InterruptibleComputation", (computation_class,),
                    {"opcodes": _CheckedOpcodes(computation_class.opcodes)})
        _INTERRUPTIBLE[computation_class] = made
    return made


@contextlib.contextmanager
def stoppable(should_stop: StopCheck | None) -> Iterator[None]:
    """Run the block with ``should_stop`` as this thread's stop check."""
    previous = _RUNNING.should_stop, _RUNNING.count
    _RUNNING.should_stop, _RUNNING.count = should_stop, 0
    try:
        yield
    finally:
        _RUNNING.should_stop, _RUNNING.count = previous

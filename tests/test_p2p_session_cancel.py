"""A session task waiting in ``next_event`` must stop when it is cancelled, whatever else
happens in the same loop iterations.

On Python 3.11, ``asyncio.wait_for`` returns the inner result and drops the cancel when both
land in one step (the event arrives just as the task is cancelled). The network's per-peer loop
then went on reading events, and ``NetworkService.close()`` waited forever for it
(tests/test_network_supervision.py hung now and then). ``next_event`` now uses
``asyncio.timeout``, which keeps every cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from poqw.p2p import events as ev
from poqw.p2p.quic import PeerSession


async def _read_forever(session: PeerSession) -> None:
    while True:
        try:
            await session.next_event(timeout=5.0)
        except TimeoutError:
            continue


def _later(loop: asyncio.AbstractEventLoop, depth: int, fn: Callable[[], object]) -> None:
    """``fn`` after ``depth`` more turns of the loop."""
    if depth == 0:
        fn()
    else:
        loop.call_soon(_later, loop, depth - 1, fn)


@pytest.mark.parametrize("depth", range(6))
def test_a_cancel_is_kept_when_an_event_arrives_at_the_same_time(depth: int) -> None:
    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        session = PeerSession.__new__(PeerSession)
        session._events = asyncio.Queue()  # all that next_event uses
        task = asyncio.ensure_future(_read_forever(session))
        await asyncio.sleep(0.01)  # the task now waits for an event
        session._events.put_nowait(ev.ConnectionClosed(0, "test", by_peer=True))
        _later(loop, depth, task.cancel)
        done, _ = await asyncio.wait({task}, timeout=1.0)
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
        return bool(done)

    assert asyncio.run(scenario()), f"the cancel {depth} turns after the event was lost"

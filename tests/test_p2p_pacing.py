"""The request budget toward a peer: the sync defers what its budget cannot pay without backing
the peer off, fetches leave the sync a reserve, status requests are paced (explicit time)."""

from __future__ import annotations

import pytest

from poqw.p2p import BlocksRequested, StatusRequested
from poqw.p2p.pacing import RequestPacing
from poqw.p2p.sync import RequestBlocks, RequestHeaders, SyncManager
from test_p2p_peer import Link, joined
from test_p2p_sync import chain, work_at


def test_a_deferred_sync_request_is_planned_again_without_backing_the_peer_off() -> None:
    full = chain(20)
    sync = SyncManager(0, 100, [full[0]], batch_size=8)
    sync.peer_tip("ahead", 19, 2000)
    [ask_headers] = sync.poll(0.0)
    assert isinstance(ask_headers, RequestHeaders)
    sync.request_deferred(ask_headers)  # the node had no budget left to send it
    assert sync.backed_off(0.0) == []
    assert sync.poll(0.0) == [ask_headers]  # asked again at once, of the same peer
    headers = [(h, full[h]) for h in range(1, 20)]
    sync.headers_received("ahead", headers, 0.0, work_at(headers))
    asked = sync.poll(0.0)
    assert [type(a) for a in asked] == [RequestBlocks] * 2
    for action in asked:
        sync.request_deferred(action)
    assert sync.sizes()["in_flight"] == 0 and sync.backed_off(0.0) == []
    assert sync.poll(0.0) == asked
    # a refusal by the peer is its failure, and still backs it off
    sync.blocks_failed("ahead", asked[0].hashes, 0.0)  # type: ignore[union-attr]
    assert sync.backed_off(0.0) == ["ahead"]


def answer_all(link: Link, now: float) -> None:
    """The peer answers every request (an empty block list, its status)."""
    _, asked = link.pump(now)
    for event in asked:
        if isinstance(event, BlocksRequested):
            link.b.respond_blocks(event.request_id, ())
        elif isinstance(event, StatusRequested):
            link.b.respond_status(event.request_id, 1)
    link.pump(now)
    assert link.a.outstanding_requests == 0


def test_fetches_leave_the_sync_its_reserve_and_status_requests_are_paced() -> None:
    link = joined()
    peer = link.a
    pacing = RequestPacing(reserve=0.5, status_interval=0.5)
    assert not pacing.ask_owed(peer, 0.0)  # nothing owed yet
    assert pacing.ask_status(peer, 0.0)
    assert not pacing.ask_status(peer, 0.1)  # asked 0.1 s ago: owed instead
    assert not pacing.ask_owed(peer, 0.3)  # not due yet
    assert pacing.ask_owed(peer, 0.5) and not pacing.ask_owed(peer, 1.5)  # asked, once
    answer_all(link, 0.5)
    now = 1.0  # the status request is due again from here on
    fetched = 0
    while pacing.may_fetch(peer, now):
        peer.request_blocks(now, hashes=(bytes(32),))
        fetched += 1
    answer_all(link, now)  # only the budget limits what follows, not the outstanding cap
    assert fetched > 0 and peer.can_request(now)  # the reserve is left for the sync
    sync_requests = 0
    while peer.can_request(now):
        peer.request_blocks(now, start=1, count=8)
        sync_requests += 1
    assert sync_requests >= fetched  # the half of the burst kept for the sync
    assert not pacing.ask_status(peer, now)  # due, but no budget is left to ask with
    assert pacing.may_fetch(peer, 10.0) and pacing.ask_status(peer, 10.0)  # refilled


def test_pacing_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="reserve"):
        RequestPacing(reserve=1.0)
    with pytest.raises(ValueError, match="status interval"):
        RequestPacing(status_interval=-1)

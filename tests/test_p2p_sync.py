"""SyncManager against fake peers holding known chains, with explicit time."""

from __future__ import annotations

from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.p2p import (
    BlocksReceived,
    BlocksRequested,
    ChainTip,
    ConnectionState,
    HeadersReceived,
    HeadersRequested,
    LocalNode,
    PeerConnection,
    Role,
    TipAnnounced,
)
from poqw.p2p.sync import (
    RequestBlocks,
    RequestHeaders,
    SyncManager,
    block_locator,
    find_fork_point,
)


def chain(length: int, branch: bytes = b"main", fork_at: int | None = None,
          base: list[bytes] | None = None) -> list[bytes]:
    """Block hashes for heights 0..length-1; a branch shares ``base`` up to ``fork_at``."""
    hashes = list(base[: fork_at + 1]) if base is not None and fork_at is not None else []
    for h in range(len(hashes), length):
        hashes.append(hash32(b"test/block", branch, h.to_bytes(8, "big")))
    return hashes


def work_at(headers: list[tuple[int, bytes]]) -> int:
    """Cumulative work at the last header: every block is worth 100 here."""
    return 100 * (headers[-1][0] + 1) if headers else 0


class FakePeer:
    """A peer that serves headers after a locator and blocks by hash from its own chain."""

    def __init__(self, hashes: list[bytes], *, silent: bool = False, short: bool = False) -> None:
        self.hashes = hashes
        self.silent = silent
        self.short = short
        self.block_requests: list[tuple[bytes, ...]] = []
        self.header_requests: list[tuple[bytes, ...]] = []

    @property
    def height(self) -> int:
        return len(self.hashes) - 1

    @property
    def work(self) -> int:
        return 100 * len(self.hashes)

    def headers_after(self, locator: tuple[bytes, ...], count: int) -> list[tuple[int, bytes]]:
        start = 0
        for h in locator:
            if h in self.hashes:
                start = self.hashes.index(h) + 1
                break
        return [(i, self.hashes[i]) for i in range(start, min(len(self.hashes), start + count))]

    def blocks(self, wanted: tuple[bytes, ...]) -> dict[bytes, bytes]:
        have = [h for h in wanted if h in self.hashes]
        if self.short:
            have = have[: len(have) // 2]
        return {h: b"body:" + h for h in have}


class Node:
    """The node side: applies ready blocks in order and drives the manager."""

    def __init__(self, hashes: list[bytes], peers: dict[str, FakePeer], **options: int
                 ) -> None:
        self.hashes = list(hashes)
        self.peers = peers
        self.sync = SyncManager(self.height, self.work, self.locator(), **options)
        for key, peer in peers.items():
            self.sync.peer_tip(key, peer.height, peer.work)
        self.applied: list[int] = []

    @property
    def height(self) -> int:
        return len(self.hashes) - 1

    @property
    def work(self) -> int:
        return 100 * len(self.hashes)

    def locator(self) -> list[bytes]:
        # Dense near the tip, then sparse: the usual block locator.
        heights, step, h = [], 1, self.height
        while h > 0:
            heights.append(h)
            if len(heights) >= 8:
                step *= 2
            h -= step
        return [self.hashes[i] for i in heights] + [self.hashes[0]]

    def step(self, now: float) -> list[RequestHeaders | RequestBlocks]:
        actions = self.sync.poll(now)
        for action in actions:
            peer = self.peers[str(action.peer)]
            if isinstance(action, RequestHeaders):
                peer.header_requests.append(action.locator)
                if not peer.silent:
                    got = peer.headers_after(action.locator, action.max_count)
                    self.sync.headers_received(action.peer, got, now, work_at(got))
            else:
                peer.block_requests.append(action.hashes)
                if not peer.silent:
                    self.sync.blocks_received(action.peer, action.hashes,
                                              peer.blocks(action.hashes), now)
        for height, block_hash, block in self.sync.take_ready():
            assert block == b"body:" + block_hash
            del self.hashes[height:]
            assert len(self.hashes) == height, "blocks must arrive in height order"
            self.hashes.append(block_hash)
            self.applied.append(height)
        self.sync.set_local(self.height, self.work, self.locator())
        return actions

    def run(self, steps: int = 200, dt: float = 1.0) -> None:
        now = 0.0
        for _ in range(steps):
            self.step(now)
            now += dt


def test_catches_up_with_one_peer_in_order() -> None:
    full = chain(61)
    peer = FakePeer(full)
    node = Node(full[:11], {"p": peer}, batch_size=8, headers_per_request=20)
    node.run(50)
    assert node.hashes == full
    assert node.applied == list(range(11, 61))
    # Headers came in batches of 20, each continuing from the last header received.
    assert peer.header_requests[0][0] == full[10]
    assert [loc[0] for loc in peer.header_requests[1:3]] == [full[30], full[50]]
    assert not node.sync.is_syncing


def test_headers_come_from_the_peer_with_most_work() -> None:
    full = chain(40)
    weak, strong = FakePeer(full[:30]), FakePeer(full)
    node = Node(full[:10], {"weak": weak, "strong": strong})
    first = node.sync.poll(0.0)
    assert [type(a) for a in first] == [RequestHeaders]
    assert first[0].peer == "strong"


def test_bodies_download_in_parallel_without_duplicates() -> None:
    full = chain(101)
    peers = {name: FakePeer(full, silent=True) for name in "abc"}
    node = Node(full[:1], peers, batch_size=8, max_in_flight_per_peer=2)
    # Answer the headers by hand, then look at the block plan.
    (req,) = node.sync.poll(0.0)
    assert isinstance(req, RequestHeaders)
    got = peers[str(req.peer)].headers_after(req.locator, 2000)
    node.sync.headers_received(req.peer, got, 0.0, work_at(got))
    plan = [a for a in node.sync.poll(0.0) if isinstance(a, RequestBlocks)]
    assert {a.peer for a in plan} == {"a", "b", "c"}
    assert len(plan) == 6  # two batches in flight per peer
    asked = [h for a in plan for h in a.hashes]
    assert len(asked) == len(set(asked)) == 48
    assert asked == full[1:49]  # lowest heights first


def test_silent_peer_batch_is_reassigned_after_timeout() -> None:
    full = chain(81)
    slow = FakePeer(full, silent=True)
    good = FakePeer(full)
    node = Node(full[:1], {"slow": slow, "good": good}, batch_size=10, max_in_flight_per_peer=1)
    node.run(steps=100, dt=2.0)
    assert node.hashes == full
    assert slow.block_requests, "the slow peer was given work"
    stuck = slow.block_requests[0]
    assert stuck in good.block_requests or set(stuck) <= {h for r in good.block_requests
                                                          for h in r}


def test_short_answers_are_completed_elsewhere() -> None:
    full = chain(41)
    node = Node(full[:1], {"half": FakePeer(full, short=True), "whole": FakePeer(full)},
                batch_size=10)
    node.run(60)
    assert node.hashes == full
    assert node.applied == list(range(1, 41))


def test_switches_to_a_heavier_fork_from_the_fork_point() -> None:
    ours = chain(21, branch=b"ours")
    theirs = chain(31, branch=b"theirs", fork_at=15, base=ours)
    assert theirs[15] == ours[15] and theirs[16] != ours[16]
    peer = FakePeer(theirs)
    node = Node(ours, {"p": peer}, batch_size=4)
    node.run(40)
    assert node.hashes == theirs
    assert node.applied[0] == 16  # blocks handed over from just above the fork point


def test_no_peer_ahead_means_no_requests() -> None:
    full = chain(30)
    node = Node(full, {"same": FakePeer(full), "behind": FakePeer(full[:20])})
    assert node.sync.poll(0.0) == []
    assert not node.sync.is_syncing


class Liar(FakePeer):
    """Claims far more work than it has and answers every header request with nothing."""

    @property
    def work(self) -> int:
        return 10**12

    @property
    def height(self) -> int:
        return 10**6

    def headers_after(self, locator: tuple[bytes, ...], count: int) -> list[tuple[int, bytes]]:
        return []


def test_an_empty_answer_to_a_big_claim_neither_ends_sync_nor_raises_the_target() -> None:
    # issue 10: the liar's empty HEADERS ended the header phase at the liar's claimed work, so
    # the honest peer (claiming less) was never asked and the node stayed at its height
    full = chain(108)
    liar, honest = Liar(full[:1]), FakePeer(full)
    node = Node(full[:1], {"liar": liar, "honest": honest}, batch_size=8)
    unbacked = []
    (first,) = node.sync.poll(0.0)
    assert first.peer == "liar"  # the claim picks whom to ask first, nothing more
    assert isinstance(first, RequestHeaders)
    unbacked.append(node.sync.headers_received("liar", [], 0.0, 0))
    node.run(60)
    assert unbacked == [False]
    assert node.hashes == full
    # the liar is asked again only after a back-off that doubles: not once a tick
    assert len(liar.header_requests) <= 4, len(liar.header_requests)


def test_a_short_chain_under_a_big_claim_is_unbacked_and_backed_off() -> None:
    full = chain(40)

    class Inflated(FakePeer):
        @property
        def work(self) -> int:
            return 10**9  # its headers prove 100 per block, 4000 in all

    inflated = Inflated(full)
    sync = SyncManager(0, 100, [full[0]], headers_per_request=100, backoff=5.0)
    sync.peer_tip("p", inflated.height, inflated.work)
    (req,) = sync.poll(0.0)
    got = inflated.headers_after(req.locator, req.max_count)
    assert sync.headers_received("p", got, 0.0, work_at(got)) is False
    # the proven headers are still fetched, but the peer is not asked for headers for 5 s
    assert all(isinstance(a, RequestBlocks) for a in sync.poll(1.0))
    sync.peer_tip("p", inflated.height, inflated.work)  # it repeats the claim
    assert not any(isinstance(a, RequestHeaders) for a in sync.poll(4.0))
    assert [a.peer for a in sync.poll(5.0) if isinstance(a, RequestHeaders)] == ["p"]
    assert sync.headers_received("p", [], 5.0, 0) is False
    # the back-off doubled (10 s) and a reconnect does not reset it
    sync.remove_peer("p")
    sync.peer_tip("p", inflated.height, inflated.work)
    assert not any(isinstance(a, RequestHeaders) for a in sync.poll(14.0))
    assert any(isinstance(a, RequestHeaders) for a in sync.poll(15.0))


def test_every_structure_stays_bounded_however_long_the_chain() -> None:
    full = chain(3000)
    peer = FakePeer(full, silent=True)  # never answers bodies: nothing drains
    sync = SyncManager(0, 100, [full[0]], batch_size=8, headers_per_request=100,
                       max_pending_blocks=250, max_in_flight_per_peer=2, max_peers=4,
                       remembered_peers=3)
    for i in range(10):
        sync.peer_tip(f"extra{i}", 5, 500)
    sync.peer_tip("p", peer.height, peer.work)  # one over the limit: ignored
    assert sync.sizes()["peers"] == 4
    for i in range(10):
        sync.remove_peer(f"extra{i}")
    liars = [f"x{i}" for i in range(10)]
    most = 0
    now = 0.0
    for _ in range(200):
        sync.peer_tip("p", peer.height, peer.work)
        for key in liars:  # ten liars take turns in the three places left, each reconnecting
            sync.peer_tip(key, 5, 10**9)
        for action in sync.poll(now):
            if isinstance(action, RequestHeaders) and action.peer == "p":
                got = peer.headers_after(action.locator, action.max_count)
                sync.headers_received("p", got, now, work_at(got))
            elif isinstance(action, RequestHeaders):
                assert not sync.headers_received(action.peer, [], now, 0)
        sizes = sync.sizes()
        most = max(most, sizes["headers"])
        assert sizes["headers"] <= sync.max_headers == 350
        assert sizes["batches"] <= sizes["headers"]  # batches never share or lose heights
        assert sizes["header_requests"] <= 1 and sizes["blocks"] <= sizes["headers"]
        assert sizes["in_flight"] <= 2 * sizes["peers"] and sizes["peers"] <= 4
        assert sizes["remembered_peers"] <= 3
        for key in liars:
            sync.remove_peer(key)
        now += 1.0
    assert most >= 250  # the header limit was reached, and held


# ---------------------------------------------------------------- over real peer connections


def test_sync_driven_through_peer_connections() -> None:
    """The node-side glue: SyncManager actions become requests, answers come back as events."""
    genesis = hash32(b"test/genesis", b"sync")
    full = chain(50)
    ahead = FakePeer(full)
    behind = full[:5]

    def header(height: int, block_hash: bytes) -> bytes:
        return height.to_bytes(8, "big") + block_hash  # a stand-in for a real encoded header

    def connection(name: str, role: Role, hashes: list[bytes]) -> PeerConnection:
        key = EcdsaPrivateKey(hash32(b"test/key", name.encode()))
        tip = ChainTip(len(hashes) - 1, hashes[-1], 100 * len(hashes))
        return PeerConnection(LocalNode(key, 1, genesis), tip, role,
                              nonce=hash32(b"n", name.encode()),
                              local_fingerprint=hash32(b"fp", name.encode()), now=0.0)

    a = connection("behind", Role.INITIATOR, behind)
    b = connection("ahead", Role.RESPONDER, full)
    a.connection_made(hash32(b"fp", b"ahead"), 0.0)
    b.connection_made(hash32(b"fp", b"behind"), 0.0)
    sync = SyncManager(len(behind) - 1, 100 * len(behind), [behind[-1]], batch_size=8,
                       headers_per_request=16)
    asked: dict[int, RequestHeaders | RequestBlocks] = {}
    applied: list[bytes] = list(behind)
    now = 0.0
    for _ in range(100):
        for event in b.receive_data(a.data_to_send(), now):  # the peer that is ahead answers
            if isinstance(event, HeadersRequested):
                got = ahead.headers_after(event.locator, event.max_count)
                b.respond_headers(event.request_id, tuple(header(h, x) for h, x in got),
                                  tuple(b"proof" for _ in got))
            elif isinstance(event, BlocksRequested):
                b.respond_blocks(event.request_id, tuple(ahead.blocks(event.hashes).values()))
        for event in a.receive_data(b.data_to_send(), now):  # the node that is behind
            if isinstance(event, TipAnnounced):
                sync.peer_tip("ahead", event.height, event.work)
            elif isinstance(event, HeadersReceived):
                action = asked.pop(event.request_id)
                refs = [(int.from_bytes(h[:8], "big"), h[8:]) for h in event.headers]
                sync.headers_received(action.peer, refs, now, work_at(refs))
            elif isinstance(event, BlocksReceived):
                action = asked.pop(event.request_id)
                assert isinstance(action, RequestBlocks)
                bodies = {blk[len(b"body:"):]: blk for blk in event.blocks}
                sync.blocks_received(action.peer, action.hashes, bodies, now)
        for height, block_hash, _ in sync.take_ready():
            assert height == len(applied)
            applied.append(block_hash)
        sync.set_local(len(applied) - 1, 100 * len(applied), [applied[-1]])
        if a.state is ConnectionState.READY:
            for action in sync.poll(now):
                if isinstance(action, RequestHeaders):
                    rid = a.request_headers(action.locator, action.max_count, now)
                else:
                    rid = a.request_blocks(now, hashes=action.hashes)
                asked[rid] = action
        now += 0.5
    assert applied == full
    assert not asked and a.outstanding_requests == 0


def test_block_locator_is_dense_then_doubling_and_ends_at_genesis() -> None:
    hashes = chain(101)
    locator = block_locator(100, hashes.__getitem__)
    # Heights by hand: 100..91 one by one, then steps of 2, 4, 8, 16, 32, then genesis.
    expected = [*range(100, 90, -1), 89, 85, 77, 61, 29, 0]
    assert locator == tuple(hashes[h] for h in expected)
    assert block_locator(0, hashes.__getitem__) == (hashes[0],)
    assert len(block_locator(10**9, lambda h: h.to_bytes(32, "big"))) <= 64


def test_fork_point_is_the_first_locator_hash_we_know() -> None:
    ours = chain(21, branch=b"ours")
    theirs = chain(31, branch=b"theirs", fork_at=15, base=ours)
    index = {h: i for i, h in enumerate(theirs)}
    locator = block_locator(20, ours.__getitem__)
    assert find_fork_point(locator, index.get) == 15
    assert find_fork_point([hash32(b"unknown", b"")], index.get) is None

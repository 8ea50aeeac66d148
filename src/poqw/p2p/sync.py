"""Headers-first chain synchronisation, planned without I/O.

``SyncManager`` learns peers' announced tips and claimed cumulative work, asks the peer claiming
the most for headers (one request at a time, continuing from the last header it got), then
downloads block bodies in batches from several peers in parallel, re-assigning a batch whose
peer times out or answers short, and hands complete blocks to the node strictly in height order.
A claim only picks whom to ask: the node checks every header's work proof and reports the work
the headers prove, and a peer whose final answer proves less than it claimed (an empty answer
included) is reported as unbacked and backed off, with a delay that doubles per failure and is
remembered across reconnects. Every structure is bounded: peers, held headers, batches, bodies,
one header request at a time. It returns *actions*; the node turns them into ``PeerConnection``
requests and feeds the answers back, with explicit time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

from poqw.p2p.messages import MAX_LOCATOR_HASHES

__all__ = [
    "Action",
    "RequestBlocks",
    "RequestHeaders",
    "SyncManager",
    "block_locator",
    "find_fork_point",
]

PeerKey = Hashable


@dataclass(frozen=True)
class RequestHeaders:
    peer: PeerKey
    locator: tuple[bytes, ...]
    max_count: int


@dataclass(frozen=True)
class RequestBlocks:
    peer: PeerKey
    hashes: tuple[bytes, ...]


Action = RequestHeaders | RequestBlocks


def block_locator(height: int, hash_at: Callable[[int], bytes], dense: int = 10
                  ) -> tuple[bytes, ...]:
    """Hashes of our best chain from the tip down: ``dense`` one by one, then in doubling
    steps, always ending with genesis, so a peer finds our fork point in one round trip."""
    heights: list[int] = []
    step, h = 1, height
    while h > 0 and len(heights) < MAX_LOCATOR_HASHES - 1:
        heights.append(h)
        if len(heights) >= dense:
            step *= 2
        h -= step
    heights.append(0)
    return tuple(hash_at(h) for h in heights)


def find_fork_point(locator: Sequence[bytes], height_of: Callable[[bytes], int | None]
                    ) -> int | None:
    """Height of the first locator hash on our best chain (``height_of`` gives ``None`` for a
    hash that is not on it); a GET_HEADERS answer starts just above it."""
    for block_hash in locator:
        height = height_of(block_hash)
        if height is not None:
            return height
    return None


@dataclass
class _Peer:
    height: int
    work: int  # claimed: only picks whom to ask
    proven: int = 0  # the most work its checked headers showed
    in_flight: int = 0
    timeouts: int = 0
    failures: int = 0  # consecutive; the back-off doubles with each
    retry_at: float = -1.0  # not asked before this time


@dataclass
class _Batch:
    heights: tuple[int, ...]
    peer: PeerKey | None = None
    hashes: tuple[bytes, ...] = ()  # what was asked of ``peer``
    deadline: float = 0.0
    tried: set[PeerKey] = field(default_factory=set)


class SyncManager:
    """Plans header and block requests from peers' tips (see the module docstring)."""

    def __init__(self, local_height: int, local_work: int, locator: Sequence[bytes], *,
                 batch_size: int = 8, max_in_flight_per_peer: int = 2,
                 headers_per_request: int = 2000, request_timeout: float = 20.0,
                 max_pending_blocks: int = 4096, max_peers: int = 128,
                 backoff: float = 5.0, max_backoff: float = 300.0,
                 remembered_peers: int = 1024) -> None:
        if batch_size < 1 or max_in_flight_per_peer < 1 or headers_per_request < 1 \
                or max_peers < 1 or max_pending_blocks < 1:
            raise ValueError("batch size, in-flight limit, header count, peer limit and "
                             "pending limit must be positive")
        self.batch_size = batch_size
        self.max_in_flight_per_peer = max_in_flight_per_peer
        self.headers_per_request = headers_per_request
        self.request_timeout = request_timeout
        self.max_pending_blocks = max_pending_blocks
        self.max_peers = max_peers
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.remembered_peers = remembered_peers
        self._peers: dict[PeerKey, _Peer] = {}
        self._left: OrderedDict[PeerKey, tuple[int, float]] = OrderedDict()  # back-off kept
        self._local_height = local_height
        self._local_work = local_work
        self._locator = tuple(locator)
        self._headers: dict[int, bytes] = {}  # height -> hash, of the chain being fetched
        self._heights: dict[bytes, int] = {}
        self._headers_work = 0  # proven work at the top of ``_headers``
        self._continue_with: PeerKey | None = None  # its last answer was a full page
        self._last_header: bytes | None = None  # the last header of that page
        self._header_request: tuple[PeerKey, float] | None = None
        self._batches: list[_Batch] = []
        self._batched: set[int] = set()
        self._blocks: dict[int, bytes] = {}
        self._next_height = local_height + 1

    @property
    def max_headers(self) -> int:
        """At most this many headers are held at once (and as many bodies)."""
        return self.max_pending_blocks + self.headers_per_request

    # ---------------------------------------------------------------- inputs

    def set_local(self, height: int, work: int, locator: Sequence[bytes]) -> None:
        """The node's own best chain changed (it applied blocks, or reorganised)."""
        self._local_height = height
        self._local_work = work
        self._locator = tuple(locator)
        if not self._headers:
            self._next_height = height + 1

    def peer_tip(self, peer: PeerKey, height: int, work: int) -> None:
        """A peer's announced tip: its claim decides whom to ask, never how far to sync."""
        state = self._peers.get(peer)
        if state is None:
            if len(self._peers) >= self.max_peers:
                return
            state = self._peers[peer] = _Peer(height, work)
            failures, retry_at = self._left.pop(peer, (0, -1.0))
            state.failures, state.retry_at = failures, retry_at
        else:
            state.height, state.work = height, work

    def inherit_backoff(self, old: SyncManager) -> None:
        """Keep the back-off of every peer ``old`` knew (a fresh plan must not forgive one)."""
        for key, state in old._peers.items():
            if state.failures:
                self._left[key] = (state.failures, state.retry_at)
        for key, kept in old._left.items():
            self._left.setdefault(key, kept)
        while len(self._left) > self.remembered_peers:
            self._left.popitem(last=False)

    def remove_peer(self, peer: PeerKey) -> None:
        state = self._peers.pop(peer, None)
        if state is not None and state.failures:
            self._left[peer] = (state.failures, state.retry_at)  # a reconnect keeps it
            while len(self._left) > self.remembered_peers:
                self._left.popitem(last=False)
        for batch in list(self._batches):
            if batch.peer == peer:
                batch.peer = None
        if self._header_request is not None and self._header_request[0] == peer:
            self._header_request = None
        if self._continue_with == peer:
            self._continue_with = None

    def headers_received(self, peer: PeerKey, headers: Sequence[tuple[int, bytes]],
                         now: float, work: int) -> bool:
        """Checked headers as (height, hash), consecutive, answering our request; ``work`` is
        the cumulative work at the last one, computed by the node from the checked headers.

        Returns ``False`` when the answer does not back the peer's claim: it was the last page
        (fewer headers than asked, or none) and proves less work than the peer announced. The
        peer is then backed off and its claim no longer counts; the node should penalise it.
        """
        if self._header_request is None or self._header_request[0] != peer:
            return True  # late or unasked: the node already validated them, but we did not ask
        self._header_request = None
        state = self._peers.get(peer)
        final = len(headers) < self.headers_per_request
        self._continue_with = None if final else peer
        if headers:
            first = headers[0][0]
            if any(h != first + i for i, (h, _) in enumerate(headers)):
                raise ValueError("headers must be consecutive heights")
            if self._headers and first > max(self._headers) + 1:
                first_held = min(self._headers)  # does not join what we hold: start over
                self._truncate_from(first_held)
            self._truncate_from(first)  # a different branch from here on replaces what we had
            if not self._headers:
                self._next_height = first
            for height, block_hash in headers[: self.max_headers - len(self._headers)]:
                self._headers[height] = block_hash
                self._heights[block_hash] = height
            self._headers_work = work
            self._last_header = headers[-1][1]
            self._prune_batches()
        if state is None:
            return True
        if headers:
            state.proven = max(state.proven, work)
        if final and state.proven < state.work and state.work > self._local_work:
            state.work = max(state.proven, 0)  # believe what was shown, not what was said
            self._back_off(state, now)
            if self._headers_work <= self._local_work:
                self._truncate_from(self._next_height)  # nothing worth fetching
            return False
        state.failures = 0
        return True

    def headers_failed(self, peer: PeerKey, now: float) -> None:
        """The header answer was invalid or refused: ask someone else for a while."""
        state = self._peers.get(peer)
        if state is not None:
            self._back_off(state, now)
        if self._header_request is not None and self._header_request[0] == peer:
            self._header_request = None
        if self._continue_with == peer:
            self._continue_with = None

    def blocks_received(self, peer: PeerKey, requested: Sequence[bytes],
                        blocks: Mapping[bytes, bytes], now: float) -> None:
        """The answer to ``RequestBlocks(peer, requested)``: bodies by hash (hashed by the node).

        Blocks we did not ask for are ignored; the part of the batch not delivered goes to
        another peer.
        """
        for block_hash, block in blocks.items():
            height = self._heights.get(block_hash)
            if height is not None and self._headers.get(height) == block_hash:
                self._blocks[height] = block
        batch = self._find_batch(peer, requested)
        if batch is not None:
            self._release(batch)
            batch.tried.add(peer)
        self._prune_batches()  # a late answer may have filled another peer's batch

    def blocks_failed(self, peer: PeerKey, requested: Sequence[bytes], now: float) -> None:
        """The peer refused or timed out on ``RequestBlocks(peer, requested)``."""
        batch = self._find_batch(peer, requested)
        if batch is not None:
            self._release(batch)
            batch.tried.add(peer)
            state = self._peers.get(peer)
            if state is not None:
                self._back_off(state, now)

    def request_deferred(self, action: Action) -> None:
        """The node did not send ``action`` (its own request budget toward that peer is spent
        for now): not the peer's failure, so no back-off; the next poll plans it again."""
        if isinstance(action, RequestHeaders):
            if self._header_request is not None and self._header_request[0] == action.peer:
                self._header_request = None
            return
        batch = self._find_batch(action.peer, action.hashes)
        if batch is not None:
            self._release(batch)

    # ---------------------------------------------------------------- outputs

    @property
    def is_syncing(self) -> bool:
        return self._best_peer(now=None) is not None or bool(self._headers)

    def poll(self, now: float) -> list[Action]:
        """Expire overdue requests and plan new ones."""
        self._expire(now)
        actions: list[Action] = []
        header_action = self._plan_headers(now)
        if header_action is not None:
            actions.append(header_action)
        actions.extend(self._plan_blocks(now))
        return actions

    def take_ready(self) -> list[tuple[int, bytes, bytes]]:
        """Blocks ready for the node, as (height, hash, block), strictly in height order."""
        ready = []
        while self._next_height in self._blocks:
            height = self._next_height
            ready.append((height, self._headers[height], self._blocks.pop(height)))
            del self._heights[self._headers.pop(height)]
            self._batched.discard(height)
            self._next_height += 1
        if ready:
            self._prune_batches()
        return ready

    def holds(self, block_hash: bytes) -> bool:
        """Whether ``block_hash`` is a header held for the chain being fetched (a continuation
        answer may build on it)."""
        return block_hash in self._heights

    def sizes(self) -> dict[str, int]:
        """How much each structure holds (each is bounded; see the constructor)."""
        return {"peers": len(self._peers), "remembered_peers": len(self._left),
                "headers": len(self._headers), "blocks": len(self._blocks),
                "batches": len(self._batches),
                "header_requests": int(self._header_request is not None),
                "in_flight": sum(s.in_flight for s in self._peers.values())}

    def backed_off(self, now: float) -> list[PeerKey]:
        """Peers not asked before a back-off ends (they failed, timed out or lied)."""
        return [key for key, state in self._peers.items() if state.retry_at > now]

    # ---------------------------------------------------------------- internals

    def _back_off(self, state: _Peer, now: float) -> None:
        delay = min(self.backoff * 2.0 ** min(state.failures, 30), self.max_backoff)
        state.failures += 1
        state.retry_at = now + delay

    def _wanted_work(self) -> int:
        """Work a peer must claim to be worth asking for headers."""
        return max(self._local_work, self._headers_work if self._headers else 0)

    def _best_peer(self, now: float | None) -> PeerKey | None:
        best: tuple[int, int] | None = None
        choice: PeerKey | None = None
        wanted = self._wanted_work()
        for key, state in self._peers.items():
            if state.work <= wanted:
                continue
            if now is not None and state.retry_at > now:
                continue
            rank = (state.work, -state.timeouts)
            if best is None or rank > best:
                best, choice = rank, key
        return choice

    def _plan_headers(self, now: float) -> RequestHeaders | None:
        if self._header_request is not None or len(self._headers) >= self.max_pending_blocks:
            return None  # one request at a time; let the bodies catch up first
        peer = self._continue_with
        if peer is not None:
            state = self._peers.get(peer)
            if state is None or state.retry_at > now:
                peer = self._continue_with = None
        if peer is None:
            peer = self._best_peer(now)
            if peer is None:
                return None
        locator = self._locator
        if peer == self._continue_with and self._last_header is not None:
            # go on after its last page, even if those blocks were already handed over
            locator = (self._last_header, *locator)[:MAX_LOCATOR_HASHES]
        elif self._headers:  # start from the top of what we hold, else from our own chain
            locator = (self._headers[max(self._headers)], *locator)[:MAX_LOCATOR_HASHES]
        self._header_request = (peer, now + self.request_timeout)
        return RequestHeaders(peer, locator, self.headers_per_request)

    def _plan_blocks(self, now: float) -> list[RequestBlocks]:
        self._make_batches()
        actions = []
        for batch in self._batches:
            if batch.peer is not None:
                continue
            peer = self._pick_peer(batch, now)
            if peer is None:
                continue
            batch.peer, batch.deadline = peer, now + self.request_timeout
            batch.hashes = tuple(self._headers[h] for h in batch.heights)
            self._peers[peer].in_flight += 1
            actions.append(RequestBlocks(peer, batch.hashes))
        return actions

    def _make_batches(self) -> None:
        todo = sorted(h for h in self._headers if h not in self._batched and h not in self._blocks)
        for i in range(0, len(todo), self.batch_size):
            heights = tuple(todo[i:i + self.batch_size])
            self._batches.append(_Batch(heights))
            self._batched.update(heights)
        self._batches.sort(key=lambda b: b.heights[0])

    def _prune_batches(self) -> None:
        """Keep in each batch only heights still wanted: a header we hold whose body has not
        come (a late answer from a peer whose batch went elsewhere may deliver it)."""
        for batch in list(self._batches):
            kept = tuple(h for h in batch.heights if h in self._headers and h not in self._blocks)
            for h in batch.heights:
                if h not in kept:
                    self._batched.discard(h)
            if kept:
                batch.heights = kept
            else:
                self._release(batch)
                self._batches.remove(batch)

    def _pick_peer(self, batch: _Batch, now: float) -> PeerKey | None:
        """The least busy peer that has the batch and has not failed it (all failed: retry)."""
        top = batch.heights[-1]
        holders = [k for k, s in self._peers.items() if s.height >= top]
        able = [k for k in holders if self._peers[k].retry_at <= now
                and self._peers[k].in_flight < self.max_in_flight_per_peer]
        fresh = [k for k in able if k not in batch.tried]
        if not fresh and able and all(k in batch.tried for k in holders):
            batch.tried.clear()  # every peer that has it failed once: start over, not stall
            fresh = able
        if not fresh:
            return None
        return min(fresh, key=lambda k: (self._peers[k].in_flight, self._peers[k].timeouts))

    def _expire(self, now: float) -> None:
        if self._header_request is not None and now >= self._header_request[1]:
            peer = self._header_request[0]
            self._header_request = None
            if peer in self._peers:
                self._peers[peer].timeouts += 1
                self._back_off(self._peers[peer], now)
        for batch in self._batches:
            if batch.peer is not None and now >= batch.deadline:
                peer = batch.peer
                self._release(batch)
                batch.tried.add(peer)
                if peer in self._peers:
                    self._peers[peer].timeouts += 1
                    self._back_off(self._peers[peer], now)

    def _release(self, batch: _Batch) -> None:
        if batch.peer is not None and batch.peer in self._peers:
            self._peers[batch.peer].in_flight -= 1
        batch.peer = None

    def _find_batch(self, peer: PeerKey, requested: Sequence[bytes]) -> _Batch | None:
        wanted = tuple(requested)
        for batch in self._batches:
            if batch.peer == peer and batch.hashes == wanted:
                return batch
        return None

    def _truncate_from(self, height: int) -> None:
        for h in [h for h in self._headers if h >= height]:
            del self._heights[self._headers.pop(h)]
            self._blocks.pop(h, None)
            self._batched.discard(h)
        if not self._headers:
            self._headers_work = 0
        self._prune_batches()

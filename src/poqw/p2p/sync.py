"""Headers-first chain synchronisation, planned without I/O.

``SyncManager`` learns peers' announced tips and cumulative work, asks the best peer for headers
(one request at a time, continuing from the last header it got), then downloads block bodies in
batches from several peers in parallel, re-assigning a batch whose peer times out or answers
short, and hands complete blocks to the node strictly in height order. It returns *actions*; the
node turns them into ``PeerConnection`` requests and feeds the answers back, with explicit time.
"""

from __future__ import annotations

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
    work: int
    in_flight: int = 0
    timeouts: int = 0
    header_failed_until: float = -1.0


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
                 max_pending_blocks: int = 4096) -> None:
        if batch_size < 1 or max_in_flight_per_peer < 1 or headers_per_request < 1:
            raise ValueError("batch size, in-flight limit and header count must be positive")
        self.batch_size = batch_size
        self.max_in_flight_per_peer = max_in_flight_per_peer
        self.headers_per_request = headers_per_request
        self.request_timeout = request_timeout
        self.max_pending_blocks = max_pending_blocks
        self._peers: dict[PeerKey, _Peer] = {}
        self._local_height = local_height
        self._local_work = local_work
        self._locator = tuple(locator)
        self._headers: dict[int, bytes] = {}  # height -> hash, of the chain being fetched
        self._heights: dict[bytes, int] = {}
        self._headers_done = False  # the header peer said it has no more
        self._header_request: tuple[PeerKey, float] | None = None
        self._header_target_work = 0
        self._batches: list[_Batch] = []
        self._batched: set[int] = set()
        self._blocks: dict[int, bytes] = {}
        self._next_height = local_height + 1

    # ---------------------------------------------------------------- inputs

    def set_local(self, height: int, work: int, locator: Sequence[bytes]) -> None:
        """The node's own best chain changed (it applied blocks, or reorganised)."""
        self._local_height = height
        self._local_work = work
        self._locator = tuple(locator)
        if not self._headers:
            self._next_height = height + 1

    def peer_tip(self, peer: PeerKey, height: int, work: int) -> None:
        state = self._peers.get(peer)
        if state is None:
            self._peers[peer] = _Peer(height, work)
        else:
            state.height, state.work = height, work
            if work > self._header_target_work:
                self._headers_done = False  # there is more to fetch than the last run found

    def remove_peer(self, peer: PeerKey) -> None:
        self._peers.pop(peer, None)
        for batch in self._batches:
            if batch.peer == peer:
                batch.peer = None
        if self._header_request is not None and self._header_request[0] == peer:
            self._header_request = None

    def headers_received(self, peer: PeerKey, headers: Sequence[tuple[int, bytes]],
                         now: float) -> None:
        """Validated headers as (height, hash), consecutive, from the answer to our request."""
        if self._header_request is None or self._header_request[0] != peer:
            return  # late or unasked: the node already validated them, but we did not ask
        self._header_request = None
        state = self._peers.get(peer)
        if state is not None:
            self._header_target_work = max(self._header_target_work, state.work)
        if not headers:
            self._headers_done = True
            return
        first = headers[0][0]
        if any(h != first + i for i, (h, _) in enumerate(headers)):
            raise ValueError("headers must be consecutive heights")
        self._truncate_from(first)  # a different branch from here on replaces what we had
        if not self._headers:
            self._next_height = first
        for height, block_hash in headers:
            self._headers[height] = block_hash
            self._heights[block_hash] = height
        self._headers_done = len(headers) < self.headers_per_request

    def headers_failed(self, peer: PeerKey, now: float) -> None:
        """The header answer was invalid or refused: ask someone else for a while."""
        state = self._peers.get(peer)
        if state is not None:
            state.header_failed_until = now + 10 * self.request_timeout
        if self._header_request is not None and self._header_request[0] == peer:
            self._header_request = None

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
        if batch is None:
            return
        self._release(batch)
        missing = tuple(h for h in batch.heights if h not in self._blocks)
        if missing:
            batch.tried.add(peer)
            batch.heights = missing
        else:
            self._batches.remove(batch)

    def blocks_failed(self, peer: PeerKey, requested: Sequence[bytes], now: float) -> None:
        """The peer refused or timed out on ``RequestBlocks(peer, requested)``."""
        batch = self._find_batch(peer, requested)
        if batch is not None:
            self._release(batch)
            batch.tried.add(peer)

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
        return ready

    # ---------------------------------------------------------------- internals

    def _best_peer(self, now: float | None) -> PeerKey | None:
        best: tuple[int, int] | None = None
        choice: PeerKey | None = None
        for key, state in self._peers.items():
            if state.work <= self._local_work:
                continue
            if now is not None and state.header_failed_until > now:
                continue
            rank = (state.work, -state.timeouts)
            if best is None or rank > best:
                best, choice = rank, key
        return choice

    def _plan_headers(self, now: float) -> RequestHeaders | None:
        if self._header_request is not None:
            return None
        best = self._best_peer(now)
        if best is None:
            return None
        if self._headers_done and self._peers[best].work <= self._header_target_work:
            return None
        if len(self._headers) >= self.max_pending_blocks:
            return None  # let the bodies catch up first
        if self._headers and not self._headers_done:
            locator: tuple[bytes, ...] = (self._headers[max(self._headers)],)
        else:
            locator = self._locator
        self._header_request = (best, now + self.request_timeout)
        return RequestHeaders(best, locator, self.headers_per_request)

    def _plan_blocks(self, now: float) -> list[RequestBlocks]:
        self._make_batches()
        actions = []
        for batch in self._batches:
            if batch.peer is not None:
                continue
            peer = self._pick_peer(batch)
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

    def _pick_peer(self, batch: _Batch) -> PeerKey | None:
        """The least busy peer that has the batch and has not failed it (all failed: retry)."""
        top = batch.heights[-1]
        able = [k for k, s in self._peers.items()
                if s.height >= top and s.in_flight < self.max_in_flight_per_peer]
        fresh = [k for k in able if k not in batch.tried]
        if not fresh and able and all(k in batch.tried for k in self._peers):
            batch.tried.clear()  # everyone failed once: start over rather than stall
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
                self._peers[peer].header_failed_until = now + self.request_timeout
        for batch in self._batches:
            if batch.peer is not None and now >= batch.deadline:
                peer = batch.peer
                self._release(batch)
                batch.tried.add(peer)
                if peer in self._peers:
                    self._peers[peer].timeouts += 1

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
        for batch in list(self._batches):
            kept = tuple(h for h in batch.heights if h < height)
            if not kept:
                self._release(batch)
                self._batches.remove(batch)
            else:
                batch.heights = kept

"""Headers-first sync for the network service: pumping the sync plan into requests and imports.

The plan itself (:class:`~poqw.p2p.SyncManager`) is sans-I/O; here its actions become requests
to peers, each batch of headers is checked with its work proofs on the worker thread (against
our chain or headers checked earlier in this sync), and synced blocks are imported in height
order. A failing plan is a bug: it is logged once and restarted, keeping each peer's back-off.
Block and header requests in flight, the sync's and the fetches of gossiped blocks, are recorded
here by peer and request id, so an answer or a failure goes back to whoever asked.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from poqw.chain import (
    Header,
    WorkProof,
    block_work,
    decode_header,
    decode_proof,
    validate_header_work,
)
from poqw.errors import DecodeError, InvalidBlock, LocalProtocolError, PoqwError
from poqw.p2p import events as ev
from poqw.p2p.messages import MAX_BLOCKS_PER_MESSAGE
from poqw.p2p.policing import Penalty
from poqw.p2p.quic import PeerSession
from poqw.p2p.sync import RequestBlocks, RequestHeaders, SyncManager, block_locator

if TYPE_CHECKING:
    from poqw.node.network import NetworkService

__all__ = ["HEADERS_PER_REQUEST", "SyncView", "check_headers", "headers_received",
           "import_synced", "locator", "new_sync", "pump_sync", "remember_header",
           "request_blocks", "request_failed", "reset_sync"]

HEADERS_PER_REQUEST = 500  # each header travels with its work proof, checked on arrival

log = logging.getLogger("poqw.node.network")  # one logger for the whole network glue


class SyncView:
    """The chain as consensus reads it, plus the headers checked for the sync so far."""

    def __init__(self, held: Mapping[bytes, tuple[Header, int]], chain: Any) -> None:
        self.held, self.chain = held, chain

    def header(self, block_hash: bytes) -> Header | None:
        held = self.held.get(bytes(block_hash))
        return held[0] if held is not None else self.chain.header(block_hash)


def check_headers(pairs: Sequence[tuple[Header, WorkProof]],
                  held: dict[bytes, tuple[Header, int]], chain: Any, genesis: Any,
                  now: int) -> tuple[list[tuple[bytes, Header, int]], int, str | None]:
    """Check headers with their work proofs in order, each against its parent (ours, one held
    for the sync, or one checked just before), on the worker thread. Returns what passed (hash,
    header, total work), the total work of the last one, and why the rest failed (None: all
    passed; a reason starting with ``early: `` is not the peer's fault)."""
    view = SyncView(held, chain)
    found: list[tuple[bytes, Header, int]] = []
    work = 0
    for header, proof in pairs:
        parent = view.header(header.parent_hash)
        parent_hash = bytes(header.parent_hash)
        if parent_hash in held:
            parent_work: int | None = held[parent_hash][1]
        else:
            stored = chain.store.get(parent_hash)
            parent_work = None if stored is None else stored.total_work
        if parent is None or parent_work is None:
            return found, work, "headers that do not chain onto ours"
        try:
            validate_header_work(header, proof, parent, view, now, genesis)
        except InvalidBlock as exc:
            if "in the future" in exc.reason:
                return found, work, f"early: {exc.reason}"
            return found, work, f"invalid header {int(header.number)}: {exc.reason}"
        block_hash = bytes(header.hash())
        work = parent_work + block_work(genesis, header)
        held[block_hash] = (header, work)
        found.append((block_hash, header, work))
    return found, work, None


async def headers_received(net: NetworkService, key: bytes, session: PeerSession,
                           event: ev.HeadersReceived) -> None:
    """Check every header and its work proof against its parent (ours, or one checked
    earlier in this sync), then tell the sync how much work they prove."""
    kind, _ = net._requests.pop((key, event.request_id), ("", ()))
    if kind != "headers":
        return
    now = net._now()
    node = net.node
    try:
        if len(event.proofs) != len(event.headers):
            raise DecodeError(f"{len(event.headers)} headers but {len(event.proofs)} "
                              "proofs")
        limits = node.chain.limits
        pairs = await net.untrusted.run(lambda: [
            (decode_header(bytes(raw)), decode_proof(bytes(proof), limits))
            for raw, proof in zip(event.headers, event.proofs, strict=True)])
    except DecodeError as exc:
        net.sync.headers_failed(key, now)
        net._penalize(key, session, f"undecodable header: {exc}", Penalty.MALFORMED)
        return
    held = dict(net._sync_headers)  # a snapshot: the worker must not see it change
    found, work, failure = await net.untrusted.run(
        check_headers, pairs, held, node.chain, node.genesis, int(time.time()))
    for block_hash, header, header_work in found:
        remember_header(net, block_hash, header, header_work)
    if failure is not None:
        net.sync.headers_failed(key, now)
        if failure.startswith("early: "):  # may become valid: not the peer's fault
            log.info("header from %s is %s", key.hex()[:16], failure)
        else:
            net._penalize(key, session, failure, Penalty.INVALID_DATA)
        return
    checked = [(int(header.number), block_hash) for block_hash, header, _ in found]
    if not net.sync.headers_received(key, checked, now, work):
        claim = session.protocol.peer_tip
        net._penalize(key, session, "claimed work its headers do not show (claimed "
                      f"{claim.work if claim else '?'}, showed {work})",
                      Penalty.UNSOLICITED)
    pump_sync(net)


def remember_header(net: NetworkService, block_hash: bytes, header: Header, work: int) -> None:
    net._sync_headers[block_hash] = (header, work)
    net._sync_headers.move_to_end(block_hash)
    while len(net._sync_headers) > 2 * net.sync.max_headers:
        net._sync_headers.popitem(last=False)


def pump_sync(net: NetworkService) -> None:
    """Turn the sync plan into requests, and import what arrived, in height order. A
    failure of the plan is a bug: it is logged once and the plan starts afresh (keeping
    each peer's back-off), so peers stay connected and the sync goes on."""
    try:
        _pump_sync_once(net)
    except (PoqwError, LookupError, ValueError, TypeError, AssertionError) as exc:
        key = f"sync: {exc!r}"
        if key not in net._told:
            net._told.add(key)
            log.error("sync failed, starting it afresh: %r", exc, exc_info=exc)
        net._crashes["sync"] = net._crashes.get("sync", 0) + 1
        reset_sync(net)


def _pump_sync_once(net: NetworkService) -> None:
    now = net._now()
    for action in net.sync.poll(now):
        key = cast(bytes, action.peer)
        session = net.peers.get(key)
        if session is None:
            continue
        if not session.protocol.can_request(now):
            net.sync.request_deferred(action)  # our budget, not the peer's fault
            continue
        if isinstance(action, RequestHeaders):
            try:
                rid = session.protocol.request_headers(action.locator, action.max_count,
                                                       now)
            except LocalProtocolError:
                net.sync.headers_failed(key, now)
                continue
            net._requests[(key, rid)] = ("headers", ())
        elif isinstance(action, RequestBlocks):
            request_blocks(net, key, session, "sync", action.hashes)
        session.flush()
    net._sync_imports.extend((net.sync, *ready) for ready in net.sync.take_ready())
    if net._sync_imports and not net._importing:
        net._importing = True
        net._spawn(functools.partial(import_synced, net), "the synced-block importer")


async def import_synced(net: NetworkService) -> None:
    """Import synced blocks in height order on the worker thread; a block the plan that
    produced it no longer owns (the sync was reset meanwhile) is dropped."""
    try:
        while net._sync_imports:
            sync, height, block_hash, data = net._sync_imports.popleft()
            if sync is not net.sync:
                continue
            sender = net._sync_source.pop(block_hash, None)
            if net.node.store.has(block_hash):
                continue
            try:
                result = await net.untrusted.import_block(data)
                net.stats["blocks_imported"] += len(result.imported)
            except (InvalidBlock, DecodeError) as exc:
                log.warning("synced block %d 0x%s is invalid: %s", height,
                            block_hash.hex()[:16], exc)
                net.stats["invalid_blocks"] += 1
                session = net.peers.get(sender) if sender is not None else None
                if sender is not None and session is not None:
                    net._penalize(sender, session, f"invalid block in sync: {exc}",
                                  Penalty.INVALID_DATA)
                reset_sync(net)
    except Exception:  # a bug: say so once; the next sync poll starts a fresh importer
        log.exception("importing synced blocks failed")
    finally:
        net._importing = False


def new_sync(net: NetworkService, old: SyncManager | None = None) -> SyncManager:
    tip = net.node.tip()
    sync = SyncManager(tip.number, tip.total_work, locator(net, tip.number),
                       batch_size=MAX_BLOCKS_PER_MESSAGE, max_in_flight_per_peer=4,
                       headers_per_request=HEADERS_PER_REQUEST,
                       max_peers=max(net.max_peers, 1))
    if old is not None:
        sync.inherit_backoff(old)  # a reset must not forgive a peer that lied
    return sync


def reset_sync(net: NetworkService) -> None:
    net.sync = new_sync(net, net.sync)
    for key, session in net.peers.items():
        tip = session.protocol.peer_tip
        if tip is not None:
            net.sync.peer_tip(key, tip.height, tip.work)
    net._requests = {k: v for k, v in net._requests.items() if v[0] == "fetch"}
    net._sync_source.clear()
    net._sync_headers.clear()


def locator(net: NetworkService, height: int) -> tuple[bytes, ...]:
    return block_locator(height, lambda h: net.node.canonical_hash(h) or bytes(32))


def request_blocks(net: NetworkService, key: bytes, session: PeerSession, kind: str,
                   hashes: tuple[bytes, ...]) -> None:
    """Ask a peer for blocks by hash, remembering who wants them (``fetch`` or ``sync``)."""
    try:
        request_id = session.protocol.request_blocks(net._now(), hashes=hashes)
    except LocalProtocolError as exc:
        log.info("cannot ask %s for blocks now: %s", key.hex()[:16], exc)
        if kind == "sync":
            net.sync.blocks_failed(key, hashes, net._now())
        return
    net._requests[(key, request_id)] = (kind, hashes)


def request_failed(net: NetworkService, key: bytes, request_id: int) -> None:
    """A request timed out or was refused: the sync's plan hears of it (fetches are dropped)."""
    kind, hashes = net._requests.pop((key, request_id), ("", ()))
    if kind == "sync":
        net.sync.blocks_failed(key, hashes, net._now())
    elif kind == "headers":
        net.sync.headers_failed(key, net._now())

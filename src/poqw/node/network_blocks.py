"""Blocks for the network service: serving them and their headers, fetching and importing them.

Blocks pushed or fetched outside the sync are imported one by one on the worker thread; one whose
parent we lack is kept as an orphan and its parent fetched when the gap is short, within a quota
per peer so a flood pushes out the flooder's orphans. Invalid or undecodable data costs its sender
misbehaviour points; blocks for the sync are handed to its plan.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from poqw.chain import encoded_proof
from poqw.errors import DecodeError, InvalidBlock
from poqw.node.blockchain import ImportResult
from poqw.node.network_sync import pump_sync, request_blocks
from poqw.node.service import Node
from poqw.p2p import events as ev
from poqw.p2p.messages import MAX_BLOCKS_PER_MESSAGE
from poqw.p2p.peer import ConnectionState
from poqw.p2p.policing import Penalty
from poqw.p2p.quic import PeerSession

if TYPE_CHECKING:
    from poqw.node.network import NetworkService

__all__ = ["MAX_ORPHANS_PER_PEER", "MAX_PARENT_WALK", "blocks_for", "blocks_received",
           "headers_with_proofs", "import_block", "limit_orphans_of", "orphaned",
           "penalize_dropped_orphans"]

MAX_PARENT_WALK = 16  # blocks: a shorter gap is closed by fetching parents one by one
MAX_ORPHANS_PER_PEER = 32  # orphans one peer may have waiting (a parent walk needs <= 16)

log = logging.getLogger("poqw.node.network")  # one logger for the whole network glue


def blocks_for(node: Node, event: ev.BlocksRequested) -> tuple[bytes, ...]:
    """The blocks a BLOCK_REQUEST asks for that we hold (by hash, or canonical by height)."""
    if event.hashes:
        found = (node.block_bytes(h) for h in event.hashes[:MAX_BLOCKS_PER_MESSAGE])
    else:
        count = min(event.count, MAX_BLOCKS_PER_MESSAGE)
        found = (node.block_bytes(h) for h in (node.canonical_hash(event.start + i)
                                               for i in range(count)) if h is not None)
    return tuple(b for b in found if b is not None)


async def blocks_received(net: NetworkService, key: bytes, session: PeerSession,
                          event: ev.BlocksReceived) -> None:
    kind, requested = net._requests.pop((key, event.request_id), ("push", ()))
    net.stats["blocks_received"] += len(event.blocks)
    if kind != "sync":
        for data in event.blocks:
            result = await import_block(net, key, session, data)
            if result is not None and result.status == "orphan":
                await orphaned(net, key, session, data, result)
        penalize_dropped_orphans(net)
        return
    try:
        hashes = await net.untrusted.block_hashes(event.blocks)
    except DecodeError as exc:
        net._penalize(key, session, f"undecodable block: {exc}", Penalty.MALFORMED)
        return
    by_hash = dict(zip(hashes, event.blocks, strict=True))
    for block_hash in by_hash:
        if net.sync.holds(block_hash):  # only what the sync will hand over
            net._sync_source[block_hash] = key
    if len(net._sync_source) > net.sync.max_headers:  # left by a replaced branch
        net._sync_source = {h: k for h, k in net._sync_source.items()
                            if net.sync.holds(h)}
    net.sync.blocks_received(key, requested, by_hash, net._now())
    pump_sync(net)


async def import_block(net: NetworkService, key: bytes, session: PeerSession, data: bytes
                       ) -> ImportResult | None:
    try:
        result = await net.untrusted.import_block(data)
    except DecodeError as exc:
        net._penalize(key, session, f"undecodable block: {exc}", Penalty.MALFORMED)
        return None
    except InvalidBlock as exc:
        if "in the future" in exc.reason:  # may become valid: not the peer's fault
            log.info("block from %s is early: %s", key.hex()[:16], exc.reason)
            return None
        net.stats["invalid_blocks"] += 1
        net._penalize(key, session, f"invalid block: {exc.reason}", Penalty.INVALID_DATA)
        return None
    if result.status in ("new-tip", "side"):
        net.stats["blocks_imported"] += len(result.imported)
    return result


async def orphaned(net: NetworkService, key: bytes, session: PeerSession, data: bytes,
                   result: ImportResult) -> None:
    """A block whose parent we lack: fetch the parent when the gap is short and the
    request budget has more than the sync's reserve left, and ask the peer's status (its
    tip starts a headers-first sync, which fetches whatever the parent walk does not)."""
    number = result.orphan_number
    assert number is not None  # set for every orphan
    now = net._now()
    if number - net.node.tip().number > MAX_PARENT_WALK \
            or not net.pacing.may_fetch(session.protocol, now):
        # far ahead, or no budget left to walk its parents (an honest peer mining faster
        # than it announces sends many of these): the headers-first sync fetches it in
        # order; keeping it would only crowd the pool
        net.node.chain.orphans.discard(result.block_hash)
        net.pacing.ask_status(session.protocol, now)
        return
    net._orphan_senders[result.block_hash] = (key, number)
    limit_orphans_of(net, key, session)
    if session.state is ConnectionState.CLOSED:
        return
    if result.missing_parent:
        request_blocks(net, key, session, "fetch", (result.missing_parent,))
    net.pacing.ask_status(session.protocol, now)


def limit_orphans_of(net: NetworkService, key: bytes, session: PeerSession) -> None:
    """One peer may hold at most a quarter of the orphan pool's bytes and
    ``MAX_ORPHANS_PER_PEER`` orphans: past that its own oldest go, at a penalty each, so a
    flood pushes out the flooder's orphans rather than other peers'."""
    pool = net.node.chain.orphans
    held = [h for h, (k, _) in net._orphan_senders.items() if k == key and h in pool]
    size = sum(pool.size_of(h) for h in held)
    continued = pool.parents()
    while held and (len(held) > MAX_ORPHANS_PER_PEER or size > pool.max_bytes // 4):
        oldest = held.pop(0)
        size -= pool.discard(oldest)
        del net._orphan_senders[oldest]
        # an honest peer far ahead of us sends a chain: its oldest orphans are continued by
        # newer ones and cost nothing; unrelated orphans past the quota are junk
        if oldest not in continued and session.state is not ConnectionState.CLOSED:
            net._penalize(key, session, f"too many orphans waiting for their parent: "
                          f"0x{oldest.hex()[:16]} dropped", Penalty.UNSOLICITED)


def penalize_dropped_orphans(net: NetworkService) -> None:
    """Orphans that left the pool without their parent ever arriving (evicted by newer ones
    or expired) cost whoever sent them, if they were close enough to our tip that we asked
    that sender for the parent (a far one waits for the sync, which may take long);
    senders of orphans that connected are forgotten."""
    pool, tip = net.node.chain.orphans, net.node.tip().number
    continued = pool.parents()
    for block_hash in pool.take_dropped():
        sender, number = net._orphan_senders.pop(block_hash, (b"", 0))
        session = net.peers.get(sender)
        if session is not None and not session.closed.is_set() \
                and number - tip <= MAX_PARENT_WALK and block_hash not in continued:
            net._penalize(sender, session, f"orphan 0x{block_hash.hex()[:16]} never "
                          "connected to the chain", Penalty.UNSOLICITED)
    net._orphan_senders = {h: k for h, k in net._orphan_senders.items() if h in pool}
    net._dirty = True  # network.json shows the pool


def headers_with_proofs(node: Node, start: int, count: int
                        ) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """Canonical headers from ``start`` and the encoded work proof of each."""
    headers, proofs = [], []
    store, limits = node.store, node.chain.limits
    for block_hash in store.canonical_range(start, count):
        stored = store.get(block_hash)
        if stored is None:
            break
        headers.append(stored.header)
        proofs.append(encoded_proof(stored.body, limits))
    return tuple(headers), tuple(proofs)

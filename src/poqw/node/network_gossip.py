"""Gossip for the network service: announcing new heads and transactions, and taking them in.

Every new head of the local chain (mined here or received) is announced by hash, at most every
``MIN_ANNOUNCE_GAP`` and only the newest, so a node importing many blocks does not trip its peers'
gossip rate limit; transactions that entered the mempool are announced once per tick. Gossiped
blocks are fetched once, within the request budget the sync leaves.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from poqw.errors import LocalProtocolError
from poqw.node.blockchain import ImportResult
from poqw.node.network_sync import locator, request_blocks
from poqw.p2p import events as ev
from poqw.p2p.messages import MAX_BLOCKS_PER_MESSAGE, MAX_GOSSIP_HASHES
from poqw.p2p.policing import Penalty
from poqw.p2p.quic import PeerSession

if TYPE_CHECKING:
    from poqw.node.network import NetworkService

__all__ = ["MIN_ANNOUNCE_GAP", "announce_new_transactions", "announce_tip", "gossip_hashes",
           "gossip_received", "on_head", "transactions_received"]

MIN_ANNOUNCE_GAP = 0.06  # s: under the peers' gossip rate limit (20 a second by default)

log = logging.getLogger("poqw.node.network")  # one logger for the whole network glue


def gossip_hashes(sessions: Sequence[PeerSession], blocks: tuple[bytes, ...],
                  transactions: tuple[bytes, ...]) -> None:
    """Gossip hashes to ``sessions`` (each peer hears each hash once)."""
    step = MAX_GOSSIP_HASHES
    for session in sessions:
        with contextlib.suppress(LocalProtocolError):
            for i in range(0, max(len(blocks), len(transactions)), step):
                session.protocol.send_gossip(blocks[i:i + step], transactions[i:i + step])
            session.flush()


def gossip_received(net: NetworkService, key: bytes, session: PeerSession,
                    event: ev.GossipReceived, now: float) -> None:
    """Fetch the announced blocks we lack (if the sync leaves budget for it, else ask the
    peer's status so the sync fetches them) and ask for the transactions we lack."""
    peer, node = session.protocol, net.node
    wanted = tuple(h for h in event.blocks if not node.store.has(h))
    if wanted and not net.pacing.may_fetch(peer, now):
        # the budget left is the sync's: learn the peer's tip, the sync fetches it
        net.pacing.ask_status(peer, now)
        wanted = ()
    for i in range(0, len(wanted), MAX_BLOCKS_PER_MESSAGE):
        request_blocks(net, key, session, "fetch", wanted[i:i + MAX_BLOCKS_PER_MESSAGE])
    if event.transactions:
        missing = tuple(h for h in event.transactions if h not in node.mempool)
        if missing:
            with contextlib.suppress(LocalProtocolError):
                peer.request_transactions(missing[:64], now)


async def transactions_received(net: NetworkService, key: bytes, session: PeerSession,
                                event: ev.TransactionsReceived) -> None:
    admitted = await net.untrusted.admit_transactions(event.transactions)
    if admitted.undecodable:  # bytes no honest node relays: it decodes before it relays
        net._penalize(key, session, f"{len(admitted.undecodable)} undecodable transactions, "
                      f"first: {admitted.undecodable[0]}", Penalty.MALFORMED)
    if admitted.accepted:
        net.announce(transactions=tuple(admitted.accepted))


def announce_new_transactions(net: NetworkService) -> None:
    """Gossip transactions that entered the mempool since the last tick (submitted here,
    through the API or by a peer); ``send_gossip`` skips peers that already know them."""
    current = {bytes(i.tx_hash) for i in net.node.mempool.transactions()}
    new = tuple(current - net._announced_txs)
    net._announced_txs = current
    if new:
        net.announce(transactions=new)


def on_head(net: NetworkService, result: ImportResult) -> None:
    tip = net._chain_tip()
    net.transport.set_tip(tip)
    net.sync.set_local(tip.height, tip.work, locator(net, tip.height))
    net._dirty = True
    if net._announce_handle is not None:
        return  # an announcement is already due: it will carry the newest tip
    wait = net._last_announce + MIN_ANNOUNCE_GAP - net._now()
    if wait > 0:
        assert net._loop is not None
        net._announce_handle = net._loop.call_later(wait, announce_tip, net)
    else:
        announce_tip(net)


def announce_tip(net: NetworkService) -> None:
    # Only the newest head is announced, at most every MIN_ANNOUNCE_GAP: a node importing
    # hundreds of blocks must not flood its peers (their gossip rate limit would ban it).
    net._announce_handle = None
    net._last_announce = net._now()
    net.announce(blocks=(bytes(net.node.tip().block_hash),))

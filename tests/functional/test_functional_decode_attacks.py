"""Scenario 5: decoding attacks of issue 10 against a real node over QUIC.

One peer sends (a) a 2 MB block of about two million empty items, (b) a TRANSACTIONS message of
64 access-list bombs of 128 KB each, and (d) a validly mined block carrying a transaction whose
nonce is a list; a second one sends (c) an oversized BLOCK_SUBMIT frame before the join. The
node must answer the attacker's next status request each time (its network loop never froze
and the attacker's handler survived), penalise it, refuse the pre-join frame at its header,
and keep serving the honest peer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from attackers import (
    Attacker,
    PreJoinAttacker,
    access_list_bomb,
    bad_field_transaction,
    empty_items_block,
    mine_block_with,
    prejoin_oversize,
)
from framework import Network, TestNode, log, wait_until

from poqw.chain import decode_block, load_genesis
from poqw.errors import RemoteProtocolError
from poqw.p2p import ConnectionClosed
from poqw.p2p.messages import MAX_PAYLOAD, MAX_TRANSACTIONS_PER_MESSAGE, MessageType

STATUS_TIMEOUT = 20.0  # generous for a loaded machine; the old decoders froze for minutes


async def bombs(target: TestNode, tmp: Path, genesis: Path) -> dict[str, float]:
    status = target.status()
    chain_id = int(status["chain_id"])
    limits = load_genesis(genesis).block_limits()
    attacker = Attacker("decode-bombs", status, tmp)
    session = await attacker.join(target.port)
    took = {"before": await attacker.status_round_trip(STATUS_TIMEOUT)}
    try:
        session.protocol.push_block(empty_items_block(), bytes(32))
        session.flush()
        took["block of 2M empty items"] = await attacker.status_round_trip(STATUS_TIMEOUT)

        bomb = access_list_bomb(chain_id)
        session.protocol.push_transactions((bomb,) * MAX_TRANSACTIONS_PER_MESSAGE, ())
        session.flush()
        took["64 access-list bombs"] = await attacker.status_round_trip(STATUS_TIMEOUT)

        chain = await attacker.chain()
        block = await asyncio.to_thread(mine_block_with, genesis, chain,
                                        (bad_field_transaction(chain_id),), "bad-field-miner")
        session.protocol.push_block(block, bytes(decode_block(block, limits).hash()))
        session.flush()
        took["mined block with a list-for-integer tx"] = \
            await attacker.status_round_trip(STATUS_TIMEOUT)
    finally:
        await attacker.close()
    return took


async def prejoin(target: TestNode, tmp: Path) -> str:
    frame = prejoin_oversize(MAX_PAYLOAD[MessageType.BLOCK_SUBMIT]) + bytes(256 * 1024)
    attacker = PreJoinAttacker("prejoin-oversize", target.status(), tmp, frame)
    try:
        session = await attacker.join(target.port)
    except RemoteProtocolError as exc:
        return str(exc)
    try:
        event = await attacker.wait_for(lambda e: isinstance(e, ConnectionClosed), 30)
        assert isinstance(event, ConnectionClosed)
        return event.reason
    finally:
        del session
        await attacker.close()


def test_decoding_bombs_cost_the_attacker_not_the_node(
        network: Callable[[int], Network], tmp_path: Path) -> None:
    net = network(2)
    target, honest = net[0], net[1]
    target.start(stop_mining_at=3)
    honest.start([target], mine=False)
    wait_until(lambda: target.height() >= 3, 60, "three blocks")
    net.sync_blocks()

    took = asyncio.run(asyncio.wait_for(bombs(target, tmp_path, net.genesis), 240))
    for what, seconds in took.items():
        log(f"status answered {seconds:.3f} s after: {what}")
    reason = asyncio.run(asyncio.wait_for(prejoin(target, tmp_path), 60))
    log(f"pre-join oversize frame: closed with {reason!r}")
    assert "before the handshake finished" in reason

    text = target.log_text()
    assert "sent bad data: undecodable block" in text
    assert "undecodable transactions" in text
    assert "must be an integer (a byte string), got a list" in text
    assert "Traceback" not in text and "TypeError" not in text
    wait_until(lambda: target.peer_count() == 1, 30, "the attackers to be gone")
    assert honest.peer_count() == 1
    net.sync_blocks()

"""Supervision of the network glue (issue 9): a bug in a peer's handler closes that session, is
logged once and the peer is redialed; a crashed tick loop is restarted, so a node that has no
peer keeps dialing. Faults are injected by subclasses that raise once, on real QUIC sessions."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from poqw.cli.devnet import free_port
from poqw.node import Node, NodeConfig, load_config
from poqw.node.network import NetworkService
from poqw.node.testing import genesis_document
from poqw.p2p import GossipReceived
from poqw.p2p import events as ev
from poqw.p2p.quic import PeerSession


def node_config(tmp_path: Path, name: str, genesis: Path) -> NodeConfig:
    return load_config(None, {"global.datadir": str(tmp_path / name), "global.auto_mine": False,
                              "global.genesis": str(genesis), "global.node_name": name})


async def wait_until(predicate: Callable[[], bool], timeout: float = 90.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


class HandlerBug(NetworkService):
    """Its handler fails once, on the first gossip it gets (a decoder TypeError, say)."""

    failed = 0

    def _handle(self, key: bytes, session: PeerSession, event: ev.Event) -> None:
        if isinstance(event, GossipReceived) and not self.failed:
            self.failed += 1
            raise TypeError("injected handler bug")
        super()._handle(key, session, event)


class TickBug(NetworkService):
    """Its tick loop fails once, on its first round."""

    failed = 0

    def _announce_new_transactions(self) -> None:
        if not self.failed:
            self.failed += 1
            raise KeyError("injected tick bug")
        super()._announce_new_transactions()


def two_nodes(tmp_path: Path) -> tuple[Node, Node]:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    return (Node(node_config(tmp_path, "a", genesis)), Node(node_config(tmp_path, "b", genesis)))


def test_a_failing_peer_handler_closes_the_session_and_the_peer_is_redialed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    a, b = two_nodes(tmp_path)
    with a, b:

        async def scenario() -> None:
            net_a = NetworkService(a, port=0)
            port_a = await net_a.start()
            net_b = HandlerBug(b, port=0, peers=[f"127.0.0.1:{port_a}"])
            await net_b.start()
            try:
                await wait_until(lambda: net_b.failed == 1)
                # on main the session task died here, its session stayed open, never redialed
                await wait_until(lambda: len(net_b.peers) == 1 and len(net_a.peers) == 1)
                await wait_until(lambda: net_a.local.node_id in net_b.peers
                                 and not net_b.peers[net_a.local.node_id].closed.is_set())
            finally:
                await net_b.close()
                await net_a.close()

        with caplog.at_level(logging.INFO, logger="poqw.node.network"):
            asyncio.run(asyncio.wait_for(scenario(), 200))
    failures = [r for r in caplog.records if "session with peer" in r.getMessage()]
    assert len(failures) == 1 and "injected handler bug" in failures[0].getMessage()
    assert failures[0].exc_info is not None  # the traceback is in the log, once
    assert "Task exception was never retrieved" not in caplog.text


def test_a_crashed_tick_loop_is_restarted_and_keeps_dialing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    a, b = two_nodes(tmp_path)
    port_a = free_port()
    with a, b:

        async def scenario() -> None:
            net_b = TickBug(b, port=0, peers=[f"127.0.0.1:{port_a}"])
            await net_b.start()
            net_a = NetworkService(a, port=port_a)
            try:
                await wait_until(lambda: net_b.failed == 1)
                await net_a.start()  # the peer comes up only after the crash
                await wait_until(lambda: len(net_b.peers) == 1)
            finally:
                await net_b.close()
                await net_a.close()

        with caplog.at_level(logging.INFO, logger="poqw.node.network"):
            asyncio.run(asyncio.wait_for(scenario(), 200))
    assert "the tick loop failed" in caplog.text and "restarting the tick loop" in caplog.text

"""Scenario: a peer answers PEERS with addresses the node must not dial (a DNS name, private
ranges, a privileged port) and one it may. The node (discovery on, loopback dial policy, as in
the devnet) dials only the allowed one: a UDP socket behind the allowed address sees its QUIC
packets, one behind ``localhost`` sees none, and the log names each refusal."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from pathlib import Path

from framework import Network, TestNode, log, wait_until

from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.p2p import ChainTip, LocalNode, PeerAddress, PeersRequested
from poqw.p2p.quic import QuicTransport, ensure_tls_identity


def decoy() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def received(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.recvfrom(65536)
        except BlockingIOError:
            return count
        count += 1


async def answer_peers(node: TestNode, tmp: Path, addresses: list[tuple[str, int]]) -> None:
    status = node.status()
    local = LocalNode(EcdsaPrivateKey(hash32(b"peers-liar", os.urandom(8))), status["chain_id"],
                      bytes.fromhex(status["genesis_hash"]))
    transport = QuicTransport(local, ChainTip(0, local.genesis_hash, 0),
                              ensure_tls_identity(tmp / "liar"))
    try:
        session = await transport.connect("127.0.0.1", node.port)
        while True:
            event = await session.next_event(20)
            if isinstance(event, PeersRequested):
                break
        session.protocol.respond_peers(event.request_id, tuple(
            PeerAddress(b"\x02" + os.urandom(32), host, port) for host, port in addresses))
        session.flush()
        await asyncio.sleep(1.0)  # let the answer reach the node before we leave
    finally:
        await transport.close()


def test_peers_answer_dials_only_what_policy_allows(network: Callable[[int], Network],
                                                     tmp_path: Path) -> None:
    net = network(1)
    target = net[0]
    config = tmp_path / "node.toml"  # the devnet's policy, said explicitly
    config.write_text('[p2p]\ndial_policy = "loopback"\ndial_min_port = 1024\n')
    target.start(mine=False, extra=["--discover", "--config", str(config)])
    allowed, named = decoy(), decoy()
    forbidden = [("localhost", named.getsockname()[1]), ("127.0.0.1", 22),
                 ("10.11.12.13", 20049), ("192.168.77.1", 20049), ("169.254.0.9", 20049)]
    try:
        asyncio.run(answer_peers(target, tmp_path,
                                 [*forbidden, ("127.0.0.1", allowed.getsockname()[1])]))
        counts = {"allowed": 0, "named": 0}

        def dialled(which: str, sock: socket.socket) -> bool:
            counts[which] += received(sock)
            return counts[which] > 0

        wait_until(lambda: dialled("allowed", allowed), 30, "the allowed address to be dialled")
        wait_until(lambda: dialled("named", named) or "not dialing discovered peer 'localhost'"
                   in target.log_text(), 30, "the node to decide about localhost")
        dialled("named", named)
        assert counts["named"] == 0, "a DNS name from a PEERS answer was resolved and dialled"
        text = target.log_text()
        for host, port in forbidden:
            assert f"not dialing discovered peer {host!r} port {port}" in text, (host, port)
            assert f"dialing discovered peer {host}:{port}" not in text, (host, port)
            log(f"{host}:{port}: not dialled")
    finally:
        allowed.close()
        named.close()

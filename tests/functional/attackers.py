"""Hostile peers for the functional tests: Python QUIC clients built from the project's own
transport and identity code, and the payloads they send.

``Attacker`` joins a node under a key of its own and can push anything the wire allows; the
payload builders make the decoding bombs of issue 10 (a block of about two million empty
items, type-2 transactions whose access list is 128 KB of empty lists, a transaction with a
list where an integer belongs) and a validly mined block that carries such a transaction.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import struct
import time
from pathlib import Path

import rlp

from poqw.chain import Header, decode_header, load_genesis
from poqw.chain.mining import sa_solver, seal_block, search_proof, unsealed_header
from poqw.chain.view import MemoryChainView
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.node.testing import mldsa_signer
from poqw.p2p import BlocksReceived, ChainTip, HeadersReceived, LocalNode, StatusReceived
from poqw.p2p.framing import MAGIC, PROTOCOL_VERSION
from poqw.p2p.identity import Role
from poqw.p2p.messages import MAX_BLOCK_BYTES, MAX_TRANSACTION_BYTES, MessageType
from poqw.p2p.peer import PeerConnection
from poqw.p2p.quic import PeerSession, QuicTransport, ensure_tls_identity

__all__ = ["Attacker", "PreJoinAttacker", "access_list_bomb", "bad_field_transaction",
           "empty_items_block", "mine_block_with", "prejoin_oversize"]


def _list(body: bytes) -> bytes:
    n = len(body)
    if n <= 55:
        return bytes([0xC0 + n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(size)]) + size + body


def empty_items_block(max_bytes: int = MAX_BLOCK_BYTES) -> bytes:
    """A block-shaped 2 MB RLP list whose proof list holds about two million empty lists."""
    header = _list(b"\x80" * 12)
    items = max_bytes - 64
    return _list(header + _list(b"\xc0" * items) + b"\xc0\x80\x80")[:max_bytes]


def access_list_bomb(chain_id: int, size: int = MAX_TRANSACTION_BYTES) -> bytes:
    """A type-2 transaction of ``size`` bytes whose access list is empty lists, end to end."""
    head = [rlp.encode(chain_id.to_bytes(8, "big").lstrip(b"\0")), b"\x01", b"\x01", b"\x02",
            b"\x82\x52\x08", b"\x94" + bytes(20), b"\x80", b"\x80"]
    tail = b"\x80\x01\x01"
    fixed = 1 + len(b"".join(head)) + len(tail) + 16
    access = _list(b"\xc0" * (size - fixed))
    return (b"\x02" + _list(b"".join(head) + access + tail))[:size]


def bad_field_transaction(chain_id: int) -> bytes:
    """A type-2 transaction whose nonce is a list (pyrlp used to raise a bare TypeError)."""
    fields: list[object] = [chain_id.to_bytes(8, "big").lstrip(b"\0"), [b"\x01"], b"\x01",
                            b"\x02", b"\x52\x08", bytes(20), b"", b"", [], b"", b"\x01", b"\x01"]
    return b"\x02" + bytes(rlp.encode(fields))


def prejoin_oversize(length: int) -> bytes:
    """A BLOCK_SUBMIT frame header (no payload yet) sent before the join handshake."""
    return struct.pack(">4sBBII", MAGIC, PROTOCOL_VERSION, MessageType.BLOCK_SUBMIT, 0, length)


class Attacker:
    """A peer under its own key (``name``), joined to ``port``; see the module docstring."""

    def __init__(self, name: str, status: dict[str, object], tmp: Path) -> None:
        chain_id = status["chain_id"]
        assert isinstance(chain_id, int)
        genesis_hash = bytes.fromhex(str(status["genesis_hash"]))
        self.local = LocalNode(EcdsaPrivateKey(hash32(b"hostile", name.encode())), chain_id,
                               genesis_hash)
        self.transport = QuicTransport(self.local, ChainTip(0, genesis_hash, 0),
                                       ensure_tls_identity(tmp / name))
        self.session: PeerSession | None = None

    async def join(self, port: int) -> PeerSession:
        self.session = await self.transport.connect("127.0.0.1", port)
        return self.session

    async def close(self) -> None:
        await self.transport.close()

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def status_round_trip(self, timeout: float) -> float:
        """Seconds from a STATUS_REQUEST to its answer (raises ``TimeoutError`` if none)."""
        assert self.session is not None
        start = time.perf_counter()
        request_id = self.session.protocol.request_status(self.now())
        self.session.flush()
        await self.wait_for(lambda e: isinstance(e, StatusReceived) and
                            e.request_id == request_id, timeout)
        return time.perf_counter() - start

    async def wait_for(self, match: object, timeout: float) -> object:
        assert self.session is not None and callable(match)
        deadline = self.now() + timeout
        while True:
            event = await self.session.next_event(max(0.01, deadline - self.now()))
            if match(event):
                return event

    async def chain(self) -> list[Header]:
        """Every header of the node's best chain, genesis first (over BLOCK_REQUEST and
        GET_HEADERS)."""
        assert self.session is not None
        request_id = self.session.protocol.request_blocks(self.now(), start=0, count=1)
        self.session.flush()
        event = await self.wait_for(lambda e: isinstance(e, BlocksReceived) and
                                    e.request_id == request_id, 20)
        assert isinstance(event, BlocksReceived)
        genesis = Header.from_rlp(rlp.decode(event.blocks[0])[0])
        request_id = self.session.protocol.request_headers((bytes(genesis.hash()),), 2000,
                                                           self.now())
        self.session.flush()
        got = await self.wait_for(lambda e: isinstance(e, HeadersReceived) and
                                  e.request_id == request_id, 20)
        assert isinstance(got, HeadersReceived)
        return [genesis, *(decode_header(raw) for raw in got.headers)]


def mine_block_with(genesis_path: Path, chain: list[Header], transactions: tuple[bytes, ...],
                    label: str) -> bytes:
    """A block on the tip of ``chain`` with a valid work proof and signature by a key of the
    attacker's own, carrying ``transactions`` as they are (roots are not checked before
    execution, which is where a bad transaction is found)."""
    genesis = load_genesis(genesis_path)
    parent, view = chain[-1], MemoryChainView(chain)
    signer = mldsa_signer(label)
    miner = signer.address()
    salts = (hash32(b"attacker-salt", label.encode(), i.to_bytes(8, "big"))
             for i in itertools.count())
    found = search_proof(genesis, parent, view, miner, salts, sa_solver(num_sweeps=64))
    assert found is not None
    salt, proof = found
    header = unsealed_header(genesis, parent, view, miner, int(parent.timestamp) + 1, salt,
                             proof, os.urandom(32), os.urandom(32), 21000, transactions)
    block = seal_block(header, proof, transactions, signer.public_key.to_bytes(),
                       lambda message: signer.sign(message).to_bytes())
    return block.encode()


class PreJoinAttacker(Attacker):
    """Sends ``first_bytes`` right after its JOIN_REQUEST, before the handshake is finished."""

    def __init__(self, name: str, status: dict[str, object], tmp: Path,
                 first_bytes: bytes) -> None:
        super().__init__(name, status, tmp)
        transport = self.transport
        original = transport._make_peer

        def make_peer(role: Role, host: str | None) -> PeerConnection:
            peer = original(role, host)
            connection_made = peer.connection_made

            def connection_made_then_send(fingerprint: bytes, now: float) -> None:
                connection_made(fingerprint, now)
                peer._outgoing += first_bytes

            peer.connection_made = connection_made_then_send  # type: ignore[method-assign]
            return peer

        transport._make_peer = make_peer  # type: ignore[method-assign]


def invalid_signature_transaction(chain_id: int, nonce: int) -> bytes:
    """A well-formed type-2 transaction whose signature recovers to nobody (r, s made up)."""
    r = hash32(b"flood-r", nonce.to_bytes(8, "big"))
    fields: list[object] = [chain_id.to_bytes(8, "big").lstrip(b"\0"),
                            nonce.to_bytes(8, "big").lstrip(b"\0"), b"\x01", b"\x02",
                            b"\x52\x08", bytes(range(20)), b"", b"", [], b"", r.lstrip(b"\0"),
                            b"\x01"]
    return b"\x02" + bytes(rlp.encode(fields))


async def flood(port: int, status: dict[str, object], tmp: Path, seconds: float) -> dict[str, int]:
    """One attacker flooding ``port`` for ``seconds``: decoding bombs, garbage, invalid
    transactions and orphan blocks; when the node bans its key it comes back under a new one."""
    chain_id = int(str(status["chain_id"]))
    sent = {"identities": 0, "bomb blocks": 0, "tx bombs": 0, "invalid txs": 0,
            "orphan blocks": 0, "garbage frames": 0}
    # a 256 KB block bomb is 256 k empty items (the old decoder: seconds each); smaller bombs
    # than the largest let more of them through the attacker's own QUIC stream
    block_bomb, tx_bomb = empty_items_block(256 * 1024), access_list_bomb(chain_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    for identity in itertools.count():
        if loop.time() >= deadline:
            break
        attacker = Attacker(f"flood-{identity}", status, tmp)
        try:
            session = await attacker.join(port)
        except Exception:  # refused (a ban, say): try the next identity
            await attacker.close()
            await asyncio.sleep(0.2)
            continue
        sent["identities"] += 1
        if identity == 0:
            print("flooding", flush=True)  # the test starts measuring now
        peer = session.protocol
        try:
            for step in itertools.count():
                if loop.time() >= deadline or not peer.is_open:
                    break
                kind = step % 5
                if kind == 0:
                    peer.push_block(block_bomb, os.urandom(32))
                    sent["bomb blocks"] += 1
                elif kind == 1:
                    peer.push_transactions((tx_bomb,) * 4, ())
                    sent["tx bombs"] += 4
                elif kind == 2:
                    txs = tuple(invalid_signature_transaction(chain_id, step * 64 + i)
                                for i in range(64))
                    peer.push_transactions(txs, ())
                    sent["invalid txs"] += 64
                elif kind == 3:
                    orphan = rlp.encode([[os.urandom(32), b"\x05", b"\x05", bytes(20),
                                          *[os.urandom(32)] * 3, b"\x01", b"", bytes(8),
                                          os.urandom(32), os.urandom(32)],
                                         [bytes(3)] * 4, [], b"", b""])
                    peer.push_block(bytes(orphan), os.urandom(32))
                    sent["orphan blocks"] += 1
                elif step % 50 == 49:  # garbage: the node bans this key, the next one comes
                    peer._outgoing += os.urandom(64)
                    sent["garbage frames"] += 1
                session.flush()
                await asyncio.sleep(0.02)
        except Exception:  # the node closed us mid-send: next identity
            pass
        if loop.time() < deadline:  # at the end, just leave: the process exits
            await attacker.close()
    return sent


if __name__ == "__main__":  # python attackers.py PORT STATUS_JSON TMPDIR SECONDS
    import json
    import sys

    # The counts go to TMPDIR/flood.json, not stdout: asyncio may print warnings about the
    # sessions left open at exit after anything printed here.
    result = asyncio.run(flood(int(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3]),
                               float(sys.argv[4])))
    (Path(sys.argv[3]) / "flood.json").write_text(json.dumps(result))

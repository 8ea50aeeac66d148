"""Capability gossip: the CAPABILITY message between two in-memory peers (delivered, size-limited,
rate-limited to a ban), and the node's book of peers' records (forged, relayed and other-chain
records refused; bounded; our own record re-read when its file changes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.encoding import rlp
from poqw.errors import InvalidCapability, LocalProtocolError, MalformedMessage
from poqw.node import capability as cap_module
from poqw.node.capabilities import CAPABILITY_FILE, CapabilityBook, check_capability
from poqw.node.capability import Capability, GpuInfo, sign_capability
from poqw.p2p import CapabilityReceived, ConnectionClosed, ConnectionState, DisconnectReason
from poqw.p2p.messages import (
    MAX_CAPABILITY_BYTES,
    MAX_PAYLOAD,
    CapabilityRecord,
    MessageType,
    decode_message,
)
from test_p2p_peer import joined, key, of_type

CHAIN = 7


def capability(cores: int = 8, chain_id: int = CHAIN) -> Capability:
    return Capability(chain_id, 1_800_000_000, cores, 16 << 30,
                      (GpuInfo("NVIDIA H100 80GB HBM3", 80 << 30),), "mock", 2_000_000,
                      5_000_000, 900_000_000)


def record(name: str, cores: int = 8, chain_id: int = CHAIN) -> bytes:
    return sign_capability(capability(cores, chain_id), key(name)).encode()


def node_id(name: str) -> bytes:
    return key(name).public_key().compressed


def test_the_message_limit_is_the_record_limit() -> None:
    assert MAX_CAPABILITY_BYTES == cap_module.MAX_CAPABILITY_BYTES
    assert len(record("bob")) < MAX_CAPABILITY_BYTES
    with pytest.raises(LocalProtocolError, match="CAPABILITY.record"):
        CapabilityRecord(bytes(MAX_CAPABILITY_BYTES + 1))
    too_big = rlp.encode([bytes(MAX_CAPABILITY_BYTES + 40)])
    assert len(too_big) > MAX_PAYLOAD[MessageType.CAPABILITY]
    with pytest.raises(MalformedMessage, match="over the limit"):
        decode_message(MessageType.CAPABILITY, too_big)


def test_a_record_sent_after_the_join_arrives_unasked() -> None:
    link = joined()
    data = record("bob")
    link.b.send_capability(data)
    got_a, _ = link.pump(1.0)
    assert [e.record for e in of_type(got_a, CapabilityReceived)] == [data]


def test_a_peer_flooding_capability_records_is_banned() -> None:
    link = joined(name_b="mallory")
    data = record("mallory")
    closed: list[ConnectionClosed] = []
    received = 0
    for i in range(40):  # the limit is a burst of 4, then one every 20 s
        if link.b.state is not ConnectionState.READY:
            break
        link.b.send_capability(data)
        got_a, _ = link.pump(1.0 + i * 0.01)
        received += len(of_type(got_a, CapabilityReceived))
        closed += of_type(got_a, ConnectionClosed)
    assert received == 4
    assert closed and closed[0].banned and closed[0].code == DisconnectReason.MISBEHAVIOUR
    assert "capability rate limit" in closed[0].reason


def test_book_keeps_a_valid_record_and_refuses_forged_relayed_and_other_chain(
        tmp_path: Path) -> None:
    book = CapabilityBook(tmp_path, node_id("alice"), CHAIN, max_entries=2)
    assert book.receive(node_id("bob"), record("bob")).capability.cores == 8
    assert book.json_of(node_id("bob"))["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"  # type: ignore[index]
    forged = bytearray(record("carol"))
    forged[-5] ^= 0x01  # inside the signature
    with pytest.raises(InvalidCapability, match="refused"):
        book.receive(node_id("carol"), bytes(forged))
    with pytest.raises(InvalidCapability, match="not by the peer"):
        book.receive(node_id("carol"), record("bob"))  # Bob's genuine record, relayed
    with pytest.raises(InvalidCapability, match="not ours"):
        book.receive(node_id("carol"), record("carol", chain_id=CHAIN + 1))
    assert book.refused == 3 and book.of(node_id("carol")) is None
    book.receive(node_id("carol"), record("carol"))
    book.receive(node_id("dave"), record("dave"))
    assert len(book) == 2 and book.of(node_id("bob")) is None  # bounded: the oldest goes
    book.forget(node_id("carol"))
    assert len(book) == 1


def test_our_record_is_reloaded_when_its_file_changes(tmp_path: Path) -> None:
    book = CapabilityBook(tmp_path, node_id("alice"), CHAIN, max_entries=4)
    assert not book.reload() and book.local_record is None  # no file yet
    path = tmp_path / CAPABILITY_FILE
    path.write_bytes(record("alice", cores=4))
    assert book.reload() and book.local is not None and book.local.capability.cores == 4
    assert not book.reload()  # unchanged
    path.write_bytes(record("alice", cores=64))
    os.utime(path, ns=(1, 1))
    assert book.reload() and book.local.capability.cores == 64
    path.write_bytes(record("bob"))  # another node's record is never sent as ours
    os.utime(path, ns=(2, 2))
    assert not book.reload() and book.local.capability.cores == 64


def test_check_capability_needs_the_signer_to_be_the_peer() -> None:
    other = EcdsaPrivateKey(bytes(31) + b"\x09")
    data = sign_capability(capability(), other).encode()
    assert check_capability(data, other.public_key().compressed, CHAIN).capability.cores == 8
    with pytest.raises(InvalidCapability):
        check_capability(data, node_id("bob"), CHAIN)

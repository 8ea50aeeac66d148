"""Orphans: what a block proves without its parent is checked before it is kept, and the pool is
bounded in count, bytes and age, reporting the orphans that left without connecting.

Oracles: blocks mined for real and then tampered with one field at a time (re-signed where the
signature would otherwise be the first thing to fail), and pool sizes summed by hand from the
encoded blocks.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from poqw.chain import I64, Block, Bytes32, Hash32, Header, seal_message, transactions_root
from poqw.chain.orphan import validate_orphan
from poqw.errors import InvalidBlock, InvalidHeader, InvalidProof
from poqw.node import Blockchain, OrphanPool
from poqw.node.testing import build_block_on, funded_genesis, make_chain, mldsa_signer

GENESIS = funded_genesis()
T0 = GENESIS.timestamp + 10**6
ALICE = mldsa_signer("orphan-alice")


def private_child(tmp_path: Path, count: int = 1) -> tuple[Blockchain, list[Block]]:
    """``count`` children of a block 1 that only a private chain has (orphans elsewhere)."""
    source, _ = make_chain(tmp_path / "private", GENESIS)
    genesis = source.tip_header()
    first = build_block_on(source, genesis, ALICE, T0 + 1, label="parent")
    source.import_block(first, T0 + 10)
    children = [build_block_on(source, first.header, ALICE, T0 + 2, label=f"child{i}")
                for i in range(count)]
    return source, children


def resign(block: Block, header: Header, transactions: tuple[bytes, ...] | None = None) -> Block:
    signature = ALICE.sign(seal_message(header)).to_bytes()
    txs = block.transactions if transactions is None else transactions
    return dataclasses.replace(block, header=header, transactions=txs, signature=signature)


def test_a_real_orphan_passes_and_each_forgery_is_named(tmp_path: Path) -> None:
    _, (child,) = private_child(tmp_path)
    validate_orphan(child, GENESIS)
    h = child.header
    salted = resign(child, dataclasses.replace(h, salt=Bytes32(os.urandom(32))))
    with pytest.raises(InvalidProof):  # another instance: the proof no longer solves it
        validate_orphan(salted, GENESIS)
    reparented = resign(child, dataclasses.replace(h, parent_hash=Hash32(os.urandom(32))))
    with pytest.raises(InvalidProof):
        validate_orphan(reparented, GENESIS)
    too_easy = resign(child, dataclasses.replace(
        h, energy_bound=I64(GENESIS.difficulty.easiest_bound + 1)))
    with pytest.raises(InvalidHeader, match="outside the calibrated range"):
        validate_orphan(too_easy, GENESIS)
    junk = (os.urandom(1000),)
    with pytest.raises(InvalidBlock, match="transaction root"):
        validate_orphan(dataclasses.replace(child, transactions=junk), GENESIS)
    with pytest.raises(InvalidBlock, match="bad signature"):
        validate_orphan(dataclasses.replace(child, signature=child.signature[::-1]), GENESIS)
    rooted = dataclasses.replace(h, tx_root=transactions_root(junk))
    with pytest.raises(InvalidBlock, match="bad signature"):  # a new root needs a new seal
        validate_orphan(dataclasses.replace(child, header=rooted, transactions=junk), GENESIS)
    validate_orphan(resign(child, rooted, junk), GENESIS)  # signed junk with a real proof


def test_the_chain_keeps_only_orphans_that_prove_their_work(tmp_path: Path) -> None:
    _, (child,) = private_child(tmp_path)
    chain, _ = make_chain(tmp_path / "node", GENESIS)
    forged = resign(child, dataclasses.replace(child.header, salt=Bytes32(os.urandom(32))))
    with pytest.raises(InvalidProof):
        chain.import_block(forged, T0 + 10)
    assert len(chain.orphans) == 0 and chain.orphans.size_bytes == 0
    assert chain.import_block(child, T0 + 10).status == "orphan"
    assert len(chain.orphans) == 1 and chain.orphans.size_bytes == len(child.encode())


def test_the_pool_is_bounded_in_bytes_count_and_age_and_reports_what_left(
        tmp_path: Path) -> None:
    _, children = private_child(tmp_path, 4)
    sizes = [len(c.encode()) for c in children]
    pool = OrphanPool(max_blocks=10, max_bytes=sizes[0] + sizes[1] + sizes[2] - 1, max_age=100)
    for i, child in enumerate(children[:3]):
        pool.add(child, now=float(i))
    assert len(pool) == 2 and children[0].hash() not in pool  # the oldest made room
    assert pool.size_bytes == sizes[1] + sizes[2]
    assert pool.take_dropped() == [bytes(children[0].hash())] and pool.take_dropped() == []
    pool.max_blocks = 1
    pool.add(children[3], now=50.0)
    assert len(pool) == 1 and pool.size_bytes == sizes[3]
    assert pool.take_dropped() == [bytes(children[1].hash()), bytes(children[2].hash())]
    pool.expire(149.0)
    assert len(pool) == 1
    pool.expire(150.0)
    assert len(pool) == 0 and pool.size_bytes == 0
    assert pool.take_dropped() == [bytes(children[3].hash())]
    parent = children[0].header.parent_hash
    pool.max_blocks = 10
    pool.add(children[0], now=200.0)
    assert pool.pop_children(parent) == [children[0]] and pool.size_bytes == 0
    pool.add(children[1], now=200.0)
    assert pool.size_of(children[1].hash()) == sizes[1] and pool.size_of(b"\0" * 32) == 0
    assert pool.discard(children[1].hash()) == sizes[1] and pool.discard(b"\0" * 32) == 0
    assert pool.size_bytes == 0 and len(pool) == 0
    assert pool.take_dropped() == []  # connected or discarded orphans are not reported

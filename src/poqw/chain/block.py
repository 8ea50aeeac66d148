"""Headers and blocks: frozen dataclasses, a canonical RLP encoding and domain-separated hashes.

A header is the RLP list ``[parent_hash, number, timestamp, miner, state_root, tx_root,
receipt_root, gas_limit, gas_used, energy_bound, salt, proof_hash, ticket_target]``: unsigned
integers (``ticket_target`` included, at most 32 bytes) are RLP big-endian integers without
leading zeros, ``energy_bound`` is 8 bytes of big-endian two's complement, and byte fields have
their fixed sizes. The block hash is
``hash32(b"poqw/header/v1", rlp(header))``; the miner signs it. A block is the RLP list
``[header, proof, transactions, public_key, signature]``; :func:`decode_block` refuses input over
its size limits before looking inside, and checks the proof's count and lengths before keeping it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rlp

from poqw.chain.proof import MAX_PROOF_SOLUTIONS, WorkProof
from poqw.chain.types import I64, U64, U256, Address, Bytes32, Hash32, Height
from poqw.crypto.hashing import hash32
from poqw.encoding.rlp import Bytes, ListOf, Raw, count_items
from poqw.encoding.rlp import decode as decode_rlp
from poqw.errors import DecodeError

__all__ = [
    "MAX_TICKET_TARGET",
    "Block",
    "BlockLimits",
    "Header",
    "decode_block",
    "decode_header",
    "decode_proof",
    "encoded_proof",
    "transactions_root",
]

_HEADER_FIELDS = 13
MAX_TICKET_TARGET = (1 << 256) - 1
"""The ticket target that every ticket meets (no lottery: the energy bound alone decides)."""
_NO_LOTTERY = U256(MAX_TICKET_TARGET)


@dataclass(frozen=True)
class Header:
    """A block header; every field is a sized type checked on construction."""

    parent_hash: Hash32
    number: Height
    timestamp: U64
    miner: Address
    state_root: Hash32
    tx_root: Hash32
    receipt_root: Hash32
    gas_limit: U64
    gas_used: U64
    energy_bound: I64
    salt: Bytes32
    proof_hash: Hash32
    ticket_target: U256 = _NO_LOTTERY

    def __post_init__(self) -> None:
        for name, kind in _HEADER_TYPES.items():  # plain bytes/ints in, checked sized types out
            value = getattr(self, name)
            if type(value) is not kind:
                object.__setattr__(self, name, kind(value))

    def to_rlp(self) -> list[bytes]:
        return [
            self.parent_hash, _uint(self.number), _uint(self.timestamp), self.miner,
            self.state_root, self.tx_root, self.receipt_root, _uint(self.gas_limit),
            _uint(self.gas_used), int(self.energy_bound).to_bytes(8, "big", signed=True),
            self.salt, self.proof_hash, _uint(self.ticket_target),
        ]

    def encode(self) -> bytes:
        return bytes(rlp.encode(self.to_rlp()))

    def hash(self) -> Hash32:
        """The block hash (what the miner signs and what children name as parent)."""
        return Hash32(hash32(b"poqw/header/v1", self.encode()))

    @classmethod
    def from_rlp(cls, item: Any) -> Header:
        if not isinstance(item, list) or len(item) != _HEADER_FIELDS:
            raise DecodeError(f"a header must be an RLP list of {_HEADER_FIELDS} byte strings")
        if not all(isinstance(x, bytes) for x in item):
            raise DecodeError("header fields must be byte strings, not lists")
        (parent, number, timestamp, miner, state_root, tx_root, receipt_root, gas_limit,
         gas_used, bound, salt, proof_hash, ticket_target) = item
        if len(bound) != 8:
            raise DecodeError(f"energy_bound must be 8 bytes, got {len(bound)}")
        return cls(
            Hash32(parent), Height(_read_uint(number, "number")),
            U64(_read_uint(timestamp, "timestamp")), Address(miner), Hash32(state_root),
            Hash32(tx_root), Hash32(receipt_root), U64(_read_uint(gas_limit, "gas_limit")),
            U64(_read_uint(gas_used, "gas_used")), I64(int.from_bytes(bound, "big", signed=True)),
            Bytes32(salt), Hash32(proof_hash), U256(_read_uint(ticket_target, "ticket_target")),
        )


@dataclass(frozen=True)
class Block:
    """A header, its work proof, raw EVM transactions and the miner's hybrid key and signature."""

    header: Header
    proof: WorkProof
    transactions: tuple[bytes, ...] = ()
    public_key: bytes = b""
    signature: bytes = b""

    def hash(self) -> Hash32:
        return self.header.hash()

    def encode(self) -> bytes:
        return bytes(rlp.encode([self.header.to_rlp(), list(self.proof.solutions),
                                 list(self.transactions), self.public_key, self.signature]))


@dataclass(frozen=True)
class BlockLimits:
    """Size limits a decoder enforces (derived from genesis; see ``Genesis.block_limits``)."""

    max_block_bytes: int
    max_transactions: int
    max_transaction_bytes: int
    proof_solutions: int
    solution_bytes: int
    max_public_key_bytes: int = 4096
    max_signature_bytes: int = 8192


_HEADER_TYPES: dict[str, type] = {
    "parent_hash": Hash32, "number": Height, "timestamp": U64, "miner": Address,
    "state_root": Hash32, "tx_root": Hash32, "receipt_root": Hash32, "gas_limit": U64,
    "gas_used": U64, "energy_bound": I64, "salt": Bytes32, "proof_hash": Hash32,
    "ticket_target": U256,
}


def _uint(v: int) -> bytes:
    return int(v).to_bytes((int(v).bit_length() + 7) // 8, "big")


def _read_uint(b: bytes, name: str) -> int:
    if len(b) > 32:
        raise DecodeError(f"{name} is {len(b)} bytes, more than 32")
    if b[:1] == b"\x00":
        raise DecodeError(f"{name} has a leading zero byte (non-canonical integer)")
    return int.from_bytes(b, "big")


_HEADER_SHAPE = ListOf(Bytes(32), _HEADER_FIELDS, "fields")
_COUNT_CAP = 4096  # how far past a limit an error message still counts items exactly


def decode_header(data: bytes, max_bytes: int = 1024) -> Header:
    """A header from its RLP encoding (size-limited, canonical, read in linear time)."""
    if len(data) > max_bytes:
        raise DecodeError(f"header is {len(data)} bytes, over the limit of {max_bytes}")
    header = Header.from_rlp(decode_rlp(data, _HEADER_SHAPE, "header"))
    if header.encode() != data:
        raise DecodeError("header encoding is not canonical")
    return header


def decode_block(data: bytes, limits: BlockLimits) -> Block:
    """A block from bytes; every count and size is checked before the part it bounds is built.

    The reader walks the input once per part (:mod:`poqw.encoding.rlp`), so a hostile block
    costs time linear in its size and memory bounded by the genesis limits.
    """
    if len(data) > limits.max_block_bytes:
        raise DecodeError(f"block is {len(data)} bytes, over the limit of {limits.max_block_bytes}")
    item = decode_rlp(data, ListOf(Raw(limits.max_block_bytes), 5, "items"), "block")
    if len(item) != 5:
        raise DecodeError("a block must be an RLP list of 5 items")
    raw_header, raw_proof, raw_txs, raw_public_key, raw_signature = item
    proof = _decode_proof(raw_proof, limits)
    txs = _decode_transactions(raw_txs, limits)
    public_key = decode_rlp(raw_public_key, Bytes(limits.max_block_bytes), "block.public_key")
    signature = decode_rlp(raw_signature, Bytes(limits.max_block_bytes), "block.signature")
    if len(public_key) > limits.max_public_key_bytes:
        raise DecodeError(f"public key must be at most {limits.max_public_key_bytes} bytes")
    if len(signature) > limits.max_signature_bytes:
        raise DecodeError(f"signature must be at most {limits.max_signature_bytes} bytes")
    header = Header.from_rlp(decode_rlp(raw_header, _HEADER_SHAPE, "block.header"))
    block = Block(header, proof, txs, public_key, signature)
    if block.encode() != data:
        raise DecodeError("block encoding is not canonical")
    return block


def encoded_proof(data: bytes, limits: BlockLimits) -> bytes:
    """The encoded work proof inside an encoded block, cut out without decoding the rest (for
    serving headers with their proofs from stored blocks)."""
    items = decode_rlp(data, ListOf(Raw(limits.max_block_bytes), 5, "items"), "block")
    if len(items) != 5:
        raise DecodeError("a block must be an RLP list of 5 items")
    return bytes(items[1])


def decode_proof(data: bytes, limits: BlockLimits) -> WorkProof:
    """A work proof sent beside its header (headers-first sync): exactly the genesis count of
    solutions of the genesis row size, canonical RLP, read by the bounded reader."""
    max_bytes = 9 + limits.proof_solutions * (limits.solution_bytes + 9)
    if len(data) > max_bytes:
        raise DecodeError(f"work proof is {len(data)} bytes, over the limit of {max_bytes}")
    proof = _decode_proof(data, limits)
    if proof.encode() != data:
        raise DecodeError("work proof encoding is not canonical")
    return proof


def _list_count(raw: bytes) -> str:
    """The number of items in the encoded list ``raw`` (for a message), without building it."""
    count = count_items(raw, _COUNT_CAP)
    return str(count) if count <= _COUNT_CAP else f"more than {_COUNT_CAP}"


def _decode_proof(raw: bytes, limits: BlockLimits) -> WorkProof:
    if not raw or raw[0] < 0xC0:
        raise DecodeError("a work proof must be an RLP list of solutions")
    count = _list_count(raw)
    if count != str(limits.proof_solutions):
        raise DecodeError(f"work proof has {count} solutions, expected exactly "
                          f"{limits.proof_solutions}")
    shape = ListOf(Bytes(limits.max_block_bytes), limits.proof_solutions, "solutions")
    return WorkProof.from_rlp(decode_rlp(raw, shape, "block.proof"),
                              min(limits.proof_solutions, MAX_PROOF_SOLUTIONS),
                              limits.solution_bytes)


def _decode_transactions(raw: bytes, limits: BlockLimits) -> tuple[bytes, ...]:
    if not raw or raw[0] < 0xC0:
        raise DecodeError("transactions must be an RLP list")
    count = _list_count(raw)
    if not count.isdigit() or int(count) > limits.max_transactions:
        raise DecodeError(f"block has {count} transactions, limit {limits.max_transactions}")
    shape = ListOf(Bytes(limits.max_block_bytes), limits.max_transactions, "transactions")
    txs = decode_rlp(raw, shape, "block.transactions")
    for i, tx in enumerate(txs):
        if len(tx) > limits.max_transaction_bytes:
            raise DecodeError(f"transaction {i} is not a byte string of at most "
                              f"{limits.max_transaction_bytes} bytes")
    return tuple(txs)


def transactions_root(transactions: tuple[bytes, ...] | list[bytes]) -> Hash32:
    """Binary Merkle root of the raw transactions, in block order.

    Leaves are ``hash32(b"poqw/tx-leaf/v1", tx)``, inner nodes ``hash32(b"poqw/tx-node/v1", left,
    right)``; an odd node at the end of a level moves up unchanged; no transactions gives
    ``hash32(b"poqw/tx-empty/v1")``.
    """
    if not transactions:
        return Hash32(hash32(b"poqw/tx-empty/v1"))
    level = [hash32(b"poqw/tx-leaf/v1", tx) for tx in transactions]
    while len(level) > 1:
        nxt = [hash32(b"poqw/tx-node/v1", level[i], level[i + 1])
               for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return Hash32(level[0])

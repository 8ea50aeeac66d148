"""Messages that carry chain data: announcements, blocks, headers and transactions.

Blocks, headers and transactions are opaque bytes at this layer, named by 32-byte hashes: a
GOSSIP announces hashes, the receiver asks for what it lacks (BLOCK_REQUEST, GET_HEADERS,
TX_REQUEST) and the answers carry the encoded items, each list and item within its limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from poqw.encoding.rlp import Bytes, ListOf, Uint
from poqw.errors import LocalProtocolError, MalformedMessage
from poqw.p2p.codec import encode_uint, read_uint
from poqw.p2p.messages_base import (
    HASH_SHAPE,
    Message,
    check_count,
    read_blobs,
    read_hashes,
    record,
)
from poqw.p2p.messages_limits import (
    MAX_BLOCK_BYTES,
    MAX_BLOCK_RANGE,
    MAX_BLOCKS_PER_MESSAGE,
    MAX_GOSSIP_HASHES,
    MAX_HEADER_BYTES,
    MAX_HEADER_PROOF_BYTES,
    MAX_HEADERS_PER_MESSAGE,
    MAX_LOCATOR_HASHES,
    MAX_TRANSACTION_BYTES,
    MAX_TRANSACTIONS_PER_MESSAGE,
    MessageType,
)

__all__ = ["BlockRequest", "BlockSubmit", "GetHeaders", "Gossip", "Headers", "Transactions",
           "TxRequest"]


@dataclass(frozen=True)
class Gossip(Message):
    """An announcement of new blocks and transactions by hash; the receiver fetches each once."""

    TYPE = MessageType.GOSSIP
    SHAPE = record(blocks=ListOf(HASH_SHAPE, MAX_GOSSIP_HASHES, "hashes"),
                    transactions=ListOf(HASH_SHAPE, MAX_GOSSIP_HASHES, "hashes"))
    blocks: tuple[bytes, ...] = ()
    transactions: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        check_count("GOSSIP.blocks", self.blocks, MAX_GOSSIP_HASHES)
        check_count("GOSSIP.transactions", self.transactions, MAX_GOSSIP_HASHES)


    def to_rlp(self) -> list[Any]:
        return [list(self.blocks), list(self.transactions)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> Gossip:
        return cls(read_hashes(items[0], "GOSSIP.blocks", MAX_GOSSIP_HASHES),
                   read_hashes(items[1], "GOSSIP.transactions", MAX_GOSSIP_HASHES))


@dataclass(frozen=True)
class BlockRequest(Message):
    """Blocks by hash (``hashes``), or by height range (``start``, ``count``): exactly one."""

    TYPE = MessageType.BLOCK_REQUEST
    SHAPE = record(hashes=ListOf(HASH_SHAPE, MAX_BLOCKS_PER_MESSAGE, "hashes"), start=Uint(8),
                    count=Uint(2))
    hashes: tuple[bytes, ...] = ()
    start: int = 0
    count: int = 0

    def __post_init__(self) -> None:
        if bool(self.hashes) == bool(self.count):
            raise LocalProtocolError("a block request asks by hashes or by a range, not both")
        check_count("BLOCK_REQUEST.hashes", self.hashes, MAX_BLOCKS_PER_MESSAGE)
        if self.count > MAX_BLOCK_RANGE:
            raise LocalProtocolError(f"BLOCK_REQUEST.count {self.count} over {MAX_BLOCK_RANGE}")

    def to_rlp(self) -> list[Any]:
        return [list(self.hashes), encode_uint(self.start), encode_uint(self.count)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> BlockRequest:
        hashes = read_hashes(items[0], "BLOCK_REQUEST.hashes", MAX_BLOCKS_PER_MESSAGE)
        start = read_uint(items[1], "BLOCK_REQUEST.start", 8)
        count = read_uint(items[2], "BLOCK_REQUEST.count", 2)
        if bool(hashes) == bool(count):
            raise MalformedMessage("BLOCK_REQUEST must ask by hashes or by range, not both")
        if count > MAX_BLOCK_RANGE:
            raise MalformedMessage(f"BLOCK_REQUEST.count {count} over {MAX_BLOCK_RANGE}")
        return cls(hashes, start, count)


@dataclass(frozen=True)
class BlockSubmit(Message):
    """Encoded blocks: a new block pushed unasked (request id 0) or a BLOCK_REQUEST answer."""

    TYPE = MessageType.BLOCK_SUBMIT
    SHAPE = record(blocks=ListOf(Bytes(MAX_BLOCK_BYTES), MAX_BLOCKS_PER_MESSAGE, "blocks"))
    blocks: tuple[bytes, ...]

    def __post_init__(self) -> None:
        check_count("BLOCK_SUBMIT.blocks", self.blocks, MAX_BLOCKS_PER_MESSAGE)


    def to_rlp(self) -> list[Any]:
        return [list(self.blocks)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> BlockSubmit:
        return cls(read_blobs(items[0], "BLOCK_SUBMIT.blocks", MAX_BLOCKS_PER_MESSAGE,
                          MAX_BLOCK_BYTES))


@dataclass(frozen=True)
class GetHeaders(Message):
    """Headers after the first locator hash on the responder's best chain (Bitcoin-style)."""

    TYPE = MessageType.GET_HEADERS
    SHAPE = record(locator=ListOf(HASH_SHAPE, MAX_LOCATOR_HASHES, "hashes"), max_count=Uint(4))
    locator: tuple[bytes, ...]
    max_count: int

    def __post_init__(self) -> None:
        check_count("GET_HEADERS.locator", self.locator, MAX_LOCATOR_HASHES)


    def to_rlp(self) -> list[Any]:
        return [list(self.locator), encode_uint(self.max_count)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> GetHeaders:
        locator = read_hashes(items[0], "GET_HEADERS.locator", MAX_LOCATOR_HASHES)
        count = read_uint(items[1], "GET_HEADERS.max_count", 4)
        if not 0 < count <= MAX_HEADERS_PER_MESSAGE:
            raise MalformedMessage(
                f"GET_HEADERS.max_count {count} not in 1..{MAX_HEADERS_PER_MESSAGE}")
        return cls(locator, count)


@dataclass(frozen=True)
class Headers(Message):
    """Encoded headers in height order, each with its encoded work proof (``proofs[i]`` belongs
    to ``headers[i]``), so the receiver checks every header's work before believing it."""

    TYPE = MessageType.HEADERS
    SHAPE = record(headers=ListOf(Bytes(MAX_HEADER_BYTES), MAX_HEADERS_PER_MESSAGE,
                                    "headers"),
                    proofs=ListOf(Bytes(MAX_HEADER_PROOF_BYTES), MAX_HEADERS_PER_MESSAGE,
                                  "proofs"))
    headers: tuple[bytes, ...]
    proofs: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        check_count("HEADERS.headers", self.headers, MAX_HEADERS_PER_MESSAGE)
        if len(self.proofs) != len(self.headers):
            raise LocalProtocolError(f"HEADERS has {len(self.headers)} headers but "
                                     f"{len(self.proofs)} proofs")

    def to_rlp(self) -> list[Any]:
        return [list(self.headers), list(self.proofs)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> Headers:
        headers = read_blobs(items[0], "HEADERS.headers", MAX_HEADERS_PER_MESSAGE, MAX_HEADER_BYTES)
        proofs = read_blobs(items[1], "HEADERS.proofs", MAX_HEADERS_PER_MESSAGE,
                        MAX_HEADER_PROOF_BYTES)
        if len(proofs) != len(headers):
            raise MalformedMessage(f"HEADERS has {len(headers)} headers but {len(proofs)} "
                                   "proofs")
        return cls(headers, proofs)


@dataclass(frozen=True)
class TxRequest(Message):
    """Raw transactions by hash (after a GOSSIP announced them)."""

    TYPE = MessageType.TX_REQUEST
    SHAPE = record(hashes=ListOf(HASH_SHAPE, MAX_TRANSACTIONS_PER_MESSAGE, "hashes"))
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        check_count("TX_REQUEST.hashes", self.hashes, MAX_TRANSACTIONS_PER_MESSAGE)

    def to_rlp(self) -> list[Any]:
        return [list(self.hashes)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> TxRequest:
        return cls(read_hashes(items[0], "TX_REQUEST.hashes", MAX_TRANSACTIONS_PER_MESSAGE))


@dataclass(frozen=True)
class Transactions(Message):
    """Raw transactions: a TX_REQUEST answer, or pushed unasked (request id 0)."""

    TYPE = MessageType.TRANSACTIONS
    SHAPE = record(transactions=ListOf(Bytes(MAX_TRANSACTION_BYTES),
                                         MAX_TRANSACTIONS_PER_MESSAGE, "transactions"))
    transactions: tuple[bytes, ...]

    def __post_init__(self) -> None:
        check_count("TRANSACTIONS.transactions", self.transactions,
                     MAX_TRANSACTIONS_PER_MESSAGE)

    def to_rlp(self) -> list[Any]:
        return [list(self.transactions)]

    @classmethod
    def from_rlp(cls, items: list[Any]) -> Transactions:
        return cls(read_blobs(items[0], "TRANSACTIONS.transactions", MAX_TRANSACTIONS_PER_MESSAGE,
                          MAX_TRANSACTION_BYTES))

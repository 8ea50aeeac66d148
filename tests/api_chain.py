"""An in-memory chain of headers and receipts for the log, filter and subscription unit tests:
the read surface eth_getLogs needs (:class:`poqw.api.logs.LogChain`), with blooms built by
py-evm's ``eth_bloom`` (an implementation independent of ours) and a count of receipt reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_bloom import BloomFilter

from poqw.chain import Header
from poqw.execution import Log, Receipt


def addr(n: int) -> bytes:
    return n.to_bytes(20, "big")


def topic(n: int) -> bytes:
    return n.to_bytes(32, "big")


def receipt(tx_index: int, logs: Sequence[Log], tx_hash: bytes | None = None) -> Receipt:
    bloom = BloomFilter()
    for log in logs:
        bloom.add(log.address)
        for t in log.topics:
            bloom.add(t)
    return Receipt(tx_hash=tx_hash or bytes([tx_index + 1]) * 32, tx_index=tx_index, tx_type=2,
                   sender=addr(0xAA), to=addr(0xBB), status=True, gas_used=21_000,
                   cumulative_gas_used=21_000 * (tx_index + 1), effective_gas_price=1,
                   contract_address=None, logs=tuple(logs),
                   bloom=int(bloom).to_bytes(256, "big"), encoded=b"")


def header(number: int, parent: bytes, gas_used: int, salt: int = 0) -> Header:
    return Header(parent_hash=parent, number=number, timestamp=1_000 + number,
                  miner=addr(1), state_root=bytes(32), tx_root=bytes(32),
                  receipt_root=bytes(32), gas_limit=30_000_000, gas_used=gas_used,
                  energy_bound=-10, salt=salt.to_bytes(32, "big"), proof_hash=bytes(32))


@dataclass
class MemoryChain:
    """Blocks by hash and a canonical list; ``receipt_reads`` counts receipt fetches."""

    headers: dict[bytes, Header] = field(default_factory=dict)
    block_receipts: dict[bytes, tuple[Receipt, ...]] = field(default_factory=dict)
    canonical: list[bytes] = field(default_factory=list)
    receipt_reads: int = 0

    def __post_init__(self) -> None:
        if not self.canonical:
            self.append([])

    def append(self, receipts: Sequence[Receipt], parent_number: int | None = None,
               salt: int = 0) -> bytes:
        """Add a block on canonical block ``parent_number`` (default: the head); it becomes
        the head, dropping the canonical blocks above its parent."""
        number = len(self.canonical) if parent_number is None else parent_number + 1
        parent = self.canonical[number - 1] if number else bytes(32)
        h = header(number, parent, sum(r.gas_used for r in receipts), salt)
        block_hash = h.hash()
        self.headers[block_hash] = h
        self.block_receipts[block_hash] = tuple(receipts)
        del self.canonical[number:]
        self.canonical.append(block_hash)
        return block_hash

    # LogChain
    def head_number(self) -> int:
        return len(self.canonical) - 1

    def tag_number(self, tag: str) -> int:
        return 0 if tag == "earliest" else self.head_number()

    def canonical_hash(self, number: int) -> bytes | None:
        return self.canonical[number] if 0 <= number < len(self.canonical) else None

    def header(self, block_hash: bytes) -> Header | None:
        return self.headers.get(block_hash)

    def receipts(self, block_hash: bytes) -> Sequence[Receipt] | None:
        self.receipt_reads += 1
        return self.block_receipts.get(block_hash)

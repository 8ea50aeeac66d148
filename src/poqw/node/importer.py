"""Decoding and validation of what peers send, off the event loop's thread.

Importing a block verifies its proof and signatures and runs the EVM; admitting a transaction
decodes it and recovers its signer. Both can take far longer than a millisecond, and a peer
chooses the bytes, so the network layer never does either on the event loop: it awaits them on
one worker thread (one, so blocks are imported in the order they were handed over), and the
loop keeps answering every other peer meanwhile. The node's chain and mempool are already safe
to call from several threads (the miner imports from its own).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from poqw.chain import Header, decode_block, decode_header
from poqw.errors import DecodeError, PoqwError
from poqw.node.blockchain import ImportResult
from poqw.node.service import Node

__all__ = ["Admitted", "UntrustedWork"]

T = TypeVar("T")
log = logging.getLogger("poqw.node.network")


@dataclass
class Admitted:
    """What became of a batch of relayed transactions."""

    accepted: list[bytes] = field(default_factory=list)  # hashes now in the mempool
    undecodable: list[str] = field(default_factory=list)  # reasons: the sender's fault
    refused: int = 0  # valid bytes the mempool or the state refused (not the sender's fault)


class UntrustedWork:
    """One worker thread for everything a peer's bytes make the node compute."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="poqw-import")

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on the worker thread; its result or its exception comes back here."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        """Stop taking work: what is queued is dropped, what is running finishes (so the node
        closes its databases only after the last import)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def import_block(self, data: bytes) -> ImportResult:
        """Decode, validate and import one block (raises ``DecodeError``/``InvalidBlock``)."""
        return await self.run(self.node.import_block_bytes, bytes(data))

    async def block_hashes(self, blocks: Sequence[bytes]) -> list[bytes]:
        """The hash of each encoded block, in order (raises ``DecodeError`` for the first bad)."""
        limits = self.node.chain.limits
        return await self.run(lambda: [bytes(decode_block(bytes(b), limits).hash())
                                       for b in blocks])

    async def decode_headers(self, raws: Sequence[bytes]) -> list[Header]:
        return await self.run(lambda: [decode_header(bytes(raw)) for raw in raws])

    async def admit_transactions(self, raws: Sequence[bytes]) -> Admitted:
        return await self.run(self._admit, tuple(raws))

    def _admit(self, raws: tuple[bytes, ...]) -> Admitted:
        out = Admitted()
        for raw in raws:
            try:
                out.accepted.append(bytes(self.node.submit_transaction(bytes(raw)).tx_hash))
            except DecodeError as exc:
                out.undecodable.append(str(exc))
            except PoqwError as exc:
                out.refused += 1
                log.info("transaction refused: %s", exc)
        return out

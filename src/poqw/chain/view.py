"""What consensus needs to see of the chain: headers by hash, walked back from a tip.

The node implements :class:`ChainView` over its storage; tests use :class:`MemoryChainView`.
Consensus functions only read through it, so they stay pure.
"""

from __future__ import annotations

from typing import Protocol

from poqw.chain.block import Header
from poqw.errors import ConsensusError

__all__ = ["ChainView", "MemoryChainView", "ancestors"]


class ChainView(Protocol):
    """Read access to stored headers."""

    def header(self, block_hash: bytes) -> Header | None:
        """The header with this hash, or None when it is unknown."""
        ...


class MemoryChainView:
    """A dict of headers by hash (for tests, tools and simulations)."""

    def __init__(self, headers: list[Header] | tuple[Header, ...] = ()) -> None:
        self._by_hash: dict[bytes, Header] = {}
        for h in headers:
            self.add(h)

    def add(self, header: Header) -> None:
        self._by_hash[bytes(header.hash())] = header

    def header(self, block_hash: bytes) -> Header | None:
        return self._by_hash.get(bytes(block_hash))


def ancestors(view: ChainView, header: Header, count: int) -> list[Header]:
    """``header`` and up to ``count - 1`` of its ancestors, newest first (stops at genesis).

    Raises :class:`ConsensusError` when an ancestor is missing: results must never depend on
    what a node happens to have stored."""
    out = [header]
    while len(out) < count and out[-1].number > 0:
        parent = view.header(out[-1].parent_hash)
        if parent is None:
            raise ConsensusError(
                f"ancestor 0x{out[-1].parent_hash.hex()} of block {out[-1].number} is unknown"
            )
        out.append(parent)
    return out

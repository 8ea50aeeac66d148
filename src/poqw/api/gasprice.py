"""Fee suggestions and fee history: ``eth_gasPrice``, ``eth_maxPriorityFeePerGas`` and
``eth_feeHistory``, from the tips paid in recent canonical blocks.

The suggested tip is the median of the effective tips of the transactions in the last
:data:`TIP_BLOCKS` blocks (``DEFAULT_TIP``, 1 gwei, when they hold none); the gas price is the
next block's base fee plus that tip. Fee history follows the execution-apis shape: base fees for
``blockCount + 1`` blocks (the last one is the next block's), gas used ratios, and per block the
requested percentiles of effective tips weighted by gas used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from poqw.api.backend import NodeBackend
from poqw.api.formatting import hex_quantity
from poqw.execution import Receipt

__all__ = ["DEFAULT_TIP", "TIP_BLOCKS", "fee_history", "reward_percentiles", "suggested_tip"]

DEFAULT_TIP = 10**9
TIP_BLOCKS = 20


def _tips(receipts: Sequence[Receipt], base_fee: int) -> list[tuple[int, int]]:
    """(effective tip, gas used) of each transaction, cheapest first."""
    return sorted((r.effective_gas_price - base_fee, r.gas_used) for r in receipts)


def suggested_tip(backend: NodeBackend) -> int:
    tip = backend.tip()
    tips: list[int] = []
    for number in range(tip.number, max(0, tip.number - TIP_BLOCKS), -1):
        block_hash = backend.node.store.canonical_hash(number)
        stored = None if block_hash is None else backend.node.store.get(block_hash)
        if stored is None:
            break
        tips += [t for t, _ in _tips(backend.receipts(stored.block_hash), stored.base_fee)]
    if not tips:
        return DEFAULT_TIP
    tips.sort()
    return tips[len(tips) // 2]


def reward_percentiles(receipts: Sequence[Receipt], base_fee: int,
                       percentiles: Sequence[float]) -> list[int]:
    """The effective tip at each percentile of the block's gas used (0s for an empty block)."""
    tips = _tips(receipts, base_fee)
    total = sum(gas for _, gas in tips)
    if not tips or total == 0:
        return [0] * len(percentiles)
    out = []
    for p in percentiles:
        threshold = total * p / 100
        cumulative = 0
        chosen = tips[-1][0]
        for tip, gas in tips:
            cumulative += gas
            if cumulative >= threshold:
                chosen = tip
                break
        out.append(chosen)
    return out


def fee_history(backend: NodeBackend, count: int, newest: int,
                percentiles: Sequence[float] | None) -> dict[str, Any]:
    """``eth_feeHistory`` for ``count`` canonical blocks ending at height ``newest``."""
    store = backend.node.store
    oldest = max(0, newest - count + 1)
    base_fees: list[int] = []
    ratios: list[float] = []
    rewards: list[list[str]] = []
    last_header = None
    for number in range(oldest, newest + 1):
        block_hash = store.canonical_hash(number)
        stored = None if block_hash is None else store.get(block_hash)
        header = None if block_hash is None else backend.header(block_hash)
        if stored is None or header is None:
            break
        base_fees.append(stored.base_fee)
        ratios.append(int(header.gas_used) / int(header.gas_limit) if header.gas_limit else 0.0)
        if percentiles is not None:
            rewards.append([hex_quantity(r) for r in reward_percentiles(
                backend.receipts(stored.block_hash), stored.base_fee, percentiles)])
        last_header = header
    if last_header is not None:
        base_fees.append(backend.node.chain.base_fee_after(last_header))
    out: dict[str, Any] = {
        "oldestBlock": hex_quantity(oldest),
        "baseFeePerGas": [hex_quantity(b) for b in base_fees],
        "gasUsedRatio": ratios,
        "baseFeePerBlobGas": ["0x0"] * len(base_fees),
        "blobGasUsedRatio": [0.0] * len(ratios),
    }
    if percentiles is not None:
        out["reward"] = rewards
    return out

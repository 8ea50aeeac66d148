"""The EIP-1559 base fee rule, kept here for callers of the execution layer.

The rule itself is consensus and lives in :mod:`poqw.chain.environment`, with the rest of the
block environment; this module re-exports it unchanged.
"""

from __future__ import annotations

from poqw.chain.environment import (
    BASE_FEE_MAX_CHANGE_DENOMINATOR,
    ELASTICITY_MULTIPLIER,
    next_base_fee,
)

__all__ = ["BASE_FEE_MAX_CHANGE_DENOMINATOR", "ELASTICITY_MULTIPLIER", "next_base_fee"]

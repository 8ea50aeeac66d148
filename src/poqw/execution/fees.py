"""The EIP-1559 base fee rule, as integer arithmetic the chain can call when building a header.

The base fee moves toward keeping blocks half full: up by at most 1/8 when the parent used its
whole gas limit, down by at most 1/8 when it was empty.
"""

from __future__ import annotations

__all__ = ["BASE_FEE_MAX_CHANGE_DENOMINATOR", "ELASTICITY_MULTIPLIER", "next_base_fee"]

BASE_FEE_MAX_CHANGE_DENOMINATOR = 8
ELASTICITY_MULTIPLIER = 2


def next_base_fee(parent_gas_used: int, parent_gas_limit: int, parent_base_fee: int) -> int:
    """Base fee per gas of a block whose parent used ``parent_gas_used`` (EIP-1559)."""
    if parent_gas_limit <= 0 or parent_gas_used < 0 or parent_base_fee < 0:
        raise ValueError("gas limit must be positive, gas used and base fee non-negative")
    target = parent_gas_limit // ELASTICITY_MULTIPLIER
    if parent_gas_used == target:
        return parent_base_fee
    if parent_gas_used > target:
        delta = parent_base_fee * (parent_gas_used - target) // target
        return parent_base_fee + max(delta // BASE_FEE_MAX_CHANGE_DENOMINATOR, 1)
    delta = parent_base_fee * (target - parent_gas_used) // target
    return parent_base_fee - delta // BASE_FEE_MAX_CHANGE_DENOMINATOR
